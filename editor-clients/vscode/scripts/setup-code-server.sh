#!/usr/bin/env bash
# Installs real VS Code (code-server 4.99.4 = Code 1.99.3), headless Chromium and playwright-core for the
# end-to-end tests, offline-capable after the first run. The result is cached OUTSIDE the repo (default
# ~/.cache/ollama-agent-vscode-e2e, override with OLLAMA_AGENT_E2E_CACHE) and a stamp file makes reruns instant.
# Why the odd steps: code-server's npm postinstall downloads things (ripgrep from GitHub) and builds native
# modules; we skip scripts and rebuild only what VS Code's server needs against the local Node headers.
set -euo pipefail

CACHE="${OLLAMA_AGENT_E2E_CACHE:-$HOME/.cache/ollama-agent-vscode-e2e}"
CS_VERSION=4.99.4
PW_VERSION=1.65.1
STAMP="$CACHE/.ready-$CS_VERSION-$PW_VERSION"

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v rg >/dev/null || need_apt+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v g++ >/dev/null || need_apt+=(g++ make)
if ((${#need_apt[@]})); then
    echo "== apt-get install ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ -f "$STAMP" ]; then
    echo "== code-server $CS_VERSION cached in $CACHE"
    exit 0
fi

echo "== installing code-server $CS_VERSION into $CACHE (first run only, a few minutes)"
rm -rf "$CACHE"
mkdir -p "$CACHE"
cd "$CACHE"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts "code-server@$CS_VERSION" "playwright-core@$PW_VERSION"

cd "$CACHE/node_modules/code-server/lib/vscode"
npm install --no-audit --no-fund --omit=dev --ignore-scripts
# @vscode/ripgrep's postinstall fetches a binary from the GitHub API: use Debian's rg instead.
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
# node-pty's last build step fails harmlessly; pty.node is built before it.
npm rebuild @parcel/watcher @vscode/spdlog kerberos native-watchdog node-pty @vscode/deviceid || true
test -n "$(find node_modules/node-pty/build -name pty.node 2>/dev/null)" || { echo "node-pty did not build" >&2; exit 1; }
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
(cd extensions && npm install --no-audit --no-fund --omit=dev --ignore-scripts)

# argon2 (password hashing, loaded at start-up even with --auth none) has no prebuilt binary offline.
cd "$CACHE/node_modules/argon2"
NODE_GYP="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js"
node "$NODE_GYP" rebuild --nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" \
    --module_name=argon2 --module_path=./lib/binding/napi-v3 --napi_build_version=3
mkdir -p lib/binding/napi-v3
cp build/Release/argon2.node lib/binding/napi-v3/

XDG_CONFIG_HOME="$CACHE/config" "$CACHE/node_modules/.bin/code-server" --version
touch "$STAMP"
echo "== code-server ready"

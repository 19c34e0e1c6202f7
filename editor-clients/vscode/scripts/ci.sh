#!/usr/bin/env bash
# CI for the VS Code extension: install, typecheck, bundle, unit tests, .vsix, then the end-to-end tests in
# real VS Code (code-server + headless Chromium) against the real Python server and the fake Ollama.
# Needs Node 20 + npm, and a Python with the repo installed (`pip install -e .`); apt-get for Chromium.
# Set OLLAMA_AGENT_SKIP_E2E=1 to stop after packaging. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

step() { printf '\n== %s\n' "$*"; }

step "npm ci"
npm ci --no-audit --no-fund

step "typecheck (tsc --noEmit)"
npm run --silent typecheck

step "bundle (esbuild)"
npm run --silent build
npm run --silent build:e2e

step "unit tests (vitest)"
npx vitest run

step "package (.vsix, offline)"
npm run --silent package
test -s dist/ollama-agent.vsix

if [ "${OLLAMA_AGENT_SKIP_E2E:-0}" = 1 ]; then
    echo "OLLAMA_AGENT_SKIP_E2E=1: skipping the end-to-end tests"
    exit 0
fi

step "end-to-end set-up (code-server 4.99.4, Chromium; cached)"
./scripts/setup-code-server.sh

step "the .vsix installs into VS Code"
CACHE="${OLLAMA_AGENT_E2E_CACHE:-$HOME/.cache/ollama-agent-vscode-e2e}"
check_dir="$(mktemp -d)"
trap 'rm -rf "$check_dir"' EXIT
XDG_CONFIG_HOME="$check_dir/xdg" "$CACHE/node_modules/.bin/code-server" --user-data-dir "$check_dir/user" \
    --extensions-dir "$check_dir/ext" --install-extension dist/ollama-agent.vsix
test -f "$check_dir"/ext/ollama-agent-ls.ollama-agent-*/dist/extension.js

step "end-to-end tests in VS Code"
node test/e2e/run.mjs

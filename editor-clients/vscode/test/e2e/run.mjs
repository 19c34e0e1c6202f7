#!/usr/bin/env node
// Runs test/e2e/suite.ts in REAL VS Code: code-server 4.99.4 (Code 1.99.3) in headless Chromium via
// playwright-core, offline. The approach of VS Code's own test/integration/browser: load the workbench with
// extensionDevelopmentPath + extensionTestsPath in the URL payload and collect codeAutomationExit(code).
// The suite drives VS Code from the extension host; this script plays the user at the keyboard where the
// suite needs one (typing the Run on Selection instruction into the quick input).
//
// Needs: scripts/setup-code-server.sh done (cache dir), `npm run build && npm run build:e2e` done, a Python
// with ollama_agent_ls installed (OLLAMA_AGENT_E2E_PYTHON, default: python3/python on PATH).
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const extDir = path.resolve(here, "../..");
const repoRoot = path.resolve(extDir, "../..");
const cache = process.env.OLLAMA_AGENT_E2E_CACHE ?? path.join(os.homedir(), ".cache", "ollama-agent-vscode-e2e");
const codeServer = path.join(cache, "node_modules", ".bin", "code-server");
const chromiumPath = process.env.OLLAMA_AGENT_E2E_CHROMIUM ?? "/usr/bin/chromium";
const timeoutMs = Number(process.env.OLLAMA_AGENT_E2E_TIMEOUT ?? 300) * 1000;
const verbose = !!process.env.OLLAMA_AGENT_E2E_VERBOSE;
const instruction = "Rename the variable b to beta"; // the same text as suite.ts's `instruction`
const followUpText = "Also say what it does"; // suite.ts's `followUpText`
// Screenshots of the chat panel for a person to look at (git-ignored; the README names them).
const screenshots = process.env.OLLAMA_AGENT_E2E_SCREENSHOTS ?? path.join(extDir, ".screenshots");

const cleanups = [];
const logs = { codeServer: [], browser: [], fake: [] };

function say(message) {
    process.stdout.write(`[e2e-runner] ${message}\n`);
}

function fail(message) {
    throw new Error(message);
}

function findPython() {
    const candidates = [process.env.OLLAMA_AGENT_E2E_PYTHON, "python3", "python"].filter(Boolean);
    for (const candidate of candidates) {
        try {
            const exe = execFileSync(
                candidate,
                ["-c", "import sys, ollama_agent_ls; print(sys.executable)"],
                { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
            ).trim();
            if (exe) return exe;
        } catch {
            // try the next one
        }
    }
    fail(
        `no Python with ollama_agent_ls: tried ${candidates.join(", ")}. ` +
            `Fix: pip install -e "${repoRoot}" or set OLLAMA_AGENT_E2E_PYTHON.`,
    );
}

function freePort() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

function track(child, sink) {
    child.stdout?.on("data", (d) => sink.push(d.toString()));
    child.stderr?.on("data", (d) => sink.push(d.toString()));
    cleanups.push(() => {
        if (child.exitCode === null && child.signalCode === null) {
            try {
                process.kill(-child.pid, "SIGTERM"); // the whole group: code-server forks its servers
            } catch {
                child.kill("SIGTERM");
            }
        }
    });
}

async function startFakeOllama(python) {
    const child = spawn(python, ["-m", "tests.fake_ollama", "--port", "0"], {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
    });
    track(child, logs.fake);
    return new Promise((resolve, reject) => {
        let buffered = "";
        const onData = (chunk) => {
            buffered += chunk.toString();
            const newline = buffered.indexOf("\n");
            if (newline >= 0) {
                child.stdout.off("data", onData);
                try {
                    resolve(JSON.parse(buffered.slice(0, newline)).url);
                } catch (error) {
                    reject(new Error(`fake Ollama printed ${buffered.slice(0, newline)}: ${error}`));
                }
            }
        };
        child.stdout.on("data", onData);
        child.once("exit", (code) => reject(new Error(`fake Ollama exited (${code}): ${logs.fake.join("")}`)));
    });
}

function writeWorkspace(tmp, python, ollamaUrl) {
    const ws = path.join(tmp, "ws");
    fs.mkdirSync(ws, { recursive: true });
    fs.writeFileSync(path.join(ws, "calc.py"), "a = 1\nb = 2\nprint(a)\n");
    fs.writeFileSync(path.join(ws, "review.py"), "x = 1\n");
    fs.writeFileSync(path.join(ws, "chat.py"), "total = 0\nprint(total)\n");
    fs.writeFileSync(
        path.join(ws, "hunks.py"),
        '"""Shapes."""\n\ndef area(w, h):\n    return w * h\n\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n\n\ndef label(name):\n    return name\n',
    );
    fs.writeFileSync(
        path.join(ws, "todo.py"),
        "def add(a, b):\n    # TODO: return the sum of a and b\n    pass\n",
    );
    const userDir = path.join(tmp, "user-data", "User");
    fs.mkdirSync(userDir, { recursive: true });
    fs.writeFileSync(
        path.join(userDir, "settings.json"),
        JSON.stringify(
            {
                "ollamaAgent.ollamaUrl": ollamaUrl,
                "ollamaAgent.model": "qwen3:8b",
                "ollamaAgent.server.command": [python, "-m", "ollama_agent_ls"],
                "ollamaAgent.logLevel": "debug",
                "workbench.startupEditor": "none",
                "workbench.enableExperiments": false,
                "workbench.tips.enabled": false,
                "security.workspace.trust.enabled": false,
                "telemetry.telemetryLevel": "off",
                "extensions.autoCheckUpdates": false,
                "extensions.autoUpdate": false,
                "update.mode": "none",
                "files.autoSave": "off",
            },
            null,
            2,
        ),
    );
    fs.mkdirSync(path.join(tmp, "extensions"), { recursive: true });
    return ws;
}

async function waitForHttp(url, deadlineMs) {
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
        try {
            const response = await fetch(url);
            if (response.ok) return;
        } catch {
            // not listening yet
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    fail(`code-server did not answer ${url}:\n${logs.codeServer.join("")}`);
}

function dumpLogFiles(dir) {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { recursive: true })) {
        const file = path.join(dir, entry.toString());
        if (/Ollama Agent|exthost\.log|remoteexthost\.log/.test(file) && fs.statSync(file).isFile()) {
            say(`--- ${file}`);
            process.stdout.write(fs.readFileSync(file, "utf8").slice(-20000) + "\n");
        }
    }
}

async function main() {
    for (const needed of [codeServer, path.join(extDir, "dist", "extension.js"), path.join(extDir, "dist", "e2e", "suite.js")]) {
        if (!fs.existsSync(needed)) {
            fail(`missing ${needed}. Fix: run scripts/setup-code-server.sh, npm run build and npm run build:e2e (scripts/ci.sh does all).`);
        }
    }
    const { chromium } = createRequire(path.join(cache, "package.json"))("playwright-core");
    const python = findPython();
    say(`python: ${python}`);
    const ollamaUrl = await startFakeOllama(python);
    say(`fake Ollama: ${ollamaUrl}`);

    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ollama-agent-vscode-e2e-"));
    cleanups.push(() => {
        if (!process.env.OLLAMA_AGENT_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
    });
    const ws = writeWorkspace(tmp, python, ollamaUrl);
    const port = await freePort();
    const server = spawn(
        codeServer,
        [
            "--auth", "none",
            "--bind-addr", `127.0.0.1:${port}`,
            "--disable-workspace-trust",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-getting-started-override",
            "--user-data-dir", path.join(tmp, "user-data"),
            "--extensions-dir", path.join(tmp, "extensions"),
            "--config", path.join(tmp, "code-server.yaml"),
        ],
        {
            cwd: ws,
            env: { ...process.env, XDG_CONFIG_HOME: path.join(tmp, "xdg-config"), XDG_DATA_HOME: path.join(tmp, "xdg-data") },
            stdio: ["ignore", "pipe", "pipe"],
            detached: true,
        },
    );
    track(server, logs.codeServer);
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000);
    say(`code-server on port ${port}`);

    const browser = await chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: [
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    });
    cleanups.unshift(() => browser.close().catch(() => undefined));
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("console", (message) => {
        const text = message.text();
        logs.browser.push(text);
        if (text.includes("[e2e]") || verbose) say(`browser: ${text}`);
    });
    page.on("pageerror", (error) => logs.browser.push(`pageerror: ${error}`));
    const exitCode = new Promise((resolve) => {
        void page.exposeFunction("codeAutomationExit", (code) => resolve(code));
    });

    const remote = `vscode-remote://127.0.0.1:${port}`;
    const payload = [
        ["extensionDevelopmentPath", `${remote}${extDir}`],
        ["extensionTestsPath", `${remote}${path.join(extDir, "dist", "e2e", "suite.js")}`],
    ];
    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    say("opening VS Code");
    await page.goto(url);

    const only = process.env.OLLAMA_AGENT_E2E_ONLY;
    const selectionTestRuns = !only || "run on selection".includes(only);
    let statusBarSeen = false;
    // The user, in the order the suite's tests run: types the Run on Selection instruction, applies
    // the Refactor Preview, then clicks the spinning status bar item to cancel a hanging run.
    const runs = (name) => !only || name.includes(only);
    const user = (async () => {
        if (selectionTestRuns) {
            const widget = page.locator(".quick-input-widget");
            await widget.locator(".quick-input-title", { hasText: "Run on Selection" }).waitFor({ state: "visible", timeout: timeoutMs });
            // The status bar item is on screen with the model while the extension is active.
            await page.locator(".statusbar-item", { hasText: "qwen3:8b" }).first().waitFor({ state: "visible", timeout: 30_000 });
            statusBarSeen = true;
            say("status bar shows the model; instruction prompt is open; typing");
            await page.keyboard.type(instruction, { delay: 5 });
            await widget.locator(".monaco-list-row", { hasText: instruction }).first().waitFor({ state: "visible" });
            await page.keyboard.press("Enter");
            if (process.env.OLLAMA_AGENT_E2E_SCREENSHOT) {
                // For a human look at the running state (progress notification, status bar).
                await page
                    .locator(".statusbar-item", { hasText: "qwen3:8b" })
                    .locator(".codicon-sync")
                    .first()
                    .waitFor({ state: "visible", timeout: 5_000 })
                    .catch(() => say("no running state seen in the status bar for the screenshot"));
                await page.screenshot({ path: process.env.OLLAMA_AGENT_E2E_SCREENSHOT });
            }
        }
        if (runs("review mode")) {
            const apply = page.locator(".bulk-edit-panel .monaco-button", { hasText: /^Apply$/ });
            await apply.first().waitFor({ state: "visible", timeout: timeoutMs });
            // Every proposed change comes ticked: Apply straight away applies them all (issue 16).
            say("Refactor Preview is open; pressing Apply");
            await apply.first().click();
            await apply.first().waitFor({ state: "hidden", timeout: 30_000 });
        }
        if (runs("cancel from the status bar")) {
            // Click only once the hanging run's request reached the model, so no other run gets cancelled.
            const deadline = Date.now() + timeoutMs;
            for (;;) {
                const seen = await fetch(`${ollamaUrl}/_fake/requests`).then((r) => r.text()).catch(() => "");
                if (seen.includes("Explain this line")) break;
                if (Date.now() > deadline) throw new Error("the hanging run never reached the fake Ollama");
                await new Promise((r) => setTimeout(r, 100));
            }
            const spinning = page.locator(".statusbar-item", { hasText: "qwen3:8b" }).filter({ has: page.locator(".codicon-sync") });
            await spinning.first().waitFor({ state: "visible", timeout: 30_000 });
            say("a run is going on; clicking the status bar item to cancel it");
            await spinning.first().click();
        }
        if (runs("chat panel") || runs("approval in the panel")) {
            fs.mkdirSync(screenshots, { recursive: true });
            const panel = page.frameLocator("iframe.webview.ready").frameLocator("#active-frame");
            const shot = async (name) => {
                await page.screenshot({ path: path.join(screenshots, name) });
                say(`screenshot ${path.join(screenshots, name)}`);
            };
            if (runs("chat panel")) {
                // Mid-run: the tool card is shown while the model still answers.
                await panel.locator(".card.tool", { hasText: "edit_file" }).first().waitFor({ state: "visible", timeout: timeoutMs });
                await panel.locator("button", { hasText: "Cancel" }).first().waitFor({ state: "visible", timeout: 10_000 });
                await shot("panel-mid-run.png");
                await panel.locator(".run-end.completed").first().waitFor({ state: "visible", timeout: timeoutMs });
                // What the model wrote as HTML stays text.
                if ((await panel.locator(".msg img").count()) !== 0) throw new Error("model output became an <img> element");
                await shot("panel-after-run.png");
                say("the run is shown in the panel; typing the follow-up into its input box");
                const input = panel.locator("textarea");
                await input.click();
                await input.fill(followUpText);
                await input.press("Enter");
                await panel.locator(".run-end.completed").nth(1).waitFor({ state: "visible", timeout: timeoutMs });
                await shot("panel-follow-up.png");
            }
            if (runs("approval in the panel")) {
                const card = panel.locator(".card.approval", { hasText: "echo approved-in-panel" });
                await card.waitFor({ state: "visible", timeout: timeoutMs });
                await card.locator(".countdown").waitFor({ state: "visible" });
                await shot("panel-approval.png");
                say("an approval card is in the panel; clicking Allow once");
                await card.locator('button[data-decision="allow"]').click();
            }
        }
        if (runs("keep and undo hunks")) {
            // The suite says when the run's two changes are marked and the person's own edit is in.
            const deadline = Date.now() + timeoutMs;
            while (!logs.browser.some((l) => l.includes("hunks: marked, ready for Keep and Undo"))) {
                if (Date.now() > deadline) throw new Error("the suite never said the hunks are marked");
                await new Promise((r) => setTimeout(r, 100));
            }
            const lens = (title) => page.locator(".monaco-editor .codelens-decoration a").filter({ hasText: new RegExp(`^${title}$`) });
            await page.locator(".monaco-editor .view-line", { hasText: "perimeter in metres" }).first().waitFor({ state: "visible", timeout: 30_000 });
            const both = Date.now() + 30_000;
            while ((await lens("Keep").count()) !== 2 || (await lens("Undo").count()) !== 2) {
                if (Date.now() > both) throw new Error(`expected two Keep and two Undo lenses, saw ${await lens("Keep").count()} and ${await lens("Undo").count()}`);
                await new Promise((r) => setTimeout(r, 100));
            }
            fs.mkdirSync(screenshots, { recursive: true });
            await page.screenshot({ path: path.join(screenshots, "hunks-lenses.png") });
            say(`screenshot ${path.join(screenshots, "hunks-lenses.png")}`);
            // Keep above the first change (the upper lens), then Undo above the only one left.
            const keeps = await lens("Keep").all();
            const tops = await Promise.all(keeps.map(async (k) => (await k.boundingBox())?.y ?? 0));
            say("clicking Keep above the first change");
            await keeps[tops.indexOf(Math.min(...tops))].click();
            const one = Date.now() + 30_000;
            while ((await lens("Keep").count()) !== 1) {
                if (Date.now() > one) throw new Error("the kept change's lenses did not go");
                await new Promise((r) => setTimeout(r, 100));
            }
            say("clicking Undo above the second change");
            await lens("Undo").first().click();
        }
    })().catch((error) => say(`the scripted user failed: ${error}`));
    void user;

    let timer;
    const timedOut = new Promise((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    let code = await Promise.race([exitCode, timedOut]);
    clearTimeout(timer);
    if (code === 0 && !statusBarSeen && selectionTestRuns) {
        say("the suite passed but the status bar item with the model never showed");
        code = 1;
    }
    if (code !== 0) {
        await page.screenshot({ path: path.join(os.tmpdir(), "ollama-agent-vscode-e2e-failure.png") }).catch(() => undefined);
        say(code === "timeout" ? `timed out after ${timeoutMs / 1000}s` : `suite exit code ${code}`);
        say(`--- browser console (last 200)\n${logs.browser.slice(-200).join("\n")}`);
        say(`--- code-server output (tail)\n${logs.codeServer.join("").slice(-20000)}`);
        say(`--- fake Ollama output (tail)\n${logs.fake.join("").slice(-5000)}`);
        dumpLogFiles(path.join(tmp, "user-data", "logs"));
        say(`screenshot: ${path.join(os.tmpdir(), "ollama-agent-vscode-e2e-failure.png")}`);
        return 1;
    }
    say("PASS: all end-to-end tests passed in VS Code");
    return 0;
}

let status = 1;
try {
    status = await main();
} catch (error) {
    say(`error: ${error instanceof Error ? error.message : error}`);
    status = 1;
} finally {
    for (const cleanup of cleanups) {
        try {
            await cleanup();
        } catch {
            // best effort
        }
    }
}
process.exit(status);

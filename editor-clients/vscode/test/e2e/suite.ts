// End-to-end tests inside real VS Code (code-server's Node extension host). The extension starts the real
// Python server, which talks to the fake Ollama; each test scripts the fake's replies over its control API
// and then checks the real TextDocument. The runner (run.mjs) types the instruction into the quick input.
import * as assert from "node:assert/strict";
import * as vscode from "vscode";
import type { OllamaAgentApi } from "../../src/extension";
import { isRunningAnswer, type RunResult, type TranscriptParams } from "../../src/lsp_ext";

/** The runner types exactly this into the Run on Selection prompt. */
export const instruction = "Rename the variable b to beta";

function log(message: string): void {
    // Ends up in code-server's output, which the runner prints on failure.
    console.log(`[e2e] ${message}`);
}

async function fake(path: string, body?: unknown): Promise<unknown> {
    const base = vscode.workspace.getConfiguration("ollamaAgent").get<string>("ollamaUrl");
    const response = await fetch(`${base}${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    assert.equal(response.status, 200, `fake Ollama ${path}: ${text}`);
    return JSON.parse(text);
}

function editThen(path: string, oldString: string, newString: string, summary: string): unknown[] {
    return [
        {
            steps: [
                { type: "chunk", thinking: "I will edit the file." },
                // Long enough for the runner's optional screenshot of the running state.
                { type: "sleep", seconds: 1 },
                {
                    type: "chunk",
                    tool_calls: [
                        { name: "edit_file", arguments: { path, old_string: oldString, new_string: newString } },
                    ],
                },
                { type: "done", eval_count: 40, eval_duration: 1_000_000_000 },
            ],
        },
        { steps: [{ type: "chunk", content: summary }, { type: "done" }] },
    ];
}

async function waitFor(
    what: string,
    predicate: () => boolean | Promise<boolean>,
    timeoutMs = 60_000,
): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await predicate())) {
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting for ${what}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

async function openInEditor(name: string): Promise<vscode.TextEditor> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, "the e2e workspace folder is open");
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, name));
    return vscode.window.showTextDocument(doc);
}

async function runOnSelection(api: OllamaAgentApi, events: TranscriptParams[]): Promise<void> {
    await fake("/_fake/reset", {});
    await fake("/_fake/enqueue", editThen("calc.py", "b = 2\n", "beta = 2\n", "Renamed b to beta."));
    const editor = await openInEditor("calc.py");
    editor.selection = new vscode.Selection(1, 0, 1, 5); // "b = 2"
    log("running ollama-agent.runSelection; the runner types the instruction");
    const result = (await vscode.commands.executeCommand("ollama-agent.runSelection")) as RunResult | undefined;
    assert.ok(result, "Run on Selection returned a run result");
    assert.equal(result.status, "completed", `run result: ${JSON.stringify(result)}`);
    assert.match(editor.document.getText(), /^beta = 2$/m, "the agent's edit is in the document");
    assert.doesNotMatch(editor.document.getText(), /^b = 2$/m);
    const requests = JSON.stringify(await fake("/_fake/requests"));
    assert.ok(requests.includes(instruction), "the typed instruction reached the model");
    const kinds = events.filter((e) => e.runId === result.runId).map((e) => e.kind);
    assert.ok(kinds.includes("started") && kinds.includes("finished"), `transcript kinds: ${kinds.join(",")}`);
    assert.ok(kinds.includes("toolCall"), `transcript shows the tool call: ${kinds.join(",")}`);
    assert.equal(api.ctx.lastRunId, result.runId);
    assert.match(api.ctx.status.lastProgress ?? "", /\S/, "the run's $/progress reached the status bar");
    log(`Run on Selection OK: ${result.summary} (last progress: ${api.ctx.status.lastProgress})`);
}

async function todoQuickFix(api: OllamaAgentApi): Promise<void> {
    await fake("/_fake/reset", {});
    await fake(
        "/_fake/enqueue",
        editThen("todo.py", "    # TODO: return the sum of a and b\n    pass\n", "    return a + b\n", "Implemented add."),
    );
    const editor = await openInEditor("todo.py");
    const line = editor.document.getText().split("\n").findIndex((l) => l.includes("TODO"));
    const position = new vscode.Position(line, 6);
    editor.selection = new vscode.Selection(position, position);
    let actions: (vscode.CodeAction | vscode.Command)[] = [];
    const offered = () => actions.find((a) => a.title.includes("Implement TODO")) as vscode.CodeAction | undefined;
    // The server may still be indexing the file: ask again until the quick fix shows up.
    await waitFor(
        "the TODO quick fix",
        async () => {
            actions =
                (await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
                    "vscode.executeCodeActionProvider",
                    editor.document.uri,
                    new vscode.Range(position, position),
                )) ?? [];
            return offered() !== undefined;
        },
        30_000,
    ).catch(() => undefined); // the assertion below names what was offered instead
    const action = offered();
    assert.ok(action, `quick fix offered; got ${actions.map((a) => a.title).join(" | ") || "nothing"}`);
    assert.equal(action.kind?.value, vscode.CodeActionKind.QuickFix.value);
    assert.ok(action.command, "the quick fix runs a command");
    log(`running quick fix "${action.title}" -> ${action.command.command}`);
    // The lightbulb runs the action's command exactly like this. It answers at once (wait: false); the
    // result follows as ollamaAgent/runFinished.
    const answer = await vscode.commands.executeCommand(action.command.command, ...(action.command.arguments ?? []));
    assert.ok(isRunningAnswer(answer), `the quick fix answered at once: ${JSON.stringify(answer)}`);
    const result = await api.ctx.finished(answer.runId);
    assert.equal(result.status, "completed", `run result: ${JSON.stringify(result)}`);
    assert.equal(result.todoRemoved, true);
    assert.match(editor.document.getText(), /return a \+ b/);
    assert.doesNotMatch(editor.document.getText(), /TODO/);
    log("TODO quick fix OK");
}

async function reviewMode(): Promise<void> {
    const config = vscode.workspace.getConfiguration("ollamaAgent");
    await config.update("applyMode", "review", vscode.ConfigurationTarget.Global);
    try {
        await fake("/_fake/reset", {});
        await fake("/_fake/enqueue", editThen("review.py", "x = 1\n", "x = 42\n", "Set x to 42."));
        const editor = await openInEditor("review.py");
        editor.selection = new vscode.Selection(0, 0, 0, 5);
        log("running Run on Selection in review mode; the runner applies the Refactor Preview");
        const result = (await vscode.commands.executeCommand("ollama-agent.runSelection", {
            instruction: "Set x to 42",
        })) as RunResult | undefined;
        assert.ok(result, "the review-mode run returned a result");
        assert.equal(result.status, "completed", `run result: ${JSON.stringify(result)}`);
        await waitFor("the reviewed edit", () => editor.document.getText().includes("x = 42"));
        log("review mode OK");
    } finally {
        await config.update("applyMode", undefined, vscode.ConfigurationTarget.Global);
    }
}

async function cancelFromStatusBar(api: OllamaAgentApi): Promise<void> {
    await fake("/_fake/reset", {});
    // The model starts answering, then hangs: only a cancel ends this run.
    await fake("/_fake/enqueue", [{ steps: [{ type: "chunk", content: "Working on it" }, { type: "hang" }] }]);
    const editor = await openInEditor("calc.py");
    editor.selection = new vscode.Selection(0, 0, 0, 5);
    log("running a run that hangs; the runner clicks the spinning status bar item");
    const result = (await vscode.commands.executeCommand("ollama-agent.runSelection", {
        instruction: "Explain this line",
    })) as RunResult | undefined;
    assert.ok(result, "the cancelled run returned a result");
    assert.equal(result.status, "cancelled", `run result: ${JSON.stringify(result)}`);
    await waitFor("the status bar to stop spinning", () => !api.ctx.status.running, 10_000);
    log("cancel from the status bar OK");
}

export async function run(): Promise<void> {
    const extension = vscode.extensions.getExtension<OllamaAgentApi>("ollama-agent-ls.ollama-agent");
    assert.ok(extension, "the extension under test is loaded");
    const api = await extension.activate();
    await api.ctx.ensureClient();
    log("language server started");
    const events: TranscriptParams[] = [];
    api.ctx.onDidReceiveTranscript((e) => events.push(e));
    const only = process.env.OLLAMA_AGENT_E2E_ONLY;
    const tests: [string, () => Promise<void>][] = [
        ["run on selection", () => runOnSelection(api, events)],
        ["TODO quick fix", () => todoQuickFix(api)],
        ["review mode", () => reviewMode()],
        ["cancel from the status bar", () => cancelFromStatusBar(api)],
    ];
    const failures: string[] = [];
    for (const [name, test] of tests) {
        if (only && !name.includes(only)) {
            continue;
        }
        try {
            await test();
            log(`PASS ${name}`);
        } catch (error) {
            log(`FAIL ${name}: ${error instanceof Error ? error.stack : String(error)}`);
            failures.push(name);
        }
    }
    if (failures.length) {
        throw new Error(`e2e failures: ${failures.join(", ")}`);
    }
}

// End-to-end tests inside real VS Code (code-server's Node extension host). The extension starts the real
// Python server, which talks to the fake Ollama; each test scripts the fake's replies over its control API
// and then checks the real TextDocument. The runner (run.mjs) types the instruction into the quick input.
import * as assert from "node:assert/strict";
import * as vscode from "vscode";
import type { OllamaAgentApi } from "../../src/extension";
import { isRunningAnswer, serverCommands, type RunResult, type TranscriptParams } from "../../src/lsp_ext";

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
        // The runner pressed Apply without ticking anything: everything shown was applied.
        assert.equal(result.review, "applied", `run result: ${JSON.stringify(result)}`);
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

/** The runner types exactly this follow-up into the chat panel's input box. */
export const followUpText = "Also say what it does";

function reply(...steps: unknown[]): unknown {
    return { steps: [...steps, { type: "done", eval_count: 30, eval_duration: 1_000_000_000 }] };
}

async function chatPanel(api: OllamaAgentApi): Promise<void> {
    const chat = api.ctx.chat;
    await fake("/_fake/reset", {});
    await fake("/_fake/enqueue", [
        reply(
            { type: "chunk", thinking: "The selection is one assignment; rename the variable." },
            { type: "chunk", content: "I will rename `total`." },
            { type: "chunk", tool_calls: [{ name: "edit_file", arguments: { path: "chat.py", old_string: "total = 0\n", new_string: "count = 0\n" } }] },
        ),
        // A pause after the tool card is shown: the runner's mid-run screenshot.
        reply({ type: "sleep", seconds: 3 }, { type: "chunk", content: "Renamed `total` to `count`:\n\n```python\ncount = 0\n```\n<img src=x onerror=alert(1)>" }),
        reply({ type: "chunk", content: "It starts a counter at zero." }),
    ]);
    const editor = await openInEditor("chat.py");
    editor.selection = new vscode.Selection(0, 0, 0, 9);
    log("chat panel: Run on Selection opens the panel and shows the run there");
    const result = (await vscode.commands.executeCommand("ollama-agent.runSelection", {
        instruction: "Rename total to count",
    })) as RunResult | undefined;
    assert.ok(result, "Run on Selection returned a result");
    assert.equal(result.status, "completed", `run result: ${JSON.stringify(result)}`);
    assert.ok(chat.visible, "the chat panel is on screen");
    const first = chat.state.runs[0];
    assert.ok(first, "the panel shows the run");
    assert.equal(first.runId, result.runId);
    assert.equal(first.state, "completed");
    const tool = first.items.find((i) => i.type === "tool");
    assert.ok(tool && tool.type === "tool", `a tool card: ${JSON.stringify(first.items)}`);
    assert.equal(tool.name, "edit_file");
    assert.equal(tool.target, "chat.py");
    assert.equal(tool.state, "ok");
    assert.match(tool.diff ?? "", /^\+count = 0$/m, "the card carries the edit's diff");
    const answer = first.items.filter((i) => i.type === "content").map((i) => (i as { text: string }).text).join("");
    assert.match(answer, /Renamed `total` to `count`/, "the streamed answer is in the panel");
    assert.match(editor.document.getText(), /^count = 0$/m);

    log("chat panel: waiting for the runner to send the follow-up from the input box");
    await waitFor("the follow-up to finish", () => chat.state.runs.length === 2 && chat.state.runs[1]!.state === "completed", 90_000);
    const second = chat.state.runs[1]!;
    assert.equal(second.instruction, followUpText);
    assert.ok(result.sessionId, "the run result names its session");
    assert.equal(second.sessionId, result.sessionId, "the follow-up continued the same session");
    const recorded = (await fake("/_fake/requests")) as {
        requests: { path: string; body?: { messages?: { role: string; content?: string }[] } }[];
    };
    const chats = recorded.requests.filter((r) => r.path === "/api/chat");
    const last = chats.at(-1)?.body?.messages ?? [];
    const users = last.filter((m) => m.role === "user").map((m) => m.content ?? "");
    assert.ok(users.some((c) => c.includes("Rename total to count")), "the follow-up request keeps the first instruction");
    assert.ok(users.at(-1)?.includes(followUpText), "and ends with the follow-up");
    const session = (await api.ctx.executeServerCommand(serverCommands.getSession, { sessionId: result.sessionId })) as {
        runs: unknown[];
    };
    assert.equal(session.runs.length, 2, "getSession has both runs");
    log("chat panel OK");
}

async function approvalInline(api: OllamaAgentApi): Promise<void> {
    const chat = api.ctx.chat;
    await fake("/_fake/reset", {});
    await fake("/_fake/enqueue", [
        reply({ type: "chunk", tool_calls: [{ name: "run_command", arguments: { command: "echo approved-in-panel" } }] }),
        reply({ type: "chunk", content: "The command printed its line." }),
    ]);
    log("approval: a follow-up whose command the runner allows in the panel");
    const result = await chat.send("Run the echo command");
    assert.ok(result, "the follow-up returned a result");
    assert.equal(result.status, "completed", `run result: ${JSON.stringify(result)}`);
    const run = chat.state.runs.at(-1)!;
    const card = run.items.find((i) => i.type === "approval");
    assert.ok(card && card.type === "approval", `an approval card: ${JSON.stringify(run.items)}`);
    assert.equal(card.command, "echo approved-in-panel");
    assert.equal(card.answer, "allow", "answered Allow once in the panel");
    const tool = run.items.find((i) => i.type === "tool");
    assert.ok(tool && tool.type === "tool" && tool.exitCode === 0, `the command ran: ${JSON.stringify(tool)}`);
    assert.match(`${tool.result ?? ""}${tool.outputTail ?? ""}`, /approved-in-panel/);
    log("approval inline OK");
}

/** hunks.py as run.mjs writes it: the agent renames area's parameters and makes label title-case. */
const hunksBefore = '"""Shapes."""\n\ndef area(w, h):\n    return w * h\n\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n\n\ndef label(name):\n    return name\n';
const userNote = "# perimeter in metres\n";

/** The Keep / Undo lenses VS Code gets from the extension for `doc`, as "line:title". */
async function lensRows(doc: vscode.TextDocument): Promise<string[]> {
    const lenses =
        (await vscode.commands.executeCommand<vscode.CodeLens[]>("vscode.executeCodeLensProvider", doc.uri)) ?? [];
    return lenses
        .filter((l) => l.command && /^(Keep|Undo|Ollama agent|Review)/.test(l.command.title))
        .map((l) => `${l.range.start.line}:${l.command!.title}`);
}

async function keepAndUndoHunks(api: OllamaAgentApi): Promise<void> {
    const changes = api.ctx.changes;
    await fake("/_fake/reset", {});
    await fake("/_fake/enqueue", [
        reply({
            type: "chunk",
            tool_calls: [
                {
                    name: "edit_file",
                    arguments: {
                        path: "hunks.py",
                        old_string: "def area(w, h):\n    return w * h\n",
                        new_string: "def area(width, height):\n    return width * height\n",
                    },
                },
                {
                    name: "edit_file",
                    arguments: { path: "hunks.py", old_string: "    return name\n", new_string: "    return name.title()\n" },
                },
            ],
        }),
        reply({ type: "chunk", content: "Renamed area's parameters and title-cased the label." }),
    ]);
    const editor = await openInEditor("hunks.py");
    const doc = editor.document;
    assert.equal(doc.getText(), hunksBefore);
    editor.selection = new vscode.Selection(2, 0, 3, 0);
    log("hunks: a live run that changes two regions of hunks.py");
    const result = (await vscode.commands.executeCommand("ollama-agent.runSelection", {
        instruction: "Use clear names",
    })) as RunResult | undefined;
    assert.ok(result, "the run returned a result");
    assert.equal(result.status, "completed", `run result: ${JSON.stringify(result)}`);
    await waitFor("both changes to be marked", () => changes.view(doc).decorations.length === 2, 20_000);
    assert.deepEqual(
        changes.view(doc).decorations.map((d) => [d.kind, d.startLine, d.endLine]),
        [
            ["changed", 2, 3],
            ["changed", 11, 11],
        ],
    );

    // The person adds a line between the two changes: the second one moves down, and the marks follow.
    await vscode.window.showTextDocument(doc);
    assert.ok(await editor.edit((b) => b.insert(new vscode.Position(5, 0), userNote)), "the user's edit applied");
    await waitFor("the marks to follow the edit", () => changes.view(doc).decorations.at(-1)?.startLine === 12, 20_000);
    let rows: string[] = [];
    await waitFor(
        "the lenses to follow the edit",
        async () => (rows = await lensRows(doc)).includes("12:Undo"),
        20_000,
    ).catch(() => undefined);
    assert.deepEqual(rows, [
        "0:Ollama agent: 2 changes",
        "0:Keep all",
        "0:Undo all",
        "0:Review changes",
        "2:Keep",
        "2:Undo",
        "12:Keep",
        "12:Undo",
    ]);

    // Review changes: the file before the run (with the person's line, which is not the agent's) against now.
    await vscode.commands.executeCommand("ollama-agent.reviewChanges", { uri: doc.uri.toString() });
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputTextDiff, `a diff editor is open: ${tab?.label}`);
    assert.equal(tab.input.modified.toString(), doc.uri.toString());
    const left = await vscode.workspace.openTextDocument(tab.input.original);
    const expectedBefore = hunksBefore.replace("\n\ndef perimeter", `\n${userNote}\ndef perimeter`);
    assert.equal(left.getText(), expectedBefore, "the left side is the file before the run");
    assert.match(tab.label, /hunks\.py: before the agent ↔ now/);
    await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
    const shown = await vscode.window.showTextDocument(doc);
    shown.selection = new vscode.Selection(0, 0, 0, 0); // the run's selection would hide the marks in the screenshot

    // The runner takes a screenshot, then clicks Keep above the first change and Undo above the second.
    log("hunks: marked, ready for Keep and Undo");
    await waitFor("Keep and Undo clicked in the editor", () => changes.view(doc).lenses.length === 0, 90_000);
    const expected = hunksBefore
        .replace("def area(w, h):\n    return w * h\n", "def area(width, height):\n    return width * height\n")
        .replace("\n\ndef perimeter", `\n${userNote}\ndef perimeter`);
    assert.equal(doc.getText(), expected, "the kept change stays, the undone one is back, the user's line survives");
    assert.deepEqual(await lensRows(doc), [], "no lens is left");
    assert.deepEqual(changes.view(doc).decorations, [], "no mark is left");
    const answer = (await api.ctx.executeServerCommand(serverCommands.runChanges, { runId: result.runId })) as {
        hunks: { id: string; state: string }[];
    }[];
    assert.deepEqual(
        answer.flatMap((f) => f.hunks.map((h) => `${h.id}:${h.state}`)),
        ["h1:kept", "h2:reverted"],
    );
    log("keep and undo hunks OK");
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
        ["chat panel", () => chatPanel(api)],
        ["approval in the panel", () => approvalInline(api)],
        ["keep and undo hunks", () => keepAndUndoHunks(api)],
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

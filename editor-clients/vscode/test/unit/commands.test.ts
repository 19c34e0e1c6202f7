import { readFileSync } from "node:fs";
import * as path from "node:path";
import { createMockTextEditor, createTextDocument } from "jest-mock-vscode";
import { beforeEach, describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { recentInstructionsKey, registerCommands } from "../../src/commands";
import type { AgentHost } from "../../src/ctx";
import { commandIds } from "../../src/ids";
import { serverCommands } from "../../src/lsp_ext";
import { RunLog } from "../../src/results";
import { FakeMemento, fakeOutputChannel, fakeQuickPick, handlers, settings } from "./vscodeMock";

vi.mock("vscode", async () => (await import("./vscodeMock.js")).createMock());

const manifest = JSON.parse(readFileSync(path.join(__dirname, "../../package.json"), "utf8"));
const window = vscode.window as unknown as Record<string, ReturnType<typeof vi.fn>> & {
    activeTextEditor: unknown;
};
const workspace = vscode.workspace as unknown as Record<string, ReturnType<typeof vi.fn>>;

const completed = { runId: "r1", status: "completed", summary: "Done.", changedFiles: [], turns: 1 };

function fakeHost(replies: Record<string, unknown> = {}) {
    const host = {
        executeServerCommand: vi.fn(async (command: string) => replies[command]),
        runAgent: vi.fn(async () => completed),
        showTranscript: vi.fn(),
        restart: vi.fn(async () => undefined),
        lastRunId: undefined as string | undefined,
        log: fakeOutputChannel("Ollama Agent"),
        state: new FakeMemento(),
        runs: new RunLog(),
        revealChat: vi.fn(async () => true),
        openChatBeside: vi.fn(),
    };
    registerCommands(host as unknown as AgentHost);
    return host;
}

function run(id: string, ...args: unknown[]): Promise<unknown> {
    const handler = handlers.get(id);
    if (!handler) throw new Error(`${id} is not registered`);
    return Promise.resolve(handler(...args));
}

function openEditor(text: string, selection: vscode.Selection, file = "/ws/a.py", languageId = "python") {
    const doc = createTextDocument(vscode.Uri.file(file), text, languageId);
    const editor = createMockTextEditor(vi as never, doc, undefined, selection);
    window.activeTextEditor = editor;
    return doc;
}

beforeEach(() => {
    handlers.clear();
    settings.values.clear();
    window.activeTextEditor = undefined;
    for (const fn of ["showInformationMessage", "showWarningMessage", "showErrorMessage", "showQuickPick"]) {
        window[fn]!.mockReset();
        window[fn]!.mockResolvedValue(undefined);
    }
    window.createQuickPick!.mockImplementation(() => fakeQuickPick());
    workspace.findFiles!.mockResolvedValue([]);
});

describe("registration", () => {
    test("every palette command in package.json has a handler, under an id the server does not use", () => {
        fakeHost();
        const contributed = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
        expect(contributed).toEqual(Object.values(commandIds).sort());
        expect([...handlers.keys()].sort()).toEqual(contributed);
        for (const id of contributed) {
            expect(Object.values(serverCommands)).not.toContain(id);
        }
        expect(manifest.contributes.commands.every((c: { category: string }) => c.category === "Ollama Agent")).toBe(
            true,
        );
    });

    test("Open Chat Beside the Editor is a button in the panel's title bar and opens the panel beside", async () => {
        const host = fakeHost();
        const title = manifest.contributes.menus["view/title"];
        expect(title).toContainEqual({ command: commandIds.openChatBeside, when: "view == ollamaAgent.chat", group: "navigation" });
        const command = manifest.contributes.commands.find((c: { command: string }) => c.command === commandIds.openChatBeside);
        expect(command.icon).toMatch(/^\$\(/);
        await run(commandIds.openChatBeside);
        expect(host.openChatBeside).toHaveBeenCalledOnce();
        expect(host.revealChat).not.toHaveBeenCalled();
        await run(commandIds.openChat);
        expect(host.revealChat).toHaveBeenCalledWith(false);
    });

    test("Run on Selection has a keybinding and an editor context menu entry for a selection", () => {
        expect(manifest.contributes.keybindings.map((k: { command: string }) => k.command)).toContain(
            commandIds.runSelection,
        );
        const menu = manifest.contributes.menus["editor/context"];
        expect(menu).toContainEqual(expect.objectContaining({ command: commandIds.runSelection }));
        expect(menu[0].when).toContain("editorHasSelection");
    });
});

describe("Run on Selection", () => {
    test("sends the selection's uri and range with the instruction given as argument", async () => {
        const doc = openEditor("a = 1\nb = 2\nc = 3\n", new vscode.Selection(1, 4, 2, 5));
        const host = fakeHost();
        await run(commandIds.runSelection, { instruction: "  rename b to beta " });
        expect(host.runAgent).toHaveBeenCalledWith(serverCommands.runSelection, {
            uri: doc.uri.toString(),
            range: { start: { line: 1, character: 4 }, end: { line: 2, character: 5 } },
            instruction: "rename b to beta",
        });
    });

    test("an empty selection means the whole current line; the typed instruction is remembered", async () => {
        openEditor("first\nsecond line\n", new vscode.Selection(1, 3, 1, 3));
        const host = fakeHost();
        const pick = fakeQuickPick();
        window.createQuickPick!.mockReturnValue(pick);
        const done = run(commandIds.runSelection);
        pick.type("add a docstring");
        pick.enter();
        await done;
        expect(host.runAgent).toHaveBeenCalledWith(
            serverCommands.runSelection,
            expect.objectContaining({
                range: { start: { line: 1, character: 0 }, end: { line: 1, character: 11 } },
                instruction: "add a docstring",
            }),
        );
        expect(host.state.get(recentInstructionsKey)).toEqual(["add a docstring"]);
    });

    test("recent instructions are offered, newest first, and picking one runs it", async () => {
        openEditor("x\n", new vscode.Selection(0, 0, 0, 1));
        const host = fakeHost();
        await host.state.update(recentInstructionsKey, ["add types", "fix the bug"]);
        const pick = fakeQuickPick();
        window.createQuickPick!.mockReturnValue(pick);
        const done = run(commandIds.runSelection);
        expect(pick.items.map((i) => i.label)).toEqual(["add types", "fix the bug"]);
        pick.activeItems = [pick.items[1]!];
        pick.enter();
        await done;
        expect(host.runAgent).toHaveBeenCalledWith(
            serverCommands.runSelection,
            expect.objectContaining({ instruction: "fix the bug" }),
        );
        expect(host.state.get(recentInstructionsKey)).toEqual(["fix the bug", "add types"]);
    });

    test("Escape in the prompt runs nothing", async () => {
        openEditor("x\n", new vscode.Selection(0, 0, 0, 1));
        const host = fakeHost();
        const pick = fakeQuickPick();
        window.createQuickPick!.mockReturnValue(pick);
        const done = run(commandIds.runSelection);
        pick.escape();
        await done;
        expect(host.runAgent).not.toHaveBeenCalled();
    });

    test("without an editor it says what to do and runs nothing", async () => {
        const host = fakeHost();
        await run(commandIds.runSelection, { instruction: "x" });
        expect(host.runAgent).not.toHaveBeenCalled();
        expect(window.showWarningMessage).toHaveBeenCalledWith(expect.stringMatching(/Open a file/));
    });
});

describe("Run Spec", () => {
    test("runs the active spec", async () => {
        const doc = openEditor("---\nstatus: pending\n---\n# Spec\n", new vscode.Selection(0, 0, 0, 0), "/ws/x.md", "markdown");
        const host = fakeHost();
        await run(commandIds.runSpec);
        expect(host.runAgent).toHaveBeenCalledWith(serverCommands.runSpec, { uri: doc.uri.toString() });
    });

    test("otherwise offers the workspace's specs and runs the one picked", async () => {
        openEditor("print(1)\n", new vscode.Selection(0, 0, 0, 0));
        const spec = vscode.Uri.file("/ws/.chant/specs/add-cli.md");
        workspace.findFiles!.mockResolvedValue([spec]);
        window.showQuickPick!.mockImplementation(async (items: unknown[]) => items[0]);
        const host = fakeHost();
        await run(commandIds.runSpec);
        expect(workspace.findFiles).toHaveBeenCalledWith(
            expect.stringContaining(".chant/specs"),
            expect.anything(),
            expect.anything(),
        );
        expect(host.runAgent).toHaveBeenCalledWith(serverCommands.runSpec, { uri: spec.toString() });
    });

    test("with no spec anywhere it explains where specs live", async () => {
        const host = fakeHost();
        await run(commandIds.runSpec);
        expect(host.runAgent).not.toHaveBeenCalled();
        expect(window.showWarningMessage).toHaveBeenCalledWith(expect.stringContaining(".chant/specs/"));
    });
});

describe("Cancel, Undo, Show Transcript, Restart", () => {
    test("Cancel cancels every run on the server", async () => {
        const host = fakeHost({ [serverCommands.cancel]: { cancelled: ["r2"] } });
        await run(commandIds.cancel);
        expect(host.executeServerCommand).toHaveBeenCalledWith(serverCommands.cancel, {});
        expect(vscode.window.setStatusBarMessage).toHaveBeenCalledWith("Ollama Agent: cancelling the run…", 3000);
        expect(window.showInformationMessage).not.toHaveBeenCalled();
    });

    test("Cancel when nothing runs says so, and the palette offers it only while a run goes on", async () => {
        fakeHost({ [serverCommands.cancel]: { cancelled: [] } });
        await run(commandIds.cancel);
        expect(window.showInformationMessage).toHaveBeenCalledWith(
            "Ollama Agent: no run is going on, so there is nothing to cancel.",
        );
        const entry = manifest.contributes.menus.commandPalette.find((m: { command: string }) => m.command === commandIds.cancel);
        expect(entry?.when).toBe("ollamaAgent.running");
        const title = manifest.contributes.commands.find((c: { command: string }) => c.command === commandIds.cancel).title;
        expect(title).toBe("Cancel Run");
    });

    test("Undo Last Run asks the server to undo the latest run and reports what it left alone", async () => {
        const host = fakeHost({
            [serverCommands.undoRun]: {
                runId: "r1",
                applied: true,
                reverted: ["file:///ws/a.py"],
                leftAlone: [{ uri: "file:///ws/a.py", startLine: 3, endLine: 4, reason: "changed since the run" }],
            },
        });
        host.runs.record("r1", { label: "a.py:2-2: Rename b", changedFiles: ["file:///ws/a.py"] });
        host.lastRunId = "r1";
        await run(commandIds.undoRun);
        expect(host.executeServerCommand).toHaveBeenCalledWith(serverCommands.undoRun, { runId: "r1" });
        expect(window.showInformationMessage).toHaveBeenCalledWith(
            "Ollama Agent: undid “a.py:2-2: Rename b” in a.py, except 1 region(s) you changed since (left as they are).",
        );
    });

    test("Undo after a run that changed nothing says so and offers the run before it, never undoing it silently", async () => {
        const host = fakeHost({
            [serverCommands.undoRun]: { runId: "r1", applied: true, reverted: ["file:///ws/calc.py"], leftAlone: [] },
        });
        host.runs.record("r1", { label: "calc.py:1-1: Rename a", changedFiles: ["file:///ws/calc.py"] });
        host.runs.record("r2", { label: "Explain this line", changedFiles: [] });
        host.lastRunId = "r2";
        await run(commandIds.undoRun);
        expect(host.executeServerCommand).not.toHaveBeenCalled();
        expect(window.showInformationMessage).toHaveBeenCalledWith(
            "Ollama Agent: the last run, “Explain this line”, changed no files, so there is nothing of it to undo. " +
                "Undo the run before it, “calc.py:1-1: Rename a”?",
            "Undo That Run",
        );
        window.showInformationMessage!.mockResolvedValueOnce("Undo That Run");
        await run(commandIds.undoRun);
        expect(host.executeServerCommand).toHaveBeenCalledWith(serverCommands.undoRun, { runId: "r1" });
        expect(window.showInformationMessage).toHaveBeenLastCalledWith("Ollama Agent: undid “calc.py:1-1: Rename a” in calc.py.");
        // Undone now: a second Undo has nothing earlier to offer.
        await run(commandIds.undoRun);
        expect(window.showInformationMessage).toHaveBeenLastCalledWith(
            "Ollama Agent: the last run, “Explain this line”, changed no files, so there is nothing of it to undo.",
        );
    });

    test("Undo Last Run says so when nothing was undone or the editor refused", async () => {
        fakeHost({ [serverCommands.undoRun]: { runId: "r1", applied: true, reverted: [], leftAlone: [] } });
        await run(commandIds.undoRun);
        expect(window.showInformationMessage).toHaveBeenLastCalledWith(
            "Ollama Agent: nothing to undo in run r1 (it may be undone already).",
        );
        fakeHost({ [serverCommands.undoRun]: { runId: "r1", applied: false, reverted: [], leftAlone: [] } });
        await run(commandIds.undoRun);
        expect(window.showInformationMessage).toHaveBeenLastCalledWith(
            expect.stringContaining("did not apply the undo"),
        );
    });

    test("Show Transcript and Restart Server reach the context", async () => {
        const host = fakeHost();
        await run(commandIds.showTranscript);
        await run(commandIds.restartServer);
        expect(host.showTranscript).toHaveBeenCalledOnce();
        expect(host.restart).toHaveBeenCalledOnce();
    });

    test("a failing server command gives one error message naming the problem", async () => {
        const host = fakeHost();
        host.executeServerCommand.mockRejectedValue(new Error("runId 'zz' is unknown: omit it to undo the latest run"));
        await run(commandIds.undoRun);
        expect(window.showErrorMessage).toHaveBeenCalledTimes(1);
        expect(window.showErrorMessage).toHaveBeenCalledWith(expect.stringContaining("runId 'zz' is unknown"));
    });
});

describe("Select Model", () => {
    const models = [
        { name: "gemma3:4b", contextLength: 131072, capabilities: ["completion", "vision"] },
        { name: "qwen3:8b", contextLength: 40960, capabilities: ["completion", "tools", "thinking"] },
    ];

    test("shows context length and tool support, tool models first, and writes the setting", async () => {
        settings.set("ollamaAgent.model", "defaultValue", "qwen3:8b");
        let shown: { label: string; description: string }[] = [];
        window.showQuickPick!.mockImplementation(async (items: typeof shown) => {
            shown = items;
            return items[1];
        });
        const host = fakeHost({ [serverCommands.listModels]: models });
        await run(commandIds.selectModel);
        expect(host.executeServerCommand).toHaveBeenCalledWith(serverCommands.listModels, {});
        expect(shown.map((i) => i.label)).toEqual(["$(check) qwen3:8b", "gemma3:4b"]);
        expect(shown[0]!.description).toBe("40K context · tools");
        expect(shown[1]!.description).toContain("no tool support");
        expect(vscode.workspace.getConfiguration("ollamaAgent").get("model")).toBe("gemma3:4b");
    });

    test("no installed model: says which command installs one", async () => {
        fakeHost({ [serverCommands.listModels]: [] });
        await run(commandIds.selectModel);
        expect(window.showWarningMessage).toHaveBeenCalledWith(expect.stringContaining("ollama pull"));
    });
});

describe("Check Setup", () => {
    const ok = {
        ollamaUrl: "http://127.0.0.1:11434",
        reachable: true,
        version: "0.12.10",
        model: "qwen3:8b",
        modelPresent: true,
        supportsTools: true,
        contextLength: 40960,
        problems: [],
    };

    test("a healthy setup is one information message", async () => {
        const host = fakeHost({ [serverCommands.checkSetup]: ok });
        await run(commandIds.checkSetup);
        // Short enough that a toast shows it whole; the URL and version are in the log behind Details.
        expect(window.showInformationMessage).toHaveBeenCalledWith(
            "Ollama Agent: setup OK. qwen3:8b: tools, 40K context.",
            "Details",
        );
        const [message] = window.showInformationMessage!.mock.calls[0]!;
        expect(message.length).toBeLessThan(80);
        expect(host.log.text()).toContain("Ollama 0.12.10 at http://127.0.0.1:11434");
    });

    test("every problem is shown with its fix", async () => {
        const problems = [
            "Model 'qwen3:8b' is not installed. Fix: run `ollama pull qwen3:8b`.",
            "Ollama 0.5.1 is too old for tool streaming. Fix: upgrade Ollama.",
        ];
        fakeHost({ [serverCommands.checkSetup]: { ...ok, modelPresent: false, problems } });
        await run(commandIds.checkSetup);
        expect(window.showWarningMessage).toHaveBeenCalledWith(
            "Ollama Agent: 2 setup problems",
            // A dialog shows text as it is: no raw backticks.
            expect.objectContaining({
                modal: true,
                detail: `• Model 'qwen3:8b' is not installed. Fix: run "ollama pull qwen3:8b".\n• ${problems[1]}`,
            }),
            "Select Model",
            "Open Settings",
        );
        expect(JSON.stringify(window.showWarningMessage!.mock.calls)).not.toContain("`");
    });

    test("Ollama not reachable: its fix without raw backticks, and Open Settings (no model to select)", async () => {
        const problems = [
            "Ollama is not reachable at http://127.0.0.1:11434 (connection refused). Start it with `ollama serve` (or the Ollama app), or point ollamaUrl / OLLAMA_HOST at the right address.",
        ];
        const unreachable = { ollamaUrl: "http://127.0.0.1:11434", reachable: false, model: "qwen3:8b", modelPresent: false, supportsTools: false, problems };
        window.showWarningMessage!.mockResolvedValueOnce("Open Settings");
        fakeHost({ [serverCommands.checkSetup]: unreachable });
        await run(commandIds.checkSetup);
        expect(window.showWarningMessage).toHaveBeenCalledWith(
            "Ollama Agent: 1 setup problem",
            {
                modal: true,
                detail: '• Ollama is not reachable at http://127.0.0.1:11434 (connection refused). Start it with "ollama serve" (or the Ollama app), or point ollamaUrl / OLLAMA_HOST at the right address.',
            },
            "Open Settings",
        );
        expect(JSON.stringify(window.showWarningMessage!.mock.calls)).not.toContain("`");
        expect(window.showInformationMessage).not.toHaveBeenCalled();
        expect(vscode.commands.executeCommand).toHaveBeenCalledWith("workbench.action.openSettings", "ollamaAgent");
    });
});

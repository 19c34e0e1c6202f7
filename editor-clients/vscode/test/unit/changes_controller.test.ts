// The agent's changes in the editor, against a stand-in for the server's runChanges / keepHunk / revertHunk:
// which runs are shown, what the lenses run, what reaches the server, what the person is told.
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { ChangesController, hasChangesKey, type ChangesHost } from "../../src/changes/controller";
import { commandIds } from "../../src/ids";
import type { FileHunks, HunkParams, RunHunk, RunResult } from "../../src/lsp_ext";
import { documentChanged as docChanged, fakeOutputChannel } from "./vscodeMock.js";

vi.mock("vscode", async () => (await import("./vscodeMock.js")).createMock());

/** The file's lenses on its first line, with `count` open changes. */
const fileRow = (count: string) => [`0:Ollama agent: ${count}`, "0:Keep all", "0:Undo all", "0:Review changes"];

const window = vscode.window as unknown as Record<string, any>;
const workspace = vscode.workspace as unknown as Record<string, any>;
const commands = vscode.commands as unknown as Record<string, ReturnType<typeof vi.fn>>;

// The server spells the uri its own way; VS Code's spelling is what documents have.
const serverUri = "file:///C:/ws/my%20calc.py";
const docUri = vscode.Uri.parse(serverUri);
const after = "a = 1\nbeta = 2\nc = 3\nd = 40\n";

function lines(first: number): RunHunk["range"] {
    return { start: { line: first, character: 0 }, end: { line: first + 1, character: 0 } };
}

/** A stand-in server: hunks h1 (line 1) and h2 (line 3) of one run; keep/revert mark them. */
function fakeServer() {
    const hunks: RunHunk[] = [
        { id: "h1", range: lines(1), oldText: "b = 2\n", newText: "beta = 2\n", state: "pending" },
        { id: "h2", range: lines(3), oldText: "d = 4\n", newText: "d = 40\n", state: "pending" },
    ];
    const answer = (): FileHunks[] => [{ uri: serverUri, hunks: hunks.map((h) => ({ ...h })) }];
    const mark = (state: RunHunk["state"]) =>
        vi.fn(async (params: HunkParams) => {
            const h = hunks.find((x) => x.id === params.hunkId);
            if (!h || params.uri !== serverUri) {
                throw Object.assign(new Error(`no hunk ${params.hunkId} in ${params.uri}`), { code: -32602 });
            }
            if (state === "reverted" && h.state === "edited") {
                throw Object.assign(new Error(`The lines of ${h.id} were edited since the run; keep the hunk.`), { code: -32602 });
            }
            h.state = state;
            return { ok: true };
        });
    const host = {
        runChanges: vi.fn(async (_runId: string) => answer()),
        keepHunk: mark("kept"),
        revertHunk: mark("reverted"),
        log: fakeOutputChannel("Ollama Agent"),
    };
    return { hunks, host };
}

function fakeEditor(text = after) {
    const document = { uri: docUri, lineCount: text.split("\n").length, getText: () => text };
    return { document, selection: { active: { line: 0 } }, setDecorations: vi.fn() };
}

function result(patch: Partial<RunResult> = {}): RunResult {
    return { runId: "r1", status: "completed", summary: "ok", changedFiles: [serverUri], turns: 2, ...patch };
}

function controller() {
    const server = fakeServer();
    const changes = new ChangesController(server.host as unknown as ChangesHost, () => "Rename b");
    return { ...server, changes };
}

const lensTitles = (changes: ChangesController, editor = fakeEditor()) =>
    changes.provideCodeLenses(editor.document as unknown as vscode.TextDocument).map((l) => `${l.range.start.line}:${l.command!.title}`);

function lens(changes: ChangesController, line: number, title: string): vscode.Command {
    const found = changes
        .provideCodeLenses(fakeEditor().document as unknown as vscode.TextDocument)
        .find((l) => l.range.start.line === line && l.command?.title === title);
    if (!found?.command) throw new Error(`no lens ${title} on line ${line}`);
    return found.command;
}

beforeEach(() => {
    window.createTextEditorDecorationType.mockClear();
    window.visibleTextEditors = [];
    window.showErrorMessage.mockReset();
    window.showInformationMessage.mockReset();
    commands.executeCommand!.mockReset();
});

afterEach(() => {
    vi.useRealTimers();
});

describe("after a run", () => {
    test("a live run's changes get lenses and decorations in the open editor, and the palette commands", async () => {
        const { changes, host } = controller();
        const editor = fakeEditor();
        window.visibleTextEditors = [editor];
        await changes.onRunResult(result());
        expect(host.runChanges).toHaveBeenCalledWith("r1");
        expect(lensTitles(changes)).toEqual([
            ...fileRow("2 changes"),
            "1:Keep",
            "1:Undo",
            "3:Keep",
            "3:Undo",
        ]);
        const decorated = editor.setDecorations.mock.calls
            .flatMap(([, options]) => options as vscode.DecorationOptions[])
            .map((o) => o.range.start.line);
        expect(decorated).toEqual([1, 3]);
        // The theme's colours, not fixed ones.
        const styles = window.createTextEditorDecorationType.mock.calls.map(([o]: [vscode.DecorationRenderOptions]) => o);
        expect(styles.some((s: vscode.DecorationRenderOptions) => s.backgroundColor instanceof vscode.ThemeColor)).toBe(true);
        expect(commands.executeCommand).toHaveBeenCalledWith("setContext", hasChangesKey, true);
        expect(lens(changes, 3, "Undo")).toMatchObject({ command: commandIds.undoHunk });
    });

    test("a review-mode run, a run without changes, and a failed answer show nothing", async () => {
        const { changes, host } = controller();
        await changes.onRunResult(result({ review: "applied" }));
        await changes.onRunResult(result({ changedFiles: [] }));
        expect(host.runChanges).not.toHaveBeenCalled();
        host.runChanges.mockRejectedValueOnce(Object.assign(new Error("unknown run r1"), { code: -32602 }));
        await changes.onRunResult(result());
        expect(changes.tracked).toEqual([]);
        expect(lensTitles(changes)).toEqual([]);
    });
});

describe("Keep and Undo", () => {
    test("Keep on a hunk's lens keeps it on the server with the server's uri, and its lenses go", async () => {
        const { changes, host } = controller();
        await changes.onRunResult(result());
        const keep = lens(changes, 1, "Keep");
        await changes.keepHunk(...(keep.arguments ?? []));
        expect(host.keepHunk).toHaveBeenCalledWith({ runId: "r1", uri: serverUri, hunkId: "h1" });
        expect(host.runChanges).toHaveBeenCalledTimes(2);
        expect(lensTitles(changes)).toEqual([
            ...fileRow("1 change"),
            "3:Keep",
            "3:Undo",
        ]);
        await changes.undoHunk(...(lens(changes, 3, "Undo").arguments ?? []));
        expect(host.revertHunk).toHaveBeenCalledWith({ runId: "r1", uri: serverUri, hunkId: "h2" });
        expect(lensTitles(changes)).toEqual([]);
        expect(changes.tracked).toEqual([]);
        expect(commands.executeCommand).toHaveBeenLastCalledWith("setContext", hasChangesKey, false);
    });

    test("Undo all reverts each pending hunk; a refusal is shown with the server's message and the rest still go", async () => {
        const { changes, host, hunks } = controller();
        await changes.onRunResult(result());
        hunks[1]!.state = "edited";
        hunks[1]!.range = null;
        await changes.refresh("r1");
        hunks[0]!.state = "pending";
        await changes.undoFile(...(lens(changes, 0, "Undo all").arguments ?? []));
        expect(host.revertHunk.mock.calls.map(([p]) => p.hunkId)).toEqual(["h1"]);
        expect(lensTitles(changes)).toEqual(["0:Ollama agent: 1 edited by you", "0:Keep all", "0:Review changes"]);

        // A stale lens: the server refuses and says why; the person sees that message.
        await changes.undoHunk({ runId: "r1", uri: serverUri, hunkId: "h2" });
        expect(window.showErrorMessage).toHaveBeenCalledWith(
            "Ollama Agent: could not undo a change: The lines of h2 were edited since the run; keep the hunk.",
        );
        await changes.keepFile({ uri: serverUri });
        expect(host.keepHunk).toHaveBeenCalledWith({ runId: "r1", uri: serverUri, hunkId: "h2" });
        expect(changes.tracked).toEqual([]);
    });

    test("from the palette: the hunk at the cursor, or a message when there is none", async () => {
        const { changes, host } = controller();
        await changes.onRunResult(result());
        const editor = fakeEditor();
        window.activeTextEditor = editor;
        editor.selection.active.line = 3;
        await changes.keepHunk();
        expect(host.keepHunk).toHaveBeenCalledWith({ runId: "r1", uri: serverUri, hunkId: "h2" });
        editor.selection.active.line = 2;
        await changes.undoHunk();
        expect(host.revertHunk).not.toHaveBeenCalled();
        expect(window.showInformationMessage.mock.calls.at(-1)![0]).toMatch(/no change of the agent at the cursor/);
        window.activeTextEditor = undefined;
    });
});

describe("following the document", () => {
    test("edits ask runChanges again once they pause, once for a burst", async () => {
        vi.useFakeTimers();
        const { changes, host } = controller();
        await changes.onRunResult(result());
        const edit = { document: fakeEditor().document, contentChanges: [{ text: "x" }] };
        docChanged.fire(edit);
        docChanged.fire(edit);
        docChanged.fire({ document: { uri: vscode.Uri.parse("file:///ws/other.py") }, contentChanges: [{ text: "y" }] });
        docChanged.fire({ ...edit, contentChanges: [] }); // a save or a dirty flag: nothing moved
        expect(host.runChanges).toHaveBeenCalledTimes(1);
        await vi.advanceTimersByTimeAsync(changes.refreshDelayMs + 10);
        expect(host.runChanges).toHaveBeenCalledTimes(2);
    });

    test("an older runChanges answer that arrives after a newer one is ignored", async () => {
        const { changes, host, hunks } = controller();
        await changes.onRunResult(result());
        let release: (value: FileHunks[]) => void = () => undefined;
        const stale = structuredClone([{ uri: serverUri, hunks }]);
        host.runChanges.mockImplementationOnce(() => new Promise((resolve) => (release = resolve)));
        const first = changes.refresh("r1");
        hunks[0]!.state = "kept";
        await changes.refresh("r1");
        release(stale);
        await first;
        expect(lensTitles(changes).filter((t) => t.endsWith(":Keep"))).toEqual(["3:Keep"]);
    });
});

describe("Review changes", () => {
    test("a diff of the file before the run (rebuilt from the hunks) against the document now", async () => {
        const { changes } = controller();
        await changes.onRunResult(result());
        const editor = fakeEditor();
        workspace.openTextDocument = vi.fn(async () => editor.document);
        await changes.reviewChanges(...(lens(changes, 0, "Review changes").arguments ?? []));
        const call = commands.executeCommand!.mock.calls.find(([id]) => id === "vscode.diff")!;
        const [, left, right, title] = call as [string, vscode.Uri, vscode.Uri, string];
        expect(right).toBe(editor.document.uri);
        expect(title).toBe("my calc.py: before the agent ↔ now");
        expect(changes.provideTextDocumentContent(left)).toBe("a = 1\nb = 2\nc = 3\nd = 4\n");
    });

    test("for one run from the chat panel, even when its changes are no longer shown", async () => {
        const { changes, host, hunks } = controller();
        hunks[0]!.state = "kept";
        hunks[1]!.state = "kept";
        workspace.openTextDocument = vi.fn(async () => fakeEditor().document);
        await changes.reviewChanges({ runId: "r7" });
        expect(host.runChanges).toHaveBeenCalledWith("r7");
        const call = commands.executeCommand!.mock.calls.find(([id]) => id === "vscode.diff")!;
        expect(changes.provideTextDocumentContent(call[1] as vscode.Uri)).toBe("a = 1\nb = 2\nc = 3\nd = 4\n");
        host.runChanges.mockResolvedValueOnce([]);
        await changes.reviewChanges({ runId: "r8" });
        expect(window.showInformationMessage.mock.calls.at(-1)![0]).toBe(
            "Ollama Agent: run r8 changed no file that is still there to compare.",
        );
    });
});

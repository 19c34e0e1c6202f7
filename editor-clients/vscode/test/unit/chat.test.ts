// The chat panel on the extension host: what the page's messages do, and approvals asked inline.
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { serverCommands } from "../../src/lsp_ext";
import { ChatController, chatHtml, type ChatHost } from "../../src/panel/chat";
import { fakeOutputChannel, fakeWebviewView } from "./vscodeMock.js";

vi.mock("vscode", async () => (await import("./vscodeMock.js")).createMock());

const window = vscode.window as unknown as Record<string, ReturnType<typeof vi.fn>>;

function fakeHost(replies: Record<string, unknown> = {}) {
    return {
        executeServerCommand: vi.fn(async (command: string) => replies[command]),
        runAgent: vi.fn(async () => ({ runId: "r2", status: "completed", summary: "ok", changedFiles: [], turns: 1 })),
        selectModel: vi.fn(async () => undefined),
        undo: vi.fn(async () => undefined),
        reviewChanges: vi.fn(async () => undefined),
        log: fakeOutputChannel("Ollama Agent"),
    };
}

function panel(replies: Record<string, unknown> = {}) {
    const host = fakeHost(replies);
    const chat = new ChatController(vscode.Uri.file("/ext"), host as unknown as ChatHost, () => "qwen3:8b");
    const view = fakeWebviewView();
    chat.resolveWebviewView(view as unknown as vscode.WebviewView);
    return { host, chat, view };
}

const request = {
    runId: "r1",
    sessionId: "s1",
    command: "rm -rf build",
    cwd: "/ws",
    destructive: true,
    reason: "it deletes files",
    timeoutSeconds: 120,
};

beforeEach(() => {
    window.showWarningMessage!.mockReset();
    window.showInformationMessage!.mockReset();
});

describe("the page", () => {
    test("has a strict CSP: scripts only with its nonce, no inline styles, nothing from the network", () => {
        const { view } = panel();
        const html = view.webview.html;
        const csp = /Content-Security-Policy" content="([^"]+)"/.exec(html)![1]!;
        expect(csp).toMatch(/^default-src 'none'; /);
        expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
        const nonce = /script-src 'nonce-([A-Za-z0-9]{32})'/.exec(csp)![1];
        expect(html).toContain(`<script nonce="${nonce}" src=`);
        expect(chatHtml(view.webview as never, vscode.Uri.file("/ext"))).not.toContain(nonce!);
    });

    test("gets the whole state when it is ready, and each change after", async () => {
        const { chat, view } = panel({ [serverCommands.listSessions]: [] });
        chat.requested("rename b", true);
        view.send({ type: "ready" });
        await vi.waitFor(() => expect(view.posted.some((m: any) => m.type === "state")).toBe(true));
        const state = view.posted.find((m: any) => m.type === "state") as any;
        expect(state.state.runs[0].instruction).toBe("rename b");
        chat.dispatch({ type: "model", model: "llama3.1:8b" });
        expect(view.posted.at(-1)).toMatchObject({ type: "action", action: { type: "model", model: "llama3.1:8b" } });
    });
});

describe("the input box", () => {
    test("starts a session, then follows it up; nothing is sent while a run goes on", async () => {
        const { host, chat, view } = panel();
        view.send({ type: "send", text: "add types" });
        await vi.waitFor(() =>
            expect(host.runAgent).toHaveBeenCalledWith(serverCommands.runTask, { instruction: "add types", wait: false }),
        );
        chat.dispatch({ type: "requested", key: "k1", instruction: "add types", newSession: true });
        chat.dispatch({ type: "answered", key: "k1", runId: "r1", sessionId: "s1" });
        await chat.send("and tests");
        expect(window.showInformationMessage).toHaveBeenCalledWith(expect.stringMatching(/still going on/));
        expect(host.runAgent).toHaveBeenCalledTimes(1);
        chat.dispatch({ type: "runFinished", result: { runId: "r1", status: "completed", summary: "ok", changedFiles: [], turns: 1, sessionId: "s1" } });
        await chat.send("and tests");
        expect(host.runAgent).toHaveBeenLastCalledWith(serverCommands.followUp, {
            sessionId: "s1",
            instruction: "and tests",
            wait: false,
        });
    });

    test("Cancel, the model, past sessions, Undo and Review changes reach the server", async () => {
        const session = { sessionId: "s9", title: "old", model: "m", messages: [{ role: "user", text: "old task" }], runs: [{ runId: "r9", instruction: "old task" }] };
        const { host, chat, view } = panel({ [serverCommands.getSession]: session, [serverCommands.listSessions]: [{ sessionId: "s9", title: "old", model: "m", updatedAt: "", runs: 1 }] });
        view.send({ type: "cancel" });
        view.send({ type: "pickModel" });
        view.send({ type: "undo", runId: "r9" });
        view.send({ type: "review", runId: "r9" });
        view.send({ type: "listSessions" });
        view.send({ type: "openSession", sessionId: "s9" });
        await vi.waitFor(() => expect(chat.state.sessionId).toBe("s9"));
        expect(host.executeServerCommand).toHaveBeenCalledWith(serverCommands.cancel, {});
        expect(host.selectModel).toHaveBeenCalledOnce();
        expect(host.undo).toHaveBeenCalledWith("r9");
        expect(host.reviewChanges).toHaveBeenCalledWith("r9");
        expect(host.executeServerCommand).toHaveBeenCalledWith(serverCommands.getSession, { sessionId: "s9" });
        expect(chat.state.sessions).toHaveLength(1);
        expect(chat.state.runs[0]!.instruction).toBe("old task");
    });

    test("a message the page should never send is logged and ignored", async () => {
        const { host, view } = panel();
        view.send({ type: "runCommand", command: "rm -rf /" });
        await vi.waitFor(() => expect(host.log.text()).toContain("ignored message"));
        expect(host.executeServerCommand).not.toHaveBeenCalled();
    });
});

describe("approvals", () => {
    test("a card in the panel until the person answers; the answer goes back to the server", async () => {
        const { chat, view } = panel();
        const answer = chat.askApproval(request);
        await vi.waitFor(() => expect(chat.approvalPending).toBe(true));
        const card = chat.state.runs[0]!.items.at(-1) as any;
        expect(card).toMatchObject({ type: "approval", command: "rm -rf build", destructive: true });
        expect(card.deadline - Date.now()).toBeGreaterThan(115_000);
        expect(view.show).toHaveBeenCalledWith(true);
        view.send({ type: "approve", id: card.id, decision: "allowSession" });
        await expect(answer).resolves.toEqual({ decision: "allowSession" });
        expect(chat.state.runs[0]!.items.at(-1)).toMatchObject({ answer: "allowSession" });
        expect(chat.approvalPending).toBe(false);
        expect(window.showWarningMessage).not.toHaveBeenCalled();
    });

    test("stays until answered, and turns into 'not answered' when the server stops waiting", async () => {
        vi.useFakeTimers();
        try {
            const { chat } = panel();
            const answer = chat.askApproval({ ...request, timeoutSeconds: 5 });
            await vi.advanceTimersByTimeAsync(4_000);
            expect(chat.approvalPending).toBe(true);
            await vi.advanceTimersByTimeAsync(3_000);
            await expect(answer).resolves.toEqual({ decision: "deny" });
            expect(chat.state.runs[0]!.items.at(-1)).toMatchObject({ answer: "expired" });
        } finally {
            vi.useRealTimers();
        }
    });

    test("a request the server cancels closes its card", async () => {
        const { chat } = panel();
        let cancel!: () => void;
        const token = { isCancellationRequested: false, onCancellationRequested: (f: () => void) => ((cancel = f), { dispose() {} }) };
        const answer = chat.askApproval(request, token as never);
        await vi.waitFor(() => expect(chat.approvalPending).toBe(true));
        cancel();
        await expect(answer).resolves.toEqual({ decision: "deny" });
        expect(chat.state.runs[0]!.items.at(-1)).toMatchObject({ answer: "expired" });
    });

    test("without a panel: a modal warning with Deny first for a destructive command", async () => {
        const host = fakeHost();
        const chat = new ChatController(vscode.Uri.file("/ext"), host as unknown as ChatHost, () => "m");
        chat.revealTimeoutMs = 10; // no view ever resolves here
        (vscode.commands.executeCommand as ReturnType<typeof vi.fn>).mockResolvedValueOnce(undefined);
        window.showWarningMessage!.mockResolvedValueOnce("Allow once");
        await expect(chat.askApproval(request, undefined)).resolves.toEqual({ decision: "allow" });
        expect(window.showWarningMessage).toHaveBeenCalledWith(
            "The Ollama agent wants to run a DESTRUCTIVE command.",
            { modal: true, detail: "rm -rf build\n\nin /ws\n\nit deletes files" },
            "Deny",
            "Allow once",
            "Allow for this session",
        );
        window.showWarningMessage!.mockResolvedValueOnce(undefined); // dismissed
        await expect(chat.askApproval({ ...request, destructive: false, outsideSandbox: true })).resolves.toEqual({
            decision: "deny",
        });
        expect(window.showWarningMessage!.mock.calls[1]!.slice(2)).toEqual(["Deny", "Run outside the sandbox"]);
    });
});

describe("Open diff", () => {
    const diff = "--- a/calc.py\n+++ b/calc.py\n@@ -2 +2 @@\n-b = 2\n+beta = 2\n";

    /** A panel showing run r1 with an edit_file card (item 1) whose diff changed calc.py. */
    function panelWithEdit() {
        const p = panel();
        const t = (event: Record<string, unknown>) => p.chat.dispatch({ type: "transcript", event: { runId: "r1", text: "", ...event } as never });
        p.chat.dispatch({ type: "requested", key: "k1", instruction: "rename b", newSession: true });
        t({ kind: "started", text: "rename b" });
        t({ kind: "toolCall", name: "edit_file", text: "edit_file calc.py", callId: "c1" });
        t({ kind: "edit", text: "modify calc.py", path: "calc.py", change: "modify", diff });
        t({ kind: "toolResult", name: "edit_file", text: "Edited calc.py.", ok: true, callId: "c1", diff });
        return p;
    }

    function withWorkspace(text: string) {
        (vscode.workspace as any).setWorkspaceFolders([{ uri: vscode.Uri.file("/ws"), name: "ws", index: 0 }]);
        const open = vi.spyOn(vscode.workspace, "openTextDocument").mockImplementation((async (uri: vscode.Uri) => ({
            uri,
            getText: () => (uri.scheme === "file" ? text : "virtual"),
        })) as never);
        const show = vi.spyOn(vscode.window, "showTextDocument").mockResolvedValue(undefined as never);
        const execute = vscode.commands.executeCommand as ReturnType<typeof vi.fn>;
        execute.mockClear();
        restore = () => (open.mockRestore(), show.mockRestore(), (vscode.workspace as any).setWorkspaceFolders(undefined));
        return { open, show, execute };
    }
    let restore: (() => void) | undefined;
    afterEach(() => {
        restore?.();
        restore = undefined;
    });

    test("the card's Open diff opens VS Code's diff editor: the file before the call against now", async () => {
        const { chat, view } = panelWithEdit();
        expect(chat.state.runs[0]!.items[1]).toMatchObject({ type: "tool", name: "edit_file", diff });
        const ws = withWorkspace("a = 1\nbeta = 2\nc = 3\n");
        view.send({ type: "openDiff", run: 0, item: 1 });
        await vi.waitFor(() => expect(ws.execute).toHaveBeenCalledWith("vscode.diff", expect.anything(), expect.anything(), "calc.py: before the agent ↔ now", { preview: true }));
        const [, left, right] = ws.execute.mock.calls.find((c) => c[0] === "vscode.diff")!;
        expect(right.toString()).toBe("file:///ws/calc.py");
        expect(left.scheme).toBe("ollama-agent-diff");
        expect(chat.provideTextDocumentContent(left)).toBe("a = 1\nb = 2\nc = 3\n");
        expect(ws.show).not.toHaveBeenCalled();
    });

    test("when the file changed since, the diff itself opens beside the editor", async () => {
        const { chat, view } = panelWithEdit();
        const ws = withWorkspace("something else entirely\n");
        view.send({ type: "openDiff", run: 0, item: 1 });
        await vi.waitFor(() => expect(ws.show).toHaveBeenCalledOnce());
        expect(ws.execute).not.toHaveBeenCalledWith("vscode.diff", expect.anything(), expect.anything(), expect.anything(), expect.anything());
        expect(ws.show.mock.calls[0]![1]).toEqual({ preview: true, viewColumn: vscode.ViewColumn.Beside });
        const shown = ws.open.mock.calls.at(-1)![0] as unknown as vscode.Uri;
        expect(shown.path).toBe("/calc.py.diff");
        expect(chat.provideTextDocumentContent(shown)).toBe(diff);
    });

    test("an item without a diff, or one that does not exist, opens nothing", async () => {
        const { chat, view } = panelWithEdit();
        const ws = withWorkspace("a = 1\nbeta = 2\n");
        view.send({ type: "openDiff", run: 0, item: 0 }); // the user's message
        view.send({ type: "openDiff", run: 3, item: 1 });
        await chat.openDiff(0, 0);
        expect(ws.open).not.toHaveBeenCalled();
        expect(ws.show).not.toHaveBeenCalled();
    });
});

describe("the panel beside the editor", () => {
    function fakePanel() {
        const view = fakeWebviewView();
        return Object.assign(view, { reveal: vi.fn() });
    }

    test("opens in an editor column beside the editor, kept alive when hidden, and shows the same conversation", async () => {
        const { chat, view } = panel({ [serverCommands.listSessions]: [] });
        const beside = fakePanel();
        window.createWebviewPanel!.mockReturnValueOnce(beside);
        chat.requested("rename b", true);
        chat.openBeside();
        expect(window.createWebviewPanel).toHaveBeenCalledWith(
            "ollamaAgent.chat",
            "Ollama Agent",
            { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
            expect.objectContaining({ enableScripts: true, retainContextWhenHidden: true }),
        );
        expect(beside.webview.html).toContain("Content-Security-Policy");
        beside.send({ type: "ready" });
        await vi.waitFor(() => expect(beside.posted.some((m: any) => m.type === "state")).toBe(true));
        expect((beside.posted.find((m: any) => m.type === "state") as any).state.runs[0].instruction).toBe("rename b");
        // What the person does in either surface acts on the one conversation; both show each change.
        chat.dispatch({ type: "model", model: "llama3.1:8b" });
        expect(view.posted.at(-1)).toMatchObject({ action: { type: "model", model: "llama3.1:8b" } });
        expect(beside.posted.at(-1)).toMatchObject({ action: { type: "model", model: "llama3.1:8b" } });
        // Closed, it no longer gets messages.
        beside.dispose();
        chat.dispatch({ type: "model", model: "gemma3:4b" });
        expect(beside.posted.at(-1)).toMatchObject({ action: { model: "llama3.1:8b" } });
        expect(view.posted.at(-1)).toMatchObject({ action: { model: "gemma3:4b" } });
    });

    test("an approval with only the beside panel open is asked there", async () => {
        const host = fakeHost();
        const chat = new ChatController(vscode.Uri.file("/ext"), host as unknown as ChatHost, () => "m");
        const beside = fakePanel();
        window.createWebviewPanel!.mockReturnValueOnce(beside);
        chat.openBeside();
        const answer = chat.askApproval(request);
        await vi.waitFor(() => expect(chat.approvalPending).toBe(true));
        expect(beside.reveal).toHaveBeenCalledWith(undefined, true);
        const card = chat.state.runs[0]!.items.at(-1) as any;
        beside.send({ type: "approve", id: card.id, decision: "deny" });
        await expect(answer).resolves.toEqual({ decision: "deny" });
        expect(window.showWarningMessage).not.toHaveBeenCalled();
    });
});

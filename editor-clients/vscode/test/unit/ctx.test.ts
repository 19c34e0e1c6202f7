import { createTextDocument } from "jest-mock-vscode";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { registerCommands } from "../../src/commands";
import { Ctx, saveDocuments } from "../../src/ctx";
import { commandIds } from "../../src/ids";
import { serverCommands } from "../../src/lsp_ext";
import * as serverModule from "../../src/server";
import { FakeEvent, FakeMemento, fakeWebviewView, handlers, lastStatusBarItem, settings } from "./vscodeMock.js";

vi.mock("vscode", async () => (await import("./vscodeMock.js")).createMock());

// A stand-in for vscode-languageclient's LanguageClient that records what the extension wires up.
const clients: FakeClient[] = [];
let startError: Error | undefined;
/** Start the server process for real, and fail like vscode-languageclient when it exits during start. */
let realSpawn = false;
/** Starts wait for this before they succeed or fail; a test holds it to act while a start is under way. */
let startGate: Promise<void> = Promise.resolve();

interface FakeClient {
    clientOptions: Record<string, any>;
    features: { fillClientCapabilities(c: Record<string, unknown>): void }[];
    notifications: Map<string, (p: unknown) => void>;
    requests: Map<string, (p: unknown) => unknown>;
    sendRequest: ReturnType<typeof vi.fn>;
    sendNotification: ReturnType<typeof vi.fn>;
    stop: ReturnType<typeof vi.fn>;
    /** How many times start() was called: by Ctx, and by the library itself when told to restart. */
    starts: number;
    isRunning(): boolean;
    /** The server process exits; the client reacts as vscode-languageclient's handleConnectionClosed does. */
    serverExited(): Promise<void>;
}

vi.mock("vscode-languageclient/node", async () => {
    const proto = await import("vscode-languageserver-protocol");
    const State = { Stopped: 1, Running: 2, Starting: 3, StartFailed: 4 };
    class LanguageClient {
        features: unknown[] = [];
        notifications = new Map();
        requests = new Map();
        state = State.Stopped;
        private stateListeners: ((e: { oldState: number; newState: number }) => void)[] = [];
        private onStart: Promise<void> | undefined;
        starts = 0;
        sendRequest = vi.fn(async () => undefined);
        sendNotification = vi.fn(async () => undefined);
        stop = vi.fn(async () => {
            this.onStart = undefined;
            this.setState(State.Stopped);
        });
        constructor(
            _id: string,
            _name: string,
            public serverOptions: unknown,
            public clientOptions: unknown,
        ) {
            clients.push(this as unknown as FakeClient);
        }
        registerFeature(feature: unknown) {
            this.features.push(feature);
        }
        onNotification(type: { method: string }, handler: unknown) {
            this.notifications.set(type.method, handler);
        }
        onRequest(type: { method: string }, handler: unknown) {
            this.requests.set(type.method, handler);
        }
        onDidChangeState(listener: (e: { oldState: number; newState: number }) => void) {
            this.stateListeners.push(listener);
            return { dispose: () => (this.stateListeners = this.stateListeners.filter((l) => l !== listener)) };
        }
        private setState(state: number) {
            const oldState = this.state;
            this.state = state;
            if (oldState !== state) for (const l of [...this.stateListeners]) l({ oldState, newState: state });
        }
        start(): Promise<void> {
            // Like the library: a start while one is under way joins it.
            this.onStart ??= this.doStart();
            return this.onStart;
        }
        private async doStart() {
            this.starts++;
            this.setState(State.Starting);
            if (realSpawn) {
                const child = await (this.serverOptions as () => Promise<import("node:child_process").ChildProcess>)();
                await new Promise((resolve) => child.once("exit", resolve));
                this.setState(State.StartFailed);
                throw new Error("Pending response rejected since connection got disposed");
            }
            await startGate;
            if (startError) {
                this.setState(State.StartFailed);
                throw startError;
            }
            this.setState(State.Running);
        }
        isRunning() {
            return this.state === State.Running;
        }
        async dispose() {}
        error() {}
        info() {}
        async serverExited() {
            // As vscode-languageclient 9-11 do: ask the error handler, then stop for good or start again.
            const result = await (this.clientOptions as any).errorHandler.closed();
            this.onStart = undefined;
            this.setState(State.Stopped);
            if (result.action === 2 /* CloseAction.Restart */) {
                this.start().catch(() => undefined);
            }
        }
    }
    return {
        ...proto,
        LanguageClient,
        State,
        TransportKind: { stdio: 0 },
        RevealOutputChannelOn: { Never: 4 },
        ErrorAction: { Continue: 1, Shutdown: 2 },
        CloseAction: { DoNotRestart: 1, Restart: 2 },
    };
});

const window = vscode.window as unknown as Record<string, ReturnType<typeof vi.fn>>;

function extensionContext() {
    return {
        globalState: new FakeMemento(),
        subscriptions: [],
        extensionUri: vscode.Uri.file("/ext"),
    } as unknown as vscode.ExtensionContext;
}

const live: Ctx[] = [];

function newCtx(): Ctx {
    const ctx = new Ctx(extensionContext());
    live.push(ctx);
    return ctx;
}

afterEach(() => {
    for (const ctx of live.splice(0)) ctx.dispose();
});

async function startedCtx() {
    const ctx = newCtx();
    await ctx.ensureClient();
    return { ctx, client: clients.at(-1)! };
}

beforeEach(() => {
    clients.length = 0;
    startError = undefined;
    realSpawn = false;
    startGate = Promise.resolve();
    settings.values.clear();
    settings.set("ollamaAgent.server.command", "globalValue", ["/venv/bin/python", "-m", "ollama_agent_ls"]);
    settings.set("ollamaAgent.model", "defaultValue", "qwen3:8b");
    for (const fn of ["showInformationMessage", "showWarningMessage", "showErrorMessage"]) {
        window[fn]!.mockReset();
        window[fn]!.mockResolvedValue(undefined);
    }
});

describe("starting the client", () => {
    test("uses the server.command argv and sends only the settings the user set", async () => {
        settings.set("ollamaAgent.ollamaUrl", "globalValue", "http://gpu-box:11434");
        settings.set("ollamaAgent.maxTurns", "defaultValue", 25);
        settings.set("ollamaAgent.applyMode", "workspaceValue", "review");
        const { ctx, client } = await startedCtx();
        expect(ctx.launch).toEqual({ argv: ["/venv/bin/python", "-m", "ollama_agent_ls"], source: "setting" });
        expect(client.clientOptions.initializationOptions()).toEqual({
            ollamaUrl: "http://gpu-box:11434",
            applyMode: "review",
        });
    });

    test("declares experimental.ollamaAgent.saveDocuments and handles that request", async () => {
        const { client } = await startedCtx();
        const capabilities: Record<string, unknown> = { experimental: { other: 1 } };
        for (const f of client.features) f.fillClientCapabilities(capabilities);
        expect(capabilities.experimental).toEqual({ other: 1, ollamaAgent: { saveDocuments: true, approveCommand: true } });
        expect(client.requests.has("ollamaAgent/saveDocuments")).toBe(true);
        expect(client.requests.has("ollamaAgent/approveCommand")).toBe(true);
    });

    test("answers workspace/configuration for ollamaAgent without extension-only keys", async () => {
        settings.set("ollamaAgent.model", "globalValue", "llama3.1:8b");
        const { client } = await startedCtx();
        const next = vi.fn(async () => [null, { tabSize: 4 }]);
        const answer = await client.clientOptions.middleware.workspace.configuration(
            { items: [{ section: "ollamaAgent" }, { section: "editor" }] },
            undefined,
            next,
        );
        expect(answer).toEqual([{ model: "llama3.1:8b" }, { tabSize: 4 }]);
    });

    test("a server that cannot start gives exactly one error message with the fix", async () => {
        startError = new Error("spawn /venv/bin/python ENOENT");
        const ctx = newCtx();
        await expect(ctx.ensureClient()).rejects.toThrow(/did not start/);
        expect(window.showErrorMessage).toHaveBeenCalledTimes(1);
        expect(window.showErrorMessage!.mock.calls[0]![0]).toMatch(/ENOENT.*Fix:.*ollamaAgent\.server\.command/);
    });

    test("the message quotes the server's last error line, not just the connection failure", async () => {
        realSpawn = true;
        const script = "console.error('Traceback ...'); console.error(\"ModuleNotFoundError: No module named 'pygls'\"); process.exit(1)";
        settings.set("ollamaAgent.server.command", "globalValue", [process.execPath, "-e", script]);
        const ctx = newCtx();
        await expect(ctx.ensureClient()).rejects.toThrow();
        expect(window.showErrorMessage).toHaveBeenCalledTimes(1);
        expect(window.showErrorMessage!.mock.calls[0]![0]).toContain("(ModuleNotFoundError: No module named 'pygls')");
    });

    test("no server anywhere: one message saying how to install it or set server.command", async () => {
        settings.values.delete("ollamaAgent.server.command");
        const savedPath = process.env.PATH;
        process.env.PATH = "/nonexistent-dir";
        try {
            const ctx = newCtx();
            await expect(ctx.ensureClient()).rejects.toThrow();
        } finally {
            process.env.PATH = savedPath;
        }
        expect(clients).toHaveLength(0);
        expect(window.showErrorMessage).toHaveBeenCalledTimes(1);
        expect(window.showErrorMessage!.mock.calls[0]![0]).toMatch(/pip install ollama-agent-ls.*ollamaAgent\.server\.command/);
    });
});

describe("the chat panel", () => {
    test("its view is registered to keep its page alive while hidden", () => {
        window.registerWebviewViewProvider!.mockClear();
        const ctx = newCtx();
        expect(window.registerWebviewViewProvider).toHaveBeenCalledWith("ollamaAgent.chat", ctx.chat, {
            webviewOptions: { retainContextWhenHidden: true },
        });
    });

    test("Open Chat Beside the Editor opens the panel in the editor column beside the current editor", async () => {
        const ctx = newCtx();
        const disposables = registerCommands(ctx);
        try {
            const beside = Object.assign(fakeWebviewView(), { reveal: vi.fn() });
            window.createWebviewPanel!.mockClear();
            window.createWebviewPanel!.mockReturnValueOnce(beside);
            await handlers.get(commandIds.openChatBeside)!();
            expect(window.createWebviewPanel).toHaveBeenCalledOnce();
            const [viewType, title, where, options] = window.createWebviewPanel!.mock.calls[0]!;
            expect([viewType, title, where]).toEqual(["ollamaAgent.chat", "Ollama Agent", { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false }]);
            expect(options).toMatchObject({ enableScripts: true, retainContextWhenHidden: true });
            expect(beside.webview.html).toContain("dist/webview.js");
            expect(ctx.chat.visible).toBe(true);
        } finally {
            for (const d of disposables) d.dispose();
        }
    });
});

describe("settings changes reach the server without a reload", () => {
    test("an agent setting is pushed with didChangeConfiguration", async () => {
        const { client } = await startedCtx();
        await vscode.workspace.getConfiguration("ollamaAgent").update("maxTurns", 40, 1);
        expect(client.sendNotification).toHaveBeenCalledWith(
            expect.objectContaining({ method: "workspace/didChangeConfiguration" }),
            { settings: { ollamaAgent: { maxTurns: 40 } } },
        );
    });

    test("a new server.command restarts the server with it", async () => {
        const { ctx, client } = await startedCtx();
        await vscode.workspace.getConfiguration("ollamaAgent").update("server.command", ["/other/ollama-agent-ls"], 1);
        await vi.waitFor(() => expect(clients).toHaveLength(2));
        expect(client.stop).toHaveBeenCalled();
        expect(ctx.launch?.argv).toEqual(["/other/ollama-agent-ls"]);
    });
});

describe("runs", () => {
    test("the transcript streams into its channel with thinking and tool calls marked", async () => {
        const { ctx, client } = await startedCtx();
        const notify = client.notifications.get("ollamaAgent/transcript")!;
        notify({ runId: "r1", kind: "started", text: "rename b" });
        notify({ runId: "r1", kind: "thinking", text: "Let me " });
        notify({ runId: "r1", kind: "thinking", text: "look." });
        notify({ runId: "r1", kind: "toolCall", name: "edit_file", text: "a.py" });
        notify({ runId: "r1", kind: "finished", status: "completed", text: "Renamed." });
        const out = (ctx.transcriptChannel as unknown as { text(): string }).text();
        expect(out).toContain("💭 thinking: Let me look.\n");
        expect(out).toContain("▶ tool edit_file a.py\n");
        expect(out).toContain("finished (completed): Renamed.");
        expect(ctx.lastRunId).toBe("r1");
    });

    test("the status bar shows turn and tokens/s while running and cancels on click", async () => {
        const { ctx, client } = await startedCtx();
        const progress = client.clientOptions.middleware.handleWorkDoneProgress;
        const next = vi.fn();
        progress("tok", { kind: "begin", title: "Ollama agent", cancellable: true }, next);
        progress("tok", { kind: "report", message: "turn 2 · read_file · 31.5 tok/s" }, next);
        // The library would show these as a second status bar item that disagrees with ours: it gets none.
        expect(next).not.toHaveBeenCalled();
        expect(ctx.status.text).toBe("$(sync~spin) qwen3:8b · turn 2 · 31.5 tok/s");
        expect(lastStatusBarItem(vscode.window).command).toBe(commandIds.cancel);
        progress("tok", { kind: "end", message: "Done" }, next);
        expect(next).toHaveBeenCalledOnce(); // the end, so the library lets go of the token
        expect(ctx.status.text).toBe("$(hubot) qwen3:8b");
        const other = vi.fn();
        progress("idx", { kind: "begin", title: "Indexing" }, other);
        expect(other).toHaveBeenCalledOnce(); // other progress of the server is left to the library
        expect(lastStatusBarItem(vscode.window).command).toBe(commandIds.selectModel);
    });

    test("the TODO quick fix's run result is reported like the extension's own runs", async () => {
        const { client } = await startedCtx();
        const result = { runId: "r9", status: "completed", summary: "Implemented the TODO.", changedFiles: ["file:///a.py"], turns: 2 };
        const next = vi.fn(async () => result);
        const middleware = client.clientOptions.middleware.executeCommand;
        await expect(middleware(serverCommands.implementTodo, [{ uri: "file:///a.py", line: 3 }], next)).resolves.toBe(result);
        expect(window.showInformationMessage).toHaveBeenCalledWith(
            "Ollama agent: Implemented the TODO. (1 file changed)",
            "Review Changes",
            "Undo",
            "Show Transcript",
        );
        const other = vi.fn(async () => []);
        await middleware(serverCommands.listModels, [{}], other);
        expect(window.showInformationMessage).toHaveBeenCalledTimes(1);
    });

    test("a quick fix that answers at once (wait: false) is reported when its runFinished arrives", async () => {
        const { ctx, client } = await startedCtx();
        const running = { runId: "r7", status: "running" };
        const next = vi.fn(async () => running);
        const middleware = client.clientOptions.middleware.executeCommand;
        const args = [{ uri: "file:///a.py", line: 3, wait: false }];
        // VS Code gets the server's answer at once; the run goes on in the status bar.
        await expect(middleware(serverCommands.implementTodo, args, next)).resolves.toBe(running);
        expect(next).toHaveBeenCalledWith(serverCommands.implementTodo, args);
        expect(ctx.lastRunId).toBe("r7");
        expect(window.showInformationMessage).not.toHaveBeenCalled();
        const notify = client.notifications.get("ollamaAgent/transcript")!;
        notify({ runId: "r7", kind: "started", text: "TODO" });
        expect(ctx.status.running).toBe(true);
        const finished: unknown[] = [];
        ctx.onDidFinishRun((result) => finished.push(result));
        const result = { runId: "r7", status: "completed", summary: "Implemented the TODO.", changedFiles: ["file:///a.py"], turns: 2, todoRemoved: true };
        notify({ runId: "r7", kind: "finished", status: "completed", text: "Implemented the TODO." });
        client.notifications.get("ollamaAgent/runFinished")!(result);
        await vi.waitFor(() =>
            expect(window.showInformationMessage).toHaveBeenCalledWith(
                "Ollama agent: Implemented the TODO. (1 file changed)",
                "Review Changes",
                "Undo",
                "Show Transcript",
            ),
        );
        expect(finished).toEqual([result]);
        expect(ctx.status.running).toBe(false);
    });

    test("a run started with wait: false through runAgent still returns its result", async () => {
        const { ctx, client } = await startedCtx();
        client.sendRequest.mockResolvedValueOnce({ runId: "r8", status: "running" });
        const pending = ctx.runAgent(serverCommands.runSpec, { uri: "file:///s.md", wait: false });
        const result = { runId: "r8", status: "failed", summary: "The spec is not approved.", changedFiles: [], turns: 0 };
        await vi.waitFor(() => expect(client.sendRequest).toHaveBeenCalled());
        client.notifications.get("ollamaAgent/runFinished")!(result);
        await expect(pending).resolves.toEqual(result);
        expect(window.showErrorMessage).toHaveBeenCalledWith(expect.stringMatching(/run failed: The spec is not approved/), "Show Transcript");
    });

    test("a run whose server exits is reported as failed instead of being followed forever", async () => {
        const { ctx, client } = await startedCtx();
        client.sendRequest.mockResolvedValueOnce({ runId: "r3", status: "running" });
        const pending = ctx.runAgent(serverCommands.implementTodo, { uri: "file:///a.py", line: 1, wait: false });
        await vi.waitFor(() => expect(client.sendRequest).toHaveBeenCalled());
        await ctx.stop();
        const result = await pending;
        expect(result?.status).toBe("failed");
        expect(result?.summary).toMatch(/stopped before the run ended/);
    });

    test("Undo on a run's result message undoes that run", async () => {
        const { ctx, client } = await startedCtx();
        const result = { runId: "r5", status: "completed", summary: "ok", changedFiles: ["file:///a.py"], turns: 1 };
        client.sendRequest.mockResolvedValueOnce(result);
        window.showInformationMessage!.mockResolvedValueOnce("Undo");
        await ctx.runAgent(serverCommands.runSelection, {
            uri: "file:///a.py",
            range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } },
            instruction: "x",
        });
        expect(client.sendRequest).toHaveBeenCalledWith(expect.objectContaining({ method: "workspace/executeCommand" }), {
            command: serverCommands.runSelection,
            arguments: [expect.objectContaining({ instruction: "x" })],
        });
        // Through Undo Last Run with this run's id, so the message names it.
        await vi.waitFor(() => expect(vscode.commands.executeCommand).toHaveBeenCalledWith(commandIds.undoRun, "r5"));
    });

    test("Review Changes on a run's result message opens that run's diff", async () => {
        const { ctx, client } = await startedCtx();
        client.sendRequest.mockResolvedValueOnce({ runId: "r6", status: "completed", summary: "ok", changedFiles: ["file:///a.py"], turns: 1 });
        window.showInformationMessage!.mockResolvedValueOnce("Review Changes");
        await ctx.runAgent(serverCommands.implementTodo, { uri: "file:///a.py", line: 1 });
        await vi.waitFor(() =>
            expect(vscode.commands.executeCommand).toHaveBeenCalledWith(commandIds.reviewChanges, { runId: "r6" }),
        );
    });

    test("a finished live run's changes are asked for and shown as lenses; a reviewed run's are not", async () => {
        const { ctx, client } = await startedCtx();
        const hunk = { id: "h1", range: { start: { line: 1, character: 0 }, end: { line: 2, character: 0 } }, oldText: "b\n", newText: "beta\n", state: "pending" };
        const wire = { command: "ollamaAgent.runChanges", arguments: [{ runId: "r4" }] };
        client.sendRequest.mockImplementation(async (_type: unknown, params: { command: string }) =>
            params.command === "ollamaAgent.runChanges" ? [{ uri: "file:///a.py", hunks: [hunk] }] : { runId: "r4", status: "completed", summary: "ok", changedFiles: ["file:///a.py"], turns: 1 },
        );
        await ctx.runAgent(serverCommands.implementTodo, { uri: "file:///a.py", line: 1 });
        await vi.waitFor(() => expect(ctx.changes.tracked.map((r) => r.runId)).toEqual(["r4"]));
        expect(client.sendRequest).toHaveBeenCalledWith(expect.objectContaining({ method: "workspace/executeCommand" }), wire);
        const doc = { uri: vscode.Uri.parse("file:///a.py"), lineCount: 3 } as vscode.TextDocument;
        expect(ctx.changes.provideCodeLenses(doc).map((l) => l.command?.title)).toContain("Undo");
        client.sendRequest.mockClear();
        client.sendRequest.mockResolvedValueOnce({ runId: "r5", status: "completed", summary: "ok", changedFiles: ["file:///a.py"], turns: 1, review: "applied" });
        await ctx.runAgent(serverCommands.implementTodo, { uri: "file:///a.py", line: 1 });
        expect(client.sendRequest).toHaveBeenCalledTimes(1);
    });

    test("a failed run is an error message with the server's reason", async () => {
        const { ctx, client } = await startedCtx();
        client.sendRequest.mockResolvedValueOnce({ runId: "r2", status: "failed", summary: "Ollama is not reachable at http://127.0.0.1:11434. Fix: start it with `ollama serve`.", changedFiles: [], turns: 0 });
        await ctx.runAgent(serverCommands.implementTodo, { uri: "file:///a.py", line: 1 });
        // A notification shows text as it is: the code span is quoted, no raw backtick is left.
        expect(window.showErrorMessage).toHaveBeenCalledWith(
            'Ollama agent run failed: Ollama is not reachable at http://127.0.0.1:11434. Fix: start it with "ollama serve".',
            "Show Transcript",
        );
        expect(window.showErrorMessage!.mock.calls.flat().join(" ")).not.toContain("`");
    });

    test("a run request the server refuses as unreachable is one message without raw backticks, in the panel too", async () => {
        const { ctx, client } = await startedCtx();
        const reason = "Ollama is not reachable at http://127.0.0.1:11434. Fix: start it with `ollama serve`, or set `ollamaAgent.ollamaUrl`.";
        client.sendRequest.mockRejectedValueOnce(new Error(reason));
        await expect(ctx.runAgent(serverCommands.runTask, { instruction: "add types", wait: false })).resolves.toBeUndefined();
        expect(window.showErrorMessage).toHaveBeenCalledTimes(1);
        expect(window.showErrorMessage).toHaveBeenCalledWith(
            'Ollama Agent: Ollama is not reachable at http://127.0.0.1:11434. Fix: start it with "ollama serve", or set "ollamaAgent.ollamaUrl".',
        );
        const shown = JSON.stringify(ctx.chat.state.runs.at(-1)!.items);
        expect(shown).toContain('start it with \\"ollama serve\\"');
        expect(shown).not.toContain("`");
    });
});

describe("review and approvals", () => {
    test("a review-mode edit shows the status bar waiting for the review, not spinning", async () => {
        const { ctx, client } = await startedCtx();
        client.notifications.get("ollamaAgent/transcript")!({ runId: "r1", kind: "started", text: "x" });
        let answer!: (value: unknown) => void;
        const next = vi.fn(() => new Promise((resolve) => (answer = resolve)));
        const edit = { changes: {}, changeAnnotations: { a: { label: "Ollama agent", needsConfirmation: true } } };
        const pending = client.clientOptions.middleware.workspace.handleApplyEdit({ edit }, next);
        expect(ctx.status.text).toBe("$(eye) qwen3:8b · review the changes");
        answer({ applied: true });
        await expect(pending).resolves.toEqual({ applied: true });
        expect(ctx.status.text).toBe("$(sync~spin) qwen3:8b");
        // A live edit changes nothing in the status bar.
        await client.clientOptions.middleware.workspace.handleApplyEdit({ edit: { changes: {} } }, async () => ({ applied: true }));
        expect(ctx.status.text).toBe("$(sync~spin) qwen3:8b");
    });

    test("ollamaAgent/approveCommand without a panel falls back to a modal dialog and answers the server", async () => {
        const { ctx, client } = await startedCtx();
        ctx.chat.revealTimeoutMs = 10;
        window.showWarningMessage!.mockResolvedValueOnce("Deny");
        const answer = client.requests.get("ollamaAgent/approveCommand")!({
            runId: "r1", sessionId: "s1", command: "git clean -fdx", cwd: "/ws", destructive: true, reason: "deletes files", timeoutSeconds: 60,
        });
        await expect(answer).resolves.toEqual({ decision: "deny" });
        expect(window.showWarningMessage!.mock.calls[0]![2]).toBe("Deny");
    });
});

describe("a change of the Python interpreter", () => {
    // A stand-in for the Python extension's environments API (ms-python.python cannot be installed offline).
    function pythonExtension(active: string) {
        const changed = new FakeEvent<{ path: string }>();
        const api = {
            environments: {
                getActiveEnvironmentPath: vi.fn(() => ({ path: active })),
                resolveEnvironment: vi.fn(async (env: { path: string }) => ({ executable: { uri: vscode.Uri.file(env.path) } })),
                onDidChangeActiveEnvironmentPath: changed.event,
            },
        };
        (vscode.extensions.getExtension as ReturnType<typeof vi.fn>).mockReturnValue({ isActive: true, exports: api, activate: async () => api });
        return { api, select: (path: string) => { active = path; changed.fire({ path }); } };
    }

    afterEach(() => {
        (vscode.extensions.getExtension as ReturnType<typeof vi.fn>).mockReturnValue(undefined);
    });

    test("restarts a server that came from the interpreter, and not for the same one again", async () => {
        settings.values.delete("ollamaAgent.server.command");
        const python = pythonExtension("/envs/old/bin/python");
        const savedPath = process.env.PATH;
        process.env.PATH = "/nonexistent-dir";
        const canImport = vi.spyOn(serverModule, "canImportServer").mockResolvedValue(true);
        try {
            const { ctx } = await startedCtx();
            expect(ctx.launch).toEqual({ argv: ["/envs/old/bin/python", "-m", "ollama_agent_ls"], source: "python-extension" });
            python.select("/envs/old/bin/python"); // the extension repeats the current one at start-up
            expect(clients).toHaveLength(1);
            python.select("/envs/new/bin/python");
            await vi.waitFor(() => expect(ctx.launch?.argv[0]).toBe("/envs/new/bin/python"));
            expect(clients).toHaveLength(2);
            expect((ctx.log as unknown as { text(): string }).text()).toContain(
                "the Python interpreter changed to /envs/new/bin/python: restarting the server with it",
            );
        } finally {
            process.env.PATH = savedPath;
            canImport.mockRestore();
        }
    });

    test("leaves a server from ollamaAgent.server.command running", async () => {
        const python = pythonExtension("/envs/old/bin/python");
        const { ctx } = await startedCtx();
        python.select("/envs/new/bin/python");
        expect(clients).toHaveLength(1);
        expect((ctx.log as unknown as { text(): string }).text()).toContain("so it keeps running");
    });
});

describe("ollamaAgent/saveDocuments", () => {
    test("saves open dirty documents, skips untitled ones, counts unopened files as saved", async () => {
        const dirty = createTextDocument(vscode.Uri.file("/ws/a.py"), "x = 1\n", "python") as any;
        Object.defineProperty(dirty, "isDirty", { value: true });
        dirty.save = vi.fn(async () => true);
        const untitled = createTextDocument(vscode.Uri.parse("untitled:Untitled-1"), "y\n") as any;
        Object.defineProperty(untitled, "isUntitled", { value: true });
        Object.defineProperty(untitled, "isDirty", { value: true });
        (vscode.workspace as any).textDocuments = [dirty, untitled];
        const result = await saveDocuments({
            uris: ["file:///ws/a.py", "untitled:Untitled-1", "file:///ws/closed.py"],
        });
        expect(dirty.save).toHaveBeenCalledOnce();
        expect(result).toEqual({ saved: ["file:///ws/a.py", "file:///ws/closed.py"] });
    });
});

describe("a server that exits on its own", () => {
    // Ctx counts exits by Date.now(); only the clock is faked, so awaits and vi.waitFor still run.
    const t0 = new Date("2025-01-01T12:00:00Z").getTime();
    const at = (ms: number) => vi.setSystemTime(t0 + ms);
    const logText = (ctx: Ctx) => (ctx.log as unknown as { text(): string }).text();

    beforeEach(() => {
        vi.useFakeTimers({ toFake: ["Date"] });
        at(0);
    });
    afterEach(() => {
        vi.useRealTimers();
    });

    test("is started again, the restart is logged, and the status bar shows it running", async () => {
        const { ctx, client } = await startedCtx();
        at(10_000);
        await client.serverExited();
        await vi.waitFor(() => expect(client.isRunning()).toBe(true));
        expect(client.starts).toBe(2);
        expect(logText(ctx)).toContain("[warn] the server exited; restarting (1/3)\n");
        expect(window.showErrorMessage).not.toHaveBeenCalled();
        expect(ctx.status.text).toBe("$(hubot) qwen3:8b");
        // Commands go to the restarted server rather than a second one.
        await ctx.executeServerCommand(serverCommands.listModels, {});
        expect(clients).toHaveLength(1);
        expect(client.sendRequest).toHaveBeenCalled();
    });

    test("a command sent while the server restarts waits for it instead of starting a second server", async () => {
        const { ctx, client } = await startedCtx();
        let release!: () => void;
        startGate = new Promise((resolve) => (release = resolve));
        await client.serverExited();
        expect(ctx.status.text).toBe("$(hubot) qwen3:8b $(loading~spin)");
        const answer = ctx.executeServerCommand(serverCommands.listModels, {});
        release();
        await answer;
        expect(clients).toHaveLength(1);
        expect(client.sendRequest).toHaveBeenCalledOnce();
        expect(ctx.status.text).toBe("$(hubot) qwen3:8b");
    });

    test("after 3 restarts within 3 minutes, the 4th exit is final: one error message with a way forward", async () => {
        const { ctx, client } = await startedCtx();
        for (const [i, ms] of [0, 60_000, 120_000].entries()) {
            at(ms);
            await client.serverExited();
            await vi.waitFor(() => expect(client.starts).toBe(i + 2));
        }
        at(179_000);
        window.showErrorMessage!.mockResolvedValueOnce("Show Output");
        await client.serverExited();
        expect(client.isRunning()).toBe(false);
        expect(client.starts).toBe(4);
        expect(window.showErrorMessage).toHaveBeenCalledTimes(1);
        const [message, ...buttons] = window.showErrorMessage!.mock.calls[0]!;
        expect(message).toMatch(/exited 4 times in 3 minutes and was not restarted/);
        expect(message).toMatch(/Fix: see the "Ollama Agent" output channel.*"Ollama Agent: Restart Server"/);
        expect(buttons).toEqual(["Open Settings", "Show Output"]);
        await vi.waitFor(() => expect(ctx.log.show).toHaveBeenCalled());
        // The status bar turns into the restart button.
        expect(lastStatusBarItem(vscode.window).command).toBe(commandIds.restartServer);
        expect(ctx.status.text).toBe("$(error) qwen3:8b");
    });

    test("Restart Server after giving up starts the server with a fresh allowance of restarts", async () => {
        const { ctx, client } = await startedCtx();
        for (const ms of [0, 1_000, 2_000, 3_000]) {
            at(ms);
            await client.serverExited();
        }
        expect(window.showErrorMessage).toHaveBeenCalledTimes(1);
        await ctx.restart();
        const fresh = clients.at(-1)!;
        expect(fresh).not.toBe(client);
        expect(fresh.isRunning()).toBe(true);
        at(4_000);
        await fresh.serverExited();
        await vi.waitFor(() => expect(fresh.isRunning()).toBe(true));
        expect(fresh.starts).toBe(2);
        expect(logText(ctx)).toMatch(/restarting \(1\/3\)\n$/);
        expect(window.showErrorMessage).toHaveBeenCalledTimes(1);
    });

    test("exits spread over more than 3 minutes keep being restarted", async () => {
        const { client } = await startedCtx();
        // Every 61 s: at most three exits ever fall within one 3-minute window.
        for (let i = 0; i < 10; i++) {
            at(i * 61_000);
            await client.serverExited();
            await vi.waitFor(() => expect(client.starts).toBe(i + 2));
        }
        expect(client.isRunning()).toBe(true);
        expect(window.showErrorMessage).not.toHaveBeenCalled();
    });

    test("an exit before the server finished starting is a start failure, not a restart", async () => {
        startError = new Error("spawn /venv/bin/python ENOENT");
        const ctx = newCtx();
        await expect(ctx.ensureClient()).rejects.toThrow(/did not start/);
        const client = clients.at(-1)!;
        await client.serverExited();
        expect(client.starts).toBe(1);
        expect(window.showErrorMessage).toHaveBeenCalledTimes(1);
    });
});

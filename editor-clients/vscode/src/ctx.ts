// The one place that owns the language client: discovery, start, stop, restart, the protocol extensions'
// handlers, and the single user-facing message when the server cannot start.
import { spawn, type ChildProcess } from "node:child_process";
import * as vscode from "vscode";
import * as lc from "vscode-languageclient/node";
import { beforeScheme, ChangesController } from "./changes/controller";
import { section, serverCommandSetting, serverSettings, configuredModel } from "./config";
import * as ext from "./lsp_ext";
import { commandIds } from "./ids";
import { ChatController, chatViewId, diffScheme, type ChatHost } from "./panel/chat";
import { errorMessage, plainText, presentRunResult, ReportedError, RunLog } from "./results";
import {
    canImportServer,
    discoverServer,
    isExecutableFile,
    ServerNotFoundError,
    type ServerLaunch,
} from "./server";
import { StatusBar } from "./status";
import { TranscriptFormatter } from "./transcript";

/** What the palette commands need from the context; a fake implements it in unit tests. */
export interface AgentHost extends Pick<ChatHost, "executeServerCommand" | "runAgent" | "log"> {
    /** The agent's changes shown in the editor, with their Keep / Undo / Review commands. */
    readonly changes: Pick<ChangesController, "keepHunk" | "undoHunk" | "keepFile" | "undoFile" | "reviewChanges">;
    showTranscript(): void;
    restart(): Promise<void>;
    /** Show the chat panel (the run goes on there); `preserveFocus` keeps the editor focused. */
    revealChat(preserveFocus: boolean): Promise<unknown>;
    openChatBeside(): void;
    readonly lastRunId: string | undefined;
    /** The runs of this window: labels and changed files, for Undo's messages. */
    readonly runs: RunLog;
    readonly state: vscode.Memento;
}

/** A LanguageClient whose own error pop-ups are logged instead: Ctx shows one message with the fix. */
class QuietLanguageClient extends lc.LanguageClient {
    override error(message: string, data?: unknown, _showNotification?: boolean | "force"): void {
        super.error(message, data, false);
    }
}

const maxRestarts = 3;
const restartWindowMs = 3 * 60_000;

export class Ctx implements AgentHost, vscode.Disposable {
    readonly log: vscode.LogOutputChannel;
    readonly transcriptChannel: vscode.OutputChannel;
    readonly status: StatusBar;
    private client: lc.LanguageClient | undefined;
    private starting: Promise<lc.LanguageClient> | undefined;
    private readonly formatter = new TranscriptFormatter();
    private readonly transcriptEmitter = new vscode.EventEmitter<ext.TranscriptParams>();
    /** Every transcript notification, for other extensions and the end-to-end tests. */
    readonly onDidReceiveTranscript = this.transcriptEmitter.event;
    private readonly finishedEmitter = new vscode.EventEmitter<ext.RunResult>();
    /** Every result of a run that answered at once (`wait: false`), when it ends. */
    readonly onDidFinishRun = this.finishedEmitter.event;
    /** Runs that answered `running`, waiting for their `runFinished`. */
    private readonly following = new Map<string, ((result: ext.RunResult) => void)[]>();
    /** The latest `runFinished` results, newest last, for a `finished` call that comes after one. */
    private readonly recent = new Map<string, ext.RunResult>();
    private readonly disposables: vscode.Disposable[] = [];
    private crashes: number[] = [];
    private latestRun: string | undefined;
    /** The current client got past initialize; a close before that is a start failure, not a crash. */
    private ready = false;
    private serverProcess: ChildProcess | undefined;
    /** The server's last stderr lines: the reason it died, quoted in the one error message. */
    private stderrTail: string[] = [];
    /** How the current server was started. */
    launch: ServerLaunch | undefined;
    readonly runs = new RunLog();
    /** The conversation panel. */
    readonly chat: ChatController;
    readonly changes: ChangesController;
    private interpreterWatch: vscode.Disposable | undefined;

    constructor(private readonly extension: vscode.ExtensionContext) {
        this.log = vscode.window.createOutputChannel("Ollama Agent", { log: true });
        this.transcriptChannel = vscode.window.createOutputChannel("Ollama Agent Transcript");
        this.status = new StatusBar(configuredModel);
        this.chat = new ChatController(extension.extensionUri, this, configuredModel);
        this.changes = new ChangesController(
            {
                runChanges: (runId) => this.executeServerCommand(ext.serverCommands.runChanges, { runId }),
                keepHunk: (params) => this.executeServerCommand(ext.serverCommands.keepHunk, params),
                revertHunk: (params) => this.executeServerCommand(ext.serverCommands.revertHunk, params),
                log: this.log,
            },
            (runId) => this.runs.get(runId)?.label,
        );
        this.disposables.push(
            this.log,
            this.transcriptChannel,
            this.status,
            this.transcriptEmitter,
            this.finishedEmitter,
            this.chat,
            this.changes,
            vscode.languages.registerCodeLensProvider([{ scheme: "file" }, { scheme: "untitled" }], this.changes),
            vscode.workspace.registerTextDocumentContentProvider(beforeScheme, this.changes),
            vscode.window.registerWebviewViewProvider(chatViewId, this.chat, {
                webviewOptions: { retainContextWhenHidden: true },
            }),
            vscode.workspace.registerTextDocumentContentProvider(diffScheme, this.chat),
            vscode.workspace.onDidChangeConfiguration((e) => this.onConfigurationChanged(e)),
        );
    }

    get state(): vscode.Memento {
        return this.extension.globalState;
    }

    get lastRunId(): string | undefined {
        return this.latestRun;
    }

    /** The running client, starting it if needed; rejects (after telling the user) when it cannot start. */
    async ensureClient(): Promise<lc.LanguageClient> {
        const client = this.client;
        if (client?.isRunning()) {
            return client;
        }
        if (client?.state === lc.State.Starting && !this.starting) {
            // vscode-languageclient is restarting it after a crash; a new client would be a second server.
            try {
                await client.start(); // joins the restart under way
                return client;
            } catch (error) {
                // The close handler decides whether to try again or tell the user; don't say it twice.
                throw new ReportedError(`the server exited while restarting: ${errorMessage(error)}`);
            }
        }
        this.starting ??= this.startClient().finally(() => {
            this.starting = undefined;
        });
        return this.starting;
    }

    async restart(): Promise<void> {
        await this.stop();
        this.crashes = [];
        await this.ensureClient().catch(() => undefined);
    }

    async stop(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        this.abandonRuns("the language server was stopped before the run ended");
        if (client) {
            try {
                await client.stop(5000);
            } catch (error) {
                this.log.warn(`stopping the server: ${errorMessage(error)}`);
            }
            await client.dispose().catch(() => undefined);
        }
        // We spawn the process ourselves, so vscode-languageclient will not kill one that ignores `exit`.
        const child = this.serverProcess;
        this.serverProcess = undefined;
        if (child && child.exitCode === null && child.signalCode === null) {
            child.kill();
        }
        this.status.setServerState("stopped");
    }

    async executeServerCommand<C extends ext.ServerCommand>(
        command: C,
        params: ext.ServerCommandTypes[C]["params"],
    ): Promise<ext.ServerCommandTypes[C]["result"]> {
        const client = await this.ensureClient();
        return (await client.sendRequest(lc.ExecuteCommandRequest.type, {
            command,
            arguments: [params],
        })) as ext.ServerCommandTypes[C]["result"];
    }

    async runAgent<C extends ext.RunCommand>(
        command: C,
        params: ext.ServerCommandTypes[C]["params"],
    ): Promise<ext.RunResult | undefined> {
        // Runs with an instruction (selection, task, follow-up) appear in the chat panel as they are asked.
        const instruction = (params as { instruction?: unknown }).instruction;
        const key =
            typeof instruction === "string"
                ? this.chat.requested(instruction, command !== ext.serverCommands.followUp)
                : undefined;
        const answer = await this.trackRun(command, () => this.executeServerCommand(command, params), key);
        return ext.isRunningAnswer(answer) ? this.finished(answer.runId) : answer;
    }

    /** The result of a run that answered `running`, once its `runFinished` arrives. */
    finished(runId: string): Promise<ext.RunResult> {
        const done = this.recent.get(runId);
        if (done) {
            return Promise.resolve(done);
        }
        return new Promise((resolve) => {
            this.following.set(runId, [...(this.following.get(runId) ?? []), resolve]);
        });
    }

    showTranscript(): void {
        this.transcriptChannel.show(true);
    }

    revealChat(preserveFocus: boolean): Promise<boolean> {
        return this.chat.reveal(preserveFocus);
    }

    openChatBeside(): void {
        this.chat.openBeside();
    }

    async selectModel(): Promise<unknown> {
        return vscode.commands.executeCommand(commandIds.selectModel);
    }

    async undo(runId: string): Promise<void> {
        await vscode.commands.executeCommand(commandIds.undoRun, runId);
    }

    async reviewChanges(runId: string): Promise<void> {
        await vscode.commands.executeCommand(commandIds.reviewChanges, { runId });
    }

    dispose(): void {
        this.interpreterWatch?.dispose();
        void this.stop();
        for (const d of this.disposables) {
            d.dispose();
        }
    }

    // --- internals ----------------------------------------------------------------------------------

    private presentResult(result: ext.RunResult | undefined): void {
        if (!result || typeof result !== "object") {
            return;
        }
        if (result.runId) {
            this.latestRun = result.runId;
            this.runs.record(result.runId, {
                changedFiles: Array.isArray(result.changedFiles) ? result.changedFiles : undefined,
            });
            void this.changes.onRunResult(result);
        }
        if (this.chat.visible) {
            return; // the panel shows the result, with Undo
        }
        presentRunResult(result, {
            undo: (runId) => this.undo(runId),
            reviewChanges: (runId) => this.reviewChanges(runId),
            showTranscript: () => this.showTranscript(),
        });
    }

    private reportRequestError(command: string, error: unknown): void {
        if (error instanceof ReportedError) {
            return; // already told the user how to fix the server
        }
        if (error instanceof lc.ResponseError && error.code === lc.LSPErrorCodes.RequestCancelled) {
            return;
        }
        const message = errorMessage(error);
        this.log.error(`${command}: ${message}`);
        void vscode.window.showErrorMessage(plainText(`Ollama Agent: ${message}`));
    }

    private async discover(): Promise<ServerLaunch> {
        return discoverServer({
            setting: serverCommandSetting(),
            env: process.env,
            platform: process.platform,
            pythonExtensionInterpreter: () => pythonExtensionInterpreter(),
            isExecutable: isExecutableFile,
            canImportServer,
        });
    }

    private async startClient(): Promise<lc.LanguageClient> {
        this.status.setServerState("starting");
        let launch: ServerLaunch | undefined;
        try {
            await this.watchInterpreter();
            launch = await this.discover();
            this.launch = launch;
            this.log.info(`starting the server (${launch.source}): ${launch.argv.join(" ")}`);
            const client = this.createClient(launch);
            this.client = client;
            this.ready = false;
            await client.start();
            this.ready = true;
            this.status.setServerState("running");
            return client;
        } catch (error) {
            const failed = this.client;
            this.client = undefined;
            await failed?.dispose().catch(() => undefined);
            const message =
                error instanceof ServerNotFoundError
                    ? error.message
                    : `Ollama Agent: the language server \`${launch?.argv.join(" ") ?? "?"}\` did not start ` +
                      `(${this.stderrTail.at(-1) ?? errorMessage(error)}). Fix: run that command in a terminal ` +
                      `to see why (its output is in the "Ollama Agent" output channel), or set ` +
                      `"ollamaAgent.server.command".`;
            this.log.error(message);
            this.status.setServerState("failed", message);
            void this.offerFix(message);
            throw new ReportedError(message);
        }
    }

    /**
     * Restart the server when the Python extension's interpreter changes and the server came from an
     * interpreter (or was not found): as the python-tools template does, so a newly selected environment that
     * has the server is used without a window reload.
     */
    private async watchInterpreter(): Promise<void> {
        if (this.interpreterWatch) {
            return;
        }
        this.interpreterWatch = { dispose() {} }; // once, even when two starts race
        const api = await pythonExtensionApi().catch(() => undefined);
        const onChange = api?.environments?.onDidChangeActiveEnvironmentPath;
        if (!onChange) {
            return;
        }
        let current = api.environments?.getActiveEnvironmentPath?.(vscode.workspace.workspaceFolders?.[0]?.uri)?.path;
        this.interpreterWatch = onChange((e) => {
            const path = e?.path;
            if (!path || path === current) {
                return;
            }
            current = path;
            this.onInterpreterChanged(path);
        });
    }

    private onInterpreterChanged(path: string): void {
        const source = this.launch?.source;
        if (this.client && (source === "setting" || source === "path")) {
            this.log.info(
                `the Python interpreter changed to ${path}; the server comes from ${source === "setting" ? '"ollamaAgent.server.command"' : "PATH"}, so it keeps running`,
            );
            return;
        }
        this.log.info(`the Python interpreter changed to ${path}: restarting the server with it`);
        void this.restart();
    }

    private async offerFix(message: string): Promise<void> {
        const choice = await vscode.window.showErrorMessage(plainText(message), "Open Settings", "Show Output");
        if (choice === "Open Settings") {
            await vscode.commands.executeCommand("workbench.action.openSettings", `${section}.server.command`);
        } else if (choice === "Show Output") {
            this.log.show(true);
        }
    }

    private createClient(launch: ServerLaunch): lc.LanguageClient {
        const [command, ...args] = launch.argv;
        const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
        // Spawned here rather than by vscode-languageclient so the error message can quote the server's last
        // stderr lines, and so `server.command` runs exactly as the user wrote it (the library's stdio
        // transport appends `--stdio`, which the CLI accepts, but which a wrapper script may not).
        const serverOptions: lc.ServerOptions = async () => {
            this.stderrTail = [];
            const child = spawn(command!, args, {
                cwd: folder,
                env: { ...process.env, PYTHONUNBUFFERED: "1" },
                stdio: ["pipe", "pipe", "pipe"],
                windowsHide: true,
            });
            child.stderr?.on("data", (data: Buffer) => {
                const lines = data.toString().split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
                this.stderrTail = [...this.stderrTail, ...lines].slice(-10);
            });
            await new Promise<void>((resolve, reject) => {
                child.once("spawn", resolve);
                child.once("error", reject);
            });
            this.serverProcess = child;
            return child;
        };
        const clientOptions: lc.LanguageClientOptions = {
            documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
            outputChannel: this.log,
            traceOutputChannel: this.log,
            revealOutputChannelOn: lc.RevealOutputChannelOn.Never,
            initializationOptions: () => serverSettings(),
            initializationFailedHandler: () => false,
            errorHandler: {
                error: (_error, _message, count) => ({
                    action: (count ?? 0) <= 3 ? lc.ErrorAction.Continue : lc.ErrorAction.Shutdown,
                    handled: true,
                }),
                closed: () => this.onClosed(),
            },
            middleware: {
                handleWorkDoneProgress: (token, params, next) => {
                    const ours = this.status.onProgress(token, params);
                    // The library shows a run's progress as a second status bar item, which disagreed with
                    // ours; only its `end` goes through, so it lets go of the token.
                    if (!ours || params.kind === "end") {
                        next(token, params);
                    }
                },
                executeCommand: (command, args, next) => this.onExecuteCommand(command, args, next),
                workspace: {
                    handleApplyEdit: async (params, next) => {
                        // A review-mode edit opens the Refactor Preview and waits there for the person.
                        const review = Object.values(params.edit.changeAnnotations ?? {}).some((a) => a.needsConfirmation);
                        if (review) {
                            this.status.setWaiting("review", true);
                        }
                        try {
                            return await next(params, lc.CancellationToken.None); // the library ignores the token
                        } finally {
                            if (review) {
                                this.status.setWaiting("review", false);
                            }
                        }
                    },
                    configuration: async (params, token, next) => {
                        const fallback = await next(params, token);
                        if (fallback instanceof lc.ResponseError) {
                            return fallback;
                        }
                        return params.items.map((item, i) =>
                            item.section === section
                                ? serverSettings(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined)
                                : (fallback as unknown[])[i],
                        );
                    },
                },
            },
        };
        const client = new QuietLanguageClient("ollamaAgent", "Ollama Agent", serverOptions, clientOptions);
        client.onDidChangeState((e) => {
            // After a crash the library restarts the server itself; only its state says when that is done.
            if (e.newState === lc.State.Running && this.client === client) {
                this.status.setServerState("running");
            }
        });
        client.registerFeature(new ExperimentalCapabilities());
        client.onNotification(ext.transcript, (event) => this.onTranscript(event));
        client.onNotification(ext.runFinished, (result) => this.onRunFinished(result));
        client.onRequest(ext.saveDocuments, (params) => saveDocuments(params));
        client.onRequest(ext.approveCommand, async (params, token) => {
            this.status.setWaiting("approval", true);
            try {
                return await this.chat.askApproval(params, token);
            } finally {
                this.status.setWaiting("approval", this.chat.approvalPending);
            }
        });
        return client;
    }

    private onClosed(): lc.CloseHandlerResult {
        // Runs die with the server: nothing will ever finish them.
        this.abandonRuns("the language server exited before the run ended (see the \"Ollama Agent\" output)");
        if (!this.client || !this.ready) {
            return { action: lc.CloseAction.DoNotRestart, handled: true };
        }
        const now = Date.now();
        this.crashes = [...this.crashes.filter((t) => now - t < restartWindowMs), now];
        if (this.crashes.length <= maxRestarts) {
            this.log.warn(`the server exited; restarting (${this.crashes.length}/${maxRestarts})`);
            this.status.setServerState("starting");
            return { action: lc.CloseAction.Restart, handled: true };
        }
        const message =
            `Ollama Agent: the language server exited ${this.crashes.length} times in 3 minutes and was not restarted. ` +
            `Fix: see the "Ollama Agent" output channel for its error, then run "Ollama Agent: Restart Server".`;
        this.status.setServerState("failed", message);
        void this.offerFix(message);
        return { action: lc.CloseAction.DoNotRestart, handled: true };
    }

    private async onExecuteCommand(
        command: string,
        args: unknown[],
        next: lc.ExecuteCommandSignature,
    ): Promise<unknown> {
        // Runs started by VS Code itself (the TODO quick fix) get the same tracking and result message.
        if (!ext.runCommands.has(command)) {
            return next(command, args);
        }
        return this.trackRun(command, () => next(command, args));
    }

    /**
     * Show a run in the status bar while `send` waits for its answer, then report the result or error. A run that
     * answered `running` (sent with `wait: false`, as the server's code actions and lenses are) goes on in the
     * status bar through its progress and transcript, and is reported when its `runFinished` arrives; the caller
     * gets the running answer at once, as the server gave it.
     */
    private async trackRun(
        command: string,
        send: () => Promise<unknown>,
        chatKey?: string,
    ): Promise<ext.RunResult | ext.RunningAnswer | undefined> {
        this.status.runRequested();
        let answer: ext.RunResult | ext.RunningAnswer | undefined;
        try {
            answer = (await send()) as ext.RunResult | ext.RunningAnswer | undefined;
        } catch (error) {
            this.status.runAnswered();
            if (chatKey) {
                this.chat.dispatch({ type: "requestFailed", key: chatKey, message: plainText(errorMessage(error)) });
            }
            this.reportRequestError(command, error);
            return undefined;
        }
        if (chatKey && answer && typeof answer.runId === "string") {
            this.chat.dispatch({
                type: "answered",
                key: chatKey,
                runId: answer.runId,
                sessionId: answer.sessionId,
                result: ext.isRunningAnswer(answer) ? undefined : answer,
            });
        }
        if (ext.isRunningAnswer(answer)) {
            this.status.runAnswered();
            this.latestRun = answer.runId;
            void this.finished(answer.runId).then((result) => this.presentResult(result));
            return answer;
        }
        this.status.runAnswered(answer?.runId);
        this.presentResult(answer);
        return answer;
    }

    private onRunFinished(result: ext.RunResult): void {
        if (!result || typeof result !== "object" || typeof result.runId !== "string") {
            return;
        }
        this.recent.set(result.runId, result);
        for (const runId of [...this.recent.keys()].slice(0, -20)) {
            this.recent.delete(runId);
        }
        this.chat.dispatch({ type: "runFinished", result });
        this.finishedEmitter.fire(result);
        const waiting = this.following.get(result.runId) ?? [];
        this.following.delete(result.runId);
        for (const resolve of waiting) {
            resolve(result);
        }
    }

    /** Finish every followed run as failed: its server is gone. */
    private abandonRuns(reason: string): void {
        const waiting = [...this.following.entries()];
        this.following.clear();
        for (const [runId, resolvers] of waiting) {
            const result: ext.RunResult = {
                runId,
                status: "failed",
                summary: `The run's result never came: ${reason}.`,
                changedFiles: [],
                turns: 0,
            };
            for (const resolve of resolvers) {
                resolve(result);
            }
        }
    }

    private onTranscript(event: ext.TranscriptParams): void {
        if (!event || typeof event !== "object") {
            return;
        }
        if (event.kind === "started" && typeof event.runId === "string") {
            this.latestRun = event.runId;
            this.runs.record(event.runId, { label: typeof event.text === "string" ? event.text : undefined });
        }
        this.transcriptChannel.append(this.formatter.format(event));
        this.status.onTranscript(event);
        this.chat.dispatch({ type: "transcript", event });
        this.transcriptEmitter.fire(event);
    }

    private onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
        if (!e.affectsConfiguration(section)) {
            return;
        }
        this.status.refresh();
        if (e.affectsConfiguration(`${section}.model`)) {
            this.chat.dispatch({ type: "model", model: configuredModel() });
        }
        if (e.affectsConfiguration(`${section}.server`)) {
            this.log.info("ollamaAgent.server.command changed: restarting the server");
            void this.restart();
            return;
        }
        const client = this.client;
        if (client?.isRunning()) {
            void client
                .sendNotification(lc.DidChangeConfigurationNotification.type, {
                    settings: { [section]: serverSettings() },
                })
                .catch((error) => this.log.error(`didChangeConfiguration: ${errorMessage(error)}`));
        }
    }
}

/** Declares `experimental.ollamaAgent.saveDocuments` so the server saves through us before commands. */
class ExperimentalCapabilities implements lc.StaticFeature {
    fillClientCapabilities(capabilities: lc.ClientCapabilities): void {
        const experimental = (capabilities.experimental ?? {}) as Record<string, unknown>;
        capabilities.experimental = { ...experimental, ...ext.experimentalCapabilities };
    }
    initialize(): void {}
    getState(): lc.FeatureState {
        return { kind: "static" };
    }
    clear(): void {}
}

/** `ollamaAgent/saveDocuments`: save the open, dirty documents named; report which are now on disk. */
export async function saveDocuments(params: ext.SaveDocumentsParams): Promise<ext.SaveDocumentsResult> {
    const saved: string[] = [];
    for (const uri of Array.isArray(params?.uris) ? params.uris : []) {
        const wanted = vscode.Uri.parse(uri).toString();
        const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === wanted);
        if (!doc) {
            if (vscode.Uri.parse(uri).scheme === "file") {
                saved.push(uri); // not open: the disk already holds its text
            }
            continue;
        }
        if (doc.isUntitled) {
            continue; // saving would ask for a file name; the server reports it as unsaved
        }
        if (!doc.isDirty || (await doc.save())) {
            saved.push(uri);
        }
    }
    return { saved };
}

/** The parts of the Python extension's API (`ms-python.python`) used here. */
export interface PythonExtensionApi {
    environments?: {
        onDidChangeActiveEnvironmentPath?: vscode.Event<{ path: string; resource?: unknown }>;
        getActiveEnvironmentPath?(resource?: vscode.Uri): { path: string } | undefined;
        resolveEnvironment?(
            env: { path: string } | string,
        ): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
    };
    settings?: {
        getExecutionDetails?(resource?: vscode.Uri): { execCommand?: string[] } | undefined;
    };
}

async function pythonExtensionApi(): Promise<PythonExtensionApi | undefined> {
    const extension = vscode.extensions.getExtension<PythonExtensionApi>("ms-python.python");
    if (!extension) {
        return undefined;
    }
    return extension.isActive ? extension.exports : await extension.activate();
}

/** The interpreter selected in the Python extension, if it is installed. */
export async function pythonExtensionInterpreter(): Promise<string[] | undefined> {
    const api = await pythonExtensionApi();
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const envPath = api?.environments?.getActiveEnvironmentPath?.(resource);
    if (envPath && api?.environments?.resolveEnvironment) {
        const env = await api.environments.resolveEnvironment(envPath);
        const exe = env?.executable?.uri?.fsPath;
        if (exe) {
            return [exe];
        }
    }
    const command = api?.settings?.getExecutionDetails?.(resource)?.execCommand;
    return command && command.length ? command : undefined;
}

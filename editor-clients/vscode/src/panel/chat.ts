// The chat panel on the extension host: holds the conversation state (panel/state.ts), shows it in the
// `ollamaAgent.chat` webview view and in editor panels opened beside the editor, turns what the person does
// there into server commands, and asks command approvals inline (ollamaAgent/approveCommand).
import * as vscode from "vscode";
import * as ext from "../lsp_ext";
import { errorMessage } from "../results";
import { diffPaths, textBefore } from "./diff";
import {
    approvalChoices,
    approvalLabel,
    initialState,
    isRunning,
    parseWebviewMessage,
    reduce,
    type Action,
    type ChatState,
    type Decision,
    type HostMessage,
    type SessionDetail,
    type WebviewMessage,
} from "./state";

export const chatViewId = "ollamaAgent.chat";
export const diffScheme = "ollama-agent-diff";

/** What the panel needs from the rest of the extension (Ctx implements it; unit tests fake it). */
export interface ChatHost {
    executeServerCommand<C extends ext.ServerCommand>(
        command: C,
        params: ext.ServerCommandTypes[C]["params"],
    ): Promise<ext.ServerCommandTypes[C]["result"]>;
    /** Start a run, track it in the status bar and report its result; undefined when it could not run. */
    runAgent<C extends ext.RunCommand>(
        command: C,
        params: ext.ServerCommandTypes[C]["params"],
    ): Promise<ext.RunResult | undefined>;
    /** Select Model (writes `ollamaAgent.model`). */
    selectModel(): Promise<unknown>;
    /** Undo one run, telling the person what happened. */
    undo(runId: string): Promise<void>;
    /** The diff of a file the run changed: before the run against now. */
    reviewChanges(runId: string): Promise<void>;
    readonly log: vscode.LogOutputChannel;
}

/** A webview showing the panel: the sidebar view or an editor panel. */
interface Surface {
    readonly webview: vscode.Webview;
    readonly visible: boolean;
    show(preserveFocus: boolean): void;
}

export class ChatController implements vscode.WebviewViewProvider, vscode.TextDocumentContentProvider, vscode.Disposable {
    private current: ChatState;
    private readonly surfaces = new Set<Surface>();
    private view: vscode.WebviewView | undefined;
    private readonly resolved = new vscode.EventEmitter<void>();
    private readonly changed = new vscode.EventEmitter<Action>();
    /** Every action applied to the state, for the status bar and the end-to-end tests. */
    readonly onDidChangeState = this.changed.event;
    private readonly waiting = new Map<string, (decision: Decision | "expired") => void>();
    private readonly diffs = new Map<string, string>();
    private seq = 0;
    /** How long to wait for the panel to appear before an approval falls back to a dialog. */
    revealTimeoutMs = 3000;
    private readonly disposables: vscode.Disposable[] = [];

    constructor(
        private readonly extensionUri: vscode.Uri,
        private readonly host: ChatHost,
        model: () => string,
    ) {
        this.current = initialState(model());
        this.disposables.push(this.resolved, this.changed);
    }

    get state(): ChatState {
        return this.current;
    }

    /** Whether a surface of the panel is on screen now. */
    get visible(): boolean {
        return [...this.surfaces].some((s) => s.visible);
    }

    /** Whether an approval card is waiting for an answer. */
    get approvalPending(): boolean {
        return this.waiting.size > 0;
    }

    dispatch(action: Action): void {
        this.current = reduce(this.current, action);
        this.post({ type: "action", action, now: Date.now() });
        this.changed.fire(action);
    }

    /** A run command is about to be sent; the key pairs its answer with the panel's entry. */
    requested(instruction: string, newSession: boolean): string {
        const key = `k${++this.seq}`;
        this.dispatch({ type: "requested", key, instruction, newSession });
        return key;
    }

    // --- surfaces ---------------------------------------------------------------------------------

    resolveWebviewView(view: vscode.WebviewView): void {
        this.view = view;
        const surface: Surface = {
            webview: view.webview,
            get visible() {
                return view.visible;
            },
            show: (preserveFocus) => view.show(preserveFocus),
        };
        this.attach(surface, view.onDidDispose, () => {
            if (this.view === view) {
                this.view = undefined;
            }
        });
        view.onDidChangeVisibility(() => {
            if (view.visible) {
                void this.refreshSessions();
            }
        });
        this.resolved.fire();
    }

    /** The panel in an editor column beside the current editor. */
    openBeside(): void {
        const panel = vscode.window.createWebviewPanel(
            chatViewId,
            "Ollama Agent",
            { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
            { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: this.roots() },
        );
        this.attach(
            {
                webview: panel.webview,
                get visible() {
                    return panel.visible;
                },
                show: (preserveFocus) => panel.reveal(undefined, preserveFocus),
            },
            panel.onDidDispose,
        );
    }

    /** Bring the panel on screen; false when no surface appeared within `timeoutMs`. */
    async reveal(preserveFocus = true, timeoutMs = this.revealTimeoutMs): Promise<boolean> {
        const shown = [...this.surfaces];
        if (shown.length) {
            (shown.find((s) => s.visible) ?? shown[0]!).show(preserveFocus);
            return true;
        }
        const appeared = new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => {
                sub.dispose();
                resolve(false);
            }, timeoutMs);
            const sub = this.resolved.event(() => {
                clearTimeout(timer);
                sub.dispose();
                resolve(true);
            });
        });
        try {
            await vscode.commands.executeCommand(`${chatViewId}.focus`, { preserveFocus });
        } catch (error) {
            this.host.log.warn(`could not open the chat panel: ${errorMessage(error)}`);
            return false;
        }
        return this.surfaces.size > 0 || appeared;
    }

    /** The folders the page may load from: the bundled script (dist) and the stylesheet (media). */
    private roots(): vscode.Uri[] {
        return [vscode.Uri.joinPath(this.extensionUri, "dist"), vscode.Uri.joinPath(this.extensionUri, "media")];
    }

    private attach(surface: Surface, onDispose: vscode.Event<void>, disposed?: () => void): void {
        const webview = surface.webview;
        webview.options = { enableScripts: true, localResourceRoots: this.roots() };
        webview.html = chatHtml(webview, this.extensionUri);
        this.surfaces.add(surface);
        const sub = webview.onDidReceiveMessage((message) => void this.onMessage(surface, message));
        onDispose(() => {
            sub.dispose();
            this.surfaces.delete(surface);
            disposed?.();
        });
    }

    private post(message: HostMessage, only?: Surface): void {
        for (const surface of only ? [only] : this.surfaces) {
            void Promise.resolve(surface.webview.postMessage(message)).catch(() => undefined);
        }
    }

    // --- what the person does in the panel -----------------------------------------------------------

    async onMessage(surface: Surface | undefined, raw: unknown): Promise<void> {
        const message = parseWebviewMessage(raw);
        if (!message) {
            this.host.log.warn(`chat panel: ignored message ${JSON.stringify(raw)?.slice(0, 200)}`);
            return;
        }
        try {
            await this.handle(surface, message);
        } catch (error) {
            void vscode.window.showErrorMessage(`Ollama Agent: ${errorMessage(error)}`);
        }
    }

    private async handle(surface: Surface | undefined, message: WebviewMessage): Promise<void> {
        switch (message.type) {
            case "ready":
                if (surface) {
                    this.post({ type: "state", state: this.current, now: Date.now() }, surface);
                }
                await this.refreshSessions();
                return;
            case "send":
                await this.send(message.text);
                return;
            case "cancel":
                await this.host.executeServerCommand(ext.serverCommands.cancel, {});
                return;
            case "newSession":
                this.dispatch({ type: "newSession" });
                return;
            case "pickModel":
                await this.host.selectModel();
                return;
            case "listSessions":
                await this.refreshSessions();
                return;
            case "openSession": {
                const session = (await this.host.executeServerCommand(ext.serverCommands.getSession, {
                    sessionId: message.sessionId,
                })) as SessionDetail;
                this.dispatch({ type: "loadSession", session });
                return;
            }
            case "approve":
                this.waiting.get(message.id)?.(message.decision);
                return;
            case "openDiff":
                await this.openDiff(message.run, message.item);
                return;
            case "openFile":
                await vscode.window.showTextDocument(this.fileUri(message.path), { preview: true });
                return;
            case "undo":
                await this.host.undo(message.runId);
                return;
            case "review":
                await this.host.reviewChanges(message.runId);
                return;
        }
    }

    /** The input box: a follow-up in the conversation shown, else a new session. */
    async send(text: string): Promise<ext.RunResult | undefined> {
        if (isRunning(this.current)) {
            void vscode.window.showInformationMessage(
                "Ollama Agent: a run is still going on in this conversation. Wait for it or press Cancel, then send again.",
            );
            return undefined;
        }
        const sessionId = this.current.sessionId;
        const result = sessionId
            ? await this.host.runAgent(ext.serverCommands.followUp, { sessionId, instruction: text, wait: false })
            : await this.host.runAgent(ext.serverCommands.runTask, { instruction: text, wait: false });
        void this.refreshSessions();
        return result;
    }

    async refreshSessions(): Promise<void> {
        try {
            const sessions = await this.host.executeServerCommand(ext.serverCommands.listSessions, {});
            this.dispatch({ type: "sessions", sessions });
        } catch (error) {
            this.host.log.info(`listSessions: ${errorMessage(error)}`);
        }
    }

    private fileUri(path: string): vscode.Uri {
        if (/^[a-z][\w+.-]*:/i.test(path)) {
            return vscode.Uri.parse(path);
        }
        const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
        return folder ? vscode.Uri.joinPath(folder, path) : vscode.Uri.file(path);
    }

    /** VS Code's diff editor for a tool card or edit (before the call against now), else the diff text. */
    async openDiff(runIndex: number, itemIndex: number): Promise<void> {
        const item = this.current.runs[runIndex]?.items[itemIndex];
        if (!item || (item.type !== "tool" && item.type !== "edit") || !item.diff) {
            return;
        }
        const diff = item.diff;
        const path = item.type === "edit" ? item.path : (item.paths?.[0] ?? diffPaths(diff)[0]);
        if (path) {
            const uri = this.fileUri(path);
            try {
                const doc = await vscode.workspace.openTextDocument(uri);
                const before = textBefore(doc.getText(), diff, path);
                if (before !== undefined) {
                    const left = this.virtualDocument(`${path} (before)`, before);
                    await vscode.commands.executeCommand("vscode.diff", left, uri, `${path}: before the agent ↔ now`, {
                        preview: true,
                    });
                    return;
                }
            } catch (error) {
                this.host.log.info(`open diff of ${path}: ${errorMessage(error)}`);
            }
        }
        const doc = await vscode.workspace.openTextDocument(this.virtualDocument(`${path ?? "changes"}.diff`, diff));
        await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
    }

    private virtualDocument(name: string, text: string): vscode.Uri {
        const id = String(++this.seq);
        this.diffs.set(id, text);
        for (const old of [...this.diffs.keys()].slice(0, -50)) {
            this.diffs.delete(old);
        }
        return vscode.Uri.from({ scheme: diffScheme, path: `/${name}`, query: id });
    }

    provideTextDocumentContent(uri: vscode.Uri): string {
        return this.diffs.get(uri.query) ?? "";
    }

    // --- approvals ---------------------------------------------------------------------------------

    /** ollamaAgent/approveCommand: a card in the panel until answered, else a modal notification. */
    async askApproval(
        request: ext.ApproveCommandParams,
        token?: vscode.CancellationToken,
    ): Promise<ext.ApproveCommandResult> {
        const seconds = Number(request.timeoutSeconds) > 0 ? Number(request.timeoutSeconds) : 120;
        if (!(await this.reveal(true))) {
            return { decision: await askInNotification(request) };
        }
        const id = `approval-${++this.seq}`;
        this.dispatch({ type: "approval", id, request, deadline: Date.now() + seconds * 1000 });
        const answer = await new Promise<Decision | "expired">((resolve) => {
            // A little after the server's own deadline: by then it has stopped waiting for us.
            const timer = setTimeout(() => settle("expired"), seconds * 1000 + 1000);
            const cancelled = token?.onCancellationRequested(() => settle("expired"));
            const settle = (value: Decision | "expired") => {
                clearTimeout(timer);
                cancelled?.dispose();
                this.waiting.delete(id);
                resolve(value);
            };
            this.waiting.set(id, settle);
        });
        this.dispatch({ type: "approvalAnswered", id, answer });
        return { decision: answer === "expired" ? "deny" : answer };
    }

    dispose(): void {
        for (const settle of [...this.waiting.values()]) {
            settle("expired");
        }
        for (const d of this.disposables) {
            d.dispose();
        }
    }
}

/** The fallback when the panel cannot be shown: a modal warning, Deny first for destructive commands. */
export async function askInNotification(request: ext.ApproveCommandParams): Promise<Decision> {
    const choices = approvalChoices(request);
    const what = request.outsideSandbox
        ? "The sandbox blocked a command of the Ollama agent. Run it outside the sandbox?"
        : `The Ollama agent wants to run a ${request.destructive ? "DESTRUCTIVE " : ""}command.`;
    const picked = await vscode.window.showWarningMessage(
        what,
        { modal: true, detail: `${request.command}\n\nin ${request.cwd}\n\n${request.reason}` },
        ...choices.map(approvalLabel),
    );
    return choices.find((c) => approvalLabel(c) === picked) ?? "deny";
}

function nonce(): string {
    let out = "";
    const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (let i = 0; i < 32; i++) {
        out += chars.charAt(Math.floor(Math.random() * chars.length));
    }
    return out;
}

/** The panel's page: a strict CSP (no inline script or style, scripts only with this page's nonce). */
export function chatHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
    const n = nonce();
    const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "dist", "webview.js"));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "media", "chat.css"));
    const csp = [
        "default-src 'none'",
        `style-src ${webview.cspSource}`,
        `font-src ${webview.cspSource}`,
        `img-src ${webview.cspSource} data:`,
        `script-src 'nonce-${n}'`,
    ].join("; ");
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>Ollama Agent</title>
</head>
<body>
<div id="app" role="main"></div>
<script nonce="${n}" src="${script}"></script>
</body>
</html>`;
}

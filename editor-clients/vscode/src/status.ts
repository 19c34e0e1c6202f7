// The status bar item: the model when idle; while a run goes on, the turn and tokens/s, and a click cancels.
// Two sources feed it, because either may be missing or late: the server's `$/progress` reports (their
// message text carries "turn N" and "X tok/s") and the transcript (started/finished, metrics, tool calls).
import * as vscode from "vscode";
import type { TranscriptParams } from "./lsp_ext";
import { progressTitle } from "./lsp_ext";
import { commandIds } from "./ids";

export type ServerState = "starting" | "running" | "stopped" | "failed";

/** What a run waits for from the person: its review (Refactor Preview) or a command approval. */
export type Waiting = "review" | "approval";

/** The context key that shows Cancel Run in the palette only while a run goes on. */
export const runningContextKey = "ollamaAgent.running";

interface ProgressValue {
    kind: "begin" | "report" | "end";
    title?: string;
    message?: string;
}

/** Pull "turn 3" and "12.5 tok/s" out of a progress message; absent parts stay undefined. */
export function parseProgressMessage(message: string | undefined): { turn?: number; tokensPerSecond?: number } {
    if (!message) {
        return {};
    }
    const turn = /\bturn\s*(\d+)/i.exec(message);
    const speed = /(\d+(?:\.\d+)?)\s*tok(?:ens)?\s*\/\s*s/i.exec(message);
    return {
        turn: turn ? Number(turn[1]) : undefined,
        tokensPerSecond: speed ? Number(speed[1]) : undefined,
    };
}

export class StatusBar implements vscode.Disposable {
    private readonly item: vscode.StatusBarItem;
    private readonly runs = new Set<string>();
    private readonly progress = new Set<string | number>();
    private pending = 0;
    private turn: number | undefined;
    private tokensPerSecond: number | undefined;
    private tool: string | undefined;
    private serverState: ServerState = "starting";
    private serverProblem: string | undefined;
    private readonly waiting = new Set<Waiting>();
    private shownRunning: boolean | undefined;
    /** The latest message of a run's `$/progress` (shown by VS Code's notification too). */
    lastProgress: string | undefined;

    constructor(private readonly model: () => string) {
        this.item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
        this.item.name = "Ollama Agent";
        this.render();
        this.item.show();
    }

    get running(): boolean {
        return this.runs.size > 0 || this.progress.size > 0 || this.pending > 0;
    }

    /** The extension sent a run command and waits for its result. */
    runRequested(): void {
        if (!this.running) {
            this.forgetRun(); // a new run must not show the previous one's tok/s
        }
        this.pending++;
        this.render();
    }

    /** A run command answered (or failed); its runId, when known, is done too. */
    runAnswered(runId?: string): void {
        this.pending = Math.max(0, this.pending - 1);
        if (runId) {
            this.runs.delete(runId);
        }
        this.settle();
    }

    onTranscript(event: TranscriptParams): void {
        if (event.kind === "started") {
            if (!this.runs.has(event.runId)) {
                this.forgetRun();
            }
            this.runs.add(event.runId);
        } else if (event.kind === "finished") {
            this.runs.delete(event.runId);
        } else if (!this.runs.has(event.runId)) {
            // Joined mid-run (e.g. after a restart of the extension host): still show it.
            this.runs.add(event.runId);
        }
        if (typeof event.turn === "number") {
            this.turn = event.turn;
        }
        const speed = event.metrics?.tokensPerSecond ?? event.tokensPerSecond;
        if (typeof speed === "number" && Number.isFinite(speed)) {
            this.tokensPerSecond = speed;
        }
        if (event.kind === "toolCall" && typeof event.name === "string") {
            this.tool = event.name;
        }
        this.settle();
    }

    /** A `$/progress` report; true when it belongs to a run (false: some other progress of the server). */
    onProgress(token: string | number, value: ProgressValue): boolean {
        if (value.kind === "begin") {
            if (value.title !== undefined && !value.title.startsWith(progressTitle)) {
                return false;
            }
            this.progress.add(token);
        } else if (!this.progress.has(token)) {
            return false;
        } else if (value.kind === "end") {
            this.progress.delete(token);
        }
        this.lastProgress = value.message ?? this.lastProgress;
        const parsed = parseProgressMessage(value.message);
        if (parsed.turn !== undefined) {
            this.turn = parsed.turn;
        }
        if (parsed.tokensPerSecond !== undefined) {
            this.tokensPerSecond = parsed.tokensPerSecond;
        }
        this.settle();
        return true;
    }

    setServerState(state: ServerState, problem?: string): void {
        this.serverState = state;
        this.serverProblem = problem;
        if (state !== "running") {
            this.runs.clear();
            this.progress.clear();
            this.waiting.clear();
        }
        this.settle();
    }

    /** The run waits for the person (true) or goes on (false): the item stops spinning and says what for. */
    setWaiting(what: Waiting, on: boolean): void {
        if (on) {
            this.waiting.add(what);
        } else {
            this.waiting.delete(what);
        }
        this.render();
    }

    private forgetRun(): void {
        this.turn = undefined;
        this.tokensPerSecond = undefined;
        this.tool = undefined;
    }

    /** Re-render after a model change. */
    refresh(): void {
        this.render();
    }

    private settle(): void {
        if (!this.running) {
            this.turn = undefined;
            this.tool = undefined;
            this.waiting.clear();
        }
        this.render();
    }

    private render(): void {
        const running = this.running;
        if (running !== this.shownRunning) {
            this.shownRunning = running;
            void Promise.resolve(vscode.commands.executeCommand("setContext", runningContextKey, running)).catch(
                () => undefined,
            );
        }
        const model = this.model();
        if (this.serverState === "failed") {
            this.item.text = `$(error) ${model}`;
            this.item.tooltip = `Ollama Agent: the language server is not running.\n${this.serverProblem ?? ""}\nClick to restart it.`;
            this.item.command = commandIds.restartServer;
            this.item.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
            return;
        }
        this.item.backgroundColor = undefined;
        if (running && this.waiting.size) {
            const approval = this.waiting.has("approval");
            this.item.text = approval ? `$(question) ${model} · waiting for your approval` : `$(eye) ${model} · review the changes`;
            this.item.tooltip = approval
                ? "Ollama agent waits for you to allow or deny a command (in the Ollama Agent chat panel).\nClick to show it."
                : "Ollama agent waits for your review in the Refactor Preview: Apply or Discard.\nClick to cancel the run.";
            this.item.command = approval ? commandIds.openChat : commandIds.cancel;
            return;
        }
        if (running) {
            const parts = [`$(sync~spin) ${model}`];
            if (this.turn !== undefined) {
                parts.push(`turn ${this.turn}`);
            }
            if (this.tokensPerSecond !== undefined) {
                parts.push(`${this.tokensPerSecond.toFixed(1)} tok/s`);
            }
            this.item.text = parts.join(" · ");
            const tool = this.tool ? `\nCurrent tool: ${this.tool}` : "";
            this.item.tooltip = `Ollama agent is running${tool}\nClick to cancel.`;
            this.item.command = commandIds.cancel;
            return;
        }
        const speed = this.tokensPerSecond !== undefined ? ` · ${this.tokensPerSecond.toFixed(1)} tok/s` : "";
        this.item.text = `$(hubot) ${model}${this.serverState === "starting" ? " $(loading~spin)" : ""}`;
        this.item.tooltip = `Ollama Agent: model ${model}${speed ? ` (last run${speed})` : ""}\nClick to select a model.`;
        this.item.command = commandIds.selectModel;
    }

    /** What the item shows, for tests and the transcript header. */
    get text(): string {
        return this.item.text;
    }

    dispose(): void {
        this.item.dispose();
    }
}

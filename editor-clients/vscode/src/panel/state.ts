// The chat panel's state and the one reducer that changes it. Pure (no `vscode`, no DOM): the extension host
// keeps the state that a re-created webview is given, and the webview applies the same actions to its copy, so
// both agree and unit tests can drive it without either.
import type {
    ApproveCommandDecision,
    ApproveCommandParams,
    RunResult,
    RunStatus,
    SessionSummary,
    TranscriptParams,
} from "../lsp_ext";

export type Decision = ApproveCommandDecision;
export type ApprovalRequest = ApproveCommandParams;

export interface ToolCard {
    type: "tool";
    callId: string;
    name: string;
    /** What the call works on: a path, a command, a regex. */
    target: string;
    state: "running" | "ok" | "failed";
    result?: string;
    diff?: string;
    omittedLines?: number;
    /** Files the call changed (from its edit events), for "open diff". */
    paths?: string[];
    exitCode?: number | null;
    durationMs?: number;
    outputTail?: string;
    timedOut?: boolean;
    elapsedMs?: number;
}

export interface ApprovalCard extends ApprovalRequest {
    type: "approval";
    id: string;
    /** When the server stops waiting (epoch ms). */
    deadline: number;
    answer?: Decision | "expired";
}

export type Item =
    | { type: "user"; text: string }
    | { type: "thinking"; text: string; turn?: number }
    | { type: "content"; text: string; turn?: number }
    | ToolCard
    | { type: "edit"; path: string; change: string; diff: string; omittedLines: number }
    | { type: "notice"; level: "warning" | "error" | "note"; text: string }
    | ApprovalCard;

export type RunState = "requested" | "running" | RunStatus;

export interface RunView {
    /** Set once the server names the run (its answer or its `started` event). */
    runId?: string;
    /** The extension's own handle for a run it requested, before the server names it. */
    key?: string;
    sessionId?: string;
    instruction: string;
    state: RunState;
    items: Item[];
    summary?: string;
    changedFiles?: string[];
    tokensPerSecond?: number;
    /** Review mode: how the person's review ended (only a run's result says). */
    review?: RunResult["review"];
}

export interface ChatState {
    sessionId?: string;
    title?: string;
    model: string;
    runs: RunView[];
    sessions: SessionSummary[];
}

/** A getSession answer (only the parts the panel shows). */
export interface SessionDetail {
    sessionId: string;
    title?: string;
    model?: string;
    messages: {
        role: string;
        text?: string;
        thinking?: string;
        toolCalls?: { name: string; arguments?: Record<string, unknown>; callId?: string }[];
        toolName?: string;
        callId?: string;
    }[];
    runs: { runId: string; instruction?: string; status?: string; summary?: string; changedFiles?: string[] }[];
}

export type Action =
    /** The extension sends a run command; `newSession` starts a fresh conversation in the panel. */
    | { type: "requested"; key: string; instruction: string; newSession: boolean }
    /** The run command answered (a result, or `running` for wait:false). */
    | { type: "answered"; key: string; runId: string; sessionId?: string; result?: RunResult }
    | { type: "requestFailed"; key: string; message: string }
    | { type: "transcript"; event: TranscriptParams }
    | { type: "runFinished"; result: RunResult }
    | { type: "approval"; id: string; request: ApprovalRequest; deadline: number }
    | { type: "approvalAnswered"; id: string; answer: Decision | "expired" }
    | { type: "sessions"; sessions: SessionSummary[] }
    | { type: "loadSession"; session: SessionDetail }
    | { type: "newSession" }
    | { type: "model"; model: string };

const approvalLabels: Record<Decision, string> = {
    allow: "Allow once",
    allowSession: "Allow for this session",
    deny: "Deny",
    allowOutsideSandbox: "Run outside the sandbox",
};

/** The choices of an approval, the default first: Deny for a destructive or sandbox-escaping command. */
export function approvalChoices(request: Pick<ApprovalRequest, "destructive" | "outsideSandbox">): Decision[] {
    if (request.outsideSandbox) {
        return ["deny", "allowOutsideSandbox"];
    }
    return request.destructive ? ["deny", "allow", "allowSession"] : ["allow", "allowSession", "deny"];
}

export function approvalLabel(decision: Decision): string {
    return approvalLabels[decision];
}

export function initialState(model: string): ChatState {
    return { model, runs: [], sessions: [] };
}

const finishedStates: ReadonlySet<RunState> = new Set(["completed", "failed", "cancelled", "max_turns"]);

export function isRunning(state: ChatState): boolean {
    return state.runs.some((r) => !finishedStates.has(r.state));
}

/** The tool call's target without its name (the server's summary line is "name target"). */
export function toolTarget(name: string, text: string): string {
    const line = (text ?? "").trim();
    return name && line.startsWith(`${name} `) ? line.slice(name.length + 1) : line === name ? "" : line;
}

/** A tool result's first line, for the card's one-line summary. */
export function resultSummary(card: Pick<ToolCard, "result" | "exitCode" | "timedOut" | "state">): string {
    if (card.timedOut) {
        return "timed out";
    }
    const first = (card.result ?? "").split("\n").find((l) => l.trim()) ?? "";
    const exit = typeof card.exitCode === "number" ? `exit ${card.exitCode}` : "";
    const line = first.length > 120 ? `${first.slice(0, 119)}…` : first;
    return [exit, line].filter(Boolean).join(" · ") || (card.state === "running" ? "running…" : "done");
}

function updateRun(state: ChatState, index: number, change: (run: RunView) => RunView): ChatState {
    const runs = state.runs.slice();
    runs[index] = change(runs[index]!);
    return { ...state, runs };
}

function findRun(state: ChatState, runId: string | undefined): number {
    return runId === undefined ? -1 : state.runs.findIndex((r) => r.runId === runId);
}

/** The sessionId of the conversation shown: the latest run that knows its session. */
function currentSession(runs: RunView[], fallback: string | undefined): string | undefined {
    for (let i = runs.length - 1; i >= 0; i--) {
        if (runs[i]!.sessionId) {
            return runs[i]!.sessionId;
        }
    }
    return fallback;
}

function withSession(state: ChatState): ChatState {
    const sessionId = currentSession(state.runs, state.sessionId);
    return sessionId === state.sessionId ? state : { ...state, sessionId };
}

function finish(run: RunView, result: RunResult): RunView {
    const tps = result.metrics?.tokensPerSecond;
    return {
        ...run,
        runId: run.runId ?? result.runId,
        sessionId: result.sessionId ?? run.sessionId,
        state: result.status,
        summary: result.summary,
        changedFiles: Array.isArray(result.changedFiles) ? result.changedFiles : run.changedFiles,
        tokensPerSecond: typeof tps === "number" ? tps : run.tokensPerSecond,
        review: reviews.has(result.review as string) ? result.review : run.review,
    };
}

const reviews: ReadonlySet<string> = new Set(["applied", "partial", "discarded"]);

export function reduce(state: ChatState, action: Action): ChatState {
    switch (action.type) {
        case "requested": {
            const run: RunView = {
                key: action.key,
                instruction: action.instruction,
                state: "requested",
                items: [{ type: "user", text: action.instruction }],
            };
            if (action.newSession) {
                return { ...state, sessionId: undefined, title: action.instruction.slice(0, 60), runs: [run] };
            }
            return { ...state, runs: [...state.runs, run] };
        }
        case "answered": {
            const index = state.runs.findIndex((r) => r.key === action.key);
            if (index < 0) {
                return state;
            }
            return withSession(
                updateRun(state, index, (run) => {
                    const named = { ...run, runId: run.runId ?? action.runId, sessionId: action.sessionId ?? run.sessionId };
                    if (action.result && !finishedStates.has(run.state)) {
                        return finish(named, action.result);
                    }
                    return { ...named, state: run.state === "requested" ? "running" : run.state };
                }),
            );
        }
        case "requestFailed": {
            const index = state.runs.findIndex((r) => r.key === action.key);
            if (index < 0) {
                return state;
            }
            return updateRun(state, index, (run) => ({
                ...run,
                state: "failed",
                summary: action.message,
                items: [...run.items, { type: "notice", level: "error", text: action.message }],
            }));
        }
        case "transcript":
            return onTranscript(state, action.event);
        case "runFinished": {
            const index = findRun(state, action.result?.runId);
            return index < 0 ? state : withSession(updateRun(state, index, (run) => finish(run, action.result)));
        }
        case "approval": {
            const card: ApprovalCard = { ...action.request, type: "approval", id: action.id, deadline: action.deadline };
            let index = findRun(state, action.request.runId);
            if (index < 0) {
                index = state.runs.length - 1;
            }
            if (index < 0) {
                const run: RunView = { runId: action.request.runId, instruction: "", state: "running", items: [card] };
                return { ...state, runs: [run] };
            }
            return updateRun(state, index, (run) => ({ ...run, items: [...run.items, card] }));
        }
        case "approvalAnswered": {
            const runs = state.runs.map((run) =>
                run.items.some((i) => i.type === "approval" && i.id === action.id && !i.answer)
                    ? {
                          ...run,
                          items: run.items.map((i) =>
                              i.type === "approval" && i.id === action.id ? { ...i, answer: action.answer } : i,
                          ),
                      }
                    : run,
            );
            return { ...state, runs };
        }
        case "sessions":
            return { ...state, sessions: Array.isArray(action.sessions) ? action.sessions : [] };
        case "loadSession": {
            const loaded = fromSession(action.session);
            return { ...state, ...loaded, model: loaded.model || state.model };
        }
        case "newSession":
            // A run still going on is no longer shown; its events are then ignored (findRun misses it).
            return { ...state, sessionId: undefined, title: undefined, runs: [] };
        case "model":
            return state.model === action.model ? state : { ...state, model: action.model };
    }
}

function pushText(run: RunView, kind: "thinking" | "content", text: string, turn: number | undefined): RunView {
    const last = run.items.at(-1);
    if (last && last.type === kind && last.turn === turn) {
        const items = run.items.slice();
        items[items.length - 1] = { ...last, text: last.text + text };
        return { ...run, items };
    }
    return { ...run, items: [...run.items, { type: kind, text, turn }] };
}

function lastRunningTool(run: RunView, callId?: unknown, name?: unknown): number {
    for (let i = run.items.length - 1; i >= 0; i--) {
        const item = run.items[i]!;
        if (item.type !== "tool") {
            continue;
        }
        if (typeof callId === "string" && callId) {
            if (item.callId === callId) {
                return i;
            }
            continue;
        }
        if (item.state === "running" && (name === undefined || item.name === name)) {
            return i;
        }
    }
    return -1;
}

function replaceItem(run: RunView, index: number, item: Item): RunView {
    const items = run.items.slice();
    items[index] = item;
    return { ...run, items };
}

function onTranscript(state: ChatState, event: TranscriptParams): ChatState {
    if (!event || typeof event !== "object" || typeof event.runId !== "string") {
        return state;
    }
    let index = findRun(state, event.runId);
    if (index < 0) {
        // A run the panel asked for, not named yet: the oldest one waiting takes it.
        const waiting = state.runs.findIndex((r) => r.runId === undefined && r.state === "requested");
        if (waiting >= 0) {
            state = updateRun(state, waiting, (run) => ({ ...run, runId: event.runId, state: "running" }));
            index = waiting;
        } else if (event.kind === "started") {
            // A run started elsewhere (a quick fix, a spec, another client): a conversation of its own.
            const label = typeof event.text === "string" ? event.text : "";
            const run: RunView = { runId: event.runId, instruction: label, state: "running", items: [{ type: "user", text: label }] };
            return { ...state, sessionId: undefined, title: label.slice(0, 60), model: event.model ?? state.model, runs: [run] };
        } else {
            return state; // a run this panel never showed
        }
    }
    const text = typeof event.text === "string" ? event.text : "";
    const turn = typeof event.turn === "number" ? event.turn : undefined;
    const model = typeof event.model === "string" && event.model ? event.model : state.model;
    const next = updateRun(state, index, (run) => {
        switch (event.kind) {
            case "started":
                return { ...run, state: finishedStates.has(run.state) ? run.state : "running" };
            case "thinking":
            case "content":
                return text ? pushText(run, event.kind, text, turn) : run;
            case "toolCall": {
                const name = typeof event.name === "string" ? event.name : "tool";
                const card: ToolCard = {
                    type: "tool",
                    callId: typeof event.callId === "string" ? event.callId : `call-${run.items.length}`,
                    name,
                    target: toolTarget(name, text),
                    state: "running",
                };
                return { ...run, items: [...run.items, card] };
            }
            case "commandRunning": {
                const i = lastRunningTool(run, event.callId);
                const card = run.items[i];
                return card?.type === "tool" ? replaceItem(run, i, { ...card, elapsedMs: Number(event.elapsedMs ?? 0) }) : run;
            }
            case "toolResult": {
                const i = lastRunningTool(run, event.callId, event.name);
                const card = run.items[i];
                if (card?.type !== "tool") {
                    return { ...run, items: [...run.items, { type: "notice", level: "note", text }] };
                }
                return replaceItem(run, i, {
                    ...card,
                    state: event.ok === false ? "failed" : "ok",
                    result: text,
                    diff: typeof event.diff === "string" && event.diff ? event.diff : card.diff,
                    omittedLines: typeof event.omittedLines === "number" ? event.omittedLines : card.omittedLines,
                    exitCode: event.exitCode === undefined ? card.exitCode : event.exitCode,
                    durationMs: typeof event.durationMs === "number" ? event.durationMs : card.durationMs,
                    outputTail: typeof event.outputTail === "string" ? event.outputTail : card.outputTail,
                    timedOut: event.timedOut === true || card.timedOut,
                });
            }
            case "edit": {
                const path = typeof event.path === "string" ? event.path : text.replace(/^\w+\s+/, "");
                const i = lastRunningTool(run);
                const card = run.items[i];
                if (card?.type === "tool") {
                    // Part of a tool call: the card shows it (its toolResult carries the call's whole diff).
                    return replaceItem(run, i, {
                        ...card,
                        paths: [...new Set([...(card.paths ?? []), path])],
                        diff: card.diff ?? (typeof event.diff === "string" ? event.diff : undefined),
                    });
                }
                return {
                    ...run,
                    items: [
                        ...run.items,
                        {
                            type: "edit",
                            path,
                            change: typeof event.change === "string" ? event.change : "modify",
                            diff: typeof event.diff === "string" ? event.diff : "",
                            omittedLines: typeof event.omittedLines === "number" ? event.omittedLines : 0,
                        },
                    ],
                };
            }
            case "warning":
            case "error":
                return { ...run, items: [...run.items, { type: "notice", level: event.kind, text }] };
            case "finished": {
                const status = (event.status ?? "completed") as RunStatus;
                const tps = event.metrics?.tokensPerSecond ?? event.tokensPerSecond;
                return {
                    ...run,
                    state: status,
                    summary: text || run.summary,
                    changedFiles: Array.isArray(event.changedFiles) ? (event.changedFiles as string[]) : run.changedFiles,
                    tokensPerSecond: typeof tps === "number" ? tps : run.tokensPerSecond,
                    // A tool call still open when the run ended never got its result.
                    items: run.items.map((i) => (i.type === "tool" && i.state === "running" ? { ...i, state: "failed" } : i)),
                };
            }
            default:
                return run;
        }
    });
    return model === next.model ? next : { ...next, model };
}

const hiddenUserNote = /^\s*(\(|\[)?(note|system)\b/i;

/** A stored session as panel runs: each run starts at the user message that holds its instruction. */
export function fromSession(session: SessionDetail): Pick<ChatState, "sessionId" | "title" | "model" | "runs"> & {
    model: string;
} {
    const stored = Array.isArray(session.runs) ? session.runs : [];
    const runs: RunView[] = [];
    let next = 0;
    let current: RunView | undefined;
    for (const m of Array.isArray(session.messages) ? session.messages : []) {
        const text = typeof m.text === "string" ? m.text : "";
        if (m.role === "user") {
            const meta = stored[next];
            const starts = !current || (meta?.instruction ? text.includes(meta.instruction) : !hiddenUserNote.test(text));
            if (starts) {
                next++;
                current = {
                    runId: meta?.runId,
                    sessionId: session.sessionId,
                    instruction: meta?.instruction ?? text,
                    state: (meta?.status as RunState | undefined) ?? "completed",
                    summary: meta?.summary,
                    changedFiles: meta?.changedFiles,
                    items: [{ type: "user", text: meta?.instruction ?? text }],
                };
                runs.push(current);
            } else {
                current!.items.push({ type: "notice", level: "note", text });
            }
            continue;
        }
        if (!current) {
            continue;
        }
        if (m.role === "assistant") {
            if (m.thinking) {
                current.items.push({ type: "thinking", text: m.thinking });
            }
            if (text) {
                current.items.push({ type: "content", text });
            }
            for (const call of m.toolCalls ?? []) {
                const args = call.arguments ?? {};
                const target = String(args.path ?? args.command ?? args.regex ?? JSON.stringify(args));
                current.items.push({ type: "tool", callId: call.callId ?? "", name: call.name, target, state: "ok" });
            }
        } else if (m.role === "tool") {
            const i = current.items.findIndex(
                (item) => item.type === "tool" && !item.result && (m.callId ? item.callId === m.callId : item.name === m.toolName),
            );
            const card = current.items[i];
            if (card?.type === "tool") {
                current.items[i] = { ...card, result: text };
            }
        }
    }
    return { sessionId: session.sessionId, title: session.title, model: session.model ?? "", runs };
}

// --- messages between the extension host and the webview ----------------------------------------------

/** Host -> webview. `now` lets the webview count down approval deadlines with the host's clock. */
export type HostMessage = { type: "state"; state: ChatState; now: number } | { type: "action"; action: Action; now: number };

/** Webview -> host: what the person did in the panel. */
export type WebviewMessage =
    | { type: "ready" }
    | { type: "send"; text: string }
    | { type: "cancel" }
    | { type: "newSession" }
    | { type: "pickModel" }
    | { type: "listSessions" }
    | { type: "openSession"; sessionId: string }
    | { type: "approve"; id: string; decision: Decision }
    | { type: "openDiff"; run: number; item: number }
    | { type: "openFile"; path: string }
    | { type: "undo"; runId: string }
    | { type: "review"; runId: string };

const decisions: ReadonlySet<string> = new Set(["allow", "allowSession", "deny", "allowOutsideSandbox"]);

/** A webview message checked field by field; undefined for anything else. */
export function parseWebviewMessage(value: unknown): WebviewMessage | undefined {
    if (!value || typeof value !== "object") {
        return undefined;
    }
    const m = value as Record<string, unknown>;
    const str = (k: string) => typeof m[k] === "string" && (m[k] as string).length > 0;
    switch (m.type) {
        case "ready":
        case "cancel":
        case "newSession":
        case "pickModel":
        case "listSessions":
            return { type: m.type };
        case "send":
            return str("text") && (m.text as string).trim() ? { type: "send", text: (m.text as string).trim() } : undefined;
        case "openSession":
            return str("sessionId") ? { type: "openSession", sessionId: m.sessionId as string } : undefined;
        case "approve":
            return str("id") && decisions.has(m.decision as string)
                ? { type: "approve", id: m.id as string, decision: m.decision as Decision }
                : undefined;
        case "openDiff":
            return Number.isInteger(m.run) && Number.isInteger(m.item)
                ? { type: "openDiff", run: m.run as number, item: m.item as number }
                : undefined;
        case "openFile":
            return str("path") ? { type: "openFile", path: m.path as string } : undefined;
        case "undo":
        case "review":
            return str("runId") ? { type: m.type, runId: m.runId as string } : undefined;
        default:
            return undefined;
    }
}

// The ollama-agent-ls protocol extensions (issue 3), each declared exactly once. Everything else in the
// extension refers to these names and types instead of spelling method strings.
// From the protocol package (not vscode-languageclient) so these declarations load without VS Code.
import * as lc from "vscode-languageserver-protocol";

// --- workspace/executeCommand ids served by the language server -------------------------------------
// vscode-languageclient registers these as VS Code commands itself, so the extension's own palette
// commands (package.json, `ollama-agent.*`) must use different ids.
export const serverCommands = {
    runSelection: "ollamaAgent.runSelection",
    runSpec: "ollamaAgent.runSpec",
    implementTodo: "ollamaAgent.implementTodo",
    cancel: "ollamaAgent.cancel",
    undoRun: "ollamaAgent.undoRun",
    listModels: "ollamaAgent.listModels",
    checkSetup: "ollamaAgent.checkSetup",
    verifySpec: "ollamaAgent.verifySpec",
    runTask: "ollamaAgent.runTask",
    followUp: "ollamaAgent.followUp",
    listSessions: "ollamaAgent.listSessions",
    getSession: "ollamaAgent.getSession",
    runChanges: "ollamaAgent.runChanges",
    revertHunk: "ollamaAgent.revertHunk",
    keepHunk: "ollamaAgent.keepHunk",
} as const;

export type ServerCommand = (typeof serverCommands)[keyof typeof serverCommands];

const runCommandIds = [
    serverCommands.runSelection,
    serverCommands.runSpec,
    serverCommands.implementTodo,
    serverCommands.verifySpec,
    serverCommands.runTask,
    serverCommands.followUp,
] as const;

/**
 * A command that starts a run: it answers with a RunResult when the run ends, or, with `wait: false` (what the
 * server's code actions and lenses send), at once with a RunningAnswer and the result as `runFinished`.
 */
export type RunCommand = (typeof runCommandIds)[number];

export const runCommands: ReadonlySet<string> = new Set(runCommandIds);

/** `wait` (default true) of every run command: false answers at once, the result follows as `runFinished`. */
export interface WaitParam {
    wait?: boolean;
}

export interface RunSelectionParams extends WaitParam {
    uri: string;
    range: lc.Range;
    instruction: string;
    model?: string;
}

export interface RunSpecParams extends WaitParam {
    uri: string;
    model?: string;
}

export interface ImplementTodoParams extends WaitParam {
    uri: string;
    line: number;
    model?: string;
}

/** The answer of a run command sent with `wait: false`. */
export interface RunningAnswer {
    runId: string;
    status: "running";
    sessionId?: string;
}

export function isRunningAnswer(value: unknown): value is RunningAnswer {
    return (
        !!value &&
        typeof value === "object" &&
        (value as RunningAnswer).status === "running" &&
        typeof (value as RunningAnswer).runId === "string"
    );
}

export interface RunIdParams {
    runId?: string;
}

export type RunStatus = "completed" | "failed" | "cancelled" | "max_turns";

export interface RunMetrics {
    tokensPerSecond?: number;
    [key: string]: unknown;
}

export interface RunResult {
    runId: string;
    status: RunStatus;
    summary: string;
    changedFiles: string[];
    turns: number;
    metrics?: RunMetrics;
    sessionId?: string;
    /** Review mode: everything shown was applied, some of it, or none (Discard, or all unticked). */
    review?: "applied" | "partial" | "discarded";
    /** implementTodo; runSpec and verifySpec add their own fields. */
    [key: string]: unknown;
}

export interface ModelInfo {
    name: string;
    contextLength: number | null;
    capabilities: string[];
}

export interface SetupReport {
    ollamaUrl: string;
    reachable: boolean;
    version: string | null;
    model: string;
    modelPresent: boolean;
    supportsTools: boolean;
    contextLength: number | null;
    problems: string[];
}

/** Argument and result types per server command; `executeServerCommand` is typed by this map. */
export interface ServerCommandTypes {
    [serverCommands.runSelection]: { params: RunSelectionParams; result: RunResult | RunningAnswer };
    [serverCommands.runSpec]: { params: RunSpecParams; result: RunResult | RunningAnswer };
    [serverCommands.implementTodo]: { params: ImplementTodoParams; result: RunResult | RunningAnswer };
    [serverCommands.verifySpec]: { params: RunSpecParams; result: RunResult | RunningAnswer };
    [serverCommands.cancel]: { params: RunIdParams; result: unknown };
    [serverCommands.undoRun]: { params: RunIdParams; result: unknown };
    [serverCommands.listModels]: { params: Record<string, never>; result: ModelInfo[] };
    [serverCommands.checkSetup]: { params: Record<string, never>; result: SetupReport };
    [serverCommands.runTask]: { params: RunTaskParams; result: RunResult | RunningAnswer };
    [serverCommands.followUp]: { params: FollowUpParams; result: RunResult | RunningAnswer };
    [serverCommands.listSessions]: { params: Record<string, never>; result: SessionSummary[] };
    [serverCommands.getSession]: { params: { sessionId: string }; result: unknown };
    [serverCommands.runChanges]: { params: { runId: string }; result: FileHunks[] };
    [serverCommands.revertHunk]: { params: HunkParams; result: HunkAnswer };
    [serverCommands.keepHunk]: { params: HunkParams; result: HunkAnswer };
}

/**
 * One region a run changed. `range` is where it is in the document now (null when the user edited it, or
 * when it is reverted); `state` "edited" means the user changed its lines, so it can no longer be reverted.
 */
export interface RunHunk {
    id: string;
    range: lc.Range | null;
    oldText: string;
    newText: string;
    state: "pending" | "kept" | "reverted" | "edited";
}

/** runChanges: a run's changed files (its commands' included), each with its hunks. */
export interface FileHunks {
    uri: string;
    hunks: RunHunk[];
}

/** revertHunk and keepHunk: one hunk of one file of a run. */
export interface HunkParams {
    runId: string;
    uri: string;
    hunkId: string;
}

export interface HunkAnswer extends HunkParams {
    state: "kept" | "reverted";
}

/** runTask: a new session on an instruction, with an optional file and range. */
export interface RunTaskParams extends WaitParam {
    instruction: string;
    uri?: string;
    range?: lc.Range;
    model?: string;
}

/** followUp: continue session `sessionId`'s conversation. */
export interface FollowUpParams extends RunTaskParams {
    sessionId: string;
}

export interface SessionSummary {
    sessionId: string;
    title: string;
    model: string;
    updatedAt: string;
    runs: number;
}

// --- server -> client ------------------------------------------------------------------------------

export type TranscriptKind =
    | "started"
    | "thinking"
    | "content"
    | "toolCall"
    | "toolResult"
    | "edit"
    | "warning"
    | "error"
    | "commandRunning"
    | "finished";

export interface TranscriptParams {
    runId: string;
    kind: TranscriptKind | string;
    text: string;
    /** toolCall / toolResult: the tool's name. */
    name?: string;
    /** edit, and the toolResult of a call that changed files: a compact unified diff. */
    diff?: string;
    /** Diff lines left out of ``diff``. */
    omittedLines?: number;
    /** A command's toolResult: exit code (null when timed out), duration, last output lines. */
    exitCode?: number | null;
    durationMs?: number;
    outputTail?: string;
    timedOut?: boolean;
    /** commandRunning: the command and how long it has run. */
    command?: string;
    elapsedMs?: number;
    callId?: string;
    /** finished: the run's status. */
    status?: RunStatus;
    /** Present on some events (turn ends, finished). */
    metrics?: RunMetrics;
    turn?: number;
    tokensPerSecond?: number;
    model?: string;
    [key: string]: unknown;
}

export const transcript = new lc.NotificationType<TranscriptParams>("ollamaAgent/transcript");

/** A run started with `wait: false` ended: the result its command answers with when it waits. */
export const runFinished = new lc.NotificationType<RunResult>("ollamaAgent/runFinished");

export interface SaveDocumentsParams {
    uris: string[];
}

export interface SaveDocumentsResult {
    saved: string[];
}

export const saveDocuments = new lc.RequestType<SaveDocumentsParams, SaveDocumentsResult, void>(
    "ollamaAgent/saveDocuments",
);

/** ollamaAgent/approveCommand: may the agent run `command`? Sent only to clients that declare it. */
export interface ApproveCommandParams {
    runId: string;
    sessionId: string;
    command: string;
    cwd: string;
    destructive: boolean;
    reason: string;
    timeoutSeconds: number;
    /** The sandbox blocked the command; the question is whether to run it outside. */
    outsideSandbox?: boolean;
}

export type ApproveCommandDecision = "allow" | "allowSession" | "deny" | "allowOutsideSandbox";

export interface ApproveCommandResult {
    decision: ApproveCommandDecision;
}

export const approveCommand = new lc.RequestType<ApproveCommandParams, ApproveCommandResult, void>(
    "ollamaAgent/approveCommand",
);

/** What the client declares under `capabilities.experimental`: saveDocuments, and approvals asked inline. */
export const experimentalCapabilities = { ollamaAgent: { saveDocuments: true, approveCommand: true } } as const;

/** The title of the server's work-done progress for a run. */
export const progressTitle = "Ollama agent";

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
} as const;

export type ServerCommand = (typeof serverCommands)[keyof typeof serverCommands];

const runCommandIds = [serverCommands.runSelection, serverCommands.runSpec, serverCommands.implementTodo] as const;

/** A command that starts an agent run and answers with a RunResult when it ends. */
export type RunCommand = (typeof runCommandIds)[number];

export const runCommands: ReadonlySet<string> = new Set(runCommandIds);

export interface RunSelectionParams {
    uri: string;
    range: lc.Range;
    instruction: string;
    model?: string;
}

export interface RunSpecParams {
    uri: string;
    model?: string;
}

export interface ImplementTodoParams {
    uri: string;
    line: number;
    model?: string;
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
    [serverCommands.runSelection]: { params: RunSelectionParams; result: RunResult };
    [serverCommands.runSpec]: { params: RunSpecParams; result: RunResult };
    [serverCommands.implementTodo]: { params: ImplementTodoParams; result: RunResult };
    [serverCommands.cancel]: { params: RunIdParams; result: unknown };
    [serverCommands.undoRun]: { params: RunIdParams; result: unknown };
    [serverCommands.listModels]: { params: Record<string, never>; result: ModelInfo[] };
    [serverCommands.checkSetup]: { params: Record<string, never>; result: SetupReport };
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
    | "finished";

export interface TranscriptParams {
    runId: string;
    kind: TranscriptKind | string;
    text: string;
    /** toolCall / toolResult: the tool's name. */
    name?: string;
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

export interface SaveDocumentsParams {
    uris: string[];
}

export interface SaveDocumentsResult {
    saved: string[];
}

export const saveDocuments = new lc.RequestType<SaveDocumentsParams, SaveDocumentsResult, void>(
    "ollamaAgent/saveDocuments",
);

/** What the client declares under `capabilities.experimental` so the server sends saveDocuments. */
export const experimentalCapabilities = { ollamaAgent: { saveDocuments: true } } as const;

/** The title of the server's work-done progress for a run. */
export const progressTitle = "Ollama agent";

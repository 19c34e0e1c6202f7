// How a finished run is reported to the user: one notification whose buttons lead to the next step.
import * as vscode from "vscode";
import type { RunResult } from "./lsp_ext";

export interface ResultActions {
    undo(runId: string): Promise<void>;
    reviewChanges(runId: string): Promise<void>;
    showTranscript(): void;
}

const undoLabel = "Undo";
const reviewLabel = "Review Changes";
const transcriptLabel = "Show Transcript";

function filesNote(result: RunResult): string {
    const n = Array.isArray(result.changedFiles) ? result.changedFiles.length : 0;
    return n ? ` (${n} file${n === 1 ? "" : "s"} changed)` : "";
}

/** The message text and severity for a run result. */
function describeResult(result: RunResult): { severity: "info" | "warning" | "error"; message: string } {
    const summary = (result.summary ?? "").trim();
    switch (result.status) {
        case "completed":
            return { severity: "info", message: plainText(`Ollama agent: ${summary || "done"}${filesNote(result)}`) };
        case "cancelled":
            return {
                severity: "info",
                message: `Ollama agent: run cancelled${filesNote(result)}.${
                    filesNote(result) ? " Edits already made stay; Undo reverts them." : ""
                }`,
            };
        case "max_turns":
            return {
                severity: "warning",
                message:
                    `Ollama agent stopped after ${result.turns} turns without finishing${filesNote(result)}. ` +
                    `Raise "ollamaAgent.maxTurns" or narrow the task. ${summary}`.trim(),
            };
        default:
            return {
                severity: "error",
                message: plainText(`Ollama agent run failed: ${summary || "no reason given (see the transcript)"}`),
            };
    }
}

/** Show the result without blocking the caller on the user's click. */
export function presentRunResult(result: RunResult, actions: ResultActions): void {
    const { severity, message } = describeResult(result);
    const buttons: string[] = [];
    if (result.runId && Array.isArray(result.changedFiles) && result.changedFiles.length) {
        buttons.push(reviewLabel, undoLabel);
    }
    buttons.push(transcriptLabel);
    const show =
        severity === "info"
            ? vscode.window.showInformationMessage
            : severity === "warning"
              ? vscode.window.showWarningMessage
              : vscode.window.showErrorMessage;
    void Promise.resolve(show(message, ...buttons)).then(async (choice) => {
        if (choice === undoLabel) {
            await actions.undo(result.runId);
        } else if (choice === reviewLabel) {
            await actions.reviewChanges(result.runId);
        } else if (choice === transcriptLabel) {
            actions.showTranscript();
        }
    });
}

/** A failure the user was already shown, with its fix: callers must not show it again. */
export class ReportedError extends Error {}

/** A readable message for a failed request (JSON-RPC errors carry the server's own explanation). */
export function errorMessage(error: unknown): string {
    if (error instanceof Error) {
        return error.message;
    }
    if (error && typeof error === "object" && "message" in error) {
        return String((error as { message: unknown }).message);
    }
    return String(error);
}

/**
 * A message for a notification or dialog, which show text as it is: markdown code spans lose their
 * backticks and become quoted ("run `ollama serve`" reads as "run "ollama serve"").
 */
export function plainText(message: string): string {
    return message.replace(/`([^`\n]+)`/g, '"$1"');
}

/** What the extension knows of a run: its label and the files it changed, for Undo's messages. */
export interface RunRecord {
    runId: string;
    label?: string;
    changedFiles?: string[];
    undone?: boolean;
}

/** The latest runs, newest last. */
export class RunLog {
    private readonly runs = new Map<string, RunRecord>();

    constructor(private readonly keep = 50) {}

    record(runId: string, patch: Partial<Omit<RunRecord, "runId">>): void {
        const known = this.runs.get(runId);
        const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined && v !== ""));
        this.runs.delete(runId);
        this.runs.set(runId, { ...known, ...defined, runId });
        for (const old of [...this.runs.keys()].slice(0, -this.keep)) {
            this.runs.delete(old);
        }
    }

    get(runId: string | undefined): RunRecord | undefined {
        return runId === undefined ? undefined : this.runs.get(runId);
    }

    /** The newest run that changed files and is not undone yet. */
    latestWithChanges(): RunRecord | undefined {
        return [...this.runs.values()].reverse().find((r) => !r.undone && (r.changedFiles?.length ?? 0) > 0);
    }
}

/** A run's name for messages: “its label”, else “run r3”. */
export function runName(record: RunRecord | undefined, runId?: string): string {
    const label = record?.label?.trim();
    return label ? `“${label.length > 60 ? `${label.slice(0, 59)}…` : label}”` : `run ${record?.runId ?? runId ?? "?"}`;
}

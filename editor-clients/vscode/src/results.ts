// How a finished run is reported to the user: one notification whose buttons lead to the next step.
import * as vscode from "vscode";
import type { RunResult } from "./lsp_ext";

export interface ResultActions {
    undo(runId: string): Promise<void>;
    showTranscript(): void;
}

const undoLabel = "Undo";
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
            return { severity: "info", message: `Ollama agent: ${summary || "done"}${filesNote(result)}` };
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
                message: `Ollama agent run failed: ${summary || "no reason given (see the transcript)"}`,
            };
    }
}

/** Show the result without blocking the caller on the user's click. */
export function presentRunResult(result: RunResult, actions: ResultActions): void {
    const { severity, message } = describeResult(result);
    const buttons: string[] = [];
    if (result.runId && Array.isArray(result.changedFiles) && result.changedFiles.length) {
        buttons.push(undoLabel);
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

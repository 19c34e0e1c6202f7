// Renders `ollamaAgent/transcript` notifications as readable text. Thinking and content arrive as deltas,
// so the formatter only adds a marker when the kind (or the run) changes and streams text verbatim.
import type { TranscriptParams } from "./lsp_ext";
import { toolTarget } from "./panel/state";

const thinkingMarker = "💭 thinking: ";

const markers: Record<string, string> = {
    thinking: thinkingMarker,
    toolCall: "▶ tool ",
    toolResult: "◀ ",
    edit: "✎ edit: ",
    running: "⏳ running ",
    warning: "⚠ warning: ",
    error: "✖ error: ",
};

export class TranscriptFormatter {
    private lastRun: string | undefined;
    private lastKind: string | undefined;
    private atLineStart = true;
    private lastTurn: number | undefined;

    /** The text to append for one notification. */
    format(event: TranscriptParams): string {
        if (event.kind === "commandRunning") {
            // Sent about once a second: shown once every ten seconds of a long command.
            const seconds = Math.round(Number(event.elapsedMs ?? 0) / 1000);
            if (seconds < 10 || seconds % 10 !== 0) {
                return "";
            }
            return this.format({ ...event, kind: "running", text: `${seconds} s: ${event.command ?? ""}` });
        }
        const parts: string[] = [];
        const text = typeof event.text === "string" ? event.text : "";
        const newRun = event.runId !== this.lastRun;
        const streaming = event.kind === "thinking" || event.kind === "content";
        const continues = streaming && !newRun && event.kind === this.lastKind;

        if (!continues && !this.atLineStart) {
            parts.push("\n");
        }
        if (newRun && event.kind !== "started") {
            parts.push(`[run ${event.runId}]\n`);
        }
        if (newRun) {
            this.lastTurn = undefined;
        }
        if (typeof event.turn === "number" && event.turn !== this.lastTurn) {
            // Each model reply starts under its own rule, so turns do not run into each other.
            if (this.lastTurn !== undefined || event.turn > 1) {
                parts.push(`\n── turn ${event.turn} ──\n`);
            }
            this.lastTurn = event.turn;
        }
        switch (event.kind) {
            case "started":
                parts.push(`━━ run ${event.runId} started${text ? `: ${text}` : ""}\n`);
                break;
            case "finished": {
                const status = event.status ? ` (${event.status})` : "";
                const speed = formatSpeed(event.metrics?.tokensPerSecond);
                parts.push(`━━ run ${event.runId} finished${status}${speed}${text ? `: ${text}` : ""}\n\n`);
                break;
            }
            case "thinking":
            case "content":
                if (!continues && event.kind === "thinking") {
                    parts.push(thinkingMarker);
                }
                parts.push(text);
                break;
            case "toolCall": {
                const name = typeof event.name === "string" ? event.name : "";
                const target = toolTarget(name, text);
                parts.push(`${markers.toolCall}${name}${target ? ` ${target}` : ""}\n`);
                break;
            }
            case "edit":
                parts.push(`${markers.edit}${text}\n`);
                if (typeof event.diff === "string" && event.diff) {
                    parts.push(`${event.diff.replace(/\n?$/, "\n")}`);
                    if (event.omittedLines) {
                        parts.push(`… ${event.omittedLines} more diff lines\n`);
                    }
                }
                break;
            case "toolResult": {
                // A header line of its own (tool, outcome), then the result indented below it.
                const how: string[] = [event.ok === false ? "failed" : "ok"];
                if (event.timedOut) {
                    how.push("timed out");
                } else if (typeof event.exitCode === "number") {
                    how.push(`exit ${event.exitCode}`);
                }
                if (typeof event.durationMs === "number") {
                    how.push(`${(event.durationMs / 1000).toFixed(1)} s`);
                }
                parts.push(`${markers.toolResult}${typeof event.name === "string" ? `${event.name} ` : ""}${how.join(" · ")}\n`);
                const body = text.replace(/\n+$/, "");
                if (body) {
                    parts.push(`${body.split("\n").map((line) => `    ${line}`).join("\n")}\n`);
                }
                break;
            }
            default:
                parts.push(`${markers[event.kind] ?? `${event.kind}: `}${text}\n`);
        }
        const out = parts.join("");
        this.lastRun = event.runId;
        this.lastKind = event.kind;
        if (out.length) {
            this.atLineStart = out.endsWith("\n");
        }
        return out;
    }
}

function formatSpeed(tokensPerSecond: unknown): string {
    return typeof tokensPerSecond === "number" && Number.isFinite(tokensPerSecond) && tokensPerSecond > 0
        ? `, ${tokensPerSecond.toFixed(1)} tok/s`
        : "";
}

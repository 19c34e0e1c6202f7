// Renders `ollamaAgent/transcript` notifications as readable text. Thinking and content arrive as deltas,
// so the formatter only adds a marker when the kind (or the run) changes and streams text verbatim.
import type { TranscriptParams } from "./lsp_ext";

const thinkingMarker = "💭 thinking: ";

const markers: Record<string, string> = {
    thinking: thinkingMarker,
    toolCall: "▶ tool ",
    toolResult: "◀ result: ",
    edit: "✎ edit: ",
    warning: "⚠ warning: ",
    error: "✖ error: ",
};

export class TranscriptFormatter {
    private lastRun: string | undefined;
    private lastKind: string | undefined;
    private atLineStart = true;

    /** The text to append for one notification. */
    format(event: TranscriptParams): string {
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
            case "toolCall":
                parts.push(`${markers.toolCall}${event.name ?? ""}${text ? ` ${text}` : ""}\n`);
                break;
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

import { describe, expect, test, vi } from "vitest";
import * as vscode from "vscode";
import { commandIds } from "../../src/ids";
import { parseProgressMessage, StatusBar } from "../../src/status";
import { TranscriptFormatter } from "../../src/transcript";
import { lastStatusBarItem } from "./vscodeMock.js";

vi.mock("vscode", async () => (await import("./vscodeMock.js")).createMock());

describe("transcript formatting", () => {
    test("streamed deltas join into one block; a new kind starts a new marked line", () => {
        const f = new TranscriptFormatter();
        const out = [
            f.format({ runId: "r1", kind: "started", text: "add docstring" }),
            f.format({ runId: "r1", kind: "thinking", text: "The user" }),
            f.format({ runId: "r1", kind: "thinking", text: " wants a docstring." }),
            f.format({ runId: "r1", kind: "content", text: "I'll edit it." }),
            f.format({ runId: "r1", kind: "toolCall", name: "edit_file", text: "edit_file a.py" }),
            f.format({ runId: "r1", kind: "toolResult", name: "edit_file", text: "Edited a.py" }),
            f.format({ runId: "r1", kind: "warning", text: "context 90% full" }),
            f.format({ runId: "r1", kind: "finished", status: "completed", text: "Added.", metrics: { tokensPerSecond: 42.25 } }),
        ].join("");
        expect(out).toBe(
            "━━ run r1 started: add docstring\n" +
                "💭 thinking: The user wants a docstring.\n" +
                "I'll edit it.\n" +
                "▶ tool edit_file a.py\n" +
                "◀ edit_file ok\n" +
                "    Edited a.py\n" +
                "⚠ warning: context 90% full\n" +
                "━━ run r1 finished (completed), 42.3 tok/s: Added.\n\n",
        );
    });

    test("a long command shows every ten seconds; edits show their diff; commands their exit", () => {
        const f = new TranscriptFormatter();
        f.format({ runId: "r1", kind: "started", text: "go" });
        const running = [1, 2, 9, 10, 11, 20].map((s) =>
            f.format({ runId: "r1", kind: "commandRunning", text: "", command: "pytest", elapsedMs: s * 1000 }),
        );
        expect(running).toEqual(["", "", "", "⏳ running 10 s: pytest\n", "", "⏳ running 20 s: pytest\n"]);
        expect(
            f.format({ runId: "r1", kind: "toolResult", name: "run_command", text: "$ pytest\nFAILED", ok: false, exitCode: 1, durationMs: 21500 }),
        ).toBe("◀ run_command failed · exit 1 · 21.5 s\n    $ pytest\n    FAILED\n");
        expect(
            f.format({ runId: "r1", kind: "edit", text: "modify a.py", diff: "@@ -1 +1 @@\n-x\n+y", omittedLines: 3 }),
        ).toBe("✎ edit: modify a.py\n@@ -1 +1 @@\n-x\n+y\n… 3 more diff lines\n");
    });

    test("each tool name once, the result below its header line, and a rule between turns", () => {
        const f = new TranscriptFormatter();
        const out = [
            f.format({ runId: "r1", kind: "started", text: "fix calc" }),
            f.format({ runId: "r1", kind: "content", text: "Reading.", turn: 1 }),
            f.format({ runId: "r1", kind: "toolCall", name: "read_file", text: "read_file calc.py", turn: 1 }),
            f.format({ runId: "r1", kind: "toolResult", name: "read_file", text: "a = 1\nb = 2\n", ok: true }),
            f.format({ runId: "r1", kind: "content", text: "Done.", turn: 2 }),
        ].join("");
        expect(out).toBe(
            "━━ run r1 started: fix calc\n" +
                "Reading.\n" +
                "▶ tool read_file calc.py\n" +
                "◀ read_file ok\n" +
                "    a = 1\n" +
                "    b = 2\n" +
                "\n── turn 2 ──\n" +
                "Done.",
        );
        expect(out).not.toMatch(/read_file read_file/);
    });

    test("interleaved runs are labelled so their text does not mix silently", () => {
        const f = new TranscriptFormatter();
        f.format({ runId: "a", kind: "content", text: "one" });
        expect(f.format({ runId: "b", kind: "content", text: "two" })).toBe("\n[run b]\ntwo");
        expect(f.format({ runId: "a", kind: "content", text: "three" })).toBe("\n[run a]\nthree");
    });
});

describe("status bar", () => {
    test("progress messages yield turn and tokens/s in the forms a server may write", () => {
        expect(parseProgressMessage("turn 3 · edit_file · 27.5 tok/s")).toEqual({ turn: 3, tokensPerSecond: 27.5 });
        expect(parseProgressMessage("Turn 12: thinking (40 tokens/s)")).toEqual({ turn: 12, tokensPerSecond: 40 });
        expect(parseProgressMessage("waiting for the model")).toEqual({ turn: undefined, tokensPerSecond: undefined });
    });

    test("transcript events alone drive it when no progress arrives", () => {
        const bar = new StatusBar(() => "qwen3:8b");
        bar.setServerState("running");
        bar.onTranscript({ runId: "r1", kind: "started", text: "" });
        expect(bar.text).toBe("$(sync~spin) qwen3:8b");
        bar.onTranscript({ runId: "r1", kind: "content", text: "x", turn: 2, metrics: { tokensPerSecond: 12 } });
        expect(bar.text).toBe("$(sync~spin) qwen3:8b · turn 2 · 12.0 tok/s");
        bar.onTranscript({ runId: "r1", kind: "finished", text: "", status: "completed" });
        expect(bar.running).toBe(false);
        expect(bar.text).toBe("$(hubot) qwen3:8b");
    });

    test("a lost finished event does not leave it spinning once the run's result arrives", () => {
        const bar = new StatusBar(() => "m");
        bar.setServerState("running");
        bar.runRequested();
        bar.onTranscript({ runId: "r7", kind: "started", text: "" });
        bar.runAnswered("r7");
        expect(bar.running).toBe(false);
    });

    test("progress of other server work is ignored", () => {
        const bar = new StatusBar(() => "m");
        bar.setServerState("running");
        bar.onProgress("t", { kind: "begin", title: "Indexing" });
        expect(bar.running).toBe(false);
    });

    test("a dead server shows an error item that restarts on click", () => {
        const bar = new StatusBar(() => "m");
        bar.setServerState("failed", "spawn ENOENT");
        expect(bar.text).toBe("$(error) m");
        expect(lastStatusBarItem(vscode.window).command).toBe(commandIds.restartServer);
    });
});

describe("status bar (issue 16's defects)", () => {
    test("a new run does not show the previous run's tok/s", () => {
        const bar = new StatusBar(() => "qwen3:8b");
        bar.setServerState("running");
        bar.onTranscript({ runId: "r1", kind: "started", text: "" });
        bar.onTranscript({ runId: "r1", kind: "content", text: "x", turn: 3, metrics: { tokensPerSecond: 30 } });
        bar.onTranscript({ runId: "r1", kind: "finished", text: "", status: "completed" });
        bar.runRequested();
        expect(bar.text).toBe("$(sync~spin) qwen3:8b");
        bar.onTranscript({ runId: "r2", kind: "started", text: "" });
        expect(bar.text).toBe("$(sync~spin) qwen3:8b");
    });

    test("a run waiting for its review or an approval stops spinning and says what it waits for", () => {
        const bar = new StatusBar(() => "qwen3:8b");
        bar.setServerState("running");
        bar.onTranscript({ runId: "r1", kind: "content", text: "x", turn: 3 });
        bar.setWaiting("review", true);
        expect(bar.text).toBe("$(eye) qwen3:8b · review the changes");
        bar.setWaiting("review", false);
        expect(bar.text).toBe("$(sync~spin) qwen3:8b · turn 3");
        bar.setWaiting("approval", true);
        expect(bar.text).toBe("$(question) qwen3:8b · waiting for your approval");
        expect(lastStatusBarItem(vscode.window).command).toBe(commandIds.openChat);
    });

    test("the palette's Cancel Run follows whether a run goes on", () => {
        const setContext = () =>
            (vscode.commands.executeCommand as ReturnType<typeof vi.fn>).mock.calls.filter((c) => c[0] === "setContext");
        const bar = new StatusBar(() => "m");
        bar.setServerState("running");
        bar.onTranscript({ runId: "r1", kind: "started", text: "" });
        expect(setContext().at(-1)).toEqual(["setContext", "ollamaAgent.running", true]);
        bar.onTranscript({ runId: "r1", kind: "finished", text: "", status: "completed" });
        expect(setContext().at(-1)).toEqual(["setContext", "ollamaAgent.running", false]);
    });
});

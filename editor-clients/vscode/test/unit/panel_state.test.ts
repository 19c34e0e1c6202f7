// The chat panel's reducer, markdown and diff helpers: pure, so no VS Code mock is needed.
import { describe, expect, test } from "vitest";
import type { TranscriptParams } from "../../src/lsp_ext";
import { textBefore } from "../../src/panel/diff";
import { escapeHtml, highlight, renderDiff, renderMarkdown } from "../../src/panel/markdown";
import {
    approvalChoices,
    fromSession,
    initialState,
    isRunning,
    parseWebviewMessage,
    reduce,
    resultSummary,
    type Action,
    type ChatState,
} from "../../src/panel/state";

function apply(state: ChatState, ...actions: Action[]): ChatState {
    return actions.reduce(reduce, state);
}

const t = (event: Partial<TranscriptParams> & { kind: string }): Action => ({
    type: "transcript",
    event: { runId: "r1", text: "", ...event } as TranscriptParams,
});

describe("a run in the panel", () => {
    test("the request, its stream, a tool card and the end, in order", () => {
        const s = apply(
            initialState("qwen3:8b"),
            { type: "requested", key: "k1", instruction: "rename b", newSession: true },
            t({ kind: "started", text: "calc.py:2-2: rename b", model: "qwen3:8b" }),
            t({ kind: "thinking", text: "Let me ", turn: 1 }),
            t({ kind: "thinking", text: "look.", turn: 1 }),
            t({ kind: "content", text: "I'll edit ", turn: 1 }),
            t({ kind: "content", text: "it.", turn: 1 }),
            t({ kind: "toolCall", name: "edit_file", text: "edit_file calc.py", callId: "c1", turn: 1 }),
            t({ kind: "edit", text: "modify calc.py", path: "calc.py", change: "modify", diff: "@@ -2 +2 @@\n-b = 2\n+beta = 2\n" }),
            t({ kind: "toolResult", name: "edit_file", text: "Edited calc.py.\nmore", ok: true, callId: "c1", diff: "@@ -2 +2 @@\n-b = 2\n+beta = 2\n" }),
            t({ kind: "content", text: "Done.", turn: 2 }),
        );
        expect(isRunning(s)).toBe(true);
        const run = s.runs[0]!;
        expect(run.runId).toBe("r1");
        expect(run.items.map((i) => i.type)).toEqual(["user", "thinking", "content", "tool", "content"]);
        expect(run.items[1]).toMatchObject({ text: "Let me look." });
        expect(run.items[2]).toMatchObject({ text: "I'll edit it." });
        const card = run.items[3]!;
        expect(card).toMatchObject({ name: "edit_file", target: "calc.py", state: "ok", paths: ["calc.py"] });
        expect(resultSummary(card as never)).toBe("Edited calc.py.");
        const done = apply(
            s,
            t({ kind: "finished", status: "completed", text: "Renamed.", changedFiles: ["file:///ws/calc.py"] }),
            { type: "answered", key: "k1", runId: "r1", sessionId: "s1" },
        );
        expect(isRunning(done)).toBe(false);
        expect(done.runs[0]).toMatchObject({ state: "completed", summary: "Renamed.", sessionId: "s1" });
        expect(done.sessionId).toBe("s1");
    });

    test("a follow-up joins the conversation; a new session or a run started elsewhere replaces it", () => {
        let s = apply(
            initialState("m"),
            { type: "requested", key: "k1", instruction: "one", newSession: true },
            { type: "answered", key: "k1", runId: "r1", sessionId: "s1", result: { runId: "r1", status: "completed", summary: "ok", changedFiles: [], turns: 1, sessionId: "s1" } },
            { type: "requested", key: "k2", instruction: "two", newSession: false },
        );
        expect(s.runs.map((r) => r.instruction)).toEqual(["one", "two"]);
        // The follow-up's started event names it before its answer arrives.
        s = apply(s, t({ runId: "r2", kind: "started", text: "two" }), t({ runId: "r2", kind: "content", text: "hi" }));
        expect(s.runs[1]).toMatchObject({ runId: "r2", state: "running" });
        s = apply(s, t({ runId: "r2", kind: "finished", status: "completed", text: "ok" }));
        s = apply(s, t({ runId: "q9", kind: "started", text: "a.py:3: TODO add" }));
        expect(s.runs.map((r) => r.runId)).toEqual(["q9"]);
        expect(s.sessionId).toBeUndefined();
        expect(apply(s, { type: "newSession" }).runs).toEqual([]);
    });

    test("stale events of a run the panel no longer shows change nothing", () => {
        const s = initialState("m");
        expect(reduce(s, t({ runId: "zz", kind: "content", text: "x" }))).toBe(s);
    });

    test("a command's card shows its exit and running time; an unanswered call fails when the run ends", () => {
        let s = apply(
            initialState("m"),
            t({ kind: "started", text: "x" }),
            t({ kind: "toolCall", name: "run_command", text: "run_command pytest -q", callId: "c2" }),
            t({ kind: "commandRunning", callId: "c2", command: "pytest -q", elapsedMs: 12000 }),
        );
        expect(s.runs[0]!.items[1]).toMatchObject({ target: "pytest -q", state: "running", elapsedMs: 12000 });
        s = apply(s, t({ kind: "toolResult", name: "run_command", callId: "c2", text: "$ pytest -q\n1 failed", ok: true, exitCode: 1, durationMs: 14000 }));
        expect(resultSummary(s.runs[0]!.items[1] as never)).toBe("exit 1 · $ pytest -q");
        s = apply(s, t({ kind: "toolCall", name: "read_file", text: "read_file a.py", callId: "c3" }), t({ kind: "finished", status: "cancelled" }));
        expect(s.runs[0]!.items[2]).toMatchObject({ state: "failed" });
        expect(s.runs[0]!.state).toBe("cancelled");
    });

    test("a request the server refused ends its entry with the reason", () => {
        const s = apply(
            initialState("m"),
            { type: "requested", key: "k1", instruction: "x", newSession: true },
            { type: "requestFailed", key: "k1", message: "The selection is too large." },
        );
        expect(s.runs[0]).toMatchObject({ state: "failed" });
        expect(s.runs[0]!.items.at(-1)).toEqual({ type: "notice", level: "error", text: "The selection is too large." });
        expect(isRunning(s)).toBe(false);
    });

    test("a review-mode run keeps how its review ended; anything else is not taken for one", () => {
        const result = { runId: "r1", status: "completed" as const, summary: "ok", changedFiles: [], turns: 1 };
        const requested: Action = { type: "requested", key: "k1", instruction: "x", newSession: true };
        const answered = (review: unknown): Action => ({ type: "answered", key: "k1", runId: "r1", result: { ...result, review } as never });
        expect(apply(initialState("m"), requested, answered("partial")).runs[0]!.review).toBe("partial");
        expect(apply(initialState("m"), requested, answered("discarded")).runs[0]!.review).toBe("discarded");
        expect(apply(initialState("m"), requested, answered("maybe")).runs[0]!.review).toBeUndefined();
        expect(apply(initialState("m"), requested, answered(undefined)).runs[0]!.review).toBeUndefined();
    });
});

describe("approvals in the panel", () => {
    const request = { runId: "r1", sessionId: "s1", command: "rm -rf build", cwd: "/ws", destructive: true, reason: "deletes files", timeoutSeconds: 120 };

    test("a card on its run until answered", () => {
        let s = apply(initialState("m"), t({ kind: "started", text: "x" }), { type: "approval", id: "a1", request, deadline: 5000 });
        expect(s.runs[0]!.items.at(-1)).toMatchObject({ type: "approval", id: "a1", command: "rm -rf build", deadline: 5000 });
        s = reduce(s, { type: "approvalAnswered", id: "a1", answer: "deny" });
        expect(s.runs[0]!.items.at(-1)).toMatchObject({ answer: "deny" });
        // An answer counts once.
        expect(reduce(s, { type: "approvalAnswered", id: "a1", answer: "allow" }).runs[0]!.items.at(-1)).toMatchObject({ answer: "deny" });
    });

    test("Deny comes first (the focused default) for destructive and sandbox-escaping commands", () => {
        expect(approvalChoices({ destructive: true })).toEqual(["deny", "allow", "allowSession"]);
        expect(approvalChoices({ destructive: false })).toEqual(["allow", "allowSession", "deny"]);
        expect(approvalChoices({ destructive: false, outsideSandbox: true })).toEqual(["deny", "allowOutsideSandbox"]);
    });
});

describe("a stored session", () => {
    test("becomes runs at the user messages that hold their instructions", () => {
        const view = fromSession({
            sessionId: "s1",
            title: "rename",
            model: "qwen3:8b",
            messages: [
                { role: "user", text: "rename b\n\nSelected lines 2-2 of calc.py:\n```\nb = 2\n```" },
                { role: "assistant", text: "", thinking: "hm", toolCalls: [{ name: "edit_file", arguments: { path: "calc.py" }, callId: "c1" }] },
                { role: "tool", text: "Edited calc.py.", toolName: "edit_file", callId: "c1" },
                { role: "user", text: "The edits were applied; the file now reads ..." },
                { role: "assistant", text: "Renamed." },
                { role: "user", text: "explain" },
                { role: "assistant", text: "It is a number." },
            ],
            runs: [
                { runId: "r1", instruction: "rename b", status: "completed", summary: "Renamed." },
                { runId: "r2", instruction: "explain", status: "completed", summary: "It is a number." },
            ],
        });
        expect(view.runs.map((r) => [r.runId, r.instruction])).toEqual([["r1", "rename b"], ["r2", "explain"]]);
        expect(view.runs[0]!.items.map((i) => i.type)).toEqual(["user", "thinking", "tool", "notice", "content"]);
        expect(view.runs[0]!.items[2]).toMatchObject({ name: "edit_file", target: "calc.py", result: "Edited calc.py." });
        const loaded = reduce(initialState("m"), { type: "loadSession", session: { sessionId: "s1", messages: [], runs: [] } });
        expect(loaded.model).toBe("m"); // a session without a model keeps the one shown
    });
});

describe("messages from the page", () => {
    test("are checked field by field", () => {
        expect(parseWebviewMessage({ type: "send", text: "  hi  " })).toEqual({ type: "send", text: "hi" });
        expect(parseWebviewMessage({ type: "send", text: "   " })).toBeUndefined();
        expect(parseWebviewMessage({ type: "approve", id: "a1", decision: "allowSession" })).toEqual({ type: "approve", id: "a1", decision: "allowSession" });
        expect(parseWebviewMessage({ type: "approve", id: "a1", decision: "yes" })).toBeUndefined();
        expect(parseWebviewMessage({ type: "openDiff", run: 0, item: "1" })).toBeUndefined();
        expect(parseWebviewMessage({ type: "exec", command: "rm" })).toBeUndefined();
        expect(parseWebviewMessage({ type: "review", runId: "r1" })).toEqual({ type: "review", runId: "r1" });
        expect(parseWebviewMessage({ type: "review", runId: 3 })).toBeUndefined();
        expect(parseWebviewMessage(null)).toBeUndefined();
    });
});

describe("markdown from the model", () => {
    test("HTML in the text stays text, in paragraphs, code spans, code blocks and link texts", () => {
        const html = renderMarkdown(
            '<img src=x onerror=alert(1)> **<b>bold</b>** `<script>` [<i>x</i>](https://e.org/?a=1&b="2")\n\n```html\n<script>alert(1)</script>\n```',
        );
        expect(html).not.toMatch(/<(img|script|b|i)[\s>]/);
        expect(html).toContain("&#60;img src=x onerror=alert(1)&#62;");
        expect(html).toContain("<code>&#60;script&#62;</code>");
        // A URL with a quote in it is not made a link (it could leave the attribute).
        expect(html).not.toContain("<a ");
    });

    test("only http(s) links become links", () => {
        expect(renderMarkdown("[docs](https://ollama.com/library)")).toBe('<p><a href="https://ollama.com/library">docs</a></p>');
        expect(renderMarkdown("[x](javascript:alert(1))")).not.toContain("<a ");
    });

    test("headings, lists, paragraphs and an unclosed fence while a reply streams", () => {
        expect(renderMarkdown("# Plan\n- one\n- two\n\nText *here*.")).toBe(
            "<h3>Plan</h3><ul><li>one</li><li>two</li></ul><p>Text <em>here</em>.</p>",
        );
        expect(renderMarkdown("```python\nx = 1")).toBe('<pre><code class="lang-python">x = <span class="hl-num">1</span></code></pre>');
    });

    test("code is highlighted by token, and escaped", () => {
        expect(highlight('def f(): return "<a>" # hi', "python")).toBe(
            '<span class="hl-kw">def</span> f(): <span class="hl-kw">return</span> <span class="hl-str">&#34;&#60;a&#62;&#34;</span> <span class="hl-com"># hi</span>',
        );
        // `#` is not a comment in JavaScript.
        expect(highlight("a.b#c", "js")).toBe("a.b#c");
        expect(escapeHtml(`<&>"'`)).toBe("&#60;&#38;&#62;&#34;&#39;");
        expect(renderDiff("@@ -1 +1 @@\n-<a>\n+b")).toBe(
            '<span class="diff-hunk">@@ -1 +1 @@</span>\n<span class="diff-del">-&#60;a&#62;</span>\n<span class="diff-add">+b</span>',
        );
    });
});

describe("open diff", () => {
    const diff = "--- a/calc.py\n+++ b/calc.py\n@@ -1,3 +1,3 @@\n a = 1\n-b = 2\n+beta = 2\n print(a)\n";

    test("rebuilds the file before the call from its diff and the file now", () => {
        expect(textBefore("a = 1\nbeta = 2\nprint(a)\n", diff, "calc.py")).toBe("a = 1\nb = 2\nprint(a)\n");
    });

    test("gives up when the file no longer matches the diff", () => {
        expect(textBefore("a = 1\nbeta = 3\nprint(a)\n", diff, "calc.py")).toBeUndefined();
        expect(textBefore("x", "", "calc.py")).toBeUndefined();
    });
});

// The chat page itself (src/webview/main.ts) run on a stand-in DOM (fakeDom.ts): what it shows, what the
// keyboard does, what it sends to the extension, and what it restores when re-created.
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import type { TranscriptParams } from "../../src/lsp_ext";
import { initialState, reduce, type Action, type ChatState, type HostMessage } from "../../src/panel/state";
import { restoreUi } from "../../src/webview/ui_state";
import { FakeDocument, FakeDomEvent, FakeElement, FakeWindow, tabOrder } from "./fakeDom";

const t = (event: Partial<TranscriptParams> & { kind: string }): Action => ({
    type: "transcript",
    event: { runId: "r1", text: "", ...event } as TranscriptParams,
});

const editDiff = "--- a/calc.py\n+++ b/calc.py\n@@ -2 +2 @@\n-b = 2\n+beta = 2\n";

/** A run with thinking, an answer, an edit_file card with its diff and a failed run_command card. */
function runState(...more: Action[]): ChatState {
    const actions: Action[] = [
        { type: "requested", key: "k1", instruction: "rename b", newSession: true },
        t({ kind: "started", text: "calc.py:2-2: rename b", model: "qwen3:8b" }),
        t({ kind: "thinking", text: "The variable b is used twice.", turn: 1 }),
        t({ kind: "content", text: "I'll rename it.", turn: 1 }),
        t({ kind: "toolCall", name: "edit_file", text: "edit_file calc.py", callId: "c1", turn: 1 }),
        t({ kind: "toolResult", name: "edit_file", text: "Edited calc.py.", ok: true, callId: "c1", diff: editDiff }),
        t({ kind: "toolCall", name: "run_command", text: "run_command pytest -q", callId: "c2", turn: 2 }),
        t({ kind: "toolResult", name: "run_command", text: "2 failed, 3 passed\nFAILED test_calc.py::test_b", ok: false, callId: "c2", exitCode: 1 }),
        ...more,
    ];
    return actions.reduce(reduce, initialState("qwen3:8b"));
}

const finished = t({ kind: "finished", status: "completed", text: "Renamed.", changedFiles: ["file:///ws/calc.py"] });

function approval(destructive: boolean): Action {
    const request = { runId: "r1", sessionId: "s1", command: destructive ? "rm -rf build" : "pytest -q", cwd: "/ws", destructive, reason: "", timeoutSeconds: 120 };
    return { type: "approval", id: "a1", request, deadline: Date.now() + 120_000 };
}

interface Page {
    document: FakeDocument;
    posted: any[];
    saved: () => any;
    host(message: HostMessage): void;
    showState(state: ChatState): void;
    one(selector: string): FakeElement;
    key(target: FakeElement, key: string, init?: { shiftKey?: boolean; isComposing?: boolean }): FakeDomEvent;
}

/** Load the page script as the webview does, with `saved` as what vscode.getState() returns. */
async function openPage(saved?: unknown): Promise<Page> {
    const document = new FakeDocument();
    const app = document.createElement("div");
    app.id = "app";
    document.body.append(app);
    const window = new FakeWindow();
    const posted: any[] = [];
    let stored = saved;
    vi.stubGlobal("document", document);
    vi.stubGlobal("window", window);
    vi.stubGlobal("acquireVsCodeApi", () => ({
        postMessage: (m: unknown) => posted.push(m),
        getState: () => stored,
        setState: (s: unknown) => (stored = structuredClone(s)),
    }));
    vi.resetModules();
    await import("../../src/webview/main.js");
    const host = (message: HostMessage) => void window.dispatchEvent(new FakeDomEvent("message", { data: message }));
    return {
        document,
        posted,
        saved: () => stored,
        host,
        showState: (state) => host({ type: "state", state, now: Date.now() }),
        one(selector) {
            const found = document.querySelectorAll(selector);
            expect(found, selector).toHaveLength(1);
            return found[0]!;
        },
        key(target, key, init = {}) {
            const event = new FakeDomEvent("keydown", { bubbles: true, key, ...init });
            target.dispatchEvent(event);
            return event;
        },
    };
}

beforeEach(() => {
    vi.useFakeTimers(); // the page's approval countdown ticks on setInterval
});

afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
});

describe("the conversation", () => {
    test("thinking is collapsed until opened; it stays open through updates and a re-created page", async () => {
        const page = await openPage();
        expect(page.posted).toEqual([{ type: "ready" }]);
        page.showState(runState());
        const thinking = page.one("details.thinking");
        expect(thinking.hasAttribute("open")).toBe(false);
        expect(thinking.querySelector("summary")!.textContent).toBe("Thinking");
        expect(thinking.textContent).toContain("The variable b is used twice.");
        // The answer itself is not hidden.
        expect(page.one(".msg.md").textContent).toContain("I'll rename it.");

        thinking.querySelector("summary")!.click();
        expect(thinking.hasAttribute("open")).toBe(true);
        page.host({ type: "action", action: t({ kind: "content", text: "Now the tests.", turn: 2 }), now: Date.now() });
        page.showState(runState()); // the host resends the whole state: everything is drawn anew
        expect(page.one("details.thinking").hasAttribute("open")).toBe(true);

        const again = await openPage(page.saved());
        again.showState(runState());
        expect(again.one("details.thinking").hasAttribute("open")).toBe(true);
    });

    test("a tool card: name, target and result on one line, the output when expanded", async () => {
        const page = await openPage();
        page.showState(runState());
        const cards = page.document.querySelectorAll(".card.tool");
        expect(cards.map((c) => c.querySelector(".tool-name")!.textContent)).toEqual(["edit_file", "run_command"]);
        const command = cards[1]!;
        expect(command.classList.contains("failed")).toBe(true);
        expect(command.querySelector(".tool-target")!.textContent).toBe("pytest -q");
        expect(command.querySelector(".tool-result")!.textContent).toBe("exit 1 · 2 failed, 3 passed");
        const details = command.querySelector("details.tool-details")!;
        const output = details.querySelector("pre.output")!;
        expect(output.textContent).toBe("2 failed, 3 passed\nFAILED test_calc.py::test_b");
        expect(details.hasAttribute("open")).toBe(false);
        expect(tabOrder(page.document.body)).not.toContain(output);

        details.querySelector("summary")!.click();
        expect(details.hasAttribute("open")).toBe(true);
        expect(page.saved().open).toEqual(["r1:4"]);
    });

    test("an edit shows its diff without expanding, and Open diff asks the extension for the diff editor", async () => {
        const page = await openPage();
        page.showState(runState());
        const edit = page.document.querySelectorAll(".card.tool")[0]!;
        // The diff is outside the collapsed details: visible at once.
        const diff = edit.querySelector("pre.diff")!;
        expect(diff.closest("details")).toBeNull();
        expect(diff.textContent).toContain("+beta = 2");
        const open = edit.querySelectorAll("button").find((b) => b.textContent === "Open diff")!;
        expect(open).toBeDefined();
        open.click();
        expect(page.posted.at(-1)).toEqual({ type: "openDiff", run: 0, item: 3 });
    });

    test("the end of a run offers its files, Review changes and Undo this run", async () => {
        const page = await openPage();
        page.showState(runState(finished, { type: "answered", key: "k1", runId: "r1", sessionId: "s1" }));
        const end = page.one(".run-end");
        expect(end.querySelector(".run-status")!.textContent).toBe("Done");
        const buttons = end.querySelectorAll("button");
        expect(buttons.map((b) => b.textContent)).toEqual(["calc.py", "Review changes", "Undo this run"]);
        for (const b of buttons) b.click();
        expect(page.posted.slice(-3)).toEqual([
            { type: "openFile", path: "file:///ws/calc.py" },
            { type: "review", runId: "r1" },
            { type: "undo", runId: "r1" },
        ]);
    });
    test("a review-mode run's end says how the review went", async () => {
        const page = await openPage();
        const result = { runId: "r1", status: "completed" as const, summary: "Renamed.\n\nReview: partial; applied calc.py, left out util.py.", changedFiles: ["file:///ws/calc.py"], turns: 2 };
        page.showState(runState({ type: "runFinished", result: { ...result, review: "partial" } }));
        expect(page.one(".run-end").textContent).toBe("Done · review: only the ticked changes applied" + "calc.pyReview changesUndo this run");
        page.showState(runState({ type: "runFinished", result: { ...result, changedFiles: [], review: "discarded" } }));
        expect(page.one(".run-end").textContent).toBe("Done · review: discarded, nothing applied");
        page.showState(runState({ type: "runFinished", result }));
        expect(page.one(".run-end").textContent).toBe("Done" + "calc.pyReview changesUndo this run");
    });
});

describe("the keyboard", () => {
    test("Enter sends the message; Shift+Enter is left to the text box, which adds a new line", async () => {
        const page = await openPage();
        page.showState(runState(finished));
        const input = page.one("textarea");
        input.value = "first line";
        const newline = page.key(input, "Enter", { shiftKey: true });
        expect(newline.defaultPrevented).toBe(false);
        const composing = page.key(input, "Enter", { isComposing: true });
        expect(composing.defaultPrevented).toBe(false);
        expect(page.posted.filter((m) => m.type === "send")).toEqual([]);

        input.value = "first line\nsecond line";
        const enter = page.key(input, "Enter");
        expect(enter.defaultPrevented).toBe(true);
        expect(page.posted.at(-1)).toEqual({ type: "send", text: "first line\nsecond line" });
        expect(input.value).toBe("");
    });

    test("while a run goes on, Enter sends nothing and Escape cancels the run", async () => {
        const page = await openPage();
        page.showState(runState());
        const input = page.one("textarea");
        input.value = "and the tests";
        page.key(input, "Enter");
        expect(page.posted.filter((m) => m.type === "send")).toEqual([]);
        expect(input.value).toBe("and the tests");
        expect(page.one("button.danger").hasAttribute("hidden")).toBe(false);
        page.key(input, "Escape");
        expect(page.posted.at(-1)).toEqual({ type: "cancel" });
    });

    test("a destructive command's approval: real buttons, Deny first with the focus, Tab goes on in order", async () => {
        const page = await openPage();
        page.showState(runState());
        page.host({ type: "action", action: approval(true), now: Date.now() });
        const card = page.one(".card.approval");
        expect(card.getAttribute("role")).toBe("alertdialog");
        const order = tabOrder(page.document.body);
        const inCard = order.filter((e) => card.descendants().includes(e));
        expect(inCard.map((b) => [b.tagName, b.getAttribute("type"), b.textContent])).toEqual([
            ["BUTTON", "button", "Deny"],
            ["BUTTON", "button", "Allow once"],
            ["BUTTON", "button", "Allow for this session"],
        ]);
        // Consecutive in the page's Tab order, and nothing reorders it with a positive tabindex.
        const first = order.indexOf(inCard[0]!);
        expect(order.slice(first, first + 3)).toEqual(inCard);
        expect(page.document.body.descendants().filter((e) => Number(e.getAttribute("tabindex")) > 0)).toEqual([]);
        expect(page.document.activeElement).toBe(inCard[0]);
        expect(card.querySelector(".countdown")!.textContent).toBe("answer within 2:00");
        vi.advanceTimersByTime(1000);
        expect(card.querySelector(".countdown")!.textContent).toBe("answer within 1:59");

        inCard[0]!.click();
        expect(page.posted.at(-1)).toEqual({ type: "approve", id: "a1", decision: "deny" });
    });

    test("an ordinary command's approval has Allow once first, with the focus", async () => {
        const page = await openPage();
        page.showState(runState());
        page.host({ type: "action", action: approval(false), now: Date.now() });
        const card = page.one(".card.approval");
        const inCard = tabOrder(card);
        expect(inCard.map((b) => b.textContent)).toEqual(["Allow once", "Allow for this session", "Deny"]);
        expect(page.document.activeElement).toBe(inCard[0]);
        inCard[1]!.click();
        expect(page.posted.at(-1)).toEqual({ type: "approve", id: "a1", decision: "allowSession" });
    });
});

describe("state kept when hidden", () => {
    test("the draft is saved as it is typed and is back in the box of a re-created page", async () => {
        const page = await openPage();
        const input = page.one("textarea");
        input.value = "half a thought";
        input.dispatchEvent(new FakeDomEvent("input", { bubbles: true }));
        expect(page.saved()).toEqual({ open: [], draft: "half a thought" });
        const again = await openPage(page.saved());
        expect(again.one("textarea").value).toBe("half a thought");
    });

    test("restoreUi keeps what a page saved and drops what does not fit", () => {
        expect(restoreUi({ open: ["r1:1", "closed:r1:4"], draft: "x" })).toEqual({ open: ["r1:1", "closed:r1:4"], draft: "x" });
        expect(restoreUi(undefined)).toEqual({ open: [], draft: "" });
        expect(restoreUi("garbage")).toEqual({ open: [], draft: "" });
        expect(restoreUi({ open: ["r1:1", 7, null], draft: 3 })).toEqual({ open: ["r1:1"], draft: "" });
        expect(restoreUi({ open: "r1:1" })).toEqual({ open: [], draft: "" });
    });

    test("a page given garbage as its saved state still starts, empty", async () => {
        const page = await openPage({ open: 5, draft: { no: 1 } });
        expect(page.one("textarea").value).toBe("");
        expect(page.posted).toEqual([{ type: "ready" }]);
    });
});

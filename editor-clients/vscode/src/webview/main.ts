// The chat panel's page script (bundled to dist/webview.js, runs in the webview). It keeps a copy of the
// host's state, applies the same actions with the same reducer, and renders it. Model output only ever
// reaches the page as text nodes or through renderMarkdown/renderDiff, which escape everything.
import { renderDiff, renderMarkdown } from "../panel/markdown";
import {
    approvalChoices,
    approvalLabel,
    initialState,
    isRunning,
    reduce,
    resultSummary,
    type ApprovalCard,
    type ChatState,
    type HostMessage,
    type Item,
    type RunView,
    type ToolCard,
    type WebviewMessage,
} from "../panel/state";
import { restoreUi, type UiState } from "./ui_state";

interface VsCodeApi {
    postMessage(message: WebviewMessage): void;
    getState(): unknown;
    setState(state: UiState): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
// A page re-created (moved, or its view disposed while hidden) opens what was open and keeps the draft.
const saved = restoreUi(vscode.getState());
const open = new Set<string>(saved.open);
let state: ChatState = initialState("");
/** Host clock minus ours, for approval countdowns. */
let clockSkew = 0;
let showSessions = false;

function saveUi(): void {
    vscode.setState({ open: [...open], draft: input.value });
}

function el<K extends keyof HTMLElementTagNameMap>(
    tag: K,
    props: { class?: string; text?: string; title?: string; attrs?: Record<string, string> } = {},
    ...children: (Node | undefined)[]
): HTMLElementTagNameMap[K] {
    const node = document.createElement(tag);
    if (props.class) node.className = props.class;
    if (props.text !== undefined) node.textContent = props.text;
    if (props.title) node.title = props.title;
    for (const [k, v] of Object.entries(props.attrs ?? {})) node.setAttribute(k, v);
    for (const child of children) if (child) node.append(child);
    return node;
}

function button(label: string, onClick: () => void, cls = "", title?: string): HTMLButtonElement {
    const b = el("button", { class: cls, text: label, title, attrs: { type: "button" } });
    b.addEventListener("click", onClick);
    return b;
}

function html(tag: "div" | "pre", cls: string, markup: string): HTMLElement {
    const node = el(tag, { class: cls });
    node.innerHTML = markup; // only renderMarkdown/renderDiff output, which escapes all text
    return node;
}

/** A <details> whose open state survives re-renders and reloads. */
function details(key: string, cls: string, summary: Node[], body: Node[], openByDefault = false): HTMLDetailsElement {
    const d = el("details", { class: cls });
    d.open = open.has(key) || (openByDefault && !open.has(`closed:${key}`));
    d.addEventListener("toggle", () => {
        if (d.open) {
            open.add(key);
            open.delete(`closed:${key}`);
        } else {
            open.delete(key);
            if (openByDefault) open.add(`closed:${key}`);
        }
        saveUi();
    });
    d.append(el("summary", {}, ...summary), ...body);
    return d;
}

// --- the page's fixed parts ----------------------------------------------------------------------

const app = document.getElementById("app")!;
const title = el("span", { class: "title" });
const modelButton = button("", () => vscode.postMessage({ type: "pickModel" }), "model", "Switch the model");
const historyButton = button("History", () => {
    showSessions = !showSessions;
    if (showSessions) vscode.postMessage({ type: "listSessions" });
    renderSessions();
}, "secondary", "Past conversations");
const newButton = button("New", () => vscode.postMessage({ type: "newSession" }), "secondary", "Start a new conversation");
const header = el("header", {}, title, el("span", { class: "spacer" }), modelButton, historyButton, newButton);
const sessionsBox = el("nav", { class: "sessions", attrs: { "aria-label": "Past conversations" } });
const log = el("div", { class: "conversation", attrs: { role: "log", "aria-live": "polite" } });
const status = el("span", { class: "status" });
const cancelButton = button("Cancel", () => vscode.postMessage({ type: "cancel" }), "danger", "Cancel the run (Escape)");
const input = el("textarea", {
    attrs: { rows: "3", placeholder: "Ask the agent… (Enter to send, Shift+Enter for a new line)", "aria-label": "Message to the agent" },
});
const sendButton = button("Send", () => send(), "", "Send (Enter)");
const footer = el(
    "footer",
    {},
    el("div", { class: "runbar" }, status, cancelButton),
    el("div", { class: "compose" }, input, sendButton),
);
app.append(header, sessionsBox, log, footer);
input.value = saved.draft;

function send(): void {
    const text = input.value.trim();
    if (!text || isRunning(state)) return;
    vscode.postMessage({ type: "send", text });
    input.value = "";
    saveUi();
}

input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        send();
    }
});
input.addEventListener("input", saveUi);
document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && isRunning(state)) {
        vscode.postMessage({ type: "cancel" });
    }
});

// --- items ---------------------------------------------------------------------------------------

function diffBlock(diff: string | undefined, omitted: number | undefined, run: number, item: number): Node[] {
    if (!diff) return [];
    const nodes: Node[] = [html("pre", "diff", renderDiff(diff))];
    if (omitted) nodes.push(el("div", { class: "muted", text: `… ${omitted} more diff lines` }));
    nodes.push(button("Open diff", () => vscode.postMessage({ type: "openDiff", run, item }), "link"));
    return nodes;
}

function toolCard(card: ToolCard, key: string, run: number, item: number): HTMLElement {
    const icon = card.state === "running" ? "⟳" : card.state === "ok" ? "✓" : "✗";
    const body: Node[] = [];
    if (card.result) body.push(el("pre", { class: "output", text: card.result }));
    if (card.outputTail && card.outputTail !== card.result) body.push(el("pre", { class: "output", text: card.outputTail }));
    if (typeof card.durationMs === "number") {
        body.push(el("div", { class: "muted", text: `${(card.durationMs / 1000).toFixed(1)} s` }));
    }
    const summary = [
        el("span", { class: `icon ${card.state}`, text: icon }),
        el("span", { class: "tool-name", text: card.name }),
        el("span", { class: "tool-target", text: card.target }),
        el("span", {
            class: "tool-result",
            text: card.state === "running" && card.elapsedMs ? `running ${Math.round(card.elapsedMs / 1000)} s` : resultSummary(card),
        }),
    ];
    const box = el("div", { class: `card tool ${card.state}` });
    box.append(details(key, "tool-details", summary, body));
    // An edit's diff is shown without expanding: it is what the call did.
    for (const node of diffBlock(card.diff, card.omittedLines, run, item)) box.append(node);
    return box;
}

function countdown(deadline: number): string {
    const left = Math.max(0, Math.round((deadline - (Date.now() + clockSkew)) / 1000));
    return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
}

const answerText: Record<string, string> = {
    allow: "Allowed once.",
    allowSession: "Allowed for this session.",
    deny: "Denied: the command was not run.",
    allowOutsideSandbox: "Run outside the sandbox, once.",
    expired: "Not answered in time: the command was not run.",
};

function approvalCard(card: ApprovalCard): HTMLElement {
    const heading = card.outsideSandbox
        ? "The sandbox blocked this command. Run it outside the sandbox?"
        : card.destructive
          ? "The agent wants to run a DESTRUCTIVE command"
          : "The agent wants to run a command";
    const box = el(
        "div",
        {
            class: `card approval${card.destructive || card.outsideSandbox ? " destructive" : ""}${card.answer ? " answered" : ""}`,
            attrs: { role: card.answer ? "group" : "alertdialog", "aria-label": heading },
        },
        el("div", { class: "approval-title", text: heading }),
        el("pre", { class: "command", text: card.command }),
        el("div", { class: "muted", text: `in ${card.cwd}` }),
        card.reason ? el("div", { class: "reason", text: card.reason }) : undefined,
    );
    if (card.answer) {
        box.append(el("div", { class: "answer", text: answerText[card.answer] ?? card.answer }));
        return box;
    }
    const choices = approvalChoices(card);
    const buttons = el("div", { class: "buttons" });
    choices.forEach((decision, i) => {
        const b = button(
            approvalLabel(decision),
            () => vscode.postMessage({ type: "approve", id: card.id, decision }),
            i === 0 ? "" : "secondary",
        );
        b.dataset.decision = decision;
        if (i === 0) b.dataset.default = "true";
        buttons.append(b);
    });
    const timer = el("span", { class: "countdown", attrs: { "data-deadline": String(card.deadline) } });
    timer.textContent = `answer within ${countdown(card.deadline)}`;
    box.append(buttons, timer);
    return box;
}

function renderItem(item: Item, key: string, run: number, index: number): HTMLElement {
    switch (item.type) {
        case "user":
            return el("div", { class: "msg user", text: item.text });
        case "thinking":
            return details(key, "thinking", [el("span", { text: "Thinking" })], [html("div", "md muted", renderMarkdown(item.text))]);
        case "content":
            return html("div", "msg md", renderMarkdown(item.text));
        case "tool":
            return toolCard(item, key, run, index);
        case "edit":
            return el(
                "div",
                { class: "card edit" },
                el("div", {}, el("span", { class: "tool-name", text: item.change }), el("span", { class: "tool-target", text: item.path })),
                ...diffBlock(item.diff, item.omittedLines, run, index),
            );
        case "notice":
            return el("div", { class: `notice ${item.level}`, text: item.text });
        case "approval":
            return approvalCard(item);
    }
}

const statusText: Record<string, string> = {
    completed: "Done",
    failed: "Failed",
    cancelled: "Cancelled",
    max_turns: "Stopped: too many turns",
};

/** How a review-mode run's review ended, as the person did it in the Refactor Preview. */
const reviewText: Record<string, string> = {
    applied: "review: all the changes applied",
    partial: "review: only the ticked changes applied",
    discarded: "review: discarded, nothing applied",
};

function runEnd(run: RunView): HTMLElement | undefined {
    if (run.state === "requested" || run.state === "running") return undefined;
    const files = run.changedFiles ?? [];
    const box = el(
        "div",
        { class: `run-end ${run.state}` },
        el("span", { class: "run-status", text: statusText[run.state] ?? run.state }),
        run.review ? el("span", { class: `review ${run.review}`, text: ` · ${reviewText[run.review]}` }) : undefined,
        run.tokensPerSecond ? el("span", { class: "muted", text: ` · ${run.tokensPerSecond.toFixed(1)} tok/s` }) : undefined,
    );
    if (files.length) {
        const list = el("div", { class: "files" });
        for (const file of files) {
            const name = decodeURIComponent(file.replace(/^file:\/\/[^/]*/, "")).split("/").pop() ?? file;
            list.append(button(name, () => vscode.postMessage({ type: "openFile", path: file }), "link", file));
        }
        box.append(list);
        if (run.runId) {
            const id = run.runId;
            box.append(
                button("Review changes", () => vscode.postMessage({ type: "review", runId: id }), "secondary"),
                button("Undo this run", () => vscode.postMessage({ type: "undo", runId: id }), "secondary"),
            );
        }
    }
    return box;
}

// --- rendering, item by item (the reducer replaces only what changed) -------------------------------

interface RunDom {
    run: RunView;
    box: HTMLElement;
    items: { item: Item; node: HTMLElement }[];
    end?: HTMLElement;
}
let runDoms: RunDom[] = [];

function renderRuns(): void {
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
    if (state.runs.length < runDoms.length || state.runs.some((r, i) => runDoms[i] && runDoms[i]!.run.key !== r.key && runDoms[i]!.run.runId !== r.runId)) {
        runDoms = [];
        log.replaceChildren();
    }
    if (!state.runs.length) {
        log.replaceChildren(
            el("div", { class: "empty", text: "Ask the agent anything below, or select code and run Ollama Agent: Run on Selection." }),
        );
        runDoms = [];
    } else if (log.querySelector(".empty")) {
        log.replaceChildren();
    }
    state.runs.forEach((run, r) => {
        let dom = runDoms[r];
        if (!dom) {
            dom = { run, box: el("section", { class: "run", attrs: { "aria-label": `Run ${r + 1}` } }), items: [] };
            runDoms[r] = dom;
            log.append(dom.box);
        }
        if (dom.run === run && dom.items.length === run.items.length) return;
        run.items.forEach((item, i) => {
            const have = dom!.items[i];
            if (have?.item === item) return;
            const node = renderItem(item, `${run.runId ?? run.key}:${i}`, r, i);
            if (have) {
                have.node.replaceWith(node);
            } else {
                dom!.end ? dom!.box.insertBefore(node, dom!.end) : dom!.box.append(node);
            }
            dom!.items[i] = { item, node };
            if (item.type === "approval" && !item.answer) {
                node.querySelector<HTMLButtonElement>("button[data-default]")?.focus();
            }
        });
        const end = runEnd(run);
        if (dom.end) dom.end.remove();
        dom.end = end;
        if (end) dom.box.append(end);
        dom.run = run;
    });
    if (nearBottom) log.scrollTop = log.scrollHeight;
}

function renderSessions(): void {
    sessionsBox.hidden = !showSessions;
    historyButton.setAttribute("aria-expanded", String(showSessions));
    if (!showSessions) return;
    const list = el("ul");
    for (const s of state.sessions) {
        const when = s.updatedAt ? new Date(s.updatedAt).toLocaleString() : "";
        const item = button(s.title || s.sessionId, () => {
            showSessions = false;
            renderSessions();
            vscode.postMessage({ type: "openSession", sessionId: s.sessionId });
        }, `session${s.sessionId === state.sessionId ? " current" : ""}`);
        item.append(el("span", { class: "muted", text: ` ${s.model} · ${s.runs} run${s.runs === 1 ? "" : "s"} · ${when}` }));
        list.append(el("li", {}, item));
    }
    sessionsBox.replaceChildren(state.sessions.length ? list : el("div", { class: "muted", text: "No past conversations." }));
}

function render(): void {
    const running = isRunning(state);
    title.textContent = state.title || (state.runs.length ? state.runs[0]!.instruction : "New conversation");
    modelButton.textContent = `${state.model || "model"} ▾`;
    cancelButton.hidden = !running;
    sendButton.disabled = running;
    const last = state.runs.at(-1);
    status.textContent = running ? `The agent is working (${last?.items.filter((i) => i.type === "tool").length ?? 0} tool calls so far)…` : "";
    input.placeholder = state.sessionId
        ? "Reply to the agent… (Enter to send, Shift+Enter for a new line)"
        : "Ask the agent… (Enter starts a new conversation)";
    renderRuns();
    renderSessions();
}

window.addEventListener("message", (event: MessageEvent<HostMessage>) => {
    const message = event.data;
    if (!message || typeof message !== "object") return;
    clockSkew = typeof message.now === "number" ? message.now - Date.now() : clockSkew;
    if (message.type === "state") {
        state = message.state;
        runDoms = [];
        log.replaceChildren();
    } else if (message.type === "action") {
        state = reduce(state, message.action);
    } else {
        return;
    }
    render();
});

setInterval(() => {
    for (const node of document.querySelectorAll<HTMLElement>(".countdown[data-deadline]")) {
        node.textContent = `answer within ${countdown(Number(node.dataset.deadline))}`;
    }
}, 1000);

render();
vscode.postMessage({ type: "ready" });

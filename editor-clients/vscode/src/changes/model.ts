// What the editor shows of the agent's changes, computed from the server's runChanges answers: the lines to
// decorate, the CodeLenses (Keep / Undo per hunk, Keep all / Undo all / Review per file), which hunks a file's
// Keep all or Undo all answers, and the file's text before the runs for the diff view. Pure (no `vscode`):
// the server says where each hunk is now; nothing here diffs texts.
import type { FileHunks, HunkParams, RunHunk } from "../lsp_ext";
import { commandIds as lensCommands } from "../ids";

/** A run whose changes are shown, with the latest runChanges answer. */
export interface TrackedRun {
    runId: string;
    /** The run's instruction, for hovers. */
    label?: string;
    files: FileHunks[];
}

export type DecorationKind = "added" | "changed" | "removed";

export interface LineDecoration {
    kind: DecorationKind;
    /** 0-based, inclusive. A removal marks the one line its text stood before (or after, when `below`). */
    startLine: number;
    endLine: number;
    /** A removal at the end of the file: the mark goes under the last line. */
    below: boolean;
    /** Markdown: what the agent did and the text it replaced. */
    hover: string;
}

export interface LensSpec {
    /** 0-based line the lens stands above. */
    line: number;
    title: string;
    tooltip?: string;
    /** Absent: a label that does nothing when clicked. */
    command?: string;
    args?: unknown[];
}

export interface FileView {
    decorations: LineDecoration[];
    lenses: LensSpec[];
}

/** The arguments of ollama-agent.keepFile, undoFile and reviewChanges. */
export interface FileArgs {
    uri: string;
    runId?: string;
}

interface Located {
    run: TrackedRun;
    hunk: RunHunk;
}

/** The hunks of `uri` in `runs` that are still waiting for an answer (pending or edited), oldest run first. */
function open(runs: readonly TrackedRun[], uri: string): Located[] {
    const out: Located[] = [];
    for (const run of runs) {
        for (const file of run.files) {
            if (file.uri !== uri) {
                continue;
            }
            for (const hunk of file.hunks) {
                if (hunk.state === "pending" || hunk.state === "edited") {
                    out.push({ run, hunk });
                }
            }
        }
    }
    return out;
}

/** The document lines a range covers, first and last (inclusive); undefined when it covers none. */
export function rangeLines(range: NonNullable<RunHunk["range"]>): { first: number; last: number } | undefined {
    const last = range.end.character > 0 ? range.end.line : range.end.line - 1;
    return last >= range.start.line ? { first: range.start.line, last } : undefined;
}

function lineCount(text: string): number {
    if (!text) {
        return 0;
    }
    const newlines = text.split("\n").length - 1;
    return text.endsWith("\n") ? newlines : newlines + 1;
}

function plural(n: number, word: string): string {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function kindOf(hunk: RunHunk): DecorationKind {
    if (!hunk.newText) {
        return "removed";
    }
    return hunk.oldText ? "changed" : "added";
}

/** Markdown with `text` in a fence longer than any run of backticks inside it. */
function fenced(text: string): string {
    const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
    const fence = "`".repeat(longest + 1);
    return `${fence}\n${text.replace(/\n$/, "")}\n${fence}`;
}

function hoverOf(run: TrackedRun, hunk: RunHunk, kind: DecorationKind): string {
    const label = run.label?.trim();
    const by = `**Ollama agent**${label ? ` (“${label.length > 60 ? `${label.slice(0, 59)}…` : label}”)` : ""}`;
    const what =
        kind === "added"
            ? `${by} added ${plural(lineCount(hunk.newText), "line")}.`
            : kind === "removed"
              ? `${by} removed ${plural(lineCount(hunk.oldText), "line")}:`
              : `${by} changed these lines. Before:`;
    const before = kind === "added" ? "" : `\n\n${fenced(hunk.oldText)}`;
    return `${what}${before}\n\nKeep or Undo it with the buttons above the change.`;
}

function hunkArgs(run: TrackedRun, uri: string, hunk: RunHunk): HunkParams {
    return { runId: run.runId, uri, hunkId: hunk.id };
}

/**
 * The decorations and lenses of document `uri` (`lines` long): a lens line over each pending hunk, one over each
 * hunk the person edited (Keep only: undoing it would lose their edit), and at the top the whole file's.
 * Kept and reverted hunks show nothing; a file with nothing open shows nothing.
 */
export function fileView(runs: readonly TrackedRun[], uri: string, lines: number): FileView {
    const hunks = open(runs, uri);
    if (!hunks.length) {
        return { decorations: [], lenses: [] };
    }
    const lastLine = Math.max(0, lines - 1);
    const decorations: LineDecoration[] = [];
    const hunkLenses: LensSpec[] = [];
    let pending = 0;
    let edited = 0;
    for (const { run, hunk } of hunks) {
        if (hunk.state === "edited") {
            edited++;
            if (hunk.range) {
                const line = Math.min(hunk.range.start.line, lastLine);
                const args = [hunkArgs(run, uri, hunk)];
                hunkLenses.push(
                    { line, title: "Agent change you edited since", tooltip: "Undo would lose your edit, so only Keep is offered." },
                    { line, title: "Keep", tooltip: "Keep this change and stop marking it", command: lensCommands.keepHunk, args },
                );
            }
            continue;
        }
        if (!hunk.range) {
            continue; // pending but nowhere to be found: the next runChanges answer will say more
        }
        pending++;
        const kind = kindOf(hunk);
        const span = rangeLines(hunk.range);
        const start = Math.min(hunk.range.start.line, lastLine);
        const below = !span && hunk.range.start.line > lastLine;
        decorations.push({
            kind,
            startLine: start,
            endLine: span ? Math.min(span.last, lastLine) : start,
            below,
            hover: hoverOf(run, hunk, kind),
        });
        const args = [hunkArgs(run, uri, hunk)];
        if (kind === "removed") {
            hunkLenses.push({ line: start, title: `Agent removed ${plural(lineCount(hunk.oldText), "line")}${below ? " at the end" : " here"}` });
        }
        hunkLenses.push(
            { line: start, title: "Keep", tooltip: "Keep this change and stop marking it", command: lensCommands.keepHunk, args },
            { line: start, title: "Undo", tooltip: "Put back the text from before the run", command: lensCommands.undoHunk, args },
        );
    }
    const file: FileArgs = { uri };
    const counts = [pending ? plural(pending, "change") : "", edited ? `${edited} edited by you` : ""].filter(Boolean);
    const fileLenses: LensSpec[] = [
        { line: 0, title: `Ollama agent: ${counts.join(", ")}` },
        {
            line: 0,
            title: "Keep all",
            tooltip: "Keep every change of the agent in this file",
            command: lensCommands.keepFile,
            args: [file],
        },
    ];
    if (pending) {
        fileLenses.push({
            line: 0,
            title: "Undo all",
            tooltip: "Put back the text from before the run wherever you did not edit it since",
            command: lensCommands.undoFile,
            args: [file],
        });
    }
    fileLenses.push({
        line: 0,
        title: "Review changes",
        tooltip: "The file before the agent's run against now",
        command: lensCommands.reviewChanges,
        args: [file],
    });
    // On the top line the hunk's lenses join the file's on one row: say which they are.
    const lenses = hunkLenses.map((l) =>
        l.line === 0 && (l.title === "Keep" || l.title === "Undo") ? { ...l, title: `${l.title} this change` } : l,
    );
    return { decorations, lenses: [...fileLenses, ...lenses] };
}

/**
 * The hunks that Keep all (pending and edited) or Undo all (pending only: an edited hunk is the person's now) of
 * `uri` answers, newest run first so each undo finds the text its run left.
 */
export function fileActions(runs: readonly TrackedRun[], uri: string, action: "keep" | "undo"): HunkParams[] {
    return open(runs, uri)
        .filter(({ hunk }) => action === "keep" || hunk.state === "pending")
        .reverse()
        .map(({ run, hunk }) => hunkArgs(run, uri, hunk));
}

/** The open hunk on `line` of `uri` (its lines, or the lens line of a removal), for the palette commands. */
export function hunkAt(runs: readonly TrackedRun[], uri: string, line: number): HunkParams | undefined {
    const found = open(runs, uri)
        .reverse()
        .find(({ hunk }) => {
            if (!hunk.range) {
                return false;
            }
            const span = rangeLines(hunk.range) ?? { first: hunk.range.start.line, last: hunk.range.start.line };
            return span.first <= line && line <= span.last;
        });
    return found && hunkArgs(found.run, uri, found.hunk);
}

/** The files of `runs` with open hunks, in the order they first appear. */
export function filesWithChanges(runs: readonly TrackedRun[]): string[] {
    const uris = runs.flatMap((run) => run.files.map((f) => f.uri));
    return [...new Set(uris)].filter((uri) => open(runs, uri).length > 0);
}

/** Whether any hunk of the run still waits for an answer (else it need not be tracked). */
export function hasOpenHunks(run: TrackedRun): boolean {
    return run.files.some((f) => open([run], f.uri).length > 0);
}

/** Offset of an LSP position (UTF-16 code units, as JS strings count) in `text`, clamped to its line. */
function offsetOf(text: string, starts: number[], position: { line: number; character: number }): number | undefined {
    const start = starts[position.line];
    if (start === undefined) {
        return position.line === starts.length && position.character === 0 ? text.length : undefined;
    }
    const next = starts[position.line + 1];
    const lineEnd = next === undefined ? text.length : next;
    return Math.min(start + position.character, lineEnd);
}

export interface TextBefore {
    text: string;
    /** Hunks whose text before could not be put back (edited since, or not where the server said). */
    missing: number;
}

/**
 * `current` (the document `uri` now) with the changes of `runs` taken back: every pending and kept hunk's new
 * text, at the range the server gave, replaced by its old text. Reverted hunks are back already; edited ones,
 * and any whose text is not where the server said, stay as they are and are counted in `missing`.
 */
export function textBeforeRuns(runs: readonly TrackedRun[], uri: string, current: string): TextBefore {
    const starts = [0];
    for (let i = current.indexOf("\n"); i >= 0; i = current.indexOf("\n", i + 1)) {
        starts.push(i + 1);
    }
    let missing = 0;
    const edits: { from: number; to: number; text: string }[] = [];
    for (const run of runs) {
        for (const file of run.files) {
            if (file.uri !== uri) {
                continue;
            }
            for (const hunk of file.hunks) {
                if (hunk.state === "reverted") {
                    continue;
                }
                const from = hunk.range && offsetOf(current, starts, hunk.range.start);
                const to = hunk.range && offsetOf(current, starts, hunk.range.end);
                if (
                    hunk.state === "edited" ||
                    typeof from !== "number" ||
                    typeof to !== "number" ||
                    current.slice(from, to) !== hunk.newText
                ) {
                    missing++;
                    continue;
                }
                edits.push({ from, to, text: hunk.oldText });
            }
        }
    }
    edits.sort((a, b) => b.from - a.from || b.to - a.to);
    let text = current;
    let limit = Number.POSITIVE_INFINITY;
    for (const edit of edits) {
        if (edit.to > limit) {
            missing++; // overlaps a hunk after it: the server's ranges never do, so one of them is stale
            continue;
        }
        text = text.slice(0, edit.from) + edit.text + text.slice(edit.to);
        limit = edit.from;
    }
    return { text, missing };
}

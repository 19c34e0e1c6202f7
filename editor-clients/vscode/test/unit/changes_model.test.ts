// What the editor shows of the agent's changes, from runChanges answers alone: decorations, lenses, the hunks
// Keep all / Undo all answer, and the file before the run for Review changes.
import { describe, expect, test } from "vitest";
import {
    fileActions,
    filesWithChanges,
    fileView,
    hasOpenHunks,
    hunkAt,
    textBeforeRuns,
    type TrackedRun,
} from "../../src/changes/model";
import type { RunHunk } from "../../src/lsp_ext";
import { commandIds } from "../../src/ids";

/** The file's lenses on its first line, with `count` open changes. */
const fileRow = (count: string) => [`0:Ollama agent: ${count}`, "0:Keep all", "0:Undo all", "0:Review changes"];

const uri = "file:///ws/calc.py";
// The file after the run: line 1 and line 3 are the agent's.
const now = "a = 1\nbeta = 2\nc = 3\nd = 40\ne = 5\n";

function lines(first: number, last: number): RunHunk["range"] {
    return { start: { line: first, character: 0 }, end: { line: last + 1, character: 0 } };
}

function hunk(id: string, range: RunHunk["range"], oldText: string, newText: string, state: RunHunk["state"] = "pending"): RunHunk {
    return { id, range, oldText, newText, state };
}

function run(hunks: RunHunk[], runId = "r1", fileUri = uri): TrackedRun {
    return { runId, label: "Rename b, set d", files: [{ uri: fileUri, hunks }] };
}

const twoHunks = () =>
    run([hunk("h1", lines(1, 1), "b = 2\n", "beta = 2\n"), hunk("h2", lines(3, 3), "d = 4\n", "d = 40\n")]);

const titles = (runs: TrackedRun[], file = uri, count = 6) => fileView(runs, file, count).lenses.map((l) => `${l.line}:${l.title}`);

describe("lenses and decorations", () => {
    test("each pending hunk gets Keep | Undo above it and a decoration over its lines; the file its own row at the top", () => {
        const view = fileView([twoHunks()], uri, 6);
        expect(titles([twoHunks()])).toEqual([
            ...fileRow("2 changes"),
            "1:Keep",
            "1:Undo",
            "3:Keep",
            "3:Undo",
        ]);
        const undo = view.lenses.find((l) => l.line === 3 && l.title === "Undo")!;
        expect(undo.command).toBe(commandIds.undoHunk);
        expect(undo.args).toEqual([{ runId: "r1", uri, hunkId: "h2" }]);
        const keepAll = view.lenses.find((l) => l.title === "Keep all")!;
        expect(keepAll).toMatchObject({ command: commandIds.keepFile, args: [{ uri }] });
        expect(view.lenses.find((l) => l.title.startsWith("Ollama agent"))!.command).toBeUndefined();
        expect(view.decorations.map((d) => [d.kind, d.startLine, d.endLine])).toEqual([
            ["changed", 1, 1],
            ["changed", 3, 3],
        ]);
        expect(view.decorations[0]!.hover).toContain("b = 2");
        expect(view.decorations[0]!.hover).toContain("Rename b, set d");
    });

    test("a kept or reverted hunk disappears; a file with none left shows nothing", () => {
        const oneKept = run([hunk("h1", lines(1, 1), "b = 2\n", "beta = 2\n", "kept"), hunk("h2", lines(3, 3), "d = 4\n", "d = 40\n")]);
        expect(titles([oneKept])).toEqual([
            ...fileRow("1 change"),
            "3:Keep",
            "3:Undo",
        ]);
        expect(fileView([oneKept], uri, 6).decorations.map((d) => d.startLine)).toEqual([3]);
        const done = run([
            hunk("h1", lines(1, 1), "b = 2\n", "beta = 2\n", "kept"),
            hunk("h2", lines(3, 3), "d = 4\n", "d = 4\n", "reverted"),
        ]);
        expect(fileView([done], uri, 6)).toEqual({ decorations: [], lenses: [] });
        expect(hasOpenHunks(done)).toBe(false);
        expect(filesWithChanges([done])).toEqual([]);
        expect(fileView([twoHunks()], "file:///ws/other.py", 6)).toEqual({ decorations: [], lenses: [] });
    });

    test("a hunk the person edited offers Keep but no Undo (it would lose their edit) and is not decorated", () => {
        const edited = run([hunk("h1", null, "b = 2\n", "beta = 2\n", "edited"), hunk("h2", lines(3, 3), "d = 4\n", "d = 40\n", "edited")]);
        expect(titles([edited])).toEqual([
            "0:Ollama agent: 2 edited by you",
            "0:Keep all",
            "0:Review changes",
            "3:Agent change you edited since",
            "3:Keep",
        ]);
        expect(fileView([edited], uri, 6).decorations).toEqual([]);
        expect(fileActions([edited], uri, "undo")).toEqual([]);
        expect(fileActions([edited], uri, "keep").map((h) => h.hunkId)).toEqual(["h2", "h1"]);
    });

    test("added lines, removed lines (marked where they were, at the end of the file under the last line)", () => {
        const r = run([
            hunk("h1", lines(1, 2), "", "x = 0\ny = 0\n"),
            hunk("h2", { start: { line: 4, character: 0 }, end: { line: 4, character: 0 } }, "gone = 1\n", ""),
            hunk("h3", { start: { line: 9, character: 0 }, end: { line: 9, character: 0 } }, "t = 1\nu = 2\n", ""),
        ]);
        const view = fileView([r], uri, 6);
        expect(view.decorations.map((d) => [d.kind, d.startLine, d.endLine, d.below])).toEqual([
            ["added", 1, 2, false],
            ["removed", 4, 4, false],
            ["removed", 5, 5, true],
        ]);
        expect(titles([r])).toContain("4:Agent removed 1 line here");
        expect(titles([r])).toContain("5:Agent removed 2 lines at the end");
        expect(view.decorations[1]!.hover).toContain("gone = 1");
    });

    test("a hunk on the first line says 'this change', since its lenses share the row with the file's", () => {
        const r = run([hunk("h1", lines(0, 0), "a = 1\n", "alpha = 1\n")]);
        expect(titles([r])).toEqual([
            ...fileRow("1 change"),
            "0:Keep this change",
            "0:Undo this change",
        ]);
    });

    test("a hover fences old text that holds backticks so it cannot break out", () => {
        const r = run([hunk("h1", lines(1, 1), "s = ```x```\n", "s = 1\n")]);
        expect(fileView([r], uri, 6).decorations[0]!.hover).toContain("````\ns = ```x```\n````");
    });
});

describe("what the commands answer", () => {
    test("Undo all answers the pending hunks of the file, newest run first; Keep all the edited ones too", () => {
        const older = run([hunk("h1", lines(1, 1), "b = 2\n", "beta = 2\n")], "r1");
        const newer = run([hunk("h1", lines(3, 3), "d = 4\n", "d = 40\n"), hunk("h2", null, "e\n", "f\n", "edited")], "r2");
        expect(fileActions([older, newer], uri, "undo")).toEqual([
            { runId: "r2", uri, hunkId: "h1" },
            { runId: "r1", uri, hunkId: "h1" },
        ]);
        expect(fileActions([older, newer], uri, "keep").map((h) => `${h.runId}/${h.hunkId}`)).toEqual(["r2/h2", "r2/h1", "r1/h1"]);
    });

    test("the hunk at the cursor line, for the palette commands", () => {
        expect(hunkAt([twoHunks()], uri, 3)).toEqual({ runId: "r1", uri, hunkId: "h2" });
        expect(hunkAt([twoHunks()], uri, 2)).toBeUndefined();
    });
});

describe("the file before the run", () => {
    test("every pending and kept hunk's new text goes back to its old text; reverted ones are back already", () => {
        const r = run([
            hunk("h1", lines(1, 1), "b = 2\n", "beta = 2\n", "kept"),
            hunk("h2", lines(3, 3), "d = 4\n", "d = 40\n"),
            hunk("h3", lines(4, 4), "e = 5\n", "e = 5\n", "reverted"),
        ]);
        expect(textBeforeRuns([r], uri, now)).toEqual({ text: "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n", missing: 0 });
    });

    test("removals and additions, and the ranges of two runs in one file", () => {
        const first = run([hunk("h1", { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, "gone\n", "")], "r1");
        const second = run([hunk("h1", lines(2, 2), "", "d = 40\n")], "r2");
        expect(textBeforeRuns([first, second], uri, "a = 1\nc = 3\nd = 40\n").text).toBe("a = 1\ngone\nc = 3\n");
    });

    test("an edited hunk, or one whose text is not where the server says, stays as it is and is counted", () => {
        const r = run([
            hunk("h1", null, "b = 2\n", "beta = 2\n", "edited"),
            hunk("h2", lines(3, 3), "d = 4\n", "d = 41\n"),
            hunk("h3", lines(40, 40), "z\n", "zz\n"),
        ]);
        expect(textBeforeRuns([r], uri, now)).toEqual({ text: now, missing: 3 });
    });

    test("a range within a line, and a text without a final newline", () => {
        const r = run([hunk("h1", { start: { line: 1, character: 4 }, end: { line: 1, character: 6 } }, "1", "42")]);
        expect(textBeforeRuns([r], uri, "x = 0\ny = 42").text).toBe("x = 0\ny = 1");
    });
});

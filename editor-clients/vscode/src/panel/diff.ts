// The text of a file before a tool call, rebuilt from its transcript diff and the file as it is now, so
// "open diff" can show VS Code's diff editor. Pure; undefined whenever the diff does not fit the text (it was
// cut, or the file changed since), and the caller then shows the diff itself.

interface Hunk {
    newStart: number;
    oldLines: string[];
    newLines: string[];
}

/** The hunks of one file in a unified diff (its first file when there are several). */
function hunksOf(diff: string, path?: string): Hunk[] | undefined {
    const hunks: Hunk[] = [];
    let current: Hunk | undefined;
    let files = 0;
    let wanted = path === undefined;
    for (const line of diff.replace(/\n$/, "").split("\n")) {
        if (line.startsWith("--- ")) {
            continue;
        }
        if (line.startsWith("+++ ")) {
            files++;
            const name = line.slice(4).replace(/^b\//, "");
            wanted = path === undefined ? files === 1 : name === path;
            current = undefined;
            continue;
        }
        const header = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@/.exec(line);
        if (header) {
            current = undefined;
            if (wanted) {
                const start = Number(header[1]);
                const length = header[2] === undefined ? 1 : Number(header[2]);
                // An empty new side names the line before it.
                current = { newStart: length === 0 ? start : start - 1, oldLines: [], newLines: [] };
                hunks.push(current);
            }
            continue;
        }
        if (!current || line.startsWith("\\")) {
            continue;
        }
        const body = line.slice(1);
        if (line.startsWith("+")) {
            current.newLines.push(body);
        } else if (line.startsWith("-")) {
            current.oldLines.push(body);
        } else {
            current.oldLines.push(body);
            current.newLines.push(body);
        }
    }
    return hunks.length ? hunks : undefined;
}

/** `current` with `diff` undone, or undefined when the diff's new side is not where it says. */
export function textBefore(current: string, diff: string, path?: string): string | undefined {
    const hunks = hunksOf(diff, path);
    if (!hunks) {
        return undefined;
    }
    const lines = current.split("\n");
    // From the last hunk up, so earlier line numbers stay valid.
    for (const hunk of [...hunks].reverse()) {
        const at = hunk.newStart;
        const found = lines.slice(at, at + hunk.newLines.length);
        if (found.length !== hunk.newLines.length || found.some((l, i) => l !== hunk.newLines[i])) {
            return undefined;
        }
        lines.splice(at, hunk.newLines.length, ...hunk.oldLines);
    }
    return lines.join("\n");
}

/** The files a diff names (its `+++ b/...` lines). */
export function diffPaths(diff: string): string[] {
    return [...diff.matchAll(/^\+\+\+ b\/(.+)$/gm)].map((m) => m[1]!);
}

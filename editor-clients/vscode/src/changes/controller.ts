// The agent's changes in the editor (issue 16 item 2): after a live run, each region it changed is decorated,
// with CodeLenses to Keep or Undo it and, at the top of the file, Keep all / Undo all / Review changes. What is
// shown always comes from the server's runChanges answer (asked again, debounced, when a document changes, so
// the ranges follow the person's edits); Keep and Undo are the server's keepHunk and revertHunk.
import * as vscode from "vscode";
import type { FileHunks, HunkParams, RunResult } from "../lsp_ext";
import { errorMessage, plainText } from "../results";
import {
    fileActions,
    filesWithChanges,
    fileView,
    hasOpenHunks,
    hunkAt,
    textBeforeRuns,
    type DecorationKind,
    type FileArgs,
    type FileView,
    type TrackedRun,
} from "./model";

export const beforeScheme = "ollama-agent-before";
/** The context key that enables the hunk commands in the Command Palette. */
export const hasChangesKey = "ollamaAgent.hasChanges";

/** The server's hunk commands, as the extension sends them (Ctx implements it; unit tests fake it). */
export interface ChangesHost {
    runChanges(runId: string): Promise<FileHunks[]>;
    keepHunk(params: HunkParams): Promise<unknown>;
    revertHunk(params: HunkParams): Promise<unknown>;
    readonly log: vscode.LogOutputChannel;
}

const maxRuns = 20;
const invalidParams = -32602;

function decorationTypes(): Record<DecorationKind | "removedBelow", vscode.TextEditorDecorationType> {
    const ruler = (color: string) => ({
        overviewRulerColor: new vscode.ThemeColor(color),
        overviewRulerLane: vscode.OverviewRulerLane.Left,
    });
    const removed = (side: "top" | "bottom") =>
        vscode.window.createTextEditorDecorationType({
            isWholeLine: true,
            borderStyle: "solid",
            borderWidth: side === "top" ? "2px 0 0 0" : "0 0 2px 0",
            borderColor: new vscode.ThemeColor("editorGutter.deletedBackground"),
            ...ruler("editorOverviewRuler.deletedForeground"),
        });
    return {
        added: vscode.window.createTextEditorDecorationType({
            isWholeLine: true,
            backgroundColor: new vscode.ThemeColor("diffEditor.insertedLineBackground"),
            ...ruler("editorOverviewRuler.addedForeground"),
        }),
        changed: vscode.window.createTextEditorDecorationType({
            isWholeLine: true,
            backgroundColor: new vscode.ThemeColor("diffEditor.insertedLineBackground"),
            borderStyle: "solid",
            borderWidth: "0 0 0 3px",
            borderColor: new vscode.ThemeColor("editorGutter.modifiedBackground"),
            ...ruler("editorOverviewRuler.modifiedForeground"),
        }),
        removed: removed("top"),
        removedBelow: removed("bottom"),
    };
}

function key(uri: string): string {
    return vscode.Uri.parse(uri).toString();
}

function isHunkParams(value: unknown): value is HunkParams {
    const v = value as Partial<HunkParams> | undefined;
    return !!v && typeof v.runId === "string" && typeof v.uri === "string" && typeof v.hunkId === "string";
}

export class ChangesController implements vscode.CodeLensProvider, vscode.TextDocumentContentProvider, vscode.Disposable {
    /** The runs whose changes are shown, oldest first; their files' uris in VS Code's spelling. */
    private runs: TrackedRun[] = [];
    /** VS Code's spelling of a uri -> the server's, which the hunk commands send back. */
    private readonly serverUris = new Map<string, string>();
    private readonly asked = new Map<string, number>();
    private readonly types = decorationTypes();
    private readonly lensesChanged = new vscode.EventEmitter<void>();
    readonly onDidChangeCodeLenses = this.lensesChanged.event;
    private readonly shown = new vscode.EventEmitter<readonly TrackedRun[]>();
    /** Each time what is shown changes, for the end-to-end tests. */
    readonly onDidChangeView = this.shown.event;
    private readonly befores = new Map<string, string>();
    private seq = 0;
    private timer: ReturnType<typeof setTimeout> | undefined;
    private readonly stale = new Set<string>();
    /** How long edits to a document must pause before its runs' changes are asked for again. */
    refreshDelayMs = 300;
    private readonly disposables: vscode.Disposable[] = [];

    constructor(
        private readonly host: ChangesHost,
        private readonly runLabel: (runId: string) => string | undefined = () => undefined,
    ) {
        this.disposables.push(
            this.lensesChanged,
            this.shown,
            ...Object.values(this.types),
            vscode.workspace.onDidChangeTextDocument((e) => this.onDocumentChanged(e)),
            vscode.window.onDidChangeVisibleTextEditors(() => this.decorate()),
        );
    }

    /** The runs shown, with their latest runChanges answers. */
    get tracked(): readonly TrackedRun[] {
        return this.runs;
    }

    /** What the editor shows for `document`. */
    view(document: vscode.TextDocument): FileView {
        return fileView(this.runs, document.uri.toString(), document.lineCount);
    }

    /**
     * A run ended: show what it changed. Not for a review-mode run (its result says how the review went): the
     * person looked at its changes already.
     */
    async onRunResult(result: RunResult): Promise<void> {
        if (!result || typeof result.runId !== "string" || typeof result.review === "string") {
            return;
        }
        if (!Array.isArray(result.changedFiles) || result.changedFiles.length === 0) {
            return;
        }
        await this.refresh(result.runId, true);
    }

    /** Ask the server for `runId`'s changes and show them; `track` adds a run not shown yet. */
    async refresh(runId: string, track = false): Promise<void> {
        const asked = (this.asked.get(runId) ?? 0) + 1;
        this.asked.set(runId, asked);
        let files: FileHunks[];
        try {
            files = await this.host.runChanges(runId);
        } catch (error) {
            this.host.log.warn(`runChanges ${runId}: ${errorMessage(error)}`);
            if (this.asked.get(runId) === asked && (error as { code?: unknown })?.code === invalidParams) {
                this.update(runId, [], false); // the server does not know the run (any more)
            }
            return;
        }
        if (this.asked.get(runId) === asked) {
            this.update(runId, Array.isArray(files) ? files : [], track);
        }
    }

    private update(runId: string, files: FileHunks[], track: boolean): void {
        const normal = files
            .filter((f) => f && typeof f.uri === "string" && Array.isArray(f.hunks))
            .map((f) => {
                const uri = key(f.uri);
                this.serverUris.set(uri, f.uri);
                return { uri, hunks: f.hunks };
            });
        const run: TrackedRun = { runId, label: this.runLabel(runId), files: normal };
        const index = this.runs.findIndex((r) => r.runId === runId);
        if (index < 0 && !track) {
            return;
        }
        const others = this.runs.filter((r) => r.runId !== runId);
        const keep = hasOpenHunks(run);
        this.runs = keep ? (index < 0 ? [...others, run] : this.runs.map((r) => (r.runId === runId ? run : r))) : others;
        this.runs = this.runs.slice(-maxRuns);
        this.render();
    }

    private render(): void {
        this.decorate();
        this.lensesChanged.fire();
        void vscode.commands.executeCommand("setContext", hasChangesKey, filesWithChanges(this.runs).length > 0);
        this.shown.fire(this.runs);
    }

    private decorate(): void {
        for (const editor of vscode.window.visibleTextEditors) {
            const { decorations } = this.view(editor.document);
            const byType = new Map<vscode.TextEditorDecorationType, vscode.DecorationOptions[]>(
                Object.values(this.types).map((t) => [t, []]),
            );
            for (const d of decorations) {
                const type = d.kind === "removed" && d.below ? this.types.removedBelow : this.types[d.kind];
                const hover = new vscode.MarkdownString(d.hover);
                byType.get(type)!.push({ range: new vscode.Range(d.startLine, 0, d.endLine, 0), hoverMessage: hover });
            }
            for (const [type, options] of byType) {
                editor.setDecorations(type, options);
            }
        }
    }

    provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
        return this.view(document).lenses.map(
            (lens) =>
                new vscode.CodeLens(new vscode.Range(lens.line, 0, lens.line, 0), {
                    title: lens.title,
                    tooltip: lens.tooltip,
                    // An empty id makes a label: VS Code shows it as text, not as a link.
                    command: lens.command ?? "",
                    arguments: lens.args,
                }),
        );
    }

    private onDocumentChanged(e: vscode.TextDocumentChangeEvent): void {
        if (!e.contentChanges.length) {
            return;
        }
        const uri = e.document.uri.toString();
        const affected = this.runs.filter((r) => r.files.some((f) => f.uri === uri));
        if (!affected.length) {
            return;
        }
        for (const run of affected) {
            this.stale.add(run.runId);
        }
        clearTimeout(this.timer);
        this.timer = setTimeout(() => {
            const runs = [...this.stale];
            this.stale.clear();
            for (const runId of runs) {
                void this.refresh(runId);
            }
        }, this.refreshDelayMs);
    }

    // --- the commands --------------------------------------------------------------------------------

    /** The hunk a lens names, else the one at the cursor; tells the person when there is none. */
    private hunkFrom(arg: unknown): HunkParams | undefined {
        if (isHunkParams(arg)) {
            return arg;
        }
        const editor = vscode.window.activeTextEditor;
        const found = editor && hunkAt(this.runs, editor.document.uri.toString(), editor.selection.active.line);
        if (!found) {
            void vscode.window.showInformationMessage(
                "Ollama Agent: no change of the agent at the cursor. Put the cursor in a marked change, or use " +
                    "the Keep and Undo buttons above it.",
            );
        }
        return found;
    }

    /** The file a lens names, else the active editor's. */
    private fileFrom(arg: unknown): FileArgs | undefined {
        if (arg instanceof vscode.Uri) {
            return { uri: arg.toString() };
        }
        const v = arg as Partial<FileArgs> | undefined;
        if (v && (typeof v.uri === "string" || typeof v.runId === "string")) {
            return {
                uri: typeof v.uri === "string" ? key(v.uri) : "",
                runId: typeof v.runId === "string" ? v.runId : undefined,
            };
        }
        const uri = vscode.window.activeTextEditor?.document.uri.toString();
        return uri ? { uri } : undefined;
    }

    async keepHunk(arg?: unknown): Promise<void> {
        const hunk = this.hunkFrom(arg);
        if (hunk) {
            await this.answer([hunk], "keep");
        }
    }

    async undoHunk(arg?: unknown): Promise<void> {
        const hunk = this.hunkFrom(arg);
        if (hunk) {
            await this.answer([hunk], "undo");
        }
    }

    async keepFile(arg?: unknown): Promise<void> {
        await this.answerFile(arg, "keep");
    }

    async undoFile(arg?: unknown): Promise<void> {
        await this.answerFile(arg, "undo");
    }

    private async answerFile(arg: unknown, action: "keep" | "undo"): Promise<void> {
        const file = this.fileFrom(arg);
        const hunks = file ? fileActions(this.runs, file.uri, action) : [];
        if (!hunks.length) {
            void vscode.window.showInformationMessage(
                `Ollama Agent: no change of the agent to ${action} in ${file ? this.name(file.uri) : "this editor"}.`,
            );
            return;
        }
        await this.answer(hunks, action);
    }

    /** Keep or undo `hunks` one by one; one error message for those the server refused, with its reason. */
    private async answer(hunks: HunkParams[], action: "keep" | "undo"): Promise<void> {
        const failures: string[] = [];
        for (const hunk of hunks) {
            const params = { ...hunk, uri: this.serverUris.get(key(hunk.uri)) ?? hunk.uri };
            try {
                await (action === "keep" ? this.host.keepHunk(params) : this.host.revertHunk(params));
            } catch (error) {
                failures.push(errorMessage(error));
            }
        }
        await Promise.all([...new Set(hunks.map((h) => h.runId))].map((runId) => this.refresh(runId)));
        if (failures.length) {
            const more = failures.length > 1 ? ` (and ${failures.length - 1} more like it)` : "";
            const message = `Ollama Agent: could not ${action} a change: ${failures[0]}${more}`;
            this.host.log.error(message);
            void vscode.window.showErrorMessage(plainText(message));
        }
    }

    private name(uri: string): string {
        return vscode.Uri.parse(uri).path.split("/").pop() || uri;
    }

    /**
     * A diff editor: the file before the run(s) (rebuilt from the hunks: each one's new text put back to its old
     * text) against the document now. For one run (`runId`) or every run shown; for one file, else the active
     * editor's, else one the person picks.
     */
    async reviewChanges(arg?: unknown): Promise<void> {
        const wanted = this.fileFrom(arg);
        let runs: TrackedRun[];
        if (wanted?.runId) {
            const files = (await this.host.runChanges(wanted.runId)) ?? [];
            runs = [
                {
                    runId: wanted.runId,
                    files: files.map((f) => {
                        this.serverUris.set(key(f.uri), f.uri);
                        return { uri: key(f.uri), hunks: f.hunks };
                    }),
                },
            ];
        } else {
            await Promise.all(this.runs.map((r) => this.refresh(r.runId)));
            runs = this.runs;
        }
        const uris = [...new Set(runs.flatMap((r) => r.files.filter((f) => f.hunks.length).map((f) => f.uri)))];
        let uri = wanted?.uri && uris.includes(wanted.uri) ? wanted.uri : undefined;
        if (!uri && uris.length === 1) {
            uri = uris[0];
        } else if (!uri && uris.length > 1) {
            const picked = await vscode.window.showQuickPick(
                uris.map((u) => ({ label: vscode.workspace.asRelativePath(vscode.Uri.parse(u)), uri: u })),
                { title: "Ollama Agent: Review Changes", placeHolder: "File to compare with its text before the agent" },
            );
            uri = picked?.uri;
            if (!uri) {
                return;
            }
        }
        if (!uri) {
            void vscode.window.showInformationMessage(
                wanted?.runId
                    ? `Ollama Agent: run ${wanted.runId} changed no file that is still there to compare.`
                    : "Ollama Agent: no change of the agent to review. Changes are shown after a run in live mode.",
            );
            return;
        }
        const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
        const before = textBeforeRuns(runs, uri, document.getText());
        const id = String(++this.seq);
        this.befores.set(id, before.text);
        for (const old of [...this.befores.keys()].slice(0, -20)) {
            this.befores.delete(old);
        }
        const name = this.name(uri);
        const left = vscode.Uri.from({ scheme: beforeScheme, path: `/${name}`, query: id });
        const note = before.missing
            ? ` (${before.missing} region${before.missing === 1 ? "" : "s"} you edited since shown as now)`
            : "";
        await vscode.commands.executeCommand("vscode.diff", left, document.uri, `${name}: before the agent ↔ now${note}`, {
            preview: true,
        });
    }

    provideTextDocumentContent(uri: vscode.Uri): string {
        return this.befores.get(uri.query) ?? "";
    }

    dispose(): void {
        clearTimeout(this.timer);
        for (const d of this.disposables) {
            d.dispose();
        }
    }
}

// The palette commands. Each is a thin step from VS Code state (editor, selection, quick picks) to one
// server command through `AgentHost`, so unit tests can check the wiring with a fake host.
import * as vscode from "vscode";
import { configuredModel, section, setModel } from "./config";
import type { AgentHost } from "./ctx";
import { commandIds } from "./ids";
import * as ext from "./lsp_ext";
import { errorMessage, plainText, ReportedError, runName, type RunRecord } from "./results";

export const recentInstructionsKey = "ollamaAgent.recentInstructions";
const maxRecent = 20;

/** Arguments a keybinding (or a test) may pass to Run on Selection to skip the prompt. */
export interface RunSelectionArgs {
    instruction?: string;
    model?: string;
}

export function registerCommands(host: AgentHost): vscode.Disposable[] {
    const handlers: Record<string, (...args: unknown[]) => Promise<unknown> | unknown> = {
        [commandIds.runSelection]: (arg) => runSelection(host, asObject(arg) as RunSelectionArgs),
        [commandIds.runSpec]: (arg) => runSpec(host, arg instanceof vscode.Uri ? arg : undefined),
        [commandIds.openChat]: () => host.revealChat(false),
        [commandIds.openChatBeside]: () => host.openChatBeside(),
        [commandIds.cancel]: () => cancel(host),
        [commandIds.undoRun]: (arg) => undoRun(host, typeof arg === "string" ? arg : undefined),
        [commandIds.selectModel]: () => selectModel(host),
        [commandIds.showTranscript]: () => host.showTranscript(),
        [commandIds.checkSetup]: () => checkSetup(host),
        [commandIds.restartServer]: () => host.restart(),
        [commandIds.keepHunk]: (arg) => host.changes.keepHunk(arg),
        [commandIds.undoHunk]: (arg) => host.changes.undoHunk(arg),
        [commandIds.keepFile]: (arg) => host.changes.keepFile(arg),
        [commandIds.undoFile]: (arg) => host.changes.undoFile(arg),
        [commandIds.reviewChanges]: (arg) => host.changes.reviewChanges(arg),
    };
    return Object.entries(handlers).map(([id, handler]) =>
        vscode.commands.registerCommand(id, async (...args: unknown[]) => {
            try {
                return await handler(...args);
            } catch (error) {
                if (!(error instanceof ReportedError)) {
                    void vscode.window.showErrorMessage(`Ollama Agent: ${errorMessage(error)}`);
                }
                return undefined;
            }
        }),
    );
}

function asObject(value: unknown): Record<string, unknown> {
    return value && typeof value === "object" && !(value instanceof vscode.Uri)
        ? (value as Record<string, unknown>)
        : {};
}

function toLspRange(range: vscode.Range): ext.RunSelectionParams["range"] {
    return {
        start: { line: range.start.line, character: range.start.character },
        end: { line: range.end.line, character: range.end.character },
    };
}

/** Run on Selection: the selection (or the current line when it is empty) plus an instruction. */
export async function runSelection(host: AgentHost, args: RunSelectionArgs = {}): Promise<ext.RunResult | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
        void vscode.window.showWarningMessage(
            "Ollama Agent: no active editor. Open a file, select the code to change, then run this again.",
        );
        return undefined;
    }
    const selection = editor.selection;
    const range = selection.isEmpty ? editor.document.lineAt(selection.active.line).range : selection;
    const instruction =
        typeof args.instruction === "string" && args.instruction.trim()
            ? args.instruction.trim()
            : await promptInstruction(host.state);
    if (!instruction) {
        return undefined;
    }
    await rememberInstruction(host.state, instruction);
    const params: ext.RunSelectionParams = {
        uri: editor.document.uri.toString(),
        range: toLspRange(range),
        instruction,
    };
    if (typeof args.model === "string" && args.model) {
        params.model = args.model;
    }
    // The run is shown in the chat panel; the editor keeps the focus.
    await host.revealChat(true);
    return host.runAgent(ext.serverCommands.runSelection, params);
}

/** A quick pick that takes free text and offers recent instructions. */
function promptInstruction(state: vscode.Memento): Promise<string | undefined> {
    const recent = state.get<string[]>(recentInstructionsKey, []);
    const recentItems: vscode.QuickPickItem[] = recent.map((label) => ({ label, description: "recent" }));
    const pick = vscode.window.createQuickPick<vscode.QuickPickItem>();
    pick.title = "Ollama Agent: Run on Selection";
    pick.placeholder = "Instruction for the Ollama agent, e.g. \"add type hints\" (Enter to run, Esc to cancel)";
    pick.ignoreFocusOut = true;
    pick.matchOnDescription = false;
    pick.items = recentItems;
    return new Promise((resolve) => {
        let settled = false;
        const finish = (value: string | undefined) => {
            if (!settled) {
                settled = true;
                resolve(value);
            }
        };
        pick.onDidChangeValue((value) => {
            const typed = value.trim();
            pick.items = typed
                ? [
                      { label: typed, description: "new instruction", alwaysShow: true },
                      ...recentItems.filter((item) => item.label !== typed),
                  ]
                : recentItems;
        });
        pick.onDidAccept(() => {
            // A recent entry picked from the list runs as it is; otherwise the typed text does (the list may
            // still show an item for a shorter prefix when Enter follows the last keystroke closely).
            const item = pick.selectedItems[0] ?? pick.activeItems[0];
            const chosen = (item && recent.includes(item.label) && item.description === "recent"
                ? item.label
                : pick.value || item?.label || ""
            ).trim();
            finish(chosen || undefined);
            pick.hide();
        });
        pick.onDidHide(() => {
            finish(undefined);
            pick.dispose();
        });
        pick.show();
    });
}

async function rememberInstruction(state: vscode.Memento, instruction: string): Promise<void> {
    const recent = state.get<string[]>(recentInstructionsKey, []).filter((i) => i !== instruction);
    await state.update(recentInstructionsKey, [instruction, ...recent].slice(0, maxRecent));
}

/** A markdown file under `.chant/specs/`, or one whose frontmatter has a `status:` line. */
function isSpecDocument(doc: vscode.TextDocument): boolean {
    const file = doc.uri.path.toLowerCase();
    if (!file.endsWith(".md") && !file.endsWith(".markdown")) {
        return false;
    }
    if (/\/\.chant\/specs\//.test(doc.uri.path)) {
        return true;
    }
    const frontmatter = /^---\r?\n([\s\S]*?)\r?\n---/.exec(doc.getText());
    return !!frontmatter && /^status\s*:/m.test(frontmatter[1] ?? "");
}

/** Run Spec: the active spec, else a quick pick of the workspace's specs. */
export async function runSpec(host: AgentHost, uri?: vscode.Uri): Promise<ext.RunResult | undefined> {
    let target = uri;
    const active = vscode.window.activeTextEditor?.document;
    if (!target && active && isSpecDocument(active)) {
        target = active.uri;
    }
    if (!target) {
        const specs = await vscode.workspace.findFiles("**/.chant/specs/**/*.{md,markdown}", "**/node_modules/**", 500);
        if (!specs.length) {
            void vscode.window.showWarningMessage(
                "Ollama Agent: no spec to run. Open a spec (a markdown file under .chant/specs/, or with a " +
                    "`status:` line in its frontmatter) or create one under .chant/specs/.",
            );
            return undefined;
        }
        const picked = await vscode.window.showQuickPick(
            specs
                .map((spec) => ({ label: vscode.workspace.asRelativePath(spec), uri: spec }))
                .sort((a, b) => a.label.localeCompare(b.label)),
            { title: "Ollama Agent: Run Spec", placeHolder: "Spec to run" },
        );
        if (!picked) {
            return undefined;
        }
        target = picked.uri;
    }
    return host.runAgent(ext.serverCommands.runSpec, { uri: target.toString() });
}

/** Cancel Run: every running run; says so when nothing was running (the palette hides it then). */
export async function cancel(host: AgentHost): Promise<void> {
    const result = (await host.executeServerCommand(ext.serverCommands.cancel, {})) as { cancelled?: unknown[] } | undefined;
    host.log.info(`cancel: ${JSON.stringify(result)}`);
    const cancelled = Array.isArray(result?.cancelled) ? result.cancelled.length : 0;
    if (cancelled === 0) {
        void vscode.window.showInformationMessage("Ollama Agent: no run is going on, so there is nothing to cancel.");
        return;
    }
    vscode.window.setStatusBarMessage(`Ollama Agent: cancelling ${cancelled === 1 ? "the run" : `${cancelled} runs`}…`, 3000);
}

const undoEarlier = "Undo That Run";

/**
 * Undo Last Run (or run `runId`); the server leaves regions the user changed since and lists them. When the
 * latest run changed nothing, it says so and offers the run before it instead of undoing that one silently.
 */
export async function undoRun(host: AgentHost, runId?: string): Promise<void> {
    let target = runId;
    if (!target) {
        const last = host.runs.get(host.lastRunId);
        if (last && Array.isArray(last.changedFiles) && last.changedFiles.length === 0) {
            const earlier = host.runs.latestWithChanges();
            const nothing = `Ollama Agent: the last run, ${runName(last)}, changed no files, so there is nothing of it to undo.`;
            if (!earlier) {
                void vscode.window.showInformationMessage(nothing);
                return;
            }
            const choice = await vscode.window.showInformationMessage(
                `${nothing} Undo the run before it, ${runName(earlier)}?`,
                undoEarlier,
            );
            if (choice !== undoEarlier) {
                return;
            }
            target = earlier.runId;
        } else {
            target = last?.runId;
        }
    }
    const result = await host.executeServerCommand(ext.serverCommands.undoRun, target ? { runId: target } : {});
    host.log.info(`undoRun: ${JSON.stringify(result)}`);
    const undone = (result as { runId?: string } | undefined)?.runId ?? target;
    const record = host.runs.get(undone);
    if (undone && (result as { applied?: boolean } | undefined)?.applied !== false) {
        host.runs.record(undone, { undone: true });
    }
    void vscode.window.showInformationMessage(describeUndo(result, record ?? (undone ? { runId: undone } : undefined)));
}

function fileNames(uris: unknown[]): string {
    const names = uris.map((u) => decodeURIComponent(String(u)).split("/").pop() || String(u));
    return names.length > 3 ? `${names.slice(0, 3).join(", ")} and ${names.length - 3} more` : names.join(", ");
}

/** One message for the server's undoRun answer {runId, applied, reverted: [uri], leftAlone: [...]}. */
function describeUndo(result: unknown, run: RunRecord | undefined): string {
    const r = (result && typeof result === "object" ? result : {}) as {
        applied?: boolean;
        reverted?: unknown[];
        leftAlone?: unknown[];
    };
    const name = runName(run);
    if (r.applied === false) {
        return `Ollama Agent: the editor did not apply the undo of ${name}; nothing changed.`;
    }
    const reverted = Array.isArray(r.reverted) ? r.reverted : [];
    const left = Array.isArray(r.leftAlone) ? r.leftAlone.length : 0;
    if (reverted.length === 0) {
        return left > 0
            ? `Ollama Agent: nothing of ${name} undone: ${left} region(s) you changed since were left as they are.`
            : `Ollama Agent: nothing to undo in ${name} (it may be undone already).`;
    }
    const files = `${reverted.length === 1 ? "" : `${reverted.length} files: `}${fileNames(reverted)}`;
    return left > 0
        ? `Ollama Agent: undid ${name} in ${files}, except ${left} region(s) you changed since (left as they are).`
        : `Ollama Agent: undid ${name} in ${files}.`;
}

function formatContext(length: number | null | undefined): string {
    if (typeof length !== "number" || !length) {
        return "context unknown";
    }
    return length >= 1024 ? `${Math.round(length / 1024)}K context` : `${length} context`;
}

interface ModelItem extends vscode.QuickPickItem {
    model: string;
}

/** Select Model: installed models with context length and tool support; writes `ollamaAgent.model`. */
export async function selectModel(host: AgentHost): Promise<string | undefined> {
    const models = await host.executeServerCommand(ext.serverCommands.listModels, {});
    if (!Array.isArray(models) || models.length === 0) {
        void vscode.window.showWarningMessage(
            "Ollama Agent: Ollama has no models installed. Fix: run `ollama pull qwen3:8b` (or another model " +
                "with tool support), then select it here.",
        );
        return undefined;
    }
    const current = configuredModel();
    const tools = (m: ext.ModelInfo) => Array.isArray(m.capabilities) && m.capabilities.includes("tools");
    const items: ModelItem[] = [...models]
        .sort((a, b) => Number(tools(b)) - Number(tools(a)) || a.name.localeCompare(b.name))
        .map((m) => ({
            model: m.name,
            label: `${m.name === current ? "$(check) " : ""}${m.name}`,
            description: `${formatContext(m.contextLength)} · ${tools(m) ? "tools" : "$(warning) no tool support"}`,
            detail: tools(m) ? undefined : "The agent needs a model that supports tools.",
        }));
    const picked = await vscode.window.showQuickPick(items, {
        title: "Ollama Agent: Select Model",
        placeHolder: `Current: ${current}`,
        matchOnDescription: true,
    });
    if (!picked) {
        return undefined;
    }
    await setModel(picked.model);
    return picked.model;
}

/** Check Setup: a one-line OK, or every problem with its fix. */
export async function checkSetup(host: AgentHost): Promise<ext.SetupReport> {
    const report = await host.executeServerCommand(ext.serverCommands.checkSetup, {});
    host.log.info(`checkSetup: ${JSON.stringify(report)}`);
    const problems = Array.isArray(report?.problems) ? report.problems : [];
    if (problems.length === 0) {
        // Short enough for a toast to show whole; the rest is one click away.
        const ctx = formatContext(report.contextLength);
        host.log.info(
            `setup OK: Ollama ${report.version ?? "?"} at ${report.ollamaUrl}, model ${report.model}, ` +
                `${report.supportsTools ? "tools" : "no tools"}, ${ctx}`,
        );
        void Promise.resolve(
            vscode.window.showInformationMessage(
                `Ollama Agent: setup OK. ${report.model}: ${report.supportsTools ? "tools" : "no tools"}, ${ctx}.`,
                "Details",
            ),
        ).then((choice) => choice === "Details" && host.log.show(true));
        return report;
    }
    const buttons = report.reachable ? ["Select Model", "Open Settings"] : ["Open Settings"];
    const choice = await vscode.window.showWarningMessage(
        `Ollama Agent: ${problems.length} setup problem${problems.length === 1 ? "" : "s"}`,
        { modal: true, detail: problems.map((p) => `• ${plainText(p)}`).join("\n") },
        ...buttons,
    );
    if (choice === "Select Model") {
        await vscode.commands.executeCommand(commandIds.selectModel);
    } else if (choice === "Open Settings") {
        await vscode.commands.executeCommand("workbench.action.openSettings", section);
    }
    return report;
}

// A mocked `vscode` module: jest-mock-vscode plus what it lacks (output channels, quick picks, a settings
// store with inspect/update, registered command handlers). Tests import `mock` to drive and inspect it.
import { createVSCodeMock } from "jest-mock-vscode";
import { vi } from "vitest";

type Listener<T> = (value: T) => unknown;

export class FakeEvent<T> {
    private listeners: Listener<T>[] = [];
    readonly event = (listener: Listener<T>) => {
        this.listeners.push(listener);
        return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
    };
    fire(value: T): void {
        for (const l of [...this.listeners]) l(value);
    }
}

export function fakeOutputChannel(name: string) {
    const lines: string[] = [];
    return {
        name,
        text: () => lines.join(""),
        append: vi.fn((s: string) => void lines.push(s)),
        appendLine: vi.fn((s: string) => void lines.push(s + "\n")),
        info: vi.fn((s: string) => void lines.push(`[info] ${s}\n`)),
        warn: vi.fn((s: string) => void lines.push(`[warn] ${s}\n`)),
        error: vi.fn((s: string) => void lines.push(`[error] ${s}\n`)),
        debug: vi.fn(),
        trace: vi.fn(),
        show: vi.fn(),
        hide: vi.fn(),
        clear: vi.fn(),
        replace: vi.fn(),
        dispose: vi.fn(),
        logLevel: 2,
        onDidChangeLogLevel: new FakeEvent<number>().event,
    };
}

export function fakeQuickPick() {
    const accept = new FakeEvent<void>();
    const hide = new FakeEvent<void>();
    const change = new FakeEvent<string>();
    const pick = {
        title: "",
        placeholder: "",
        value: "",
        items: [] as { label: string; description?: string }[],
        selectedItems: [] as { label: string }[],
        activeItems: [] as { label: string }[],
        ignoreFocusOut: false,
        matchOnDescription: false,
        onDidAccept: accept.event,
        onDidHide: hide.event,
        onDidChangeValue: change.event,
        show: vi.fn(),
        hide: vi.fn(() => hide.fire()),
        dispose: vi.fn(),
        /** Test helpers: what a user does. */
        type(value: string) {
            pick.value = value;
            change.fire(value);
            pick.activeItems = pick.items.slice(0, 1);
        },
        enter() {
            pick.selectedItems = pick.activeItems;
            accept.fire();
        },
        escape() {
            hide.fire();
        },
    };
    return pick;
}

/** Settings keyed "section.key" with VS Code's value layers. */
export class FakeSettings {
    values = new Map<string, { defaultValue?: unknown; globalValue?: unknown; workspaceValue?: unknown }>();
    changed = new FakeEvent<{ affectsConfiguration(s: string): boolean }>();

    set(key: string, layer: "defaultValue" | "globalValue" | "workspaceValue", value: unknown): void {
        this.values.set(key, { ...this.values.get(key), [layer]: value });
    }
    configuration(section: string) {
        const full = (key: string) => (section ? `${section}.${key}` : key);
        return {
            get: (key: string, fallback?: unknown) => {
                const v = this.values.get(full(key));
                return v?.workspaceValue ?? v?.globalValue ?? v?.defaultValue ?? fallback;
            },
            has: (key: string) => this.values.has(full(key)),
            inspect: (key: string) => ({ key: full(key), ...this.values.get(full(key)) }),
            update: vi.fn(async (key: string, value: unknown, target: number) => {
                this.set(full(key), target === 2 ? "workspaceValue" : "globalValue", value);
                this.changed.fire({ affectsConfiguration: (s: string) => full(key).startsWith(s) });
            }),
        };
    }
}

export const settings = new FakeSettings();
export const handlers = new Map<string, (...args: unknown[]) => unknown>();
/** Fire to play an edit of a document, or a change of the visible editors. */
export const documentChanged = new FakeEvent<unknown>();
export const visibleEditorsChanged = new FakeEvent<unknown>();

export function createMock() {
    const vscode = createVSCodeMock(vi) as unknown as Record<string, any>;
    vscode.window.createOutputChannel = vi.fn((name: string) => fakeOutputChannel(name));
    vscode.window.createQuickPick = vi.fn(() => fakeQuickPick());
    vscode.workspace.getConfiguration = vi.fn((section?: string) => settings.configuration(section ?? ""));
    vscode.workspace.onDidChangeConfiguration = settings.changed.event;
    vscode.workspace.findFiles = vi.fn(async () => []);
    vscode.workspace.asRelativePath = vi.fn((uri: { path: string }) => uri.path.replace(/^\/ws\//, ""));
    vscode.workspace.textDocuments = [];
    vscode.ConfigurationTarget = { Global: 1, Workspace: 2, WorkspaceFolder: 3 };
    vscode.commands.registerCommand = vi.fn((id: string, handler: (...args: unknown[]) => unknown) => {
        handlers.set(id, handler);
        return { dispose: () => handlers.delete(id) };
    });
    vscode.commands.executeCommand = vi.fn(async () => undefined);
    vscode.extensions = { getExtension: vi.fn(() => undefined) };
    const disposable = () => ({ dispose: vi.fn() });
    vscode.window.registerWebviewViewProvider = vi.fn(disposable);
    vscode.window.setStatusBarMessage = vi.fn(disposable);
    vscode.workspace.registerTextDocumentContentProvider = vi.fn(disposable);
    vscode.languages.registerCodeLensProvider = vi.fn(disposable);
    vscode.window.createTextEditorDecorationType = vi.fn((options: unknown) => ({ options, key: "deco", dispose: vi.fn() }));
    vscode.workspace.onDidChangeTextDocument = documentChanged.event;
    vscode.window.onDidChangeVisibleTextEditors = visibleEditorsChanged.event;
    return vscode;
}

/** The status bar item created last (what a click on it runs is its `command`). */
export function lastStatusBarItem(window: unknown): { text: string; command?: unknown } {
    const create = (window as { createStatusBarItem: ReturnType<typeof vi.fn> }).createStatusBarItem;
    const item = create.mock.results.at(-1)?.value;
    if (!item) throw new Error("no status bar item was created");
    return item;
}

export class FakeMemento {
    private data = new Map<string, unknown>();
    get<T>(key: string, fallback?: T): T {
        return (this.data.has(key) ? this.data.get(key) : fallback) as T;
    }
    async update(key: string, value: unknown): Promise<void> {
        this.data.set(key, value);
    }
    keys(): readonly string[] {
        return [...this.data.keys()];
    }
}

/** A webview view as VS Code hands it to a provider: records posted messages, lets a test send some. */
export function fakeWebviewView() {
    const received = new FakeEvent<unknown>();
    const disposed = new FakeEvent<void>();
    const visibility = new FakeEvent<void>();
    const posted: unknown[] = [];
    const view = {
        visible: true,
        posted,
        webview: {
            options: {},
            html: "",
            cspSource: "vscode-webview://test",
            asWebviewUri: (uri: { toString(): string }) => uri,
            postMessage: vi.fn(async (message: unknown) => {
                posted.push(message);
                return true;
            }),
            onDidReceiveMessage: received.event,
        },
        show: vi.fn(),
        onDidDispose: disposed.event,
        onDidChangeVisibility: visibility.event,
        /** The page sends `message`, as the webview script does. */
        send: (message: unknown) => received.fire(message),
        dispose: () => disposed.fire(),
    };
    return view;
}

// What the chat page keeps in the webview's own state (vscode.setState) besides the host's conversation state,
// which the host sends again when the page is re-created: which cards are open and the unsent draft. Pure, so
// unit tests check the restore without a webview.

/** The page's own state across hiding and re-creation: the keys of open (or closed-by-hand) cards and the draft. */
export interface UiState {
    open: string[];
    draft: string;
}

/** The UI state saved by an earlier page (`vscode.getState()`), checked field by field: what does not fit is dropped. */
export function restoreUi(saved: unknown): UiState {
    const s = saved && typeof saved === "object" ? (saved as Record<string, unknown>) : {};
    const open = Array.isArray(s.open) ? s.open.filter((k): k is string => typeof k === "string") : [];
    return { open, draft: typeof s.draft === "string" ? s.draft : "" };
}

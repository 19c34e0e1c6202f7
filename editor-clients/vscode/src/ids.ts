// The extension's own palette command ids. They differ from the server's `ollamaAgent.*` commands, which
// vscode-languageclient registers in the same VS Code command namespace.
export const commandIds = {
    runSelection: "ollama-agent.runSelection",
    runSpec: "ollama-agent.runSpec",
    openChat: "ollama-agent.openChat",
    openChatBeside: "ollama-agent.openChatBeside",
    cancel: "ollama-agent.cancel",
    undoRun: "ollama-agent.undoRun",
    selectModel: "ollama-agent.selectModel",
    showTranscript: "ollama-agent.showTranscript",
    checkSetup: "ollama-agent.checkSetup",
    restartServer: "ollama-agent.restartServer",
    keepHunk: "ollama-agent.keepHunk",
    undoHunk: "ollama-agent.undoHunk",
    keepFile: "ollama-agent.keepFile",
    undoFile: "ollama-agent.undoFile",
    reviewChanges: "ollama-agent.reviewChanges",
} as const;

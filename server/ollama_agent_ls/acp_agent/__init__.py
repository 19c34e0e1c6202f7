"""The agent as an ACP agent (Agent Client Protocol) on stdio, for Zed, JetBrains, Neovim and
Emacs agent panels. Nothing here is imported by the language server or the other commands:
the ACP SDK loads only when this mode runs."""

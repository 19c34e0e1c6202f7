"""The custom commands' names (their arguments' shapes are in lsp/command_args.py)."""

from __future__ import annotations

RUN_SELECTION = "ollamaAgent.runSelection"
RUN_SPEC = "ollamaAgent.runSpec"
IMPLEMENT_TODO = "ollamaAgent.implementTodo"
CANCEL = "ollamaAgent.cancel"
UNDO_RUN = "ollamaAgent.undoRun"
LIST_MODELS = "ollamaAgent.listModels"
CHECK_SETUP = "ollamaAgent.checkSetup"
ALL_COMMANDS = (RUN_SELECTION, RUN_SPEC, IMPLEMENT_TODO, CANCEL, UNDO_RUN, LIST_MODELS, CHECK_SETUP)

SAVE_DOCUMENTS = "ollamaAgent/saveDocuments"

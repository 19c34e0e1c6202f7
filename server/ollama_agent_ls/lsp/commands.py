"""The custom commands' names (their arguments' shapes are in lsp/command_args.py)."""

from __future__ import annotations

RUN_SELECTION = "ollamaAgent.runSelection"
RUN_SPEC = "ollamaAgent.runSpec"
IMPLEMENT_TODO = "ollamaAgent.implementTodo"
CANCEL = "ollamaAgent.cancel"
UNDO_RUN = "ollamaAgent.undoRun"
LIST_MODELS = "ollamaAgent.listModels"
CHECK_SETUP = "ollamaAgent.checkSetup"
RUN_TASK = "ollamaAgent.runTask"
FOLLOW_UP = "ollamaAgent.followUp"
LIST_SESSIONS = "ollamaAgent.listSessions"
GET_SESSION = "ollamaAgent.getSession"
ALL_COMMANDS = (
    RUN_SELECTION, RUN_SPEC, IMPLEMENT_TODO, CANCEL, UNDO_RUN, LIST_MODELS, CHECK_SETUP,
    RUN_TASK, FOLLOW_UP, LIST_SESSIONS, GET_SESSION,
)  # fmt: skip

RUN_COMMANDS = (RUN_SELECTION, RUN_SPEC, IMPLEMENT_TODO, RUN_TASK, FOLLOW_UP)
"""The commands that start an agent run; each takes ``wait`` (see RUN_FINISHED)."""

SAVE_DOCUMENTS = "ollamaAgent/saveDocuments"
APPROVE_COMMAND = "ollamaAgent/approveCommand"
"""Request to a client declaring experimental.ollamaAgent.approveCommand: may this command run?
Params ``{runId, sessionId, command, cwd, destructive, reason, timeoutSeconds, outsideSandbox?}``,
answer ``{decision}``, one of APPROVE_DECISIONS; other clients get window/showMessageRequest."""
APPROVE_DECISIONS = ("allow", "allowSession", "deny", "allowOutsideSandbox")
RUN_FINISHED = "ollamaAgent/runFinished"
"""Notification: a run started with ``wait: false`` ended; its params are the run's result, the
same object the command answers with when it waits."""

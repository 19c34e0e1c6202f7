"""Every custom name of this server's protocol, declared once: the workspace/executeCommand
commands, the notifications and requests it sends, and the client capabilities it reads.

The VS Code extension mirrors them in src/lsp_ext.ts and the Neovim plugin in
lua/ollama_agent/protocol.lua; tests/unit/lsp/test_protocol_names.py checks that the three agree.
The commands' argument shapes are in lsp/command_args.py.
"""

from __future__ import annotations

# -- commands (workspace/executeCommand) -----------------------------------------------------------

RUN_SELECTION = "ollamaAgent.runSelection"
RUN_SPEC = "ollamaAgent.runSpec"
VERIFY_SPEC = "ollamaAgent.verifySpec"
IMPLEMENT_TODO = "ollamaAgent.implementTodo"
CANCEL = "ollamaAgent.cancel"
UNDO_RUN = "ollamaAgent.undoRun"
LIST_MODELS = "ollamaAgent.listModels"
CHECK_SETUP = "ollamaAgent.checkSetup"
RUN_TASK = "ollamaAgent.runTask"
FOLLOW_UP = "ollamaAgent.followUp"
LIST_SESSIONS = "ollamaAgent.listSessions"
GET_SESSION = "ollamaAgent.getSession"
RUN_CHANGES = "ollamaAgent.runChanges"
"""``{runId}`` -> ``[{uri, hunks: [{id, range, oldText, newText, state}]}]``."""
REVERT_HUNK = "ollamaAgent.revertHunk"
"""``{runId, uri, hunkId}``: put one hunk back as it was before the run."""
KEEP_HUNK = "ollamaAgent.keepHunk"
"""``{runId, uri, hunkId}``: keep one hunk (a later undoRun leaves it alone)."""
ALL_COMMANDS = (
    RUN_SELECTION, RUN_SPEC, VERIFY_SPEC, IMPLEMENT_TODO, CANCEL, UNDO_RUN, LIST_MODELS,
    CHECK_SETUP, RUN_TASK, FOLLOW_UP, LIST_SESSIONS, GET_SESSION, RUN_CHANGES, REVERT_HUNK,
    KEEP_HUNK,
)  # fmt: skip
"""Every command the server registers (a test checks create_server() registers exactly these)."""

RUN_COMMANDS = (RUN_SELECTION, RUN_SPEC, VERIFY_SPEC, IMPLEMENT_TODO, RUN_TASK, FOLLOW_UP)
"""The commands that start work in the background; each takes ``wait`` (see RUN_FINISHED)."""

# -- notifications (server to client) ------------------------------------------------------------

TRANSCRIPT = "ollamaAgent/transcript"
"""One event of a run: ``{runId, kind, text, ...}``."""
RUN_FINISHED = "ollamaAgent/runFinished"
"""A run started with ``wait: false`` ended; its params are the run's result, the same object
the command answers with when it waits."""
NUDGE = "$/ollamaAgent/nudge"
"""A notification with nothing in it (clients may ignore any ``$/`` one), sent while a request
to the client stays unanswered: see AgentProtocol.send_request."""
NOTIFICATIONS = (TRANSCRIPT, RUN_FINISHED, NUDGE)

# -- requests (server to client) and the capabilities that enable them ----------------------------

SAVE_DOCUMENTS = "ollamaAgent/saveDocuments"
"""``{uris}`` -> ``{saved}``: write these buffers before a command reads the disk."""
APPROVE_COMMAND = "ollamaAgent/approveCommand"
"""Request to a client declaring experimental.ollamaAgent.approveCommand: may this command run?
Params ``{runId, sessionId, command, cwd, destructive, reason, timeoutSeconds, outsideSandbox?}``,
answer ``{decision}``, one of APPROVE_DECISIONS; other clients get window/showMessageRequest."""
APPROVE_DECISIONS = ("allow", "allowSession", "deny", "allowOutsideSandbox")
REQUESTS = (SAVE_DOCUMENTS, APPROVE_COMMAND)

CAPABILITIES = ("saveDocuments", "approveCommand")
"""Flags a client declares under ``capabilities.experimental.ollamaAgent`` (each enables the
request of the same name)."""

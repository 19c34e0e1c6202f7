"""Code actions: "Implement TODO with Ollama agent" on TODO comments, and the spec actions."""

from __future__ import annotations

import logging

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import JsonRpcInvalidParams

from ollama_agent_ls.lsp import lsp_ext as ext
from ollama_agent_ls.lsp.server import (
    AgentServer,
)
from ollama_agent_ls.lsp.todo_comments import find_todo

log = logging.getLogger(__name__)


_DISABLED_ACTIONS = "text_document.code_action.disabled_support"


def text_document_code_action(
    ls: AgentServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    """Offer "Implement TODO with Ollama agent" on lines whose comment holds TODO/FIXME/XXX."""
    uri = params.text_document.uri
    if uri not in ls.workspace.text_documents:
        return None
    try:
        ls.command_path(uri, ext.IMPLEMENT_TODO)
        refusal = None
    except JsonRpcInvalidParams as exc:
        refusal = exc.message
    doc = ls.workspace.get_text_document(uri)
    text = doc.source
    start, end = params.range.start.line, params.range.end.line
    actions: list[types.CodeAction] = []
    for line in range(start, min(end, start + 50) + 1):
        todo = find_todo(text, line, doc.language_id, uri)
        if todo is None:
            continue
        actions.append(
            types.CodeAction(
                title="Implement TODO with Ollama agent",
                kind=types.CodeActionKind.QuickFix,
                command=types.Command(
                    title="Implement TODO with Ollama agent",
                    command=ext.IMPLEMENT_TODO,
                    # Answered at once, the result comes as ollamaAgent/runFinished: a generic
                    # client (eglot gives up after 10 s) never waits on a run.
                    arguments=[{"uri": uri, "line": line, "wait": False}],
                ),
            )
        )
        break
    from ollama_agent_ls.lsp.spec_runs import spec_code_actions

    if refusal is None:
        actions.extend(spec_code_actions(ls, uri))
    elif get_capability(ls.client_capabilities, _DISABLED_ACTIONS, False):
        # Shown greyed out with the reason (how to open the folder), instead of failing on use.
        for action in actions:
            action.disabled = types.CodeActionDisabled(reason=refusal)
    return actions or None


def register(server: AgentServer) -> None:
    """Register text_document_code_action on ``server``."""
    server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.Source]
        ),
    )(text_document_code_action)

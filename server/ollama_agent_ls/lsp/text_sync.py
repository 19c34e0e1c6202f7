"""Document sync: what the editor holds, so runs read unsaved text and see their edits land."""

from __future__ import annotations

import logging

from lsprotocol import types

from ollama_agent_ls.lsp.server import (
    AgentServer,
    show_uri,
)

log = logging.getLogger(__name__)


async def text_document_did_open(ls: AgentServer, params: types.DidOpenTextDocumentParams) -> None:
    """The store now has the document: forget any text we remembered for it."""
    _forget(ls, params.text_document.uri)
    await ls.editor.notify_changed()


def _forget(ls: AgentServer, uri: str) -> None:
    try:
        ls.editor.pending.pop(ls.editor.forget(uri), None)
    except (OSError, ValueError):
        # A URI no path can have (file:///%00): nothing was remembered for it.
        log.debug("no path for %s", show_uri(uri))


async def text_document_did_change(
    ls: AgentServer, params: types.DidChangeTextDocumentParams
) -> None:
    """Wake edits waiting to see their text land."""
    await ls.editor.notify_changed()
    ls.forget_finished_requests()


async def text_document_did_close(
    ls: AgentServer, params: types.DidCloseTextDocumentParams
) -> None:
    """A closed document's truth is the disk again."""
    _forget(ls, params.text_document.uri)
    await ls.editor.notify_changed()


def register(server: AgentServer) -> None:
    """Register didOpen, didChange and didClose on ``server``."""
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(text_document_did_open)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(text_document_did_change)
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(text_document_did_close)

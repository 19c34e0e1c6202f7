"""Logging for the server: stderr or a file, and records forwarded as window/logMessage."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
}


class LspLogHandler(logging.Handler):
    """Sends our log records to the client (never pygls's own: it logs every message body)."""

    def __init__(self, server: LanguageServer) -> None:
        super().__init__()
        self.server = server
        self._busy = False

    def emit(self, record: logging.LogRecord) -> None:
        """Forward one record as window/logMessage."""
        if self._busy or record.name.startswith("pygls"):
            return
        self._busy = True  # a failure to send must not log, and so recurse
        try:
            kind = _LEVELS.get(record.levelno, types.MessageType.Log)
            self.server.window_log_message(
                types.LogMessageParams(type=kind, message=self.format(record))
            )
        except Exception:  # no client yet, or the transport closed
            pass
        finally:
            self._busy = False


def setup_logging(server: LanguageServer, log_file: Path | None, level: str | None) -> None:
    """Route logs to stderr (never stdout: it is the protocol) or a file, and to the client."""
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8")
        if log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    ours = logging.getLogger("ollama_agent_ls")
    ours.setLevel((level or "info").upper())
    forward = LspLogHandler(server)
    forward.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    ours.addHandler(forward)
    logging.getLogger("pygls").setLevel(logging.WARNING)

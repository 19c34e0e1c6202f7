"""Incremental NDJSON decoding of a byte stream that may be split at any byte."""

from __future__ import annotations

import json
from typing import Any

from .errors import OllamaProtocolError

_QUOTE_LIMIT = 200


def _bad_line(line: bytes, exc: ValueError) -> OllamaProtocolError:
    text = line[:_QUOTE_LIMIT].decode("utf-8", errors="replace")
    more = "..." if len(line) > _QUOTE_LIMIT else ""
    return OllamaProtocolError(
        f"Ollama sent a line that is not JSON ({exc}): {text!r}{more}. "
        "Check that ollamaUrl points at an Ollama server (not a proxy's error page)."
    )


def _decode_lines(block: bytes, out: list[Any]) -> None:
    for line in block.split(b"\n"):
        try:
            # json.loads accepts bytes and ignores surrounding whitespace, so a trailing
            # "\r" from CRLF framing needs no extra copy.
            out.append(json.loads(line))
        except ValueError as exc:
            if line.strip():
                raise _bad_line(line, exc) from exc


class NDJSONDecoder:
    """Feed byte chunks in, get every complete JSON value out; blank lines are skipped."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[Any]:
        """Add ``chunk`` and return the values of all lines it completed (maybe none)."""
        # Search only the new chunk so a long line arriving in small pieces stays linear.
        cut = chunk.rfind(b"\n")
        if cut < 0:
            self._buffer += chunk
            return []
        out: list[Any] = []
        if self._buffer:
            self._buffer += chunk[:cut]
            block = bytes(self._buffer)
            self._buffer.clear()
        else:
            block = chunk[:cut]
        self._buffer += chunk[cut + 1 :]
        _decode_lines(block, out)
        return out

    def close(self) -> list[Any]:
        """Decode what is left after the stream ended (a last line without a newline)."""
        if not self._buffer:
            return []
        block = bytes(self._buffer)
        self._buffer.clear()
        out: list[Any] = []
        _decode_lines(block, out)
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line still waiting for its newline."""
        return len(self._buffer)

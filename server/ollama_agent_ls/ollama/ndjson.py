"""Incremental NDJSON decoding of a byte stream that may be split at any byte."""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable
from typing import Any, cast

from ..settings import Settings
from .errors import OllamaProtocolError

_QUOTE_LIMIT = 200
DEFAULT_LINE_MAX_BYTES: int = Settings.model_fields["stream_line_max_bytes"].default
"""The default of streamLineMaxBytes, for decoders built without the settings."""


def line_too_long(limit: int) -> OllamaProtocolError:
    """The error for a streamed line longer than ``limit`` bytes (streamLineMaxBytes)."""
    return OllamaProtocolError(
        f"Ollama sent a line longer than streamLineMaxBytes ({limit:,} bytes), so the request "
        "was stopped rather than holding it all in memory. Raise streamLineMaxBytes if replies "
        "really are that long, or check that ollamaUrl points at an Ollama server."
    )


def _bad_line(line: bytes, exc: ValueError) -> OllamaProtocolError:
    text = line[:_QUOTE_LIMIT].decode("utf-8", errors="replace")
    more = "..." if len(line) > _QUOTE_LIMIT else ""
    return OllamaProtocolError(
        f"Ollama sent a line that is not JSON ({exc}): {text!r}{more}. "
        "Check that ollamaUrl points at an Ollama server (not a proxy's error page)."
    )


# The C scanner behind json.loads, called directly: NDJSON lines are compact JSON, so skipping
# json.loads' type checks, encoding sniffing and whitespace regexes is a large share of the cost.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    cast(Any, json.JSONDecoder())
)


def _decode_lines(block: bytes, out: list[Any]) -> None:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        for raw in block.split(b"\n"):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _bad_line(raw, exc) from exc
        raise _bad_line(block, exc) from exc
    append = out.append
    for line in text.split("\n"):
        try:
            value, end = _scan_once(line, 0)
        except StopIteration:
            # Blank line, leading whitespace or not JSON at all: the slow path sorts them out.
            _decode_slowly(line, out)
            continue
        except ValueError as exc:
            raise _bad_line(line.encode("utf-8"), exc) from exc
        if end != len(line) and not line[end:].isspace():
            raise _bad_line(line.encode("utf-8"), ValueError(f"extra data at column {end + 1}"))
        append(value)


def _decode_slowly(line: str, out: list[Any]) -> None:
    stripped = line.strip()
    if not stripped:
        return
    try:
        out.append(json.loads(stripped))
    except ValueError as exc:
        raise _bad_line(line.encode("utf-8"), exc) from exc


class NDJSONDecoder:
    """Feed byte chunks in, get every complete JSON value out; blank lines are skipped.

    A line longer than ``max_line_bytes`` raises OllamaProtocolError as soon as it is seen, so
    a server that never sends a newline cannot make the buffer grow without bound.
    """

    __slots__ = ("_buffer", "_max")

    def __init__(self, max_line_bytes: int = DEFAULT_LINE_MAX_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_line_bytes

    def feed(self, chunk: bytes) -> list[Any]:
        """Add ``chunk`` and return the values of all lines it completed (maybe none)."""
        # Search only the new chunk so a long line arriving in small pieces stays linear.
        cut = chunk.rfind(b"\n")
        if cut < 0:
            if len(self._buffer) + len(chunk) > self._max:
                self._buffer.clear()
                raise line_too_long(self._max)
            self._buffer += chunk
            return []
        if len(chunk) - cut - 1 > self._max:
            self._buffer.clear()
            raise line_too_long(self._max)
        out: list[Any] = []
        if self._buffer:
            self._buffer += chunk[:cut]
            block = bytes(self._buffer)
            self._buffer.clear()
        else:
            block = chunk[:cut]
        self._buffer += chunk[cut + 1 :]
        if len(block) > self._max:
            self._check_lines(block)
        _decode_lines(block, out)
        return out

    def _check_lines(self, block: bytes) -> None:
        # Only reached when the block is big: most blocks are far below the limit.
        start = 0
        while start <= len(block):
            end = block.find(b"\n", start)
            if end < 0:
                end = len(block)
            if end - start > self._max:
                self._buffer.clear()
                raise line_too_long(self._max)
            start = end + 1

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

"""Incremental Server-Sent Events decoding of a byte stream that may be split at any byte.

Follows the WHATWG event-stream rules that matter for chat completions: lines end in CRLF, LF or
CR; ``:`` starts a comment (llama.cpp's keep-alive pings); ``data`` lines of one event are joined
with newlines; a blank line ends the event; a leading byte-order mark is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from ..settings import Settings
from .errors import ServerProtocolError

_BOM = b"\xef\xbb\xbf"
DEFAULT_LINE_MAX_BYTES: int = Settings.model_fields["stream_line_max_bytes"].default
"""The default of streamLineMaxBytes, for decoders built without the settings."""


def event_too_long(limit: int, what: str = "a line") -> ServerProtocolError:
    """The error for a streamed line or event longer than ``limit`` bytes (streamLineMaxBytes)."""
    return ServerProtocolError(
        f"The server sent {what} longer than streamLineMaxBytes ({limit:,} bytes) in its event "
        "stream, so the request was stopped rather than holding it all in memory. Raise "
        "streamLineMaxBytes if replies really are that long, or check that baseUrl points at "
        "an OpenAI-compatible API."
    )


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its ``data`` (lines joined by ``\\n``), type and id."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed byte chunks in, get every complete event out.

    A line, or an event's joined data, longer than ``max_line_bytes`` raises
    ServerProtocolError, so a server that never ends a line cannot grow memory without bound.
    """

    __slots__ = ("_buffer", "_data", "_event", "_has_data", "_id", "_max", "_size", "_started")

    def __init__(self, max_line_bytes: int = DEFAULT_LINE_MAX_BYTES) -> None:
        self._buffer = bytearray()
        self._data: list[str] = []
        self._has_data = False
        self._event = ""
        self._id: str | None = None
        self._started = False
        self._max = max_line_bytes
        self._size = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Add ``chunk`` and return the events it completed (maybe none)."""
        self._buffer += chunk
        if not self._started:
            if len(self._buffer) < len(_BOM) and _BOM.startswith(bytes(self._buffer)):
                return []
            if self._buffer.startswith(_BOM):
                del self._buffer[: len(_BOM)]
            self._started = True
        out: list[SSEEvent] = []
        buffer = self._buffer
        start = 0
        end = len(buffer)
        while start < end:
            lf = buffer.find(b"\n", start)
            cr = buffer.find(b"\r", start, lf if lf >= 0 else end)
            if cr >= 0:
                if cr + 1 == end:
                    # A CR as the last byte may be the first half of a CRLF: wait for the next.
                    break
                line_end, next_start = cr, cr + 2 if buffer[cr + 1] == 0x0A else cr + 1
            elif lf >= 0:
                line_end, next_start = lf, lf + 1
            else:
                break
            self._line(bytes(buffer[start:line_end]), out)
            start = next_start
        del buffer[:start]
        # A kept trailing CR may be half of a CRLF, not part of the line.
        if len(buffer) - buffer.endswith(b"\r") > self._max:
            self._fail("a line")
        return out

    def close(self) -> list[SSEEvent]:
        """The stream ended: finish a last event whose blank line never came.

        An unterminated last line is dropped (it may be cut short); complete ``data`` lines that
        merely lack the final blank line are still an event, as some servers end that way.
        """
        out: list[SSEEvent] = []
        if self._buffer.endswith(b"\r"):
            self._line(bytes(self._buffer[:-1]), out)
        self._buffer.clear()
        self._dispatch(out)
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line still waiting for its end."""
        return len(self._buffer)

    def _line(self, raw: bytes, out: list[SSEEvent]) -> None:
        if not raw:
            self._dispatch(out)
            return
        if len(raw) > self._max:
            self._fail("a line")
        if raw[:1] == b":":
            return
        line = raw.decode("utf-8", errors="replace")
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            # The event's data lines as sent (field name included), joined by newlines: that is
            # what gets held and parsed whole.
            self._size += len(raw) + (1 if self._has_data else 0)
            if self._size > self._max:
                self._fail("an event")
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        # "retry" and unknown fields are ignored, as the standard says.

    def _dispatch(self, out: list[SSEEvent]) -> None:
        if self._has_data:
            out.append(SSEEvent("\n".join(self._data), self._event or "message", self._id))
        self._data = []
        self._has_data = False
        self._event = ""
        self._size = 0

    def _fail(self, what: str) -> NoReturn:
        self._buffer.clear()
        self._data = []
        self._has_data = False
        self._size = 0
        raise event_too_long(self._max, what)

"""JSON-RPC over a byte stream, hardened where pygls 2's reader and dispatch are not.

pygls's loop (``pygls.io_.run_async``) goes deaf for good after one bad header: with a
Content-Length that is missing, not a number or negative it reads the next bodies as header lines,
and one larger than the body swallows the messages after it. It also leaves requests unanswered
(the client waits forever) when their params do not fit the method, when they come in a batch, or
when ``jsonrpc`` is not "2.0". Here ``FrameParser`` cuts the stream into bodies, dropping what
cannot be a message and resynchronising on the next ``Content-Length`` header, and
``HardenedProtocol`` answers every request it cannot handle with an error that carries its id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from lsprotocol.types import EXIT, ResponseError, ResponseErrorMessage
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
)
from pygls.io_ import StdoutWriter
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
)

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 128 * 1024 * 1024
"""The largest message accepted; a larger Content-Length is treated as a broken header."""
MAX_HEADER_BYTES = 8 * 1024
"""Header blocks are a line or two; more than this without a blank line is not a header."""
READ_CHUNK = 64 * 1024

_MARKER = re.compile(rb"content-length:", re.IGNORECASE)
# A whole Content-Length line can never sit inside a valid JSON body: the bare words cannot be
# outside a string, and a raw newline cannot be inside one. Finding one in a body therefore
# proves the declared length ran past the message into the next one.
_HEADER_LINE = re.compile(rb"content-length:[ \t]{0,16}\d{1,20}[ \t]{0,16}\r?\n", re.IGNORECASE)
_HEADER_LINE_MAX = 80
"""Longer than any _HEADER_LINE match: how far scans overlap."""
_HEADER_LINE_REST = re.compile(rb"[ \t]{0,16}(?:\d{1,20}(?:[ \t]{0,16}\r?)?)?")
_HEADERS_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class Frame:
    """One message body, as the header declared it."""

    body: bytes


@dataclass(frozen=True)
class FramingError:
    """Input that was dropped because it cannot be a message; ``reason`` says why."""

    reason: str


def _show(data: bytes, limit: int = 40) -> str:
    text = data[:limit].decode("utf-8", "replace")
    return repr(text + ("..." if len(data) > limit else ""))


def _content_length(block: bytes, max_body: int) -> int | str:
    """The Content-Length a header block declares, or why it declares none that can be used."""
    length: int | None = None
    for line in re.split(rb"\r?\n", block):
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            return f"{_show(line)} is not a header line"
        if name.lower() != b"content-length":
            continue  # Content-Type and unknown headers do not matter
        text = value.strip(b" \t")
        if not (text.isdigit() and text.isascii()):
            return f"Content-Length {_show(text)} is not a whole number of bytes"
        if length is not None and int(text) != length:
            return "two different Content-Length headers"
        length = int(text)
    if length is None:
        return "the header has no Content-Length"
    if length > max_body:
        return f"Content-Length {length} is over the {max_body}-byte limit"
    return length


def _could_become_header_line(tail: bytes) -> bool:
    """True when more bytes could make ``tail`` a whole _HEADER_LINE."""
    name = b"content-length:"
    lowered = tail.lower()
    if len(lowered) <= len(name):
        return name.startswith(lowered)
    rest = lowered[len(name) :]
    return lowered.startswith(name) and _HEADER_LINE_REST.fullmatch(rest) is not None


class FrameParser:
    """Cuts a byte stream into message bodies; bad framing is dropped up to the next header."""

    def __init__(self, max_body: int = MAX_BODY_BYTES, max_header: int = MAX_HEADER_BYTES) -> None:
        self.max_body = max_body
        self.max_header = max_header
        self._buf = bytearray()
        self._need: int | None = None
        """Body bytes the current header declared; None while reading headers."""
        self._scanned = 0
        """How much of the current body was already searched for a header line."""
        self._skipping = False
        """After a framing error: dropping input until the next Content-Length."""

    @property
    def mid_message(self) -> bool:
        """True when part of a message has been read (a closed stream cut it off)."""
        if self._need is not None:
            return True
        return not self._skipping and bool(self._buf.strip(b"\r\n"))

    def feed(self, data: bytes) -> list[Frame | FramingError]:
        """Add input; the bodies and framing errors it completes, in stream order."""
        self._buf += data
        out: list[Frame | FramingError] = []
        while True:
            progressed, item = self._step()
            if item is not None:
                out.append(item)
            if not progressed:
                return out

    def _step(self) -> tuple[bool, Frame | FramingError | None]:
        if self._need is None:
            return self._step_header()
        return self._step_body(self._need)

    def _step_header(self) -> tuple[bool, Frame | FramingError | None]:
        buf = self._buf
        if self._skipping:
            found = _MARKER.search(buf)
            if found is None:
                self._keep_tail()
                return False, None
            del buf[: found.start()]
            self._skipping = False
        start = 0
        while start < len(buf) and buf[start] in b"\r\n":
            start += 1  # blank lines between messages are harmless
        del buf[:start]
        if not buf:
            return False, None
        end = _HEADERS_END.search(buf, 0, self.max_header + 4)
        if end is None:
            if len(buf) <= self.max_header:
                return False, None
            return True, self._resync(f"no end of headers within {self.max_header} bytes")
        declared = _content_length(bytes(buf[: end.start()]), self.max_body)
        if isinstance(declared, str):
            return True, self._resync(declared)
        del buf[: end.end()]
        self._need, self._scanned = declared, 0
        return True, None

    def _step_body(self, need: int) -> tuple[bool, Frame | FramingError | None]:
        buf = self._buf
        start = max(0, self._scanned - _HEADER_LINE_MAX)
        header = _HEADER_LINE.search(buf, start, need + _HEADER_LINE_MAX)
        if header is not None and header.start() < need:
            del buf[: header.start()]
            self._need = None
            return True, FramingError(
                f"a header declared {need} bytes, but the next message began after {header.start()}"
            )
        if len(buf) < need or self._header_may_follow(need):
            self._scanned = len(buf)
            return False, None
        body = bytes(buf[:need])
        del buf[:need]
        self._need = None
        return True, Frame(body)

    def _header_may_follow(self, need: int) -> bool:
        # A header line that starts inside the body but is not all here yet: wait for the rest
        # rather than hand on a body that swallowed the start of the next message.
        first = max(0, len(self._buf) - _HEADER_LINE_MAX)
        return any(
            self._buf[p] in b"cC" and _could_become_header_line(bytes(self._buf[p:]))
            for p in range(first, need)
        )

    def _resync(self, reason: str) -> FramingError:
        found = _MARKER.search(self._buf, 1)
        if found is None:
            self._skipping = True
            self._keep_tail()
        else:
            del self._buf[: found.start()]
        return FramingError(reason)

    def _keep_tail(self) -> None:
        # The next header's name may be split across reads.
        keep = len(b"content-length:") - 1
        del self._buf[: max(0, len(self._buf) - keep)]


def _is_id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        list: "an array",
        dict: "an object",
    }.get(type(value), "null")


def _structure_problem(exc: BaseException) -> str:
    from cattrs import transform_error

    try:
        lines = transform_error(exc)
    except Exception:
        return str(exc)
    return "; ".join(lines[:3]) + (f" (and {len(lines) - 3} more)" if len(lines) > 3 else "")


class HardenedProtocol(LanguageServerProtocol):
    """pygls's protocol, answering with an error every request it cannot hand to a handler."""

    def handle_body(self, body: bytes) -> None:
        """Decode, check and dispatch one message body."""
        try:
            data = json.loads(body.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError is a ValueError
            log.warning("Dropped a message that is not JSON (%s): %s", exc, _show(body))
            self._reply_error(None, JsonRpcParseError(f"Parse error: the body is not JSON: {exc}"))
            return
        if isinstance(data, list):
            self._refuse_batch(data)
            return
        if not isinstance(data, dict):
            self._reply_error(
                None,
                JsonRpcInvalidRequest(f"A message must be a JSON object, not {_kind(data)}."),
            )
            return
        self._handle_object(data)

    def framing_error(self, error: FramingError) -> None:
        """Report dropped input: on stderr and to the client (there is no id to answer)."""
        log.warning(
            "Dropped input that is not a JSON-RPC message (%s); reading on from the next "
            "Content-Length header.",
            error.reason,
        )
        self._reply_error(
            None, JsonRpcParseError(f"Dropped input that is not a message: {error.reason}.")
        )

    def _handle_object(self, data: dict[str, Any]) -> None:
        msg_id = data.get("id")
        method = data.get("method")
        is_request = "method" in data and "id" in data
        answer_id = msg_id if is_request and _is_id(msg_id) else None
        problem = self._envelope_problem(data)
        if problem is not None:
            if "method" in data and not is_request:
                log.warning("Dropped notification %r: %s", method, problem)
            elif not is_request and "id" in data and ("result" in data or "error" in data):
                log.warning("Dropped a response from the client: %s", problem)
            else:
                self._reply_error(answer_id, JsonRpcInvalidRequest(f"Invalid request: {problem}"))
            return
        params = data.get("params")
        if params is not None and not isinstance(params, (dict, list)):
            text = f"The params of {method} must be an object, not {_kind(params)}."
            if is_request:
                self._reply_error(answer_id, JsonRpcInvalidParams(text))
            else:
                log.warning("Dropped notification: %s", text)
            return
        if is_request and self._shutdown and method != EXIT:
            self._reply_error(
                answer_id,
                JsonRpcInvalidRequest(
                    f"{method} came after shutdown; the server only accepts exit now. "
                    "Start a new server to go on."
                ),
            )
            return
        try:
            message = self._structure(data)
        except Exception as exc:
            problem = _structure_problem(exc)
            if is_request:
                text = f"Invalid params for {method}: {problem}"
                self._reply_error(answer_id, JsonRpcInvalidParams(text))
            elif "method" in data:
                log.warning("Dropped notification %r: its params do not fit: %s", method, problem)
            elif _is_id(msg_id) and msg_id is not None:
                # Fail the request that waits for this answer rather than leave it waiting.
                log.warning("The client's response %r does not fit: %s", msg_id, problem)
                error = ResponseError(code=JsonRpcInvalidParams.CODE, message=problem)
                self._handle_response(msg_id, None, error)
            return
        try:
            self.handle_message(message)
        except Exception:
            log.exception("Unable to handle %r", method or "a response")

    def _structure(self, data: dict[str, Any]) -> Any:
        # pygls's structure_message, minus its logging a traceback for every bad message.
        if "id" in data:
            if "error" in data:
                return self._converter.structure(data, ResponseErrorMessage)
            if "method" in data:
                kind = self.get_message_type(data["method"]) or JsonRPCRequestMessage
            else:
                kind = self._result_types.pop(data["id"], None) or JsonRPCResponseMessage
        else:
            kind = self.get_message_type(data["method"]) or JsonRPCNotification
        return self._converter.structure(data, kind)

    @staticmethod
    def _envelope_problem(data: dict[str, Any]) -> str | None:
        if data.get("jsonrpc") != "2.0":
            return f'"jsonrpc" must be "2.0", not {json.dumps(data.get("jsonrpc"))}.'
        if "id" in data and not _is_id(data["id"]) and "method" in data:
            return f'"id" must be a string or an integer, not {_kind(data["id"])}.'
        if "method" in data and not isinstance(data["method"], str):
            return f'"method" must be a string, not {_kind(data["method"])}.'
        if "method" not in data and not ("id" in data and ("result" in data or "error" in data)):
            return 'a message needs a "method" (or, as a response, an "id" and a "result").'
        return None

    def _refuse_batch(self, items: list[Any]) -> None:
        text = (
            "Batches (a JSON array of messages) are not part of the Language Server Protocol; "
            "send each message on its own."
        )
        ids = [
            item["id"]
            for item in items
            if isinstance(item, dict) and "method" in item and _is_id(item.get("id"))
        ]
        log.warning("Refused a batch of %d messages", len(items))
        for msg_id in ids or [None]:
            self._reply_error(msg_id, JsonRpcInvalidRequest(text))

    def _reply_error(self, msg_id: Any, error: JsonRpcException) -> None:
        # A plain dict: pygls's response type would leave out an id of null.
        self._send_data(
            {
                "jsonrpc": "2.0",
                "id": msg_id,
                "error": {"code": error.code, "message": error.message},
            }
        )


async def read_messages(
    read: Callable[[], Awaitable[bytes]], protocol: HardenedProtocol, stop: threading.Event
) -> None:
    """Feed what ``read`` returns through a FrameParser to ``protocol`` until end of input."""
    parser = FrameParser()
    while not stop.is_set():
        try:
            data = await read()
        except OSError as exc:
            log.error("Reading from the client failed (%s); the server exits.", exc)
            return
        if not data:
            if parser.mid_message:
                log.error("The client closed the stream in the middle of a message; exiting.")
            else:
                log.info("The client closed the stream; exiting.")
            return
        for item in parser.feed(data):
            try:
                if isinstance(item, FramingError):
                    protocol.framing_error(item)
                else:
                    protocol.handle_body(item.body)
            except Exception:
                # The framing is intact, so the next message can still be read.
                log.exception("Unable to handle a message")


def start_io(server: LanguageServer, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Serve on stdio as pygls's ``start_io`` does, reading through ``read_messages``."""
    protocol = server.protocol
    assert isinstance(protocol, HardenedProtocol)
    server._stop_event = stop = threading.Event()
    protocol.set_writer(StdoutWriter(stdout))
    read_some = getattr(stdin, "read1", stdin.read)

    async def read() -> bytes:
        loop = asyncio.get_running_loop()
        data: bytes = await loop.run_in_executor(server.thread_pool, read_some, READ_CHUNK)
        return data

    try:
        asyncio.run(read_messages(read, protocol, stop))
    except BrokenPipeError:
        log.error("The client closed its end of the pipe; the server exits.")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()  # type: ignore[no-untyped-call]


def start_tcp(server: LanguageServer, host: str, port: int) -> None:
    """Serve one TCP client at a time as pygls's ``start_tcp`` does, via ``read_messages``."""
    protocol = server.protocol
    assert isinstance(protocol, HardenedProtocol)
    server._stop_event = stop = threading.Event()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        protocol.set_writer(writer)

        async def read() -> bytes:
            return await reader.read(READ_CHUNK)

        await read_messages(read, protocol, stop)
        server.shutdown()  # type: ignore[no-untyped-call]

    async def serve() -> None:
        server._server = tcp = await asyncio.start_server(connection, host, port)
        log.info("Serving on %s", ", ".join(str(s.getsockname()) for s in tcp.sockets))
        async with tcp:
            await tcp.serve_forever()

    try:
        asyncio.run(serve())
    except asyncio.CancelledError:
        log.debug("The TCP server was cancelled")

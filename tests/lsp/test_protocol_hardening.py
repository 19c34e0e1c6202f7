"""The server's JSON-RPC edge: bad framing, bad envelopes and batches, written as raw bytes.

Each end-to-end test drives a real ``python -m ollama_agent_ls serve`` over pipes. Its stdout is
read by a strict reader: anything that is not a framed JSON message fails the test, since stdout
is the protocol. Every wait is for a specific message, with a deadline that fails the test.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.lsp.protocol import Frame, FrameParser, FramingError

WAIT = 30.0
"""Seconds before a missing message fails the test (a hang guard, not a measurement)."""
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
PARSE_ERROR = -32700
INTERNAL_ERROR = -32603


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def frame(message: dict[str, Any] | list[Any]) -> bytes:
    """One message with its header, as a client writes it."""
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def request(msg_id: int, method: str, params: Any = None) -> dict[str, Any]:
    """A JSON-RPC request object."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def cancel_all(msg_id: int) -> dict[str, Any]:
    """ollamaAgent.cancel with no runs: a cheap request whose answer shows the server works."""
    return request(
        msg_id, "workspace/executeCommand", {"command": "ollamaAgent.cancel", "arguments": [{}]}
    )


class RawServer:
    """The real server over pipes, spoken to in bytes."""

    def __init__(self, workspace: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_AGENT_")}
        env["OLLAMA_HOST"] = f"http://127.0.0.1:{_closed_port()}"
        self.workspace = workspace
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ollama_agent_ls", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=workspace,
        )
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        """Received and not yet taken by ``response``."""
        self.received: list[dict[str, Any]] = []
        self.stray: list[bytes] = []
        """Bytes on stdout that were not a framed JSON message."""
        self.stderr: list[str] = []
        self._stderr_done = threading.Event()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        # Both pipes are drained all the time: a full pipe would stall the server.
        threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True).start()

    def _read_stdout(self, out: IO[bytes]) -> None:
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        return
                    if line == b"\r\n":
                        break
                    name, colon, value = line.decode("latin-1").partition(":")
                    if not colon or not line.endswith(b"\r\n"):
                        self.stray.append(line)
                    elif name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() != "content-type":
                        self.stray.append(line)
                if length is None:
                    self.stray.append(b"<a message without Content-Length>")
                    return
                body = out.read(length)
                try:
                    self.messages.put(json.loads(body))
                except ValueError:
                    self.stray.append(body)
        finally:
            self.messages.put(None)

    def _read_stderr(self, err: IO[bytes]) -> None:
        for raw in err:
            self.stderr.append(raw.decode(errors="replace").rstrip("\n"))
        self._stderr_done.set()

    def stderr_text(self) -> str:
        """The server's stderr so far (for failure messages and checks)."""
        return "\n".join(self.stderr)

    def write(self, data: bytes) -> None:
        """Raw bytes to the server's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any] | list[Any]) -> None:
        """One correctly framed message."""
        self.write(frame(message))

    def next_message(self, what: str) -> dict[str, Any]:
        """The next message the server writes; fails the test after WAIT seconds."""
        try:
            message = self.messages.get(timeout=WAIT)
        except queue.Empty:
            pytest.fail(f"no {what} within {WAIT}s; stderr:\n{self.stderr_text()}")
        if message is None:
            self.messages.put(None)
            pytest.fail(f"stdout closed before {what}; stderr:\n{self.stderr_text()}")
        self.seen.append(message)
        self.received.append(message)
        return message

    def response(self, msg_id: int | None) -> dict[str, Any]:
        """The response to ``msg_id`` (None: the next error without an id)."""
        for message in self.seen:
            if "method" not in message and message.get("id") == msg_id:
                self.seen.remove(message)
                return message
        while True:
            message = self.next_message(f"response to {msg_id}")
            if "method" not in message and message.get("id") == msg_id:
                self.seen.remove(message)
                return message

    def error(self, msg_id: int | None) -> dict[str, Any]:
        """The error object answering ``msg_id``."""
        answer = self.response(msg_id)
        assert "error" in answer, answer
        return dict(answer["error"])

    def initialize(self) -> None:
        """initialize (with the workspace as root and folder), then initialized."""
        uri = self.workspace.as_uri()
        self.send(
            request(
                1,
                "initialize",
                {
                    "processId": os.getpid(),
                    "rootUri": uri,
                    "workspaceFolders": [{"uri": uri, "name": "ws"}],
                    "capabilities": {},
                },
            )
        )
        assert "capabilities" in self.response(1)["result"]
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    def assert_works(self, msg_id: int) -> None:
        """The server answers a request after whatever came before."""
        self.send(cancel_all(msg_id))
        answer = self.response(msg_id)
        assert answer.get("result") == {"cancelled": []}, answer

    def wait_exit(self) -> int:
        """The exit code (fails the test when the server does not exit in time)."""
        try:
            code = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not exit; stderr:\n{self.stderr_text()}")
        self._stderr_done.wait(WAIT)
        return code

    def close(self) -> None:
        """Shut down and exit politely, else kill."""
        if self.proc.poll() is None:
            try:
                self.send(request(9999, "shutdown"))
                self.response(9999)
                self.send({"jsonrpc": "2.0", "method": "exit"})
                self.proc.stdin.close()  # type: ignore[union-attr]
                self.proc.wait(timeout=WAIT)
            except (OSError, subprocess.TimeoutExpired, pytest.fail.Exception):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def raw(tmp_path: Path) -> Iterator[RawServer]:
    """An initialized server over raw pipes; stdout must hold nothing but framed messages."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    server = RawServer(workspace)
    server.initialize()
    yield server
    server.close()
    assert server.stray == [], server.stray
    internal = [m for m in server.received if m.get("error", {}).get("code") == INTERNAL_ERROR]
    assert internal == [], internal


# -- envelopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "codes", "expected"),
    [
        (
            request(5, "workspace/executeCommand", "ollamaAgent.cancel"),
            (INVALID_PARAMS,),
            "must be an object, not a string",
        ),
        (
            request(5, "textDocument/codeAction", "file:///x.py"),
            (INVALID_PARAMS,),
            "must be an object, not a string",
        ),
        (
            request(5, "textDocument/codeAction", {"textDocument": {"uri": "file:///x.py"}}),
            (INVALID_PARAMS,),
            "Invalid params for textDocument/codeAction: required field missing",
        ),
        (
            {"jsonrpc": "1.0", "id": 5, "method": "workspace/executeCommand", "params": {}},
            (INVALID_REQUEST,),
            '"jsonrpc" must be "2.0"',
        ),
        (
            {"jsonrpc": "2.0", "id": 5, "method": 42},
            (INVALID_REQUEST,),
            '"method" must be a string',
        ),
    ],
    ids=["string-params", "string-params-feature", "missing-field", "jsonrpc-1", "method-int"],
)
def test_a_request_the_server_cannot_take_gets_an_error_with_its_id(
    raw: RawServer, message: dict[str, Any], codes: tuple[int, ...], expected: str
) -> None:
    raw.send(message)

    error = raw.error(5)

    assert error["code"] in codes, error
    assert expected in error["message"], error
    raw.assert_works(6)


def test_a_message_with_an_unusable_id_is_answered_without_one(raw: RawServer) -> None:
    raw.send({"jsonrpc": "2.0", "id": {"n": 1}, "method": "shutdown"})

    error = raw.error(None)

    assert error["code"] == INVALID_REQUEST
    assert '"id" must be a string or an integer' in error["message"]
    raw.assert_works(6)


def test_a_batch_gets_an_error_for_each_request_in_it_and_the_server_goes_on(
    raw: RawServer,
) -> None:
    initialized = {"jsonrpc": "2.0", "method": "initialized", "params": {}}
    raw.send([cancel_all(7), initialized, cancel_all(8)])

    for msg_id in (7, 8):
        error = raw.error(msg_id)
        assert error["code"] == INVALID_REQUEST
        assert "Batches (a JSON array of messages) are not part of" in error["message"]

    raw.send([])
    assert raw.error(None)["code"] == INVALID_REQUEST
    raw.assert_works(9)


def test_a_body_that_is_not_json_gets_a_parse_error_and_the_next_request_an_answer(
    raw: RawServer,
) -> None:
    raw.write(b"Content-Length: 11\r\n\r\n{not json!}")
    raw.write(b"Content-Length: 2\r\n\r\n\xff\xfe")

    for _ in range(2):
        assert raw.error(None)["code"] == PARSE_ERROR
    raw.assert_works(6)


def test_a_request_after_shutdown_is_refused_rather_than_left_unanswered(raw: RawServer) -> None:
    raw.send(request(70, "shutdown"))
    assert raw.response(70)["result"] is None

    raw.send(cancel_all(71))
    error = raw.error(71)

    assert error["code"] == INVALID_REQUEST
    assert "came after shutdown" in error["message"]
    raw.send({"jsonrpc": "2.0", "method": "exit"})
    raw.wait_exit()


# -- framing -------------------------------------------------------------------------------------

BAD = json.dumps(cancel_all(50)).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"Content-Length: abc\r\n\r\n" + BAD, "is not a whole number"),
        (b"Content-Length: -5\r\n\r\n" + BAD, "is not a whole number"),
        (b"Content-Length: %d\r\n\r\n" % (len(BAD) + 40) + BAD, "the next message began"),
        (b"Content-Length: 1000000\r\n\r\n" + BAD, "the next message began"),
        (b"Content-Length: %d\r\n\r\n" % 10**12 + BAD, "over the"),
        (b"Content-Length: %d\r\n\r\n" % (len(BAD) - 10) + BAD, "not a header line"),
        (b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" + BAD, "no Content"),
        (BAD, "not a header line"),
        (b"Content-Length: 12\r\nContent-Length: 13\r\n\r\n" + BAD, "two different"),
    ],
    ids=[
        "non-numeric",
        "negative",
        "larger-than-body",
        "much-larger-than-body",
        "over-the-limit",
        "smaller-than-body",
        "missing",
        "no-header-at-all",
        "two-lengths",
    ],
)
def test_after_a_bad_header_the_server_resynchronises_on_the_next_one(
    raw: RawServer, data: bytes, reason: str
) -> None:
    raw.write(data)
    # Written separately: the server must not wait for the bad message to be completed by
    # bytes that never come, nor swallow the good request that follows.
    raw.send(cancel_all(51))

    assert raw.response(51)["result"] == {"cancelled": []}
    dropped = raw.error(None)
    assert dropped["code"] == PARSE_ERROR
    raw.assert_works(52)
    raw.assert_works(53)
    assert reason in raw.stderr_text()
    assert "reading on from the next Content-Length header" in raw.stderr_text()


def test_a_bad_header_glued_to_good_messages_in_one_write_loses_only_itself(
    raw: RawServer,
) -> None:
    raw.write(
        b"Content-Length: x\r\n\r\n" + BAD + frame(cancel_all(61)) + b"\r\n" + frame(cancel_all(62))
    )

    assert raw.response(61)["result"] == {"cancelled": []}
    assert raw.response(62)["result"] == {"cancelled": []}
    assert raw.error(None)["code"] == PARSE_ERROR


def test_a_stream_cut_in_the_middle_of_a_message_ends_the_server_with_the_reason(
    raw: RawServer,
) -> None:
    raw.write(b'Content-Length: 500\r\n\r\n{"jsonrpc": "2.0", ')
    assert raw.proc.stdin is not None
    raw.proc.stdin.close()

    raw.wait_exit()

    assert "closed the stream in the middle of a message" in raw.stderr_text()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc (Linux)")
def test_file_descriptor_1_is_not_the_protocol_so_stray_writes_go_to_stderr(
    raw: RawServer,
) -> None:
    # A child process or C library writing to descriptor 1 must not corrupt the framing.
    fds = Path(f"/proc/{raw.proc.pid}/fd")

    assert os.readlink(fds / "1") == os.readlink(fds / "2")
    raw.assert_works(6)


# -- the frame parser ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.builds(
    lambda v, i: json.dumps({"jsonrpc": "2.0", "id": i, "params": v}).encode(),
    json_values,
    st.integers(0, 10**6),
)


def _framed(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _feed_in_pieces(data: bytes, cuts: list[int]) -> list[Frame | FramingError]:
    parser = FrameParser()
    out: list[Frame | FramingError] = []
    points = sorted({c % (len(data) + 1) for c in cuts})
    start = 0
    for point in [*points, len(data)]:
        out.extend(parser.feed(data[start:point]))
        start = point
    return out


@settings(deadline=None, max_examples=300)
@given(st.lists(bodies, min_size=1, max_size=5), st.lists(st.integers(0, 10**6), max_size=8))
def test_valid_streams_come_out_as_their_bodies_however_they_are_cut(
    items: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(_framed(b) for b in items)

    assert _feed_in_pieces(data, cuts) == [Frame(b) for b in items]


@settings(deadline=None, max_examples=500)
@given(
    st.binary(max_size=120) | st.sampled_from([b"Content-Length: 3\r\n", b"Content-Length: 99"]),
    st.lists(bodies, min_size=3, max_size=3),
    st.lists(st.integers(0, 10**6), max_size=6),
)
def test_after_any_garbage_the_parser_recovers_by_the_second_message(
    garbage: bytes, items: list[bytes], cuts: list[int]
) -> None:
    data = garbage + b"".join(_framed(b) for b in items)

    frames = [f.body for f in _feed_in_pieces(data, cuts) if isinstance(f, Frame)]

    # The garbage may absorb the first message's header; never more.
    assert frames[-2:] == items[1:]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=10))
def test_arbitrary_input_never_raises_and_keeps_the_buffer_small(chunks: list[bytes]) -> None:
    parser = FrameParser(max_body=1000, max_header=100)
    for chunk in chunks:
        parser.feed(chunk)
        assert len(parser._buf) <= 1000 + 200 + 200

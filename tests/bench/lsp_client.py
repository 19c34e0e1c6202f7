"""A minimal LSP client over a subprocess's pipes: raw JSON-RPC, nothing between us and the clock.

pygls or pytest-lsp clients would add their own parsing and scheduling to every timestamp; this
one stamps each message with ``time.monotonic_ns()`` as soon as its body is read, answers the
server's requests an editor would answer (applyEdit applied to its own copy of the document,
then didChange), and keeps the ``ollamaAgent/transcript`` notifications with their arrival time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CAPABILITIES: dict[str, Any] = {
    "general": {"positionEncodings": ["utf-16"]},
    "workspace": {
        "applyEdit": True,
        "workspaceEdit": {"documentChanges": True, "resourceOperations": ["create", "delete"]},
    },
    "window": {"workDoneProgress": True, "showMessage": {}},
    "textDocument": {"synchronization": {"dynamicRegistration": False}},
}


@dataclass
class Received:
    """One notification and when it was read (monotonic ns)."""

    at_ns: int
    method: str
    params: Any


@dataclass
class OpenDocument:
    """The client's copy of an open document (ASCII text: LSP characters are str indices)."""

    uri: str
    text: str
    version: int = 1


@dataclass
class LspClient:
    """One server process and its JSON-RPC session."""

    command: Sequence[str]
    env: dict[str, str] | None = None
    proc: asyncio.subprocess.Process | None = None
    notifications: list[Received] = field(default_factory=list)
    documents: dict[str, OpenDocument] = field(default_factory=dict)
    keep_method: str = "ollamaAgent/transcript"
    spawned_ns: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _waiting: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None
    _stderr: asyncio.Task[bytes] | None = None

    async def start(self) -> None:
        """Spawn the server; ``spawned_ns`` is the moment just before the spawn."""
        self.spawned_ns = time.monotonic_ns()
        self.proc = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            limit=1 << 24,
        )
        self._reader = asyncio.create_task(self._read_loop())
        assert self.proc.stderr is not None
        self._stderr = asyncio.create_task(self.proc.stderr.read())

    # -- wire ---------------------------------------------------------------------------------

    def _write(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        body = json.dumps(message, separators=(",", ":")).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def request(self, method: str, params: Any = None) -> Any:
        """Send a request and wait for its result; a JSON-RPC error raises RuntimeError."""
        msg_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = future
        self._write({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return await future

    def notify(self, method: str, params: Any = None) -> None:
        """Send a notification."""
        self._write({"jsonrpc": "2.0", "method": method, "params": params})

    async def _read_loop(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        try:
            while True:
                length = 0
                while True:
                    header = await stdout.readline()
                    if not header:
                        raise EOFError
                    if header in (b"\r\n", b"\n"):
                        break
                    name, _, value = header.decode("ascii").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                body = await stdout.readexactly(length)
                at = time.monotonic_ns()
                self._dispatch(json.loads(body), at)
        except (EOFError, asyncio.IncompleteReadError):
            error = RuntimeError(f"the server closed its output; stderr: {await self.stderr()}")
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(error)

    def _dispatch(self, message: dict[str, Any], at: int) -> None:
        if "method" not in message:
            future = self._waiting.pop(message.get("id"), None)  # type: ignore[arg-type]
            if future is None or future.done():
                return
            if "error" in message:
                future.set_exception(RuntimeError(f"JSON-RPC error: {message['error']}"))
            else:
                future.set_result(message.get("result"))
            return
        method = message["method"]
        if "id" in message:
            self._write({"jsonrpc": "2.0", "id": message["id"], "result": self._answer(message)})
        elif method == self.keep_method:
            self.notifications.append(Received(at, method, message.get("params")))

    def _answer(self, message: dict[str, Any]) -> Any:
        method = message["method"]
        params = message.get("params") or {}
        if method == "workspace/applyEdit":
            return self._apply_edit(params.get("edit") or {})
        if method == "workspace/configuration":
            return [None for _ in params.get("items", [])]
        return None  # window/showMessageRequest and the rest: no choice, nothing to add

    def _apply_edit(self, edit: dict[str, Any]) -> dict[str, Any]:
        changes: list[tuple[str, list[dict[str, Any]]]] = []
        for change in edit.get("documentChanges") or []:
            if "edits" in change:
                changes.append((change["textDocument"]["uri"], change["edits"]))
        for uri, edits in (edit.get("changes") or {}).items():
            changes.append((uri, edits))
        for uri, edits in changes:
            doc = self.documents.get(uri)
            if doc is None:
                continue
            doc.text = _apply(doc.text, edits)
            doc.version += 1
            self.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": doc.version},
                    "contentChanges": [{"text": doc.text}],
                },
            )
        return {"applied": True}

    # -- session ------------------------------------------------------------------------------

    async def initialize(self, root: Path, options: dict[str, Any] | None = None) -> Any:
        """initialize + initialized; returns the initialize result."""
        result = await self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "capabilities": CAPABILITIES,
                "initializationOptions": options or {},
            },
        )
        self.notify("initialized", {})
        return result

    def open(self, path: Path, language: str = "python") -> str:
        """didOpen ``path`` with its disk text; returns its URI."""
        uri = path.as_uri()
        text = path.read_text(encoding="utf-8")
        self.documents[uri] = OpenDocument(uri, text)
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}},
        )
        return uri

    async def stop(self) -> None:
        """shutdown + exit, then wait for the process (killed if it lingers)."""
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.request("shutdown"), 10)
            self.notify("exit")
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def stderr(self) -> str:
        """The server's stderr so far (complete once it exited)."""
        if self._stderr is None:
            return ""
        if not self._stderr.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._stderr), 2)
        return self._stderr.result().decode(errors="replace")[-2000:] if self._stderr.done() else ""

    def rss_bytes(self) -> int:
        """The server's resident memory now (VmRSS from /proc)."""
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status; this benchmark needs Linux")


def _apply(text: str, edits: list[dict[str, Any]]) -> str:
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(pos: dict[str, int]) -> int:
        line = pos["line"]
        if line >= len(lines):
            return len(text)
        return min(starts[line] + pos["character"], starts[line + 1])

    spans = sorted(
        ((offset(e["range"]["start"]), offset(e["range"]["end"]), e["newText"]) for e in edits),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text

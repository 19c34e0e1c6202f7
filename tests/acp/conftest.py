"""An editor as an ACP client: the Python SDK's client side, spawning the real agent on stdio.

``EditorClient`` keeps buffers (a file written through fs/write_text_file stays unsaved there,
as in an editor), answers permission requests from a script, and records every session update
with events to wait on, so no test sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from acp import RequestError, spawn_agent_process
from acp.client.connection import ClientSideConnection
from acp.schema import (
    AllowedOutcome,
    ClientCapabilities,
    DeniedOutcome,
    FileSystemCapabilities,
    PermissionOption,
    ReadTextFileResponse,
    RequestPermissionResponse,
    ToolCallUpdate,
    WriteTextFileResponse,
)

AGENT = [sys.executable, "-m", "ollama_agent_ls", "acp"]
"""The documented entry point, the CLI's acp subcommand (``-m ollama_agent_ls.acp_agent`` is the
same agent: the TypeScript-client test starts it that way)."""

Decide = Callable[[ToolCallUpdate, list[PermissionOption]], str | None]
"""Picks an option id for a permission request (None: answer ``cancelled``)."""


def pick(kind: str) -> Decide:
    """Answer every permission request with the option of ``kind``, else the first allow."""

    def decide(tool_call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
        for option in options:
            if option.kind == kind:
                return option.option_id
        return next(o.option_id for o in options if o.kind.startswith("allow"))

    return decide


@dataclass
class Asked:
    """One permission request the agent sent."""

    tool_call: ToolCallUpdate
    options: list[PermissionOption]


@dataclass
class EditorClient:
    """The client side: buffers over the disk, scripted permission answers, recorded updates."""

    decide: Decide = field(default_factory=lambda: pick("allow_once"))
    buffers: dict[str, str] = field(default_factory=dict)
    """Unsaved editor texts by absolute path; reads see them before the disk."""
    writes: list[tuple[str, str]] = field(default_factory=list)
    updates: list[Any] = field(default_factory=list)
    asked: list[Asked] = field(default_factory=list)
    hold_permission: bool = False
    """Leave permission requests unanswered until the turn is cancelled."""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _cancel_answers: list[asyncio.Future[None]] = field(default_factory=list)

    async def request_permission(
        self, options: list[PermissionOption], session_id: str, tool_call: ToolCallUpdate, **_: Any
    ) -> RequestPermissionResponse:
        self.asked.append(Asked(tool_call, options))
        self._poke()
        if self.hold_permission:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._cancel_answers.append(waiter)
            await waiter
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        chosen = self.decide(tool_call, options)
        if chosen is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=chosen)
        )

    def answer_cancelled(self) -> None:
        """What a client must do on cancel: answer pending permission requests cancelled."""
        for waiter in self._cancel_answers:
            if not waiter.done():
                waiter.set_result(None)

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        self.updates.append(update)
        self._poke()

    async def read_text_file(self, path: str, session_id: str, **_: Any) -> ReadTextFileResponse:
        if path in self.buffers:
            return ReadTextFileResponse(content=self.buffers[path])
        try:
            text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
            return ReadTextFileResponse(content=text)
        except FileNotFoundError:
            raise RequestError.resource_not_found(path) from None

    async def write_text_file(
        self, content: str, path: str, session_id: str, **_: Any
    ) -> WriteTextFileResponse:
        self.writes.append((path, content))
        self.buffers[path] = content  # unsaved, as an editor keeps it until the user saves
        self._poke()
        return WriteTextFileResponse()

    def _poke(self) -> None:
        self._changed.set()

    async def wait_for(self, condition: Callable[[], object], timeout: float = 20.0) -> None:
        """Return once ``condition()`` holds; each update or request wakes the check."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"timed out after {timeout}s; updates: {self.updates!r}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def of(self, kind: str) -> list[Any]:
        """The recorded updates of one ``sessionUpdate`` kind."""
        return [u for u in self.updates if u.session_update == kind]

    def tool_calls(self) -> list[Any]:
        """The ``tool_call`` updates."""
        return self.of("tool_call")

    def final(self, tool_call_id: str) -> Any:
        """The last ``tool_call_update`` of a call."""
        return [u for u in self.of("tool_call_update") if u.tool_call_id == tool_call_id][-1]

    def message_text(self) -> str:
        """Every agent_message_chunk's text, joined."""
        return "".join(u.content.text for u in self.of("agent_message_chunk"))


FS_CAPABILITIES = ClientCapabilities(
    fs=FileSystemCapabilities(read_text_file=True, write_text_file=True), terminal=True
)


@contextlib.asynccontextmanager
async def agent_process(
    client: EditorClient,
    url: str,
    log: IO[str],
    *args: str,
    capabilities: ClientCapabilities = FS_CAPABILITIES,
) -> AsyncIterator[tuple[ClientSideConnection, asyncio.subprocess.Process]]:
    """The agent process on stdio, initialised; its stderr goes to ``log``."""
    env = {**os.environ, "OLLAMA_HOST": url, "NO_COLOR": "1"}
    env.pop("OLLAMA_AGENT_MODEL", None)
    async with spawn_agent_process(
        client, *AGENT, *args, env=env, transport_kwargs={"stderr": log}
    ) as (conn, proc):
        await conn.initialize(protocol_version=1, client_capabilities=capabilities)
        yield conn, proc


@pytest.fixture
def agent_log(tmp_path: Path) -> Iterator[IO[str]]:
    """The agent's stderr, shown when a test fails."""
    path = tmp_path.parent / f"{tmp_path.name}-agent.log"
    with path.open("w+", encoding="utf-8") as log:
        yield log
        log.flush()
        log.seek(0)
        sys.stderr.write(log.read())


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A small project: app.py with a bug."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "app.py").write_text("def add(a, b):\n    return a - b\n")
    return root.resolve()

"""One MCP server, over stdio or streamable HTTP, through the official SDK (imported here only).

The SDK's client is an async context manager whose task groups must be entered and left by one
task, so each server is held open by a task of its own (``_serve``) until it is closed; runs
call its tools from their own tasks through the open session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ollama_agent_ls import __version__
from ollama_agent_ls.settings import McpServerSettings

log = logging.getLogger(__name__)

CLOSE_WAIT = 5.0
"""Seconds a server gets to shut down when closed before its task is cancelled (which kills a
stdio server's process)."""
STDERR_TAIL = 400
"""Most characters of a stdio server's stderr quoted when it fails."""
STDERR_LINES = 5
"""Its last lines quoted (the end of a traceback says what went wrong)."""
_CONNECTION_CLOSED = -32000


class ServerDown(Exception):
    """The server could not be started, or is gone; the message says why and what to check."""


@dataclass(frozen=True)
class ListedTool:
    """A tool as the server lists it."""

    name: str
    description: str
    input_schema: dict[str, Any]


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside task-group exception groups, depth first."""
    inner = getattr(exc, "exceptions", None)  # an exception group (Python 3.11+, or anyio's)
    if isinstance(inner, (list, tuple)) and inner:
        for each in inner:
            yield from _leaves(each)
    else:
        yield exc


def _reason(exc: BaseException, cwd: Path | None = None) -> str:
    leaf = next(_leaves(exc), exc)
    text = str(leaf).strip() or type(leaf).__name__
    if isinstance(leaf, FileNotFoundError):
        if cwd is not None and leaf.filename is not None and Path(leaf.filename) == cwd:
            return f"its working directory {cwd} does not exist (set mcpServers.NAME.cwd)"
        return f"its command was not found ({text})"
    return text


class Connection:
    """A started MCP server; ``start`` lists its tools, ``call`` runs one, ``close`` stops it."""

    def __init__(self, name: str, config: McpServerSettings, root: Path) -> None:
        self.name = name
        self.config = config
        self.root = root
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[list[ListedTool]] | None = None
        self._stop = asyncio.Event()
        self._stderr: IO[str] | None = None
        self.down: str | None = None
        """Why the server is not usable any more (None while it is)."""

    @property
    def where(self) -> str:
        """The command or URL, for messages (never env or headers: they hold secrets)."""
        if self.config.url is not None:
            return self.config.url
        return " ".join([self.config.command or "", *self.config.args]).strip()

    def _cwd(self) -> Path | None:
        """Where a stdio server runs: its cwd (workspace-relative if relative), or the root."""
        if self.config.url is not None:
            return None
        cwd = Path(self.config.cwd).expanduser() if self.config.cwd else self.root
        return cwd if cwd.is_absolute() else self.root / cwd

    async def start(self) -> list[ListedTool]:
        """Start the server and list its tools; ServerDown when it fails or is too slow."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._task = asyncio.create_task(self._serve(self._ready), name=f"mcp server {self.name}")
        timeout = self.config.timeout
        try:
            return await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except asyncio.CancelledError:
            await self.close()  # no half-started server left behind
            raise
        except asyncio.TimeoutError:
            note = self._stderr_note()
            await self.close()
            raise ServerDown(
                f"it did not answer initialize and tools/list within {timeout:g} s{note}; check "
                f"that `{self.where}` is an MCP server, or raise mcpServers.{self.name}.timeout"
            ) from None

    async def _serve(self, ready: asyncio.Future[list[ListedTool]]) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await stack.enter_async_context(self._client_for(stack))
                tools = await self._list_tools(client)
                self._client = client
                if not ready.done():
                    ready.set_result(tools)
                await self._stop.wait()
        except Exception as exc:
            reason = _reason(exc, self._cwd())
            log.info("MCP server %s stopped: %s", self.name, reason)
            if not ready.done():
                note = self._stderr_note()
                ready.set_exception(ServerDown(f"it failed to start: {reason}{note}"))
            else:
                self.down = f"it stopped: {reason}"
        finally:
            self._client = None
            if self.down is None and ready.done() and not ready.cancelled():
                self.down = "it was stopped"
            if not ready.done():
                ready.set_exception(ServerDown("it was stopped before it started"))
            # Retrieved here so an unawaited failure is not logged as "never retrieved".
            if ready.done() and not ready.cancelled():
                ready.exception()

    def _client_for(self, stack: contextlib.AsyncExitStack) -> Any:
        from mcp import Client, StdioServerParameters
        from mcp.types import Implementation

        info = Implementation(name="ollama-agent-ls", version=__version__)
        config = self.config
        if config.url is not None:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            # The SDK's own defaults: 30 s to connect, 5 min between events of a stream.
            http = httpx2.AsyncClient(
                headers=dict(config.headers), timeout=httpx2.Timeout(30.0, read=300.0)
            )
            stack.push_async_callback(http.aclose)
            return Client(streamable_http_client(config.url, http_client=http), client_info=info)
        cwd = self._cwd()
        params = StdioServerParameters(
            command=config.command or "", args=list(config.args), env=dict(config.env), cwd=cwd
        )
        # Its stderr is kept, not shown: quoted when it fails, never mixed into a transcript.
        # Closed by the exit stack when the server stops.
        stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._stderr = stack.enter_context(stderr)
        from mcp.client.stdio import stdio_client

        return Client(stdio_client(params, errlog=self._stderr), client_info=info)

    @staticmethod
    async def _list_tools(client: Any) -> list[ListedTool]:
        tools: list[ListedTool] = []
        cursor: str | None = None
        for _ in range(100):  # a server whose cursor never ends cannot hang the start
            page = await client.list_tools(cursor=cursor) if cursor else await client.list_tools()
            for tool in page.tools:
                schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
                tools.append(ListedTool(tool.name, tool.description or "", dict(schema)))
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    def _stderr_note(self) -> str:
        err = self._stderr
        if err is None or err.closed:
            return ""
        try:
            err.flush()
            size = os.fstat(err.fileno()).st_size
            err.seek(max(0, size - STDERR_TAIL * 4))
            lines = err.read().strip().splitlines()[-STDERR_LINES:]
            tail = " / ".join(line.strip() for line in lines if line.strip())[-STDERR_TAIL:]
        except (OSError, ValueError):
            return ""
        return f" (its stderr: {tail})" if tail else ""

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run ``tool``; the CallToolResult as JSON. ServerDown when the server is gone."""
        client = self._client
        if client is None or self.down is not None:
            raise ServerDown(self.down or "it is not running")
        from mcp import MCPError

        try:
            result = await asyncio.wait_for(client.call_tool(tool, arguments), timeout)
        except asyncio.TimeoutError:
            raise ServerDown(f"it did not answer within {timeout:g} s") from None
        except MCPError as exc:
            if exc.code == _CONNECTION_CLOSED:
                self.down = f"it exited{self._stderr_note()}"
                raise ServerDown(self.down) from None
            # A JSON-RPC error from a live server: the call was wrong, the server is fine.
            return {"content": [{"type": "text", "text": f"{exc}"}], "isError": True}
        except Exception as exc:  # the transport's own failures (a broken HTTP connection)
            self.down = f"it failed: {_reason(exc)}"
            raise ServerDown(self.down) from None
        data: dict[str, Any] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        return data

    async def close(self) -> None:
        """Stop the server (its process, or its HTTP session) and wait for that."""
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        if self._client is None:
            # Still starting (a hung initialize): nothing to shut down politely.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), CLOSE_WAIT)
        except asyncio.TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except asyncio.CancelledError:
            task.cancel()
            raise

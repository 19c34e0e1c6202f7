"""The MCP servers of one face: started at the first run that needs them, kept for later runs,
stopped with it (the language server's shutdown, the end of a CLI command or ACP agent)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from pathlib import Path

from ollama_agent_ls.mcp_tools.connection import Connection, ListedTool, ServerDown
from ollama_agent_ls.settings import McpServerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """A server as a session sees it: its connection and tools, or why it has none."""

    name: str
    connection: Connection
    tools: tuple[ListedTool, ...] = ()
    error: str | None = None


class McpHub:
    """Starts each configured server once and shares it between runs; ``close`` stops all."""

    def __init__(self) -> None:
        self._started: dict[tuple[str, str, str], asyncio.Task[Started]] = {}

    async def start(self, name: str, config: McpServerSettings, root: Path) -> Started:
        """The server ``name`` running with ``config`` (started now if it is not, or is gone)."""
        key = (name, config.model_dump_json(), str(root))
        task = self._started.get(key)
        if task is not None and task.done() and not _usable(task):
            # It failed or died: the next session tries again (the user may have fixed it).
            self._started.pop(key)
            task = None
        if task is None:
            await self._retire(name, key)
            task = asyncio.ensure_future(self._start(name, config, root))
            self._started[key] = task
        # Shielded: a run cancelled while a server starts must not leave it half started.
        return await asyncio.shield(task)

    @staticmethod
    async def _start(name: str, config: McpServerSettings, root: Path) -> Started:
        connection = Connection(name, config, root)
        try:
            tools = await connection.start()
        except ServerDown as exc:
            log.warning("MCP server %s (%s) is not available: %s", name, connection.where, exc)
            return Started(name, connection, error=str(exc))
        log.info("MCP server %s started: %d tools", name, len(tools))
        return Started(name, connection, tuple(tools))

    async def _retire(self, name: str, key: tuple[str, str, str]) -> None:
        """Stop the servers of the same name and root started with another configuration."""
        for other in [k for k in self._started if k[0] == name and k[2] == key[2] and k != key]:
            task = self._started.pop(other)
            if task.done() and not task.cancelled():
                await task.result().connection.close()

    async def close(self) -> None:
        """Stop every server (and any still starting)."""
        tasks = list(self._started.values())
        self._started.clear()
        closing = []
        for task in tasks:
            if not task.done():
                task.cancel()
            closing.append(_close(task))
        await asyncio.gather(*closing, return_exceptions=True)

    @property
    def running(self) -> list[str]:
        """Names of the servers running now."""
        return [
            task.result().name for task in self._started.values() if task.done() and _usable(task)
        ]


def _usable(task: asyncio.Task[Started]) -> bool:
    if task.cancelled() or task.exception() is not None:
        return False
    started = task.result()
    return started.error is None and started.connection.down is None


async def _close(task: asyncio.Task[Started]) -> None:
    try:
        started = await task
    except (asyncio.CancelledError, Exception):
        return
    await started.connection.close()


_HUBS: weakref.WeakKeyDictionary[object, McpHub] = weakref.WeakKeyDictionary()


def hub_for(owner: object) -> McpHub:
    """The hub of ``owner`` (a language server, an ACP agent, a CLI command's event loop)."""
    hub = _HUBS.get(owner)
    if hub is None:
        hub = _HUBS[owner] = McpHub()
    return hub


QUICK_GRACE = 0.5
"""Seconds a stdio server gets to exit after its stdin closes when its owner is exiting (the
SDK's own grace is 2 s, and an editor kills an agent that takes that long to end)."""


async def close_hub(owner: object, *, quick: bool = False) -> None:
    """Stop the MCP servers ``owner`` started, if any (``quick``: the owner's process is ending,
    so a server that does not exit when its stdin closes is terminated sooner)."""
    hub = _HUBS.pop(owner, None)
    if hub is None:
        return
    if not quick:
        await hub.close()
        return
    from mcp.client import stdio

    grace = stdio.PROCESS_TERMINATION_TIMEOUT
    stdio.PROCESS_TERMINATION_TIMEOUT = min(grace, QUICK_GRACE)
    try:
        await hub.close()
    finally:
        stdio.PROCESS_TERMINATION_TIMEOUT = grace

"""Turns agent events into ``ollamaAgent/transcript`` notifications and ``$/progress`` reports.

Models stream a token at a time; a notification per token would flood slow clients, so deltas are
merged and sent on average at most every ``INTERVAL`` seconds. A token bucket paces the sends: an
event goes out at once while a send is due, so a lone chunk after a quiet spell, or tokens that
come at about the allowed pace but jitter, are not held; faster tokens wait for the next send.
Nothing is ever dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from ollama_agent_ls.agent.events import AgentEvent

INTERVAL = 0.05
"""At most ~20 notifications a second per run (the ``transcriptUpdatesPerSecond`` default)."""
BURST = 2.0
"""Bucket size in sends. Tokens at about the allowed pace then go out as they come, jitter and
all; with a bucket of one, a token that came a little early would lock every later one into
waiting the same amount."""
_DELTA_KINDS = frozenset({"thinking", "content"})

Send = Callable[[dict[str, Any]], None]


class TranscriptStream:
    """Coalesces one run's events into notifications sent through ``send``."""

    def __init__(self, run_id: str, send: Send, interval: float = INTERVAL) -> None:
        self.run_id = run_id
        self._send = send
        self.interval = interval
        self._pending: list[dict[str, Any]] = []
        self._parts: list[str] | None = None
        """Pieces of the last pending delta, joined at flush (per-token joins are quadratic)."""
        self._parts_key: tuple[str, Any] = ("", None)
        """(kind, turn) of the open delta: the next delta with the same joins it."""
        self._tokens = BURST
        self._refilled: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def add(self, event: AgentEvent) -> None:
        """Queue ``event``; deltas of the same kind and turn merge into one entry."""
        kind = event.kind
        key = (kind, event.data.get("turn"))
        if self._parts is not None and key == self._parts_key:
            self._parts.append(event.text)
            if self._timer is None:
                self._schedule()
            return
        self._close_parts()
        self._pending.append({"runId": self.run_id, "kind": kind, "text": event.text, **event.data})
        if kind in _DELTA_KINDS:
            self._parts = [event.text]
            self._parts_key = key
        if kind == "finished":
            self.flush()
            return
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        self._refill(loop.time())
        if self._tokens >= 1:
            self.flush()
        else:
            self._timer = loop.call_later((1 - self._tokens) * self.interval, self.flush)

    def _refill(self, now: float) -> None:
        if self._refilled is not None:
            self._tokens = min(BURST, self._tokens + (now - self._refilled) / self.interval)
        self._refilled = now

    def flush(self) -> None:
        """Send everything queued now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._close_parts()
        pending, self._pending = self._pending, []
        if not pending:
            return
        for item in pending:
            self._send(item)
        with contextlib.suppress(RuntimeError):  # flushed after the loop closed
            self._refill(asyncio.get_running_loop().time())
        # A forced send (the run finished) may overdraw; the next ones then wait longer.
        self._tokens -= 1

    def _close_parts(self) -> None:
        if self._parts is not None:
            self._pending[-1]["text"] = "".join(self._parts)
            self._parts = None

    def close(self) -> None:
        """Flush and stop the timer."""
        self.flush()

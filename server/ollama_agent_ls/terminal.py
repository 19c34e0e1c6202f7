"""A run's transcript on a terminal: thinking dimmed, a line per tool call, a wait indicator."""

from __future__ import annotations

import asyncio
import os
import time
from typing import TextIO

from ollama_agent_ls.agent.events import AgentEvent

DIM, RED, YELLOW, GREEN, CYAN, RESET = (
    "\x1b[2m",
    "\x1b[31m",
    "\x1b[33m",
    "\x1b[32m",
    "\x1b[36m",
    "\x1b[0m",
)


class TranscriptPrinter:
    """Writes agent events to ``out`` (stderr, so stdout stays free for diffs)."""

    def __init__(self, out: TextIO, color: bool | None = None) -> None:
        self.out = out
        is_tty = hasattr(out, "isatty") and out.isatty()
        self.tty = is_tty
        self.color = (is_tty and "NO_COLOR" not in os.environ) if color is None else color
        self._mode: str | None = None
        self._waiting_since: float | None = None
        self._spinner: asyncio.Task[None] | None = None
        self._status_shown = False

    def _style(self, text: str, style: str) -> str:
        return f"{style}{text}{RESET}" if self.color else text

    def _switch(self, mode: str | None) -> None:
        # A newline between a streamed block and the next kind of output keeps lines readable.
        if self._mode in ("content", "thinking") and mode != self._mode:
            self.out.write("\n")
        self._mode = mode

    def _clear_status(self) -> None:
        if self._status_shown:
            self.out.write("\r\x1b[2K")
            self._status_shown = False

    def __call__(self, event: AgentEvent) -> None:
        """Print one event."""
        if event.kind == "progress":
            if "tokensPerSecond" not in event.data and "tool" not in event.data:
                self._start_waiting()
            return
        self._stop_waiting()
        kind, text = event.kind, event.text
        if kind == "thinking":
            if self._mode != "thinking":
                self._switch("thinking")
                self.out.write(self._style("thinking: ", DIM))
            self.out.write(self._style(text, DIM))
        elif kind == "content":
            self._switch("content")
            self.out.write(text)
        elif kind == "toolCall":
            self._line(f"→ {text}", CYAN)
        elif kind == "toolResult":
            self._switch(None)
            if not event.data.get("ok", True):
                self._line(f"  ✗ {text.splitlines()[0] if text else ''}", RED)
        elif kind == "edit":
            self._line(f"  ✎ {text}", GREEN)
        elif kind == "warning":
            self._line(f"warning: {text}", YELLOW)
        elif kind == "error":
            self._line(f"error: {text}", RED)
        elif kind == "started":
            self._line(f"Ollama agent ({event.data.get('model', '')}): {text}", DIM)
        elif kind == "finished":
            self._switch(None)
        self.out.flush()

    def _line(self, text: str, style: str) -> None:
        """A whole line of its own, after any streamed block."""
        self._switch(None)
        self.out.write(self._style(text, style) + "\n")

    def _start_waiting(self) -> None:
        self._waiting_since = time.monotonic()
        if not self.tty:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._spinner is None or self._spinner.done():
            self._spinner = loop.create_task(self._spin())

    def _stop_waiting(self) -> None:
        self._waiting_since = None
        if self._spinner is not None:
            self._spinner.cancel()
            self._spinner = None
        self._clear_status()

    async def _spin(self) -> None:
        frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
        n = 0
        while self._waiting_since is not None:
            elapsed = time.monotonic() - self._waiting_since
            if elapsed >= 0.5:
                if self._mode in ("content", "thinking"):
                    self._switch(None)
                self.out.write(
                    "\r\x1b[2K"
                    + self._style(
                        f"{frames[n % len(frames)]} waiting for the model… {elapsed:.0f}s", DIM
                    )
                )
                self.out.flush()
                self._status_shown = True
            n += 1
            await asyncio.sleep(0.1)

    def close(self) -> None:
        """End the last streamed line and stop the wait indicator."""
        self._stop_waiting()
        self._switch(None)
        self.out.flush()

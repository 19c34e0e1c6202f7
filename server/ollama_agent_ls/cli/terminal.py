"""A run's transcript on a terminal: thinking dimmed, a line per tool call, each edit's diff,
each command's exit code, duration and output tail, and wait indicators."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, TextIO

from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.tools.shell import signal_name

DIM, RED, YELLOW, GREEN, CYAN, RESET = (
    "\x1b[2m",
    "\x1b[31m",
    "\x1b[33m",
    "\x1b[32m",
    "\x1b[36m",
    "\x1b[0m",
)

TAIL_SHOWN = 10
"""Last lines of a command's output printed after it (the event may carry more)."""
RUNNING_LINE_EVERY = 10.0
"""Seconds between "running" lines when stderr is not a terminal (a log, not a live line)."""


def colour_wanted() -> bool:
    """False when NO_COLOR is set to a non-empty value (no-color.org: empty does not count)."""
    return not os.environ.get("NO_COLOR")


def duration_text(ms: int, precise: bool = True) -> str:
    """``ms`` for people: "0.4 s", "12 s", "2 min 05 s"; whole seconds unless ``precise``."""
    seconds = ms / 1000
    if seconds < 10 and precise:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _exit_text(data: dict[str, Any]) -> str:
    code = data.get("exitCode")
    took = duration_text(int(data.get("durationMs") or 0))
    if data.get("timedOut"):
        return f"timed out after {took}"
    if code is None:
        return f"exit code unknown · {took}"
    if code < 0:
        return f"killed by {signal_name(code)} · {took}"
    return f"exit {code} · {took}"


class TranscriptPrinter:
    """Writes agent events to ``out`` (stderr, so stdout stays free for diffs)."""

    def __init__(self, out: TextIO, color: bool | None = None) -> None:
        self.out = out
        is_tty = hasattr(out, "isatty") and out.isatty()
        self.tty = is_tty
        self.color = (is_tty and colour_wanted()) if color is None else color
        self._mode: str | None = None
        self._waiting_since: float | None = None
        self._spinner: asyncio.Task[None] | None = None
        self._status_shown = False
        self._running_lines: dict[str, int] = {}
        """Per command (callId): how many "running" lines a non-terminal got so far."""

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
            self._running_lines.pop(str(event.data.get("callId", "")), None)
            if not event.data.get("ok", True):
                self._line(f"  ✗ {text.splitlines()[0] if text else ''}", RED)
            elif "exitCode" in event.data:
                self._command_result(event.data)
        elif kind == "commandRunning":
            self._running(event.data)
        elif kind == "edit":
            self._line(f"  ✎ {text}", GREEN)
            self._diff(str(event.data.get("diff", "")), int(event.data.get("omittedLines") or 0))
        elif kind == "warning":
            self._line(f"warning: {text}", YELLOW)
        elif kind == "error":
            self._line(f"error: {text}", RED)
        elif kind == "started":
            self._line(f"Ollama agent ({event.data.get('model', '')}): {text}", DIM)
            rules = event.data.get("rules")
            if isinstance(rules, list) and rules:
                # Which AGENTS.md and rules files the model was given, since they steer it.
                self._line(f"rules: {', '.join(str(r) for r in rules)}", DIM)
        elif kind == "finished":
            self._switch(None)
        self.out.flush()

    def _line(self, text: str, style: str) -> None:
        """A whole line of its own, after any streamed block."""
        self._switch(None)
        self.out.write(self._style(text, style) + "\n")

    def _diff(self, diff: str, omitted: int) -> None:
        """An edit's diff under its line; the file headers are left out (the line names it)."""
        lines = diff.splitlines()
        if len(lines) >= 2 and lines[0].startswith("--- ") and lines[1].startswith("+++ "):
            lines = lines[2:]
        for line in lines:
            style = {"+": GREEN, "-": RED, "@": CYAN}.get(line[:1], "")
            self.out.write("    " + (self._style(line, style) if style else line) + "\n")
        if omitted:
            more = "line" if omitted == 1 else "lines"
            self.out.write(self._style(f"    … {omitted} more diff {more}", DIM) + "\n")

    def _command_result(self, data: dict[str, Any]) -> None:
        """How a command that ran ended, then the last lines of what it printed."""
        ok = data.get("exitCode") == 0 and not data.get("timedOut")
        self._line(f"  {'✓' if ok else '✗'} {_exit_text(data)}", GREEN if ok else RED)
        tail = str(data.get("outputTail") or "").split("\n")[-TAIL_SHOWN:]
        for line in tail if any(tail) else []:
            self.out.write(self._style(f"    {line}", DIM) + "\n")

    def _running(self, data: dict[str, Any]) -> None:
        """A command still running: one line redrawn on a terminal, a line now and then in a log."""
        self._switch(None)
        elapsed = int(data.get("elapsedMs") or 0)
        line = f"  running … {duration_text(elapsed, precise=False)}"
        if self.tty:
            self.out.write("\r\x1b[2K" + self._style(line, DIM))
            self._status_shown = True
            return
        call = str(data.get("callId", ""))
        due = int(elapsed / 1000 // RUNNING_LINE_EVERY)
        if due > self._running_lines.get(call, 0):
            self._running_lines[call] = due
            self.out.write(self._style(line, DIM) + "\n")

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

"""What `ollama-agent-ls run` shows on stderr: dimmed thinking and a wait spinner on a terminal,
plain text when stderr is a pipe or a file, and no colour under NO_COLOR."""

from __future__ import annotations

import asyncio
import io
import re
from types import SimpleNamespace

import pytest

from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.cli import terminal
from ollama_agent_ls.cli.terminal import DIM, RESET, TranscriptPrinter

ERASE_LINE = "\r\x1b[2K"
SGR = re.compile(r"\x1b\[[0-9;]*m")
WAITING = "waiting for the model"

# One run with every transcript kind, progress events included where the agent sends them.
RUN = [
    AgentEvent("started", "fix add", {"model": "qwen3:8b"}),
    AgentEvent("progress", "turn 1", {"turn": 1}),
    AgentEvent("thinking", "the sign "),
    AgentEvent("thinking", "is wrong"),
    AgentEvent("content", "I will "),
    AgentEvent("content", "edit it."),
    AgentEvent("toolCall", "edit_file app.py"),
    AgentEvent("progress", "turn 1: edit_file", {"turn": 1, "tool": "edit_file"}),
    AgentEvent("edit", "modify app.py"),
    AgentEvent("toolResult", "Edited app.py", {"ok": True}),
    AgentEvent("progress", "turn 1", {"turn": 1, "tokensPerSecond": 31.5}),
    AgentEvent("toolResult", "old_string not found\nread the file first", {"ok": False}),
    AgentEvent("warning", "Elided 1 old tool result(s)"),
    AgentEvent("error", "the stream dropped"),
    AgentEvent("finished", "done"),
]
RUN_LINES = [
    "Ollama agent (qwen3:8b): fix add",
    "thinking: the sign is wrong",
    "I will edit it.",
    "→ edit_file app.py",
    "  ✎ modify app.py",
    "  ✗ old_string not found",
    "warning: Elided 1 old tool result(s)",
    "error: the stream dropped",
]


class Tty(io.StringIO):
    """stderr on a terminal; ``frame`` is set each time a spinner frame is drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.frame = asyncio.Event()

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if WAITING in s:
            self.frame.set()
        return super().write(s)


class Clock:
    """Stands in for ``time`` in terminal.py so the wait's length is set, not slept through."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


def screen(raw: str) -> list[str]:
    """The lines a terminal leaves on screen: colour dropped, ``\\r`` + erase-line honoured."""
    lines = [""]
    i = 0
    while i < len(raw):
        if raw.startswith(ERASE_LINE, i):
            lines[-1] = ""
            i += len(ERASE_LINE)
        elif raw[i] == "\n":
            lines.append("")
            i += 1
        elif m := SGR.match(raw, i):
            i = m.end()
        else:
            assert raw[i] not in "\r\x1b", f"unexpected control sequence at {raw[i:]!r}"
            lines[-1] += raw[i]
            i += 1
    return lines[:-1] if lines[-1] == "" else lines


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    # Only terminal.py's view of time: the event loop keeps the real clock.
    monkeypatch.setattr(terminal, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture(autouse=True)
def colour_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)


async def spinner_tasks() -> set[asyncio.Task[object]]:
    """Tasks besides the test itself: the only one the printer starts is its spinner."""
    return asyncio.all_tasks() - {asyncio.current_task()}


async def wait_for_frame(out: Tty) -> None:
    out.frame.clear()
    # The timeout only keeps a broken spinner from hanging the suite.
    await asyncio.wait_for(out.frame.wait(), timeout=10)


# --- on a terminal ------------------------------------------------------------------------------


def test_thinking_is_dimmed_and_the_answer_is_not() -> None:
    out = Tty()
    printer = TranscriptPrinter(out)
    for event in [
        AgentEvent("thinking", "hm"),
        AgentEvent("thinking", "m"),
        AgentEvent("content", "Fixed "),
        AgentEvent("content", "it."),
    ]:
        printer(event)
    printer.close()
    assert out.getvalue() == (f"{DIM}thinking: {RESET}{DIM}hm{RESET}{DIM}m{RESET}\nFixed it.\n")
    assert screen(out.getvalue()) == ["thinking: hmm", "Fixed it."]


async def test_spinner_shows_while_waiting_and_is_erased_before_the_answer(clock: Clock) -> None:
    out = Tty()
    printer = TranscriptPrinter(out)
    printer(AgentEvent("progress", "turn 1", {"turn": 1}))
    clock.now += 3.2
    await wait_for_frame(out)
    assert out.getvalue().endswith(f"{ERASE_LINE}{DIM}⠋ {WAITING}… 3s{RESET}")
    assert screen(out.getvalue()) == [f"⠋ {WAITING}… 3s"]

    printer(AgentEvent("content", "Hello"))
    assert screen(out.getvalue()) == ["Hello"]
    assert out.getvalue().endswith(f"{RESET}{ERASE_LINE}Hello")
    # The spinner is stopped, not just hidden: it cannot draw over the answer later.
    leftover = await spinner_tasks()
    await asyncio.gather(*leftover, return_exceptions=True)
    assert all(task.cancelled() for task in leftover)
    printer.close()
    assert screen(out.getvalue()) == ["Hello"]


async def test_spinner_between_turns_keeps_the_streamed_line(clock: Clock) -> None:
    out = Tty()
    printer = TranscriptPrinter(out)
    printer(AgentEvent("progress", "turn 1", {"turn": 1}))
    printer(AgentEvent("thinking", "look at app.py"))
    printer(AgentEvent("progress", "turn 2", {"turn": 2}))
    clock.now += 1
    await wait_for_frame(out)
    clock.now += 1
    await wait_for_frame(out)
    # The spinner starts below the thinking line instead of erasing it.
    assert screen(out.getvalue()) == ["thinking: look at app.py", f"⠙ {WAITING}… 2s"]

    printer(AgentEvent("content", "Done."))
    printer.close()
    assert screen(out.getvalue()) == ["thinking: look at app.py", "Done."]
    text = SGR.sub("", out.getvalue())
    assert WAITING not in text.split("Done.")[1]


async def test_no_spinner_while_a_tool_runs_or_after_the_reply(clock: Clock) -> None:
    out = Tty()
    printer = TranscriptPrinter(out)
    printer(AgentEvent("progress", "turn 1: read_file", {"turn": 1, "tool": "read_file"}))
    printer(AgentEvent("progress", "turn 1", {"turn": 1, "tokensPerSecond": 20.0}))
    assert await spinner_tasks() == set()
    assert out.getvalue() == ""


async def test_closing_erases_a_spinner_left_on_screen(clock: Clock) -> None:
    out = Tty()
    printer = TranscriptPrinter(out)
    printer(AgentEvent("progress", "turn 1", {"turn": 1}))
    clock.now += 5
    await wait_for_frame(out)
    printer.close()
    assert screen(out.getvalue()) == []
    await asyncio.gather(*await spinner_tasks(), return_exceptions=True)


# --- not a terminal -----------------------------------------------------------------------------


async def test_a_pipe_gets_plain_text_in_order_and_no_spinner(clock: Clock) -> None:
    out = io.StringIO()
    printer = TranscriptPrinter(out)
    for event in RUN:
        printer(event)
        clock.now += 5
        # A spinner, if one were started, would be a task of this loop.
        assert await spinner_tasks() == set()
    printer.close()
    assert "\x1b" not in out.getvalue()
    assert "\r" not in out.getvalue()
    assert out.getvalue().splitlines() == RUN_LINES


# --- NO_COLOR -----------------------------------------------------------------------------------


async def test_no_color_drops_colour_but_keeps_the_spinner(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = Tty()
    printer = TranscriptPrinter(out)
    for event in RUN[:4]:
        printer(event)
    printer(AgentEvent("progress", "turn 2", {"turn": 2}))
    clock.now += 1
    await wait_for_frame(out)
    for event in RUN[4:]:
        printer(event)
    printer.close()
    assert SGR.search(out.getvalue()) is None
    assert screen(out.getvalue()) == RUN_LINES
    # The frame was drawn uncoloured, then erased.
    assert f"{ERASE_LINE}⠋ {WAITING}… 1s{ERASE_LINE}I will " in out.getvalue()

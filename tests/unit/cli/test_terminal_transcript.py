"""What `ollama-agent-ls run` shows on stderr of what happened: each edit's diff under its line,
each command's exit code, duration and output tail, and a "running" line while a command runs
(redrawn in place on a terminal, a line every ~10 s in a log)."""

from __future__ import annotations

import io

import pytest

from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.cli.terminal import (
    CYAN,
    DIM,
    GREEN,
    RED,
    RESET,
    TAIL_SHOWN,
    TranscriptPrinter,
    duration_text,
)
from tests.unit.cli.test_terminal_display import SGR, Tty, screen

DIFF = (
    "--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n"
    "-    return a - b\n+    return a + b\n"
)
EDIT = AgentEvent(
    "edit", "modify app.py", {"path": "app.py", "change": "modify", "diff": DIFF, "omittedLines": 0}
)


def result(**data: object) -> AgentEvent:
    fields = {"name": "run_command", "ok": True, "callId": "c1", "timedOut": False, **data}
    return AgentEvent("toolResult", "$ pytest -q", fields)


def running(ms: int, call_id: str = "c1") -> AgentEvent:
    return AgentEvent(
        "commandRunning", "pytest -q", {"callId": call_id, "command": "pytest -q", "elapsedMs": ms}
    )


@pytest.fixture(autouse=True)
def colour_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)


def printed(*events: AgentEvent, color: bool = False) -> str:
    out = io.StringIO()
    printer = TranscriptPrinter(out, color=color)
    for event in events:
        printer(event)
    printer.close()
    return out.getvalue()


# --- edits ---------------------------------------------------------------------------------------


def test_an_edit_shows_its_diff_under_its_line() -> None:
    assert printed(AgentEvent("toolCall", "edit_file app.py"), EDIT).splitlines() == [
        "→ edit_file app.py",
        "  ✎ modify app.py",
        "    @@ -1,2 +1,2 @@",
        "     def add(a, b):",
        "    -    return a - b",
        "    +    return a + b",
    ]


def test_a_cut_diff_says_how_much_was_left_out() -> None:
    data = {**EDIT.data, "omittedLines": 12}
    lines = printed(AgentEvent("edit", "modify app.py", data)).splitlines()
    assert lines[-1] == "    … 12 more diff lines"


def test_an_edit_without_a_diff_is_one_line() -> None:
    assert printed(AgentEvent("edit", "modify app.py")) == "  ✎ modify app.py\n"


def test_diff_lines_are_coloured_by_what_they_do() -> None:
    text = printed(EDIT, color=True)
    assert f"    {CYAN}@@ -1,2 +1,2 @@{RESET}\n" in text
    assert f"    {RED}-    return a - b{RESET}\n" in text
    assert f"    {GREEN}+    return a + b{RESET}\n" in text
    assert "     def add(a, b):\n" in text  # context stays plain


def test_no_color_set_turns_colour_off_and_empty_no_color_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = Tty()
    TranscriptPrinter(out)(EDIT)
    assert SGR.search(out.getvalue()) is None
    # no-color.org: "when present and not an empty string".
    monkeypatch.setenv("NO_COLOR", "")
    out = Tty()
    TranscriptPrinter(out)(EDIT)
    assert f"{GREEN}+    return a + b{RESET}" in out.getvalue()


# --- a command's result --------------------------------------------------------------------------


def test_a_command_shows_its_exit_code_duration_and_tail() -> None:
    tail = "collected 3 items\n3 passed in 0.12s"
    text = printed(result(exitCode=0, durationMs=1234, outputTail=tail))
    assert text.splitlines() == [
        "  ✓ exit 0 · 1.2 s",
        "    collected 3 items",
        "    3 passed in 0.12s",
    ]


def test_a_failing_command_is_red_and_its_tail_dimmed() -> None:
    text = printed(result(exitCode=1, durationMs=42_000, outputTail="1 failed"), color=True)
    assert text == f"{RED}  ✗ exit 1 · 42 s{RESET}\n{DIM}    1 failed{RESET}\n"


def test_only_the_last_lines_of_a_long_tail_are_printed() -> None:
    tail = "\n".join(f"line {n}" for n in range(20))
    lines = printed(result(exitCode=0, durationMs=10, outputTail=tail)).splitlines()
    assert lines[1:] == [f"    line {n}" for n in range(20 - TAIL_SHOWN, 20)]


def test_a_command_with_no_output_is_one_line() -> None:
    assert printed(result(exitCode=0, durationMs=10, outputTail="")) == "  ✓ exit 0 · 0.0 s\n"


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({"exitCode": None, "timedOut": True, "durationMs": 30_000}, "  ✗ timed out after 30 s"),
        ({"exitCode": -9, "durationMs": 500}, "  ✗ killed by SIGKILL · 0.5 s"),
        ({"exitCode": None, "durationMs": 500}, "  ✗ exit code unknown · 0.5 s"),
    ],
)
def test_a_command_that_did_not_exit_says_how_it_ended(data: dict[str, object], line: str) -> None:
    assert printed(result(outputTail="", **data)) == line + "\n"


def test_a_denied_command_shows_the_reason_not_an_exit_code() -> None:
    denied = AgentEvent("toolResult", "The user denied running `rm x`.", {"ok": False})
    assert printed(denied) == "  ✗ The user denied running `rm x`.\n"


def test_other_tools_results_print_nothing_when_they_succeed() -> None:
    ok = AgentEvent("toolResult", "1\tdef add", {"name": "read_file", "ok": True, "callId": "c"})
    assert printed(ok) == ""


@pytest.mark.parametrize(
    ("ms", "precise", "text"),
    [
        (0, True, "0.0 s"),
        (9_949, True, "9.9 s"),
        (12_345, True, "12 s"),
        (3_456, False, "3 s"),
        (125_000, True, "2 min 05 s"),
    ],
)
def test_durations_read_as_people_say_them(ms: int, precise: bool, text: str) -> None:
    assert duration_text(ms, precise) == text


# --- a command that is still running -----------------------------------------------------------


def test_on_a_terminal_the_running_line_is_redrawn_in_place_then_replaced() -> None:
    out = Tty()
    printer = TranscriptPrinter(out, color=False)
    printer(AgentEvent("toolCall", "run_command pytest -q", {"callId": "c1"}))
    for ms in (1_000, 2_000, 12_400):
        printer(running(ms))
        assert screen(out.getvalue()) == [
            "→ run_command pytest -q",
            f"  running … {duration_text(ms, precise=False)}",
        ]
    printer(result(exitCode=0, durationMs=12_900, outputTail="ok"))
    printer.close()
    assert screen(out.getvalue()) == ["→ run_command pytest -q", "  ✓ exit 0 · 12 s", "    ok"]


def test_closing_erases_a_running_line_left_on_screen() -> None:
    out = Tty()
    printer = TranscriptPrinter(out, color=False)
    printer(running(3_000))
    printer.close()
    assert screen(out.getvalue()) == []


def test_in_a_log_a_running_line_comes_every_ten_seconds() -> None:
    reports = [running(ms) for ms in range(1_000, 32_000, 1_000)]
    lines = printed(*reports, result(exitCode=0, durationMs=31_500, outputTail="")).splitlines()
    assert lines == [
        "  running … 10 s",
        "  running … 20 s",
        "  running … 30 s",
        "  ✓ exit 0 · 31 s",
    ]


def test_in_a_log_each_command_counts_its_own_time() -> None:
    events = [running(10_000, "a"), result(callId="a", exitCode=0, durationMs=10_500)]
    events += [running(5_000, "b"), running(10_100, "b")]
    lines = printed(*events).splitlines()
    assert lines == ["  running … 10 s", "  ✓ exit 0 · 10 s", "  running … 10 s"]

"""The CLI transcript on stderr: streamed blocks end their line, every other event has its own."""

from __future__ import annotations

import io

from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.cli.terminal import CYAN, RED, RESET, TranscriptPrinter


def test_streamed_text_and_events_each_get_their_own_line() -> None:
    out = io.StringIO()
    printer = TranscriptPrinter(out, color=False)
    for event in [
        AgentEvent("started", "fix add", {"model": "qwen3:8b"}),
        AgentEvent("thinking", "hm"),
        AgentEvent("thinking", "m"),
        AgentEvent("toolCall", "edit_file app.py"),
        AgentEvent("toolResult", "Edited app.py", {"ok": True}),
        AgentEvent("edit", "modify app.py"),
        AgentEvent("toolResult", "old_string not found\nread the file first", {"ok": False}),
        AgentEvent("warning", "Elided 1 old tool result(s)"),
        AgentEvent("content", "Fixed "),
        AgentEvent("content", "it."),
        AgentEvent("error", "the stream dropped"),
        AgentEvent("finished", "done"),
    ]:
        printer(event)
    printer.close()
    assert out.getvalue().splitlines() == [
        "Ollama agent (qwen3:8b): fix add",
        "thinking: hmm",
        "→ edit_file app.py",
        "  ✎ modify app.py",
        "  ✗ old_string not found",
        "warning: Elided 1 old tool result(s)",
        "Fixed it.",
        "error: the stream dropped",
    ]


def test_colour_wraps_each_line_and_stays_off_when_asked() -> None:
    coloured = io.StringIO()
    TranscriptPrinter(coloured, color=True)(AgentEvent("toolCall", "read_file a.py"))
    assert coloured.getvalue() == f"{CYAN}→ read_file a.py{RESET}\n"
    failed = io.StringIO()
    TranscriptPrinter(failed, color=True)(AgentEvent("toolResult", "no such file", {"ok": False}))
    assert failed.getvalue() == f"{RED}  ✗ no such file{RESET}\n"
    plain = io.StringIO()
    TranscriptPrinter(plain)(AgentEvent("toolCall", "read_file a.py"))
    assert plain.getvalue() == "→ read_file a.py\n"  # not a terminal: no escapes


def test_the_rules_files_the_model_was_given_are_named_under_the_start_line() -> None:
    out = io.StringIO()
    printer = TranscriptPrinter(out, color=False)
    printer(AgentEvent("started", "fix add", {"model": "m", "rules": ["AGENTS.md", "STYLE.md"]}))
    printer(AgentEvent("started", "again", {"model": "m", "rules": []}))
    printer.close()
    assert out.getvalue().splitlines() == [
        "Ollama agent (m): fix add",
        "rules: AGENTS.md, STYLE.md",
        "Ollama agent (m): again",
    ]

"""The run's transcript on the terminal, and whether to colour it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Imported by the commands that use them: settings loads pydantic (~65 ms), which the
    # language server must not wait for before it answers initialize.
    from ollama_agent_ls.agent.events import AgentEvent
    from ollama_agent_ls.cli.approver import TerminalApprover


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def use_color(stream: Any, environ: Any = None) -> bool:
    """Colour on a terminal unless NO_COLOR is set to something (no-color.org: an empty value
    does not count)."""
    env = os.environ if environ is None else environ
    return is_terminal(stream) and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


class _Transcript:
    """The terminal transcript of a run, remembering what it showed: the summary does not
    repeat an error already printed, and a command the person refused reads as their answer
    instead of the advice meant for the model."""

    def __init__(
        self, printer: Callable[[AgentEvent], None] | None, approver: TerminalApprover
    ) -> None:
        self._printer = printer
        self._approver = approver
        self.errors: list[str] = []
        self.on_event: Callable[[AgentEvent], None] | None = None
        """Also told of every event (the spec command follows its verify phase)."""

    def __call__(self, event: AgentEvent) -> None:
        """Show one event."""
        if self.on_event is not None:
            self.on_event(event)
        refusals = self._approver.refusals
        if event.kind == "toolCall":
            refusals.clear()  # a refusal belongs to the call it was asked for
        elif (
            event.kind == "toolResult"
            and event.data.get("name") in ("run_command", "verify")
            and not event.data.get("ok", True)
            and refusals
        ):
            from ollama_agent_ls.agent.events import AgentEvent

            event = AgentEvent(event.kind, refusals.pop(0), event.data)
        if self._printer is None:
            return
        if event.kind == "error":
            self.errors.append(event.text)
        self._printer(event)


def transcript_for(quiet: bool, approver: TerminalApprover) -> tuple[_Transcript, Any]:
    """The run's event callback and the printer behind it (close it when the run ends)."""
    from ollama_agent_ls.cli.terminal import TranscriptPrinter

    printer = TranscriptPrinter(sys.stderr, color=use_color(sys.stderr))
    return _Transcript(None if quiet else printer, approver), printer

"""The agent's events as ACP ``session/update`` notifications, and a stored conversation replayed.

The mapping follows the LSP transcript's events (agent/events.py): thinking and content become
thought and message chunks, a tool call becomes ``tool_call`` then ``tool_call_update`` with its
kind, locations (absolute paths, 1-based lines) and content: each file it changed as a diff
with the whole old and new text, a command's output as text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp import (
    start_tool_call,
    text_block,
    tool_content,
    tool_diff_content,
    update_agent_message_text,
    update_agent_thought_text,
    update_tool_call,
    update_user_message_text,
)
from acp.schema import ToolCallLocation, ToolKind, UsageUpdate

from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.agent.prompts import tool_call_summary
from ollama_agent_ls.ollama.models import Message
from ollama_agent_ls.sessions.store import RunRecord
from ollama_agent_ls.tools.context import ToolContext
from ollama_agent_ls.workspace.changes import FileChange, net_changes
from ollama_agent_ls.workspace.paths import PathRefused, resolve_path

log = logging.getLogger(__name__)

Update = Any
"""One of the SDK's session update models (AgentMessageChunk, ToolCallStart, ...)."""

TOOL_KINDS: dict[str, ToolKind] = {
    "read_file": "read",
    "list_files": "search",
    "search": "search",
    "edit_file": "edit",
    "write_file": "edit",
    "apply_patch": "edit",
    "delete_file": "delete",
    "run_command": "execute",
    "verify": "execute",
    "check_criterion": "think",
}
"""Tool names to ACP kinds; ``verify`` is a spec run's own verify command (specs/runner.py)."""
PATH_KEYS = ("path", "file_path", "filepath", "file", "filename")
"""The names the tools accept for a file path (tools/schemas.py _PATH)."""


def tool_kind(name: str) -> ToolKind:
    """The ACP kind of a tool; ``other`` for tools without one."""
    return TOOL_KINDS.get(name, "other")


def named_path(arguments: dict[str, Any]) -> str | None:
    """The file path a tool call names, if any."""
    for key in PATH_KEYS:
        value = arguments.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def first_changed_line(change: FileChange) -> int:
    """The 1-based line where ``change`` starts to differ (1 for a new or deleted file)."""
    before = (change.before or "").split("\n")
    after = (change.after or "").split("\n")
    for i, (a, b) in enumerate(zip(before, after, strict=False)):
        if a != b:
            return i + 1
    return min(len(before), len(after)) if change.before and change.after else 1


@dataclass
class CurrentCall:
    """The tool call being run: tool calls run one at a time, each between its two events."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    changes_from: int
    output: str | None = None
    """The whole text the tool returned (the event carries only a preview)."""
    running: bool = False
    shown_tail: str = ""
    """The output lines last sent while the command ran."""


@dataclass
class EventMapper:
    """Turns one prompt's agent events into session updates handed to ``send``, in order."""

    root: Path
    ctx: ToolContext
    send: Callable[[Update], None]
    num_ctx: Callable[[], int] = lambda: 0
    current: CurrentCall | None = None
    errors: list[str] = field(default_factory=list)
    _commands: int = 0

    def tool_call_id(self) -> str:
        """The id of the tool call running now (a permission request is about it)."""
        if self.current is not None:
            return self.current.call_id
        self._commands += 1
        return f"command-{self._commands}"

    def record_output(self, output: str) -> None:
        """Keep the whole result of the current call, for its tool_call_update."""
        if self.current is not None:
            self.current.output = output

    def mark_running(self) -> None:
        """The current call is past its approval and runs now."""
        call = self.current
        if call is not None and not call.running:
            call.running = True
            self.send(update_tool_call(call.call_id, status="in_progress"))

    def on_event(self, event: AgentEvent) -> None:
        """Map one event; never raises (a mapping bug must not stop the run)."""
        try:
            self._map(event)
        except Exception:
            log.exception("could not map a %s event to a session update", event.kind)

    def _map(self, event: AgentEvent) -> None:
        kind, data = event.kind, event.data
        if kind == "thinking" and event.text:
            self.send(update_agent_thought_text(event.text))
        elif kind == "content" and event.text:
            self.send(update_agent_message_text(event.text))
        elif kind == "toolCall":
            self._start(str(data.get("callId")), str(data.get("name")), data.get("arguments"))
        elif kind == "commandRunning":
            self.mark_running()
            self._output_so_far(str(data.get("outputTail") or ""))
        elif kind == "toolResult":
            self._finish(event)
        elif kind == "warning":
            self.send(update_agent_message_text(f"\n\nWarning: {event.text}\n\n"))
        elif kind == "error":
            self.errors.append(event.text)
            self.send(update_agent_message_text(f"\n\nError: {event.text}\n\n"))
        elif kind == "finished":
            self._usage(data)

    def _start(self, call_id: str, name: str, arguments: Any) -> None:
        args = arguments if isinstance(arguments, dict) else {}
        self.current = CurrentCall(call_id, name, args, len(self.ctx.changes))
        locations = self._locations_of(name, args)
        self.send(
            start_tool_call(
                call_id,
                tool_call_summary(name, args),
                kind=tool_kind(name),
                status="pending",
                locations=locations or None,
                raw_input=args,
            )
        )
        if name != "run_command":
            # Nothing to approve: it runs at once. A command runs once it is allowed.
            self.mark_running()

    def _locations_of(self, name: str, args: dict[str, Any]) -> list[ToolCallLocation]:
        raw = named_path(args)
        if raw is None:
            return []
        try:
            path, _ = resolve_path(self.root, raw)
        except PathRefused:
            return []
        line = args.get("start_line") if name == "read_file" else None
        return [ToolCallLocation(path=str(path), line=line if isinstance(line, int) else None)]

    def _output_so_far(self, tail: str) -> None:
        """A running command's latest output lines as its tool call's content (each report
        replaces the last; the result's full output replaces them at the end)."""
        call = self.current
        if call is None or not tail or tail == call.shown_tail:
            return
        call.shown_tail = tail
        self.send(
            update_tool_call(
                call.call_id, status="in_progress", content=[tool_content(text_block(tail))]
            )
        )

    def _finish(self, event: AgentEvent) -> None:
        call = self.current
        call_id = str(event.data.get("callId"))
        if call is None or call.call_id != call_id:
            call = CurrentCall(call_id, str(event.data.get("name")), {}, len(self.ctx.changes))
        self.current = None
        ok = bool(event.data.get("ok"))
        changed = net_changes(self.ctx.changes[call.changes_from :])
        content: list[Any] = [
            tool_diff_content(str(c.path), c.after or "", c.before) for c in changed
        ]
        text = call.output if call.output is not None else event.text
        if text and (call.name == "run_command" or not ok or not changed):
            content.append(tool_content(text_block(text)))
        locations = [
            ToolCallLocation(path=str(c.path), line=first_changed_line(c)) for c in changed
        ]
        raw_output: dict[str, Any] = {"ok": ok}
        for key in ("exitCode", "durationMs", "timedOut"):
            if key in event.data:
                raw_output[key] = event.data[key]
        self.send(
            update_tool_call(
                call_id,
                status="completed" if ok else "failed",
                content=content or None,
                locations=locations or None,
                raw_output=raw_output,
            )
        )

    def _usage(self, data: dict[str, Any]) -> None:
        size = self.num_ctx()
        used = data.get("promptTokens")
        if size > 0 and isinstance(used, int) and used > 0:
            self.send(UsageUpdate(session_update="usage_update", used=min(used, size), size=size))


def replay(messages: list[Message], runs: list[RunRecord]) -> Iterator[Update]:
    """The updates that show a stored conversation again: each run's instruction as the user's
    message, then the model's thinking, replies and tool calls with their results.

    The loop's own notes to the model (nudges, text-format feedback) are not the user's words
    and are left out.
    """
    instructions = iter(run.instruction for run in runs)
    expected = next(instructions, None)
    pending: dict[str, str] = {}
    """Tool call ids not answered yet, by tool name (results without an id match by name)."""
    first_user = True
    counter = 0
    for message in messages:
        if message.role == "user":
            if first_user or (expected is not None and message.content.startswith(expected)):
                text = expected if expected is not None else message.content
                first_user = False
                yield update_user_message_text(text)
                expected = next(instructions, None)
        elif message.role == "assistant":
            if message.thinking:
                yield update_agent_thought_text(message.thinking)
            if message.content:
                yield update_agent_message_text(message.content)
            for call in message.tool_calls:
                counter += 1
                call_id = call.id or f"replay-{counter}"
                pending[call.id or call.name] = call_id
                yield start_tool_call(
                    call_id,
                    tool_call_summary(call.name, call.arguments),
                    kind=tool_kind(call.name),
                    status="pending",
                    raw_input=call.arguments,
                )
        elif message.role == "tool":
            key = message.tool_call_id or message.tool_name or ""
            answered = pending.pop(key, None)
            if answered is None:
                continue
            ok = not message.content.startswith("Error:")
            yield update_tool_call(
                answered,
                status="completed" if ok else "failed",
                content=[tool_content(text_block(message.content))],
            )


async def drain(queue: asyncio.Queue[Update | None], send: Callable[[Update], Any]) -> None:
    """Send the queued updates in order until the None that ends the prompt."""
    while True:
        update = await queue.get()
        if update is None:
            return
        try:
            await send(update)
        except Exception as exc:  # a closed connection must not stop the run
            log.warning("could not send a session update: %s", exc)

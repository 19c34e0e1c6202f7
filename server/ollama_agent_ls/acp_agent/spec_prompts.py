"""Specs over ACP: the ``/spec`` command runs a spec file as the prompt, its criteria the plan.

ACP has no command for "run this file", but it has slash commands the client lists for the
user (``available_commands_update``) and sends back as prompt text. ``/spec PATH`` (or ``/spec``
with the spec file linked or embedded) runs the spec as the language server's runSpec and the
CLI's ``spec`` do; its acceptance criteria go out as the session's ``plan``, each entry completed
as the agent ticks it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from acp import plan_entry, update_plan
from acp.schema import (
    AgentPlanUpdate,
    AvailableCommand,
    AvailableCommandInput,
    EmbeddedResourceContentBlock,
    ResourceContentBlock,
    TextContentBlock,
    UnstructuredCommandInput,
)

from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.specs.model import is_spec, scan_body
from ollama_agent_ls.specs.runner import SpecRunResult
from ollama_agent_ls.workspace.paths import PathRefused, resolve_path

COMMAND = "spec"
RERUN = "--rerun"

SPEC_COMMAND = AvailableCommand(
    name=COMMAND,
    description=(
        "Run a spec file (chant markdown): the agent works to its acceptance criteria, ticks "
        "them, then runs its verify commands"
    ),
    input=AvailableCommandInput(
        UnstructuredCommandInput(hint=f"the spec's path, e.g. .chant/specs/<id>.md [{RERUN}]")
    ),
)


class SpecPromptError(Exception):
    """A ``/spec`` prompt that names no usable spec; the message says what to send instead."""


@dataclass(frozen=True)
class SpecRequest:
    """A prompt that asks to run a spec."""

    path: Path
    rel: str
    rerun: bool


def spec_request(blocks: Iterable[Any], root: Path) -> SpecRequest | None:
    """The spec a prompt asks to run (``/spec PATH [--rerun]``, or ``/spec`` with the file
    linked or embedded); None for any other prompt; SpecPromptError when it names none."""
    texts = [b.text for b in blocks if isinstance(b, TextContentBlock)]
    first = next((t.strip() for t in texts if t.strip()), "")
    if first != f"/{COMMAND}" and not first.startswith(f"/{COMMAND} "):
        return None
    try:
        words = shlex.split(first[len(COMMAND) + 1 :])
    except ValueError as exc:
        raise SpecPromptError(f"/{COMMAND}: {exc}; quote the path once") from None
    rerun = RERUN in words
    named = [w for w in words if w != RERUN]
    if not named:
        named = [p for p in (_linked_path(b) for b in blocks) if p is not None]
    if not named:
        raise SpecPromptError(
            f"/{COMMAND} needs the spec to run: /{COMMAND} .chant/specs/<id>.md, or link the file"
        )
    if len(named) > 1:
        raise SpecPromptError(
            f"/{COMMAND} runs one spec at a time, and this prompt names {len(named)}: "
            f"{', '.join(named)}; send one /{COMMAND} prompt for each"
        )
    try:
        path, rel = resolve_path(root, named[0])
    except PathRefused as exc:
        raise SpecPromptError(f"/{COMMAND}: {exc}") from None
    if not path.is_file():
        raise SpecPromptError(f"/{COMMAND}: there is no file {rel} in {root}")
    if not is_spec(path, path.read_text(encoding="utf-8", errors="replace")):
        raise SpecPromptError(
            f"/{COMMAND}: {rel} is not a spec: put it under .chant/specs/ or give it YAML "
            "frontmatter with a status: line"
        )
    return SpecRequest(path, rel, rerun)


def _linked_path(block: Any) -> str | None:
    uri = None
    if isinstance(block, ResourceContentBlock):
        uri = block.uri
    elif isinstance(block, EmbeddedResourceContentBlock):
        uri = getattr(block.resource, "uri", None)
    if not uri or urlparse(uri).scheme != "file":
        return None
    return unquote(urlparse(uri).path)


def plan_of(spec_text: str) -> AgentPlanUpdate | None:
    """The spec's acceptance criteria as a plan (ticked ones completed); None when it has none."""
    _, criteria = scan_body(spec_text)
    if not criteria:
        return None
    return update_plan(
        plan_entry(c.text, priority="high", status="completed" if c.checked else "pending")
        for c in criteria
    )


def plan_follower(
    read_spec: Callable[[], str], send: Callable[[Any], None]
) -> Callable[[AgentEvent], None]:
    """An event listener that sends the plan again whenever the agent ticked a criterion."""

    def follow(event: AgentEvent) -> None:
        ticked = event.kind == "toolResult" and event.data.get("ok")
        if ticked and event.data.get("name") == "check_criterion":
            update = plan_of(read_spec())
            if update is not None:
                send(update)

    return follow


def outcome_text(result: SpecRunResult) -> str:
    """What the prompt's last message says of the spec's end."""
    parts = [f"Spec {result.spec_rel}: {result.status}."]
    if result.reason:
        parts.append(result.reason)
    for report in result.verify:
        parts.append(f"verify `{report.command}`: {'passed' if report.passed else 'failed'}")
    return "\n\n" + "\n".join(parts)

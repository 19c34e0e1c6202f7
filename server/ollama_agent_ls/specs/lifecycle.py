"""When a spec may run, and what the agent is told about it."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ollama_agent_ls.specs.frontmatter_edit import bounded
from ollama_agent_ls.specs.model import (
    OUTPUT_HEADING,
    Spec,
    SpecError,
    heading,
    outside_fences,
    parse_spec,
    split_lines,
)
from ollama_agent_ls.workspace.documents import DocumentError, DocumentSource
from ollama_agent_ls.workspace.paths import PathRefused, resolve_path

PROMPT_FILES_BUDGET = 24_000
"""Characters of target/context file contents put into the prompt; the rest is listed by path."""
FEEDBACK_LIMIT = 6_000
"""Characters of failing verify output sent back to the agent per command."""

_TRUE = {"true", "yes", "on", "1"}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def _read_disk(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Dependency:
    """A ``depends_on`` id and the spec it names (None when no file matches)."""

    id: str
    matches: tuple[Path, ...]


def resolve_dependency(folder: Path, dep_id: str, exclude: Path | None = None) -> Dependency:
    """Find spec ``dep_id`` in ``folder``: the exact file name, else names ending with it."""
    dep_id = dep_id.strip()
    if dep_id.endswith(".md"):
        dep_id = dep_id[: -len(".md")]
    exact = folder / f"{dep_id}.md"
    if exact.is_file() and exact != exclude:
        return Dependency(dep_id, (exact,))
    try:
        candidates = sorted(p for p in folder.iterdir() if p.suffix == ".md" and p.is_file())
    except OSError:
        candidates = []
    matches = tuple(p for p in candidates if p.stem.endswith(dep_id) and p != exclude)
    return Dependency(dep_id, matches)


def refusal(
    spec: Spec,
    *,
    rerun: bool = False,
    read_text: Callable[[Path], str] = _read_disk,
) -> str | None:
    """Why ``spec`` must not run now (status, dependencies, approval), or None when it may."""
    if spec.status == "completed" and not rerun:
        return (
            f"Spec {spec.id} is already completed. Re-run it explicitly (--rerun, or rerun: "
            "true) or set its status back to pending."
        )
    approval = spec.approval
    if _truthy(approval.get("required")) and str(approval.get("status", "")).strip() != "approved":
        current = approval.get("status") or "not set"
        return (
            f"Spec {spec.id} requires approval (approval.status is {current}). A person must "
            "approve it first: set 'approval: {status: approved}' in its frontmatter."
        )
    blocked: list[str] = []
    for dep_id in spec.depends_on:
        dep = resolve_dependency(spec.path.parent, dep_id, exclude=spec.path)
        if not dep.matches:
            blocked.append(
                f"{dep_id} (no spec of that id in {spec.path.parent.name}/; fix the id in "
                "depends_on)"
            )
            continue
        if len(dep.matches) > 1:
            names = ", ".join(p.stem for p in dep.matches)
            blocked.append(f"{dep_id} (ambiguous: {names}; use the full id in depends_on)")
            continue
        path = dep.matches[0]
        try:
            status = parse_spec(read_text(path), path).status
        except (OSError, UnicodeDecodeError, DocumentError, SpecError) as exc:
            blocked.append(f"{path.stem} (cannot be read: {exc})")
            continue
        if status != "completed":
            blocked.append(f"{path.stem} (status {status})")
    if blocked:
        return (
            f"Spec {spec.id} is blocked by dependencies that are not completed: "
            f"{'; '.join(blocked)}. Complete them first."
        )
    return None


def strip_agent_output(body: str) -> str:
    """``body`` without an earlier run's Agent Output section."""
    lines = split_lines(body)
    start: int | None = None
    end = len(lines)
    for i, line in outside_fences(lines):
        head = heading(line)
        if head is None:
            continue
        if start is None:
            if head == (2, OUTPUT_HEADING):
                start = i
        elif head[0] <= 2:
            end = i
            break
    if start is None:
        return body
    return "\n".join([*lines[:start], *lines[end:]]).rstrip() + "\n"


def _file_block(rel: str, text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{rel}:\n{fence}\n{text.rstrip()}\n{fence}"


def file_section(
    paths: Sequence[str],
    root: Path,
    documents: DocumentSource,
    budget: int = PROMPT_FILES_BUDGET,
) -> str:
    """The files' contents while they fit ``budget`` characters; the others listed by path."""
    included: list[str] = []
    listed: list[str] = []
    used = 0
    for raw in dict.fromkeys(paths):
        try:
            path, rel = resolve_path(root, raw)
        except PathRefused as exc:
            listed.append(f"- {raw} (not readable: {exc})")
            continue
        if not documents.exists(path):
            listed.append(f"- {rel} (does not exist yet)")
            continue
        try:
            text = documents.read(path).text.replace("\r\n", "\n")
        except DocumentError as exc:
            listed.append(f"- {rel} ({exc})")
            continue
        block = _file_block(rel, text)
        if used + len(block) > budget:
            listed.append(f"- {rel} ({len(split_lines(text))} lines; read it with read_file)")
            continue
        used += len(block)
        included.append(block)
    parts: list[str] = []
    if included:
        parts.append("Current contents of the spec's files:\n\n" + "\n\n".join(included))
    if listed:
        parts.append("Other files of the spec:\n" + "\n".join(listed))
    return "\n\n".join(parts)


def build_spec_prompt(
    spec: Spec,
    root: Path,
    documents: DocumentSource,
    budget: int = PROMPT_FILES_BUDGET,
) -> str:
    """The agent's task: the spec, its numbered criteria, its files, and how to tick criteria."""
    parts = [f"Implement the spec {spec.id}: {spec.title}", strip_agent_output(spec.body).strip()]
    if spec.criteria:
        rows = [
            f"{c.index}. {c.text}" + (" (already ticked)" if c.checked else "")
            for c in spec.criteria
        ]
        parts.append("Acceptance criteria:\n" + "\n".join(rows))
    files = [*spec.target_files, *(p for p in spec.context if p not in spec.target_files)]
    if files:
        parts.append(file_section(files, root, documents, budget))
    rules = [
        "How to work:",
        "- Change the files the spec needs (target files first); read a file before editing it.",
    ]
    if spec.criteria:
        rules.append(
            "- Each time an acceptance criterion is met, call check_criterion with its number "
            "and short evidence (what you changed or ran). Tick only criteria that are really "
            "met; never edit the checkboxes in the spec file yourself."
        )
    if spec.verify:
        cmds = "; ".join(f"`{cmd}`" for cmd in spec.verify)
        rules.append(f"- When you finish, this is run to check your work: {cmds}.")
    rules.append("- When done, reply with a short summary of what you changed.")
    parts.append("\n".join(rules))
    return "\n\n".join(part for part in parts if part)


def build_verify_feedback(
    failures: Sequence[tuple[str, str]],
    round_no: int,
    rounds: int,
) -> str:
    """The message that continues the conversation after verify failed: the failing output."""
    shown = "\n\n".join(
        f"$ {cmd}\n{bounded(output.rstrip(), FEEDBACK_LIMIT)}" for cmd, output in failures
    )
    return (
        f"Verification FAILED (fix round {round_no} of {rounds}). Output:\n\n{shown}\n\n"
        "Read the failing files, fix the cause, and tick any criteria that are now met. "
        "When done, reply with a short summary of what you changed."
    )

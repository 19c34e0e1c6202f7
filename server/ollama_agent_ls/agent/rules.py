"""Project rules for the model: AGENTS.md at the workspace root and the ``rules`` setting's files.

They go into the system prompt, the stable part every request starts with, so the server's
cached prefix survives them; they are read once when a conversation starts and never change in
it. An AGENTS.md in a folder below the root is for the files in that folder: it is appended as
a message when the run first touches the folder, never spliced into earlier messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ollama_agent_ls.agent.context_budget import BUDGET_CHARS_PER_TOKEN
from ollama_agent_ls.ollama.setup_check import SetupReport
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.workspace.documents import DiskDocuments, DocumentError, DocumentSource
from ollama_agent_ls.workspace.paths import PathRefused, resolve_path

RULES_FILE = "AGENTS.md"
RULES_HEAD = "# Project rules"
NESTED_HEAD = "Rules for the files in"


@dataclass(frozen=True)
class ProjectRules:
    """The rules a conversation's system prompt carries, and where they came from."""

    text: str = ""
    """The block appended to the system prompt ('' when there are none)."""
    files: tuple[str, ...] = ()
    """Workspace-relative paths of the rule files used, in the order they appear."""
    problems: tuple[str, ...] = ()
    """Rule files that could not be used, each with why and the fix."""
    cut: tuple[str, ...] = ()
    """Rule files cut to ``rulesMaxChars``."""


def load_rules(
    root: Path, documents: DocumentSource, extra: Sequence[str], max_chars: int
) -> ProjectRules:
    """AGENTS.md at ``root`` (if there is one) and the ``extra`` files, as one capped block."""
    wanted: list[tuple[str, bool]] = [(RULES_FILE, False)]
    wanted += [(entry, True) for entry in extra if entry.strip()]
    parts: list[str] = []
    files: list[str] = []
    problems: list[str] = []
    cut: list[str] = []
    left = max_chars
    seen: set[Path] = set()
    for entry, named in wanted:
        try:
            path, rel = resolve_path(root, entry)
        except PathRefused as exc:
            problems.append(
                f"rules file {entry!r} was not used: {exc}. List files inside the workspace "
                "in the rules setting."
            )
            continue
        if path in seen:
            continue
        seen.add(path)
        try:
            text = documents.read(path).text
        except DocumentError as exc:
            if named:
                problems.append(f"rules file {rel} was not used: {exc}")
            continue
        text = text.replace("\r\n", "\n").strip()
        if not text:
            continue
        if len(text) > left:
            text = _capped(text, left, rel)
            cut.append(rel)
        left = max(0, left - len(text))
        files.append(rel)
        parts.append(f"## {rel}\n{text}")
    if not parts:
        return ProjectRules(problems=tuple(problems))
    block = (
        f"\n\n{RULES_HEAD}\nThe project's own rules; follow them where they apply.\n\n"
        + "\n\n".join(parts)
    )
    return ProjectRules(block, tuple(files), tuple(problems), tuple(cut))


@dataclass
class NestedRules:
    """AGENTS.md files of folders below the root, each shown once, when a run first touches it."""

    root: Path
    documents: DocumentSource
    max_chars: int
    shown: set[str] = field(default_factory=set)
    """Workspace-relative paths of the AGENTS.md files already shown (or empty / unreadable)."""

    def for_paths(self, paths: Iterable[str]) -> tuple[str, list[str]]:
        """A message with the rules of the folders ``paths`` lie in not shown yet ('' if none),
        and their files."""
        parts: list[str] = []
        files: list[str] = []
        for raw in paths:
            for rel in self._candidates(raw):
                if rel in self.shown:
                    continue
                self.shown.add(rel)
                text = self._read(rel)
                if not text:
                    continue
                if len(text) > self.max_chars:
                    text = _capped(text, self.max_chars, rel)
                folder = str(PurePosixPath(rel).parent)
                parts.append(f"{NESTED_HEAD} {folder}/ (from {rel}); follow them there:\n{text}")
                files.append(rel)
        return "\n\n".join(parts), files

    def _candidates(self, raw: str) -> list[str]:
        """AGENTS.md paths from the root's child folders down to ``raw``'s folder."""
        try:
            path, rel = resolve_path(self.root, raw)
        except PathRefused:
            return []
        folder = PurePosixPath(rel) if path.is_dir() else PurePosixPath(rel).parent
        parts = [p for p in folder.parts if p not in (".", "")]
        return [
            str(PurePosixPath(*parts[:depth], RULES_FILE)) for depth in range(1, len(parts) + 1)
        ]

    def _read(self, rel: str) -> str:
        try:
            path, _ = resolve_path(self.root, rel)
            if not self.documents.exists(path):
                return ""
            return self.documents.read(path).text.replace("\r\n", "\n").strip()
        except (PathRefused, DocumentError, OSError):
            return ""


def check_rules(report: SetupReport, root: Path, settings: Settings) -> None:
    """Add what doctor and checkSetup say about the rule files: which, how big, what is wrong."""
    rules = load_rules(root, DiskDocuments(root), settings.rules, settings.rules_max_chars)
    report.rules = list(rules.files)
    report.rules_tokens = int(len(rules.text) / BUDGET_CHARS_PER_TOKEN)
    report.problems.extend(rules.problems)


def nested_files(message: str) -> list[str]:
    """The AGENTS.md files a nested-rules message shows (for a resumed conversation)."""
    return re.findall(rf"^{NESTED_HEAD} .*?/ \(from (.+?)\); follow them there:$", message, re.M)


def _capped(text: str, max_chars: int, rel: str) -> str:
    """``text`` cut to about ``max_chars`` at a line end, with a note saying so."""
    head = text[:max_chars]
    newline = head.rfind("\n")
    if newline >= max_chars // 2:
        head = head[:newline]
    left = len(text) - len(head)
    return (
        f"{head}\n[... {left} more characters of {rel} left out: the rules are capped at "
        "rulesMaxChars; read the file if you need the rest.]"
    )

"""Targeted text edits of a spec: one frontmatter key, one checkbox, the Agent Output section.

Every function maps text to text and leaves every line it does not own byte-identical, so a
person's comments, key order and formatting survive the tool's bookkeeping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ollama_agent_ls.specs.model import (
    CHECKBOX,
    OUTPUT_HEADING,
    SpecError,
    find_frontmatter,
    heading,
    outside_fences,
    scan_body,
    split_lines,
)

Scalar = str | int | float | bool | None

VERIFY_OUTPUT_LIMIT = 4096
"""Characters of one verify command's output kept in the Agent Output section."""
SUMMARY_LIMIT = 2048
EVIDENCE_LIMIT = 200

_WIDE = 2**31


def format_scalar(value: Scalar) -> str:
    """``value`` as a one-line YAML scalar, quoted only when YAML needs it."""
    dumped = yaml.safe_dump(value, allow_unicode=True, width=_WIDE, default_flow_style=True)
    if dumped.endswith("\n...\n"):
        dumped = dumped[: -len("\n...\n")]
    dumped = dumped.rstrip("\n")
    if _one_line(dumped) and _reads_back(dumped, value):
        return dumped
    # Line breaks (also NEL, LS, PS) inside a value: the escaped double-quoted form is one line.
    return yaml.safe_dump(value, default_style='"', allow_unicode=False, width=_WIDE).rstrip("\n")


def _one_line(text: str) -> bool:
    return not any(ch in text for ch in "\n\r\x85\u2028\u2029")


def _reads_back(text: str, value: Scalar) -> bool:
    try:
        loaded = yaml.safe_load(f"k: {text}")
    except yaml.YAMLError:
        return False
    return isinstance(loaded, dict) and loaded.get("k", object()) == value


def _newline(lines: Sequence[str]) -> str:
    return "\r" if lines and lines[0].endswith("\r") else ""


def _key_pattern(key: str) -> re.Pattern[str]:
    k = re.escape(key)
    return re.compile(rf"^(?:{k}|\"{k}\"|'{k}')[ \t]*:(?=[ \t]|\r?$)")


def _is_continuation(line: str) -> bool:
    # Inside a top-level entry: indented lines, and block sequence items at column 0.
    return line[:1] in (" ", "\t") or line == "-" or line.startswith("- ")


def _entry_end(lines: Sequence[str], first: int, stop: int) -> int:
    """One past the last line of the top-level entry starting at ``first``."""
    end = j = first + 1
    while j < stop:
        bare = lines[j].rstrip("\r")
        stripped = bare.strip()
        j += 1
        if not stripped or stripped.startswith("#"):
            # Blank and comment lines belong to the entry only if more of its value follows.
            continue
        if not _is_continuation(bare):
            break
        end = j
    return end


def _inline_comment(rest: str) -> str:
    """The `` # comment`` after a one-line value, so replacing the value keeps it."""
    for match in re.finditer(r"[ \t]+#", rest):
        candidate = rest[: match.start()]
        try:
            if yaml.safe_load(f"k: {rest}") == yaml.safe_load(f"k: {candidate}"):
                return rest[match.start() :]
        except yaml.YAMLError:
            continue
    return ""


def _load(lines: Sequence[str]) -> Any:
    # Each frontmatter line ends with a newline in the file; block scalars keep the last one.
    return yaml.safe_load("".join(line.rstrip("\r") + "\n" for line in lines))


def set_key(text: str, key: str, value: Scalar) -> str:
    """Set top-level frontmatter ``key`` to ``value``; add it (or a frontmatter) when absent."""
    lines = split_lines(text)
    cr = _newline(lines)
    loc = find_frontmatter(text)
    entry = f"{key}: {format_scalar(value)}"
    if loc is None:
        if lines and lines[0].rstrip("\r").lstrip("\ufeff").rstrip() == "---":
            raise SpecError(
                "The frontmatter has no closing '---' line; add one after the last YAML line."
            )
        return "\n".join([f"---{cr}", f"{entry}{cr}", f"---{cr}"]) + "\n" + text
    try:
        before = _load(lines[loc.start : loc.end])
    except yaml.YAMLError as exc:
        raise SpecError(f"The frontmatter is not valid YAML ({exc}); fix it first.") from None
    if before is None:
        before = {}
    if not isinstance(before, dict):
        raise SpecError("The frontmatter is not a YAML mapping, so the key cannot be set.")
    pattern = _key_pattern(key)
    found = [i for i in range(loc.start, loc.end) if pattern.match(lines[i])]
    if found:
        # YAML keeps the last of repeated keys, so that is the one that matters.
        first = found[-1]
        end = _entry_end(lines, first, loc.end)
        comment = ""
        if end == first + 1:
            bare = lines[first].rstrip("\r")
            rest = bare[bare.index(":") + 1 :].strip()
            comment = _inline_comment(rest)
        eol = "\r" if lines[first].endswith("\r") else ""
        new_lines = [*lines[:first], f"{entry}{comment}{eol}", *lines[end:]]
    else:
        new_lines = [*lines[: loc.end], f"{entry}{cr}", *lines[loc.end :]]
    new_end = loc.end - (len(lines) - len(new_lines))
    expected = {**before, key: value}
    try:
        after = _load(new_lines[loc.start : new_end])
    except yaml.YAMLError:
        after = None
    if after != expected:
        raise SpecError(
            f"Could not set '{key}' in the frontmatter without disturbing other keys (unusual "
            f"layout, e.g. a flow mapping); set '{key}: {format_scalar(value)}' by hand."
        )
    return "\n".join(new_lines)


def set_keys(text: str, values: Mapping[str, Scalar]) -> str:
    """``set_key`` for each item, in order."""
    for key, value in values.items():
        text = set_key(text, key, value)
    return text


def tick_criterion(text: str, index: int) -> str:
    """Tick box ``index`` (1-based, under Acceptance Criteria); unchanged if already ticked."""
    _, criteria = scan_body(text)
    if not 1 <= index <= len(criteria):
        raise SpecError(
            f"There is no acceptance criterion #{index}; the spec has {len(criteria)} "
            f"(1-{len(criteria)})."
            if criteria
            else "The spec has no acceptance criteria."
        )
    criterion = criteria[index - 1]
    if criterion.checked:
        return text
    lines = split_lines(text)
    line = lines[criterion.line]
    match = CHECKBOX.match(line)
    assert match is not None  # scan_body found it with the same pattern
    lines[criterion.line] = match.group(1) + "x" + line[match.end(2) :]
    return "\n".join(lines)


def bounded(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, keeping its head and its tail."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 5
    tail = limit - head
    dropped = len(text) - head - tail
    return f"{text[:head]}\n… [{dropped} characters left out] …\n{text[-tail:]}"


def _fence_for(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


@dataclass(frozen=True)
class VerifyReport:
    """One verify command's outcome as the Agent Output section shows it."""

    command: str
    passed: bool
    output: str
    exit_code: int | None = None
    ran: bool = True
    """False when the command could not run at all (denied, not approved, failed to start)."""


@dataclass(frozen=True)
class OutputReport:
    """What the Agent Output section says about a run."""

    status: str
    summary: str
    model: str
    finished_at: str
    reason: str = ""
    changed_files: Sequence[str] = ()
    ticked: Mapping[int, str] | None = None
    """Criterion index -> evidence, for the boxes the agent ticked in this run."""
    unticked: Sequence[int] = ()
    verify: Sequence[VerifyReport] = ()
    dry_run: bool = False


def render_agent_output(report: OutputReport) -> str:
    """The ``## Agent Output`` section (markdown, no trailing newline)."""
    out = [f"## {OUTPUT_HEADING}", ""]
    out.append(f"- Status: `{report.status}`")
    out.append(f"- Model: `{report.model}`")
    out.append(f"- Finished: {report.finished_at}")
    if report.reason:
        out.append(f"- Reason: {' '.join(report.reason.split())}")
    files = ", ".join(f"`{f}`" for f in report.changed_files) or "none"
    out.append(f"- {'Would change' if report.dry_run else 'Changed files'}: {files}")
    out.append("")
    summary = bounded(report.summary.strip().replace("\r\n", "\n"), SUMMARY_LIMIT) or "(none)"
    out.append("### Summary")
    out.append("")
    # Quoted so headings or boxes in the model's text stay inside this section.
    out.extend(f"> {line}".rstrip() for line in summary.split("\n"))
    if report.ticked or report.unticked:
        out.append("")
        out.append("### Criteria")
        out.append("")
        for index, evidence in sorted((report.ticked or {}).items()):
            note = bounded(" ".join(evidence.split()), EVIDENCE_LIMIT)
            out.append(f"- #{index} ticked" + (f": {note}" if note else ""))
        for index in report.unticked:
            out.append(f"- #{index} not ticked")
    if report.verify:
        out.append("")
        out.append("### Verification")
        for item in report.verify:
            body = bounded(item.output.replace("\r\n", "\n").rstrip(), VERIFY_OUTPUT_LIMIT)
            fence = _fence_for(body)
            code = "" if item.exit_code is None else f" (exit {item.exit_code})"
            out.append("")
            tick = "``" if "`" in item.command else "`"
            verdict = "passed" if item.passed else "failed" if item.ran else "did not run"
            out.append(f"{tick}{item.command}{tick}: {verdict}{code}")
            out.append("")
            out.extend([f"{fence}text", body or "(no output)", fence])
    return "\n".join(out)


def set_agent_output(text: str, section: str) -> str:
    """Replace the ``## Agent Output`` section with ``section``, or append it at the end."""
    lines = split_lines(text)
    cr = _newline(lines)
    new_section = [line + cr for line in section.split("\n")]
    loc = find_frontmatter(text)
    body_start = loc.end + 1 if loc is not None else 0
    start: int | None = None
    end = len(lines)
    for i, line in outside_fences(lines, body_start):
        head = heading(line)
        if head is None:
            continue
        level, words = head
        if start is None:
            if level == 2 and words == OUTPUT_HEADING:
                start = i
        elif level <= 2:
            end = i
            break
    if start is None:
        while lines and not lines[-1].rstrip("\r"):
            lines.pop()
        return "\n".join([*lines, cr, *new_section, ""]) if lines else "\n".join([*new_section, ""])
    tail = lines[end:]
    gap = [cr] if tail else [""]
    return "\n".join([*lines[:start], *new_section, *gap, *tail])

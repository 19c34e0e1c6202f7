"""Reading spec files (chant format): YAML frontmatter, a markdown body, acceptance checkboxes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

SPECS_DIR = (".chant", "specs")
CRITERIA_HEADING = "acceptance criteria"
OUTPUT_HEADING = "Agent Output"

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")
CHECKBOX = re.compile(r"^(\s*[-*+]\s+\[)([ xX])(\]\s?)(.*)$")
_MARKDOWN_SUFFIXES = {".md", ".markdown"}


class SpecError(Exception):
    """A spec file cannot be read; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Criterion:
    """One acceptance checkbox."""

    index: int
    """1-based, in the order the boxes appear under Acceptance Criteria."""
    line: int
    """0-based line of the box in the file (LSP positions are 0-based too)."""
    text: str
    checked: bool


@dataclass(frozen=True)
class Frontmatter:
    """Where the frontmatter sits: ``lines[start:end]`` of the file are its YAML lines."""

    start: int
    """0-based index of the first YAML line (just after the opening ``---``)."""
    end: int
    """0-based index of the closing ``---`` line."""


@dataclass(frozen=True)
class Spec:
    """A parsed spec; ``text`` is the file exactly as read."""

    id: str
    path: Path
    text: str
    frontmatter: dict[str, Any]
    location: Frontmatter | None
    title: str
    body: str
    """The markdown after the frontmatter."""
    criteria: tuple[Criterion, ...] = field(default_factory=tuple)

    @property
    def status(self) -> str:
        """The ``status:`` value, ``pending`` when absent."""
        value = self.frontmatter.get("status")
        return str(value).strip() if value is not None else "pending"

    @property
    def depends_on(self) -> list[str]:
        """Ids of the specs this one needs completed first."""
        return _str_list(self.frontmatter.get("depends_on"))

    @property
    def target_files(self) -> list[str]:
        """Files the spec is expected to change."""
        return _str_list(self.frontmatter.get("target_files"))

    @property
    def context(self) -> list[str]:
        """Files to read for background."""
        return _str_list(self.frontmatter.get("context"))

    @property
    def approval(self) -> dict[str, Any]:
        """The ``approval`` mapping (required, status, by, at); empty when absent."""
        value = self.frontmatter.get("approval")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def verify(self) -> list[str]:
        """Commands that check acceptance (``verify:`` as one command or a list)."""
        return [cmd for cmd in _str_list(self.frontmatter.get("verify")) if cmd.strip()]

    @property
    def prompt(self) -> str | None:
        """chant's prompt template name, if any."""
        value = self.frontmatter.get("prompt")
        return str(value) if value is not None else None

    @property
    def model(self) -> str | None:
        """The ``model:`` the spec asks for (or was last run with)."""
        value = self.frontmatter.get("model")
        return str(value) if value is not None else None

    @property
    def unchecked(self) -> list[Criterion]:
        """Criteria whose box is still empty."""
        return [c for c in self.criteria if not c.checked]


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value if item is not None]
    return [str(value)]


def split_lines(text: str) -> list[str]:
    """Lines without their ``\\n`` (a ``\\r`` stays on the line, so joining restores the text)."""
    return text.split("\n")


def _bare(line: str) -> str:
    return line.rstrip("\r")


def find_frontmatter(text: str) -> Frontmatter | None:
    """The frontmatter block when the file starts with ``---`` and has a closing line."""
    lines = split_lines(text)
    if not lines or _bare(lines[0]).lstrip("\ufeff").rstrip() != "---":
        return None
    for i in range(1, len(lines)):
        if _bare(lines[i]).rstrip() in ("---", "..."):
            return Frontmatter(1, i)
    return None


def outside_fences(lines: list[str], start: int = 0) -> list[tuple[int, str]]:
    """(index, line) for the lines from ``start`` that are not inside fenced code blocks."""
    result: list[tuple[int, str]] = []
    fence: str | None = None
    for i in range(start, len(lines)):
        line = _bare(lines[i])
        match = _FENCE.match(line)
        if fence is not None:
            closes = match is not None and match.group(1)[0] == fence[0]
            if closes and len(line.strip()) >= len(fence) and not line.strip().strip(fence[0]):
                fence = None
            continue
        if match:
            fence = match.group(1)
            continue
        result.append((i, line))
    return result


def heading(line: str) -> tuple[int, str] | None:
    """(level, text) when ``line`` is an ATX heading."""
    match = _HEADING.match(line)
    if not match:
        return None
    return len(match.group(1)), (match.group(2) or "").strip()


def parse_frontmatter(text: str, path: PurePath) -> tuple[dict[str, Any], Frontmatter | None]:
    """The frontmatter as a dict (empty without one); SpecError for invalid YAML."""
    loc = find_frontmatter(text)
    if loc is None:
        if _bare(split_lines(text)[0]).lstrip("\ufeff").rstrip() == "---":
            raise SpecError(
                f"{path.name}: the frontmatter starting at line 1 has no closing '---' line; "
                "add one after the last YAML line."
            )
        return {}, None
    lines = split_lines(text)
    yaml_text = "".join(_bare(line) + "\n" for line in lines[loc.start : loc.end])
    # Imported here: the language server loads this module at start-up for the spec lens, and
    # answering initialize needs no YAML.
    import yaml

    try:
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        raise SpecError(_yaml_message(path, exc, loc)) from None
    if data is None:
        return {}, loc
    if not isinstance(data, dict):
        raise SpecError(
            f"{path.name}: the frontmatter (lines {loc.start + 1}-{loc.end}) must be a YAML "
            f"mapping of keys like 'status: pending', not a {type(data).__name__}."
        )
    return {str(k): v for k, v in data.items()}, loc


def _yaml_message(path: PurePath, exc: yaml.YAMLError, loc: Frontmatter) -> str:
    # The YAML parser counts from the first YAML line; the file has the '---' line before it.
    offset = loc.start + 1
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    where = ""
    if mark is not None:
        where = f" at line {mark.line + offset}, column {mark.column + 1}"
    detail = problem
    if context:
        detail = f"{context}"
        if context_mark is not None and mark is not None and context_mark.line != mark.line:
            detail += f" (which starts at line {context_mark.line + offset})"
        detail += f", {problem}"
    return (
        f"{path.name}: invalid YAML in the frontmatter{where}: {detail}. "
        "Fix that line (quote values containing ': ' or '#', indent lists consistently); "
        "the spec was left unchanged."
    )


def scan_body(text: str) -> tuple[str, list[Criterion]]:
    """The first ``# `` heading and the Acceptance Criteria boxes; needs no valid YAML."""
    lines = split_lines(text)
    loc = find_frontmatter(text)
    body_start = loc.end + 1 if loc is not None else 0
    title = ""
    criteria: list[Criterion] = []
    in_criteria = seen_criteria = False
    for i, line in outside_fences(lines, body_start):
        head = heading(line)
        if head is not None:
            level, words = head
            if level == 1 and not title:
                title = words
            if level <= 2:
                # Only the first Acceptance Criteria section counts, up to the next section.
                in_criteria = level == 2 and words.lower() == CRITERIA_HEADING and not seen_criteria
                seen_criteria = seen_criteria or in_criteria
            continue
        if in_criteria:
            box = CHECKBOX.match(line)
            if box:
                criteria.append(
                    Criterion(len(criteria) + 1, i, box.group(4).strip(), box.group(2) != " ")
                )
    return title, criteria


def parse_spec(text: str, path: Path) -> Spec:
    """Parse a spec's text; SpecError when its frontmatter is not valid YAML."""
    frontmatter, loc = parse_frontmatter(text, path)
    lines = split_lines(text)
    body_start = loc.end + 1 if loc is not None else 0
    title, criteria = scan_body(text)
    return Spec(
        id=path.stem,
        path=path,
        text=text,
        frontmatter=frontmatter,
        location=loc,
        title=title or path.stem,
        body="\n".join(lines[body_start:]),
        criteria=tuple(criteria),
    )


def load_spec(path: Path) -> Spec:
    """Read and parse a spec from disk; SpecError when it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path} does not exist; check the path of the spec.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path} cannot be read as UTF-8 text: {exc}.") from None
    return parse_spec(text, path)


def is_spec(path: PurePath, text: str | None = None) -> bool:
    """True for a markdown file under ``.chant/specs/`` or with ``status:`` in its frontmatter."""
    if path.suffix.lower() not in _MARKDOWN_SUFFIXES:
        return False
    parts = path.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 2] == SPECS_DIR:
            return True
    if text is None:
        return False
    try:
        frontmatter, _ = parse_frontmatter(text, path)
    except SpecError:
        # Broken YAML that still has a status line is a spec the user should hear about.
        loc = find_frontmatter(text)
        if loc is None:
            return False
        lines = split_lines(text)[loc.start : loc.end]
        return any(re.match(r"^status\s*:", line) for line in lines)
    return "status" in frontmatter

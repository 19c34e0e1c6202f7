"""Spotting "... existing code ..." lines that would wipe out code when a file is rewritten."""

from __future__ import annotations

import re

# Comment leaders and wrappers peeled off a line before looking at what it says.
_WRAPPERS = re.compile(
    r"^(?:#+|//+|/\*+|\*+/?|<!--|--|;+|%+|\{/\*|[\[\(\{<])\s*|\s*(?:\*+/|-->|\*/\}|[\]\)\}>])$"
)
_COMMENT_START = re.compile(r"^(?:#|//|/\*|\*|<!--|--|;|%|\{/\*)")
_ELLIPSIS = re.compile(r"(?:\.\s*){3,}|…")

_STRONG = re.compile(
    r"existing code"
    r"|rest of (?:the |this |your )?(?:file|code|class|function|method|module|implementation"
    r"|component|content|body|script|program|tests?)"
    r"|(?:code|file|content|implementation|body|methods?|functions?|imports?)"
    r" (?:remains? |is |are |stays? )?(?:unchanged|the same|omitted|as before)"
    r"|unchanged (?:code|content|lines|section|parts?)"
    r"|omitted for brevity|for brevity"
    r"|same as (?:before|above|original|the original)"
    r"|(?:previous|other|remaining|existing) (?:code|methods|functions|imports|content|lines)"
    r"|(?:code|lines|content) omitted"
    r"|keep (?:the )?(?:existing|original)",
    re.IGNORECASE,
)
_WEAK = re.compile(r"unchanged|omitted|existing|rest of|remaining|previous", re.IGNORECASE)


def _peel(line: str) -> str:
    text = _ELLIPSIS.sub("...", line.strip())
    previous = None
    while previous != text:
        previous = text
        text = _WRAPPERS.sub("", text).strip()
    return text


def is_placeholder(line: str, previous_code: str = "") -> bool:
    """True when ``line`` stands for code left out rather than being code itself."""
    stripped = line.strip()
    if not stripped:
        return False
    body = _peel(stripped)
    if body.replace("...", "").strip() == "":
        if "..." not in body:
            return False
        if stripped == "..." or stripped == "…":
            # A bare Ellipsis after "def f():" or "class P:" is a legitimate Python body.
            return not previous_code.rstrip().endswith(":")
        return True
    is_comment = bool(_COMMENT_START.match(stripped)) or stripped[0] in "[({<"
    if _STRONG.search(body):
        return is_comment or "..." in body
    return is_comment and "..." in body and bool(_WEAK.search(body))


def find_placeholders(content: str, existing: str | None = None) -> list[tuple[int, str]]:
    """(1-based line, text) of placeholder lines in ``content`` that ``existing`` did not have."""
    known = {line.strip() for line in (existing or "").splitlines()}
    found: list[tuple[int, str]] = []
    previous_code = ""
    for number, line in enumerate(content.splitlines(), start=1):
        stripped = line.strip()
        if stripped and stripped not in known and is_placeholder(line, previous_code):
            found.append((number, stripped))
        if stripped:
            previous_code = stripped
    return found

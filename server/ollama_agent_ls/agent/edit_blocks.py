"""Edits written as text blocks in one reply, for small models that handle edit tools poorly.

aider gets small local models to edit code by asking for text they can write reliably: whole
files, or SEARCH/REPLACE blocks. This module parses those replies; the agent loop turns the
result into ordinary ``edit_file``/``write_file`` calls, so review and undo are unchanged.

The parsers follow aider's ``find_original_update_blocks`` and ``WholeFileCoder.get_edits`` and
are just as tolerant, because small models drift from the format: 5-9 marker characters, the
path before the fence, inside it or in its info string, decorated paths (``**app.py**``,
``# app.py``, ```` `app.py`: ````), several blocks per fence, bare markers without fences.
They never raise and do linear work (with a constant cap on the fences examined per block).

The reply's line endings are normalised to LF; the file tools convert to each file's own newline.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

__all__ = [
    "REWRITE_LINES_INSTRUCTIONS",
    "ParsedEdits",
    "SearchReplace",
    "WholeFile",
    "parse_rewritten_lines",
    "parse_search_replace",
    "parse_whole_files",
]

# Plain text, no str.format placeholders. Each shows one tiny example that the matching parser
# accepts (tests check that), because small models copy the example more than the rules, and
# each token here is paid in prefill on every request.
# No example code here: a 1.5B model given "total = sum(items)" as the example wrote exactly that
# over the user's selection (seen with Qwen2.5-Coder-1.5B on llama.cpp).
REWRITE_LINES_INSTRUCTIONS = """\
Reply with the selected lines rewritten to do the task, in one fenced code block, with the \
same indentation. Write only those lines: no other code, no explanation."""


@dataclass(frozen=True)
class SearchReplace:
    """Replace ``search`` by ``replace`` in ``path``; an empty ``search`` creates or appends."""

    path: str
    search: str
    replace: str


@dataclass(frozen=True)
class WholeFile:
    """The complete new ``content`` of ``path``."""

    path: str
    content: str


@dataclass(frozen=True)
class ParsedEdits:
    """What a reply asks for: edits in order, messages for the model, and the remaining prose."""

    edits: list[SearchReplace | WholeFile]
    errors: list[str]
    """One message per malformed block, naming it (path, line) and saying how to fix it."""
    prose: str
    """The reply without its edit blocks, for the run's summary."""


def parse_search_replace(reply: str, known_paths: Collection[str] = ()) -> ParsedEdits:
    """The SEARCH/REPLACE blocks in ``reply``; ``known_paths`` help to pick each block's path."""
    try:
        return _SearchReplaceParser(_split_lines(reply), _Known(known_paths)).parse()
    except Exception:  # a parsing surprise must not break the agent loop
        logger.exception("parsing SEARCH/REPLACE blocks failed")
        return _failed(reply)


def parse_whole_files(reply: str, known_paths: Collection[str] = ()) -> ParsedEdits:
    """The whole-file listings (path line, then a fenced block) in ``reply``."""
    try:
        return _WholeFileParser(_split_lines(reply), _Known(known_paths)).parse()
    except Exception:  # a parsing surprise must not break the agent loop
        logger.exception("parsing whole-file listings failed")
        return _failed(reply)


def parse_rewritten_lines(reply: str) -> str | None:
    """The content of the last closed fenced block in ``reply``, or None when there is none."""
    try:
        return _last_block(_split_lines(reply))
    except Exception:  # a parsing surprise must not break the agent loop
        logger.exception("reading the rewritten lines failed")
        return None


_INTERNAL_ERROR = (
    "The reply could not be read as edits. Send the edits again in the format described, "
    "one block per change."
)


def _failed(reply: object) -> ParsedEdits:
    return ParsedEdits([], [_INTERNAL_ERROR], reply if isinstance(reply, str) else "")


def _split_lines(reply: str) -> list[str]:
    # Only \n separates lines: str.splitlines would also split on \x0c, \u2028 and friends,
    # which are ordinary characters inside source files.
    return reply.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _join(lines: Sequence[str]) -> str:
    return "".join(line + "\n" for line in lines)


# --- markers, fences and paths -------------------------------------------------------------

# Matched against the stripped line, like aider (which also accepts "<<<<<<< SEARCH>").
_HEAD = re.compile(r"<{5,9} ?SEARCH>?", re.IGNORECASE)
_DIVIDER = re.compile(r"={5,9}")
_UPDATED = re.compile(r">{5,9} ?REPLACE<?", re.IGNORECASE)
_FENCE = re.compile(r"(`{3,}|~{3,})(.*)")
_LABEL = re.compile(
    r"^(?:(?:new|updated|modified|changed)\s+)?(?:file(?:name)?|path)\s*:\s*", re.IGNORECASE
)
_REMARK = re.compile(r"\s*\((?:new|new file|created|updated|modified|changed)\)$", re.IGNORECASE)
_MAX_PATH = 250
_MAX_LOOKBACK = 3
"""Non-blank lines examined above a SEARCH marker for its path (aider looks at three)."""
_MAX_FENCES = 64
"""Fences examined for one block's closing fence; bounds the work on fence-heavy replies."""
_MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx", ".rst", ".adoc", ".qmd")
# Unnamed blocks with these info strings are commands or output shown to the user, not files.
_NOT_FILE_INFO = frozenset(
    (
        *("bash", "sh", "shell", "zsh", "fish", "ksh", "csh", "tcsh", "shell-session"),
        *("cmd", "bat", "batch", "powershell", "ps1", "pwsh", "console", "terminal"),
        *("text", "txt", "plaintext", "output", "log"),
    )
)


@dataclass(frozen=True)
class _Fence:
    char: str
    count: int
    info: str

    @property
    def bare(self) -> bool:
        return not self.info


def _fence(line: str) -> _Fence | None:
    match = _FENCE.fullmatch(line.strip())
    if match is None:
        return None
    run, info = match.group(1), match.group(2).strip()
    if run[0] == "`" and "`" in info:  # CommonMark: that is inline code, not a fence
        return None
    return _Fence(run[0], len(run), info)


def _is_head(line: str) -> bool:
    return _HEAD.fullmatch(line.strip()) is not None


def _is_divider(line: str) -> bool:
    return _DIVIDER.fullmatch(line.strip()) is not None


def _is_updated(line: str) -> bool:
    return _UPDATED.fullmatch(line.strip()) is not None


def _clean(text: str) -> str:
    """A path candidate without what models add: ``**``, backticks, quotes, #, colon, labels."""
    value = text
    for _ in range(6):
        before = value
        value = value.strip().rstrip(":").strip().lstrip("#").strip()
        value = _REMARK.sub("", _LABEL.sub("", value, count=1))
        value = value.strip("`*'\"").strip()
        if value == before:
            break
    return value


def _plausible(candidate: str) -> bool:
    """Whether an unknown candidate looks like a path rather than a word of prose."""
    if not candidate or len(candidate) > _MAX_PATH or candidate.endswith("."):
        return False
    if any(char.isspace() for char in candidate) or "://" in candidate:
        return False
    if not any(char.isalnum() for char in candidate):
        return False
    # A bare word ("Changes", "Makefile") is a path only when known: prose has many such lines.
    return "." in candidate or "/" in candidate or "\\" in candidate


def _info_candidates(info: str) -> list[str]:
    """Path candidates in a fence's info string: ``python app.py``, ``app.py``, ``py:app.py``."""
    found = []
    for token in info.split()[:8]:
        value = token.split("=", 1)[-1]  # title="app.py"
        if ":" in value.rstrip(":"):
            value = value.rsplit(":", 1)[-1]  # python:app.py, 12:15:app.py (Cursor)
        cleaned = _clean(value)
        if cleaned:
            found.append(cleaned)
    return found


def _basename(path: str) -> str:
    return re.split(r"[/\\]", path)[-1]


class _Known:
    """The paths the model was shown, to resolve what it wrote to a real path."""

    def __init__(self, known: Collection[str]) -> None:
        self.exact = frozenset(path for path in known if isinstance(path, str) and path)
        by_base: dict[str, list[str]] = {}
        for path in sorted(self.exact):
            by_base.setdefault(_basename(path), []).append(path)
        self.by_base = {base: paths[0] for base, paths in by_base.items() if len(paths) == 1}

    def only(self) -> str | None:
        return next(iter(self.exact)) if len(self.exact) == 1 else None

    def resolve(self, candidate: str, basename_ok: bool) -> str | None:
        if candidate in self.exact:
            return candidate
        if basename_ok:
            return self.by_base.get(candidate)
        return None

    def choose(self, candidates: Sequence[str], basename_ok: bool) -> str | None:
        """The best path among ``candidates`` (nearest first): known, then plausible."""
        for candidate in candidates:
            if candidate in self.exact:
                return candidate
        if basename_ok:
            for candidate in candidates:
                if candidate in self.by_base:
                    return self.by_base[candidate]
        for candidate in candidates:
            if _plausible(candidate):
                return candidate
        return None


def _prose(lines: Sequence[str], consumed: Sequence[bool]) -> str:
    kept = [line.rstrip() for line, used in zip(lines, consumed, strict=True) if not used]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


# --- SEARCH/REPLACE -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    head: int
    search: list[str] | None
    """None when the block has no ======= line."""
    replace: list[str] | None
    """None when the block has no closing marker."""
    end: int
    """Index after the block's last line."""
    problem: str


class _SearchReplaceParser:
    def __init__(self, lines: list[str], known: _Known) -> None:
        self.lines = lines
        self.known = known
        self.consumed = [False] * len(lines)
        self.edits: list[SearchReplace | WholeFile] = []
        self.errors: list[str] = []

    def parse(self) -> ParsedEdits:
        lines = self.lines
        current: str | None = None  # the previous block's path, for blocks that omit theirs
        floor = 0  # the path lookback must not reach into the previous block
        number = 0
        index = 0
        while index < len(lines):
            line = lines[index]
            if _is_updated(line):
                self.consumed[index] = True
                self.errors.append(
                    f"Line {index + 1} has >>>>>>> REPLACE without a <<<<<<< SEARCH before it. "
                    "Start every block with <<<<<<< SEARCH, then the old lines, =======, the new "
                    "lines and >>>>>>> REPLACE."
                )
                index += 1
                continue
            if not _is_head(line):
                index += 1
                continue
            number += 1
            block = self._read_block(index)
            search = _join(block.search) if block.search is not None else ""
            if not search.strip():
                search = ""  # aider: a blank SEARCH appends or creates
            # A new file must not be redirected to a known file that has the same name.
            path = self._path_above(index, floor, basename_ok=bool(search)) or current
            current = path
            for position in range(index, block.end):
                self.consumed[position] = True
            end = self._consume_closing_fence(block.end)
            floor = end
            index = block.end
            where = f"SEARCH/REPLACE block {number} ({path or 'no path'}, line {block.head + 1})"
            if block.problem:
                self.errors.append(f"{where}: {block.problem}")
            elif path is None:
                self.errors.append(
                    f"SEARCH/REPLACE block {number} (line {block.head + 1}) has no file path. "
                    "Put the file's path alone on the line before the opening ``` fence and "
                    "send that block again."
                )
            elif block.search is not None and block.replace is not None:
                self.edits.append(SearchReplace(path, search, _join(block.replace)))
        return ParsedEdits(self.edits, self.errors, _prose(lines, self.consumed))

    def _read_block(self, head: int) -> _Block:
        lines = self.lines
        index = head + 1
        search: list[str] = []
        while index < len(lines) and not _is_divider(lines[index]):
            if _is_head(lines[index]) or _is_updated(lines[index]):
                break
            search.append(lines[index])
            index += 1
        if index >= len(lines) or not _is_divider(lines[index]):
            end = index + 1 if index < len(lines) and _is_updated(lines[index]) else index
            return _Block(
                head,
                None,
                None,
                end,
                "the SEARCH part has no ======= line. Write <<<<<<< SEARCH, the old lines, a "
                "line =======, the new lines, then >>>>>>> REPLACE.",
            )
        index += 1
        replace: list[str] = []
        while index < len(lines):
            line = lines[index]
            if _is_updated(line):
                return _Block(head, search, replace, index + 1, "")
            if _is_divider(line):
                # aider accepts a second ======= as the end; a REPLACE right after it is noise.
                return _Block(head, search, replace, self._skip_updated(index + 1), "")
            if _is_head(line):
                return _Block(
                    head,
                    search,
                    None,
                    index,
                    "the block has no >>>>>>> REPLACE line before the next <<<<<<< SEARCH. End "
                    "every block with >>>>>>> REPLACE and send that block again.",
                )
            replace.append(line)
            index += 1
        return _Block(
            head,
            search,
            None,
            index,
            "the reply ended before >>>>>>> REPLACE. Send that block again, complete, ending "
            "with >>>>>>> REPLACE.",
        )

    def _skip_updated(self, index: int) -> int:
        following = self._next_nonblank(index)
        if following is not None and _is_updated(self.lines[following]):
            return following + 1
        return index

    def _next_nonblank(self, index: int) -> int | None:
        for position in range(index, min(index + 3, len(self.lines))):
            if self.lines[position].strip():
                return position
        return None

    def _consume_closing_fence(self, index: int) -> int:
        """Mark the fence that closes a fenced block as framing, not prose."""
        following = self._next_nonblank(index)
        if following is None:
            return index
        fence = _fence(self.lines[following])
        if fence is not None and fence.bare:
            self.consumed[following] = True
            return following + 1
        return index

    def _path_above(self, head: int, floor: int, basename_ok: bool) -> str | None:
        """The path written above a SEARCH marker: on the line before, in or before the fence."""
        candidates: list[str] = []
        framing: list[int] = []
        path_line: tuple[int, str] | None = None
        position = head - 1
        examined = 0
        while position >= floor and examined < _MAX_LOOKBACK:
            line = self.lines[position]
            if not line.strip():
                position -= 1
                continue
            examined += 1
            fence = _fence(line)
            if fence is not None:
                # Keep looking past fences: DeepSeek writes the path in a block of its own above.
                candidates.extend(_info_candidates(fence.info))
                framing.append(position)
                position -= 1
                continue
            if line.strip() == "...":  # aider's separator between blocks of one file
                framing.append(position)
            else:
                cleaned = _clean(line)
                if cleaned:
                    candidates.append(cleaned)
                    path_line = (position, cleaned)
            break
        path = self.known.choose(candidates, basename_ok)
        for position in framing:
            self.consumed[position] = True
        if path is not None and path_line is not None:
            line_index, cleaned = path_line
            if path in (cleaned, self.known.resolve(cleaned, basename_ok)):
                self.consumed[line_index] = True
                # The path inside the fence ("```python" then "app.py"): the fence is framing.
                above = line_index - 1
                if above >= floor and _fence(self.lines[above]) is not None:
                    self.consumed[above] = True
        return path


# --- whole files ----------------------------------------------------------------------------


def _is_markdown(path: str | None) -> bool:
    return path is not None and path.lower().endswith(_MARKDOWN_SUFFIXES)


def _closing_fence(
    fences: Sequence[_Fence | None],
    fence_lines: Sequence[int],
    opener: int,
    prefer_last: bool,
    stops_region: Callable[[int], bool],
) -> int | None:
    """The position in ``fence_lines`` of the fence closing the block opened at ``opener``.

    Four or more backticks: CommonMark, the first bare fence at least as long. Three: content
    may hold nested blocks, so the close is a bare fence such that the fences before it and
    after it (up to the next listing, ``stops_region``) pair up as opener + bare closer. Of
    several such fences the first wins, or the last for Markdown files, where nested bare
    blocks are common; when none pairs up, the last bare fence.
    """
    first = fences[fence_lines[opener]]
    assert first is not None
    if first.count > 3:
        for position in range(opener + 1, len(fence_lines)):
            fence = fences[fence_lines[position]]
            if (
                fence is not None
                and fence.char == first.char
                and fence.bare
                and fence.count >= first.count
            ):
                return position
        return None
    sequence: list[int] = []
    seen_bare = False
    for position in range(opener + 1, min(len(fence_lines), opener + 1 + _MAX_FENCES)):
        # Only after a candidate close: a content line like "pytest==8.1" right above the
        # real closing fence would otherwise look like the next listing's path line.
        if seen_bare and stops_region(position):
            break
        fence = fences[fence_lines[position]]
        if fence is None or fence.char != first.char:
            continue
        sequence.append(position)
        seen_bare = seen_bare or fence.bare
    bare = [bool(f is not None and f.bare) for f in (fences[fence_lines[p]] for p in sequence)]
    if not any(bare):
        return None
    size = len(sequence)
    suffix_pairs = [False] * (size + 1)
    suffix_pairs[size] = True
    for start in range(size - 2, -1, -1):
        suffix_pairs[start] = bare[start + 1] and suffix_pairs[start + 2]
    closes: list[int] = []
    for start in range(0, size, 2):  # sequence[:start] pairs up so far
        if bare[start] and suffix_pairs[start + 1]:
            closes.append(start)
        if start + 1 >= size or not bare[start + 1]:
            break
    if closes:
        return sequence[closes[-1] if prefer_last else closes[0]]
    return sequence[max(i for i, is_bare in enumerate(bare) if is_bare)]


@dataclass(frozen=True)
class _Listing:
    first_line: int
    """The path line, or the opening fence when the path is not on a line of its own."""
    last_line: int
    """The closing fence."""
    path: str
    content: str
    rank: int
    """How the path was found: 0 written with the block, 1 mentioned above it, 2 the only file."""


class _WholeFileParser:
    def __init__(self, lines: list[str], known: _Known) -> None:
        self.lines = lines
        self.known = known
        self.fences = [_fence(line) for line in lines]
        self.fence_lines = [index for index, fence in enumerate(self.fences) if fence is not None]
        self._line_paths: dict[int, str | None] = {}

    def parse(self) -> ParsedEdits:
        listings: list[_Listing] = []
        unnamed: list[tuple[int, int, str]] = []  # opener, closer, content
        errors: list[str] = []
        floor = 0
        position = 0
        while position < len(self.fence_lines):
            opener = self.fence_lines[position]
            fence = self.fences[opener]
            assert fence is not None
            path, first_line = self._path_for(opener, floor)
            rank = 0
            if path is None:
                path = self._mentioned_above(opener, floor)
                rank = 1
            close = _closing_fence(
                self.fences, self.fence_lines, position, _is_markdown(path), self._starts_listing
            )
            if close is None:
                label = f"the listing for {path}" if path else "the fenced block"
                errors.append(
                    f"{label.capitalize()} at line {first_line + 1} has no closing fence. End the "
                    f"file's content with a line {fence.char * fence.count} and send the whole "
                    "file again."
                )
                break
            closer = self.fence_lines[close]
            content = _join(self.lines[opener + 1 : closer])
            if path is not None:
                listings.append(_Listing(first_line, closer, path, content, rank))
            elif (fence.info.split() or [""])[0].lower() not in _NOT_FILE_INFO:
                unnamed.append((opener, closer, content))
            floor = closer + 1
            position = close + 1
        only = self.known.only()
        if unnamed and only is not None and all(item.path != only for item in listings):
            # aider: with one file in the chat an unnamed block is that file; later unnamed
            # blocks are usually commands or examples and stay prose.
            opener, closer, content = unnamed.pop(0)
            listings.append(_Listing(opener, closer, only, content, 2))
        elif unnamed and not listings:
            errors.extend(
                f"The fenced block at line {opener + 1} has no file path. Write the file's path "
                "alone on the line before the opening ``` fence, then the complete file."
                for opener, _, _ in unnamed
            )
        kept = _best_per_path(listings)
        consumed = [False] * len(self.lines)
        for listing in listings:
            for index in range(listing.first_line, listing.last_line + 1):
                consumed[index] = True
        edits: list[SearchReplace | WholeFile] = [
            WholeFile(listing.path, listing.content) for listing in kept
        ]
        return ParsedEdits(edits, errors, _prose(self.lines, consumed))

    def _line_path(self, index: int) -> str | None:
        """The path written alone on line ``index``, if it is one."""
        if index not in self._line_paths:
            line = self.lines[index]
            path = None
            if self.fences[index] is None and line.strip():
                path = self.known.choose([_clean(line)], basename_ok=True)
            self._line_paths[index] = path
        return self._line_paths[index]

    def _path_for(self, opener: int, floor: int) -> tuple[str | None, int]:
        fence = self.fences[opener]
        assert fence is not None
        candidates = _info_candidates(fence.info)
        above = opener - 1
        line_path = self._line_path(above) if above >= floor else None
        if line_path is not None:
            path = self.known.choose([*candidates, line_path], basename_ok=True)
            return path, above if path == line_path else opener
        return self.known.choose(candidates, basename_ok=True), opener

    def _starts_listing(self, position: int) -> bool:
        """Whether the fence at ``position`` opens a new listing (a path on or above it)."""
        index = self.fence_lines[position]
        fence = self.fences[index]
        if fence is None:
            return False
        if self.known.choose(_info_candidates(fence.info), basename_ok=True) is not None:
            return True
        return index > 0 and self._line_path(index - 1) is not None

    def _mentioned_above(self, opener: int, floor: int) -> str | None:
        """The one known path named in the prose line above an unnamed block (aider's "saw")."""
        if not self.known.exact:
            return None
        index = opener - 1
        while index >= floor and index >= opener - 3 and not self.lines[index].strip():
            index -= 1
        if index < floor or index < 0 or self.fences[index] is not None:
            return None
        found = set()
        for match in re.finditer(r"`([^`\n]+)`|([^\s`]+)", self.lines[index]):
            word = match.group(1) or match.group(2).strip(".,:;!?()[]{}\"'*")
            resolved = self.known.resolve(word.strip(), basename_ok=True)
            if resolved is not None:
                found.add(resolved)
        return found.pop() if len(found) == 1 else None


def _best_per_path(listings: Sequence[_Listing]) -> list[_Listing]:
    """One listing per path: the most reliably named, the last of equals (a model's correction)."""
    best: dict[str, _Listing] = {}
    for listing in listings:
        held = best.get(listing.path)
        if held is None or listing.rank <= held.rank:
            best[listing.path] = listing
    return sorted(best.values(), key=lambda listing: listing.first_line)


# --- rewritten lines ------------------------------------------------------------------------


def _last_block(lines: list[str]) -> str | None:
    fences = [_fence(line) for line in lines]
    fence_lines = [index for index, fence in enumerate(fences) if fence is not None]
    content = None
    position = 0
    while position < len(fence_lines):
        close = _closing_fence(fences, fence_lines, position, False, lambda _position: False)
        if close is None:
            break
        content = _join(lines[fence_lines[position] + 1 : fence_lines[close]])
        position = close + 1
    return content

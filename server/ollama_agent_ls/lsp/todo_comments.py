"""Find TODO / FIXME / XXX comments, the code around them, and whether they are still there.

Pure text functions for the "implement this TODO" code action. The comment syntax comes from the
editor's languageId, else the file extension, else a conservative mix. The scan is quote-aware
per line (a marker inside a string literal on a code line is not a TODO) and follows ``/* */``
style block comments across lines. Lines are numbered as LSP numbers them (``\\n``, ``\\r\\n`` and
``\\r`` all break lines); character indices are ``str`` indices within the line.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MARKER = re.compile(r"(?<![\w])(TODO|FIXME|XXX)(?![\w])")
_AFTER_MARKER = re.compile(r"(?:\((?P<owner>[^)]*)\))?\s*[:\-]?\s*")
_CONTINUATION_LIMIT = 20


@dataclass(frozen=True)
class CommentSyntax:
    """How one family of languages writes comments and strings."""

    name: str
    line: tuple[str, ...] = ()
    blocks: tuple[tuple[str, str], ...] = ()
    quotes: str = ""
    spaced: bool = False
    """Line markers count only at the line start or after whitespace (``#`` in shell, ``//`` in
    a URL of an unknown file type)."""


_SYNTAXES = {
    syntax.name: syntax
    for syntax in (
        CommentSyntax("hash", ("#",), (), "\"'"),
        CommentSyntax("hash-spaced", ("#",), (), "\"'", spaced=True),
        CommentSyntax("c", ("//",), (("/*", "*/"),), "\"'`"),
        # Rust and Swift use ' for lifetimes/labels far more than for chars.
        CommentSyntax("c-dquote", ("//",), (("/*", "*/"),), '"'),
        CommentSyntax("php", ("//", "#"), (("/*", "*/"),), "\"'`"),
        CommentSyntax("dash", ("--",), (), "\"'"),
        CommentSyntax("lua", ("--",), (("--[[", "]]"),), "\"'"),
        CommentSyntax("sql", ("--",), (("/*", "*/"),), "\"'"),
        CommentSyntax("haskell", ("--",), (("{-", "-}"),), '"'),
        CommentSyntax("semicolon", (";",), (), '"'),
        CommentSyntax("ini", (";", "#"), (), ""),
        # Markup text is prose: apostrophes there are not string quotes.
        CommentSyntax("markup", (), (("<!--", "-->"),), ""),
        CommentSyntax("component", ("//",), (("<!--", "-->"), ("/*", "*/")), "", spaced=True),
        CommentSyntax("css", (), (("/*", "*/"),), "\"'"),
        CommentSyntax("scss", ("//",), (("/*", "*/"),), "\"'"),
        CommentSyntax("percent", ("%",), (), ""),
        CommentSyntax("unknown", ("#", "//"), (("/*", "*/"), ("<!--", "-->")), "\"'", spaced=True),
    )
}


def _table(names_by_syntax: dict[str, str]) -> dict[str, str]:
    return {name: syntax for syntax, names in names_by_syntax.items() for name in names.split()}


_BY_LANGUAGE = _table(
    {
        "hash": "python ruby yaml toml perl perl6 raku r makefile cmake julia elixir nix "
        "terraform coffeescript powershell gdscript starlark bazel properties gitignore ignore "
        "pip-requirements dotenv crystal nim tcl awk",
        "hash-spaced": "shellscript shell bash sh zsh fish dockerfile",
        "c": "c cpp java javascript javascriptreact typescript typescriptreact go kotlin csharp "
        "scala dart groovy objective-c objective-cpp jsonc json5 proto proto3 zig solidity "
        "cuda hlsl glsl d v fsharp haxe",
        "c-dquote": "rust swift",
        "php": "php",
        "dash": "ada elm purescript vhdl",
        "lua": "lua",
        "sql": "sql plsql mysql postgres pgsql tsql",
        "haskell": "haskell",
        "semicolon": "lisp commonlisp common-lisp clojure scheme racket emacs-lisp elisp fennel "
        "asm nasm gas x86asm llvm",
        "ini": "ini",
        "markup": "html xml xsl markdown svg xhtml razor",
        "component": "vue svelte astro",
        "css": "css",
        "scss": "scss less sass",
        "percent": "latex tex bibtex erlang matlab prolog",
    }
)

_BY_EXTENSION = _table(
    {
        "hash": ".py .pyi .pyw .rb .yaml .yml .toml .pl .pm .r .mk .cmake .jl .ex .exs .nix .tf "
        ".coffee .ps1 .psm1 .gd .bzl .star .properties .cfg .conf .cr .nim .tcl .awk",
        "hash-spaced": ".sh .bash .zsh .fish .ksh",
        "c": ".c .h .cc .cpp .cxx .hpp .hh .hxx .ino .java .js .jsx .mjs .cjs .ts .tsx .mts .cts "
        ".go .kt .kts .cs .scala .sc .dart .groovy .gradle .m .mm .jsonc .json5 .proto .zig "
        ".sol .cu .hlsl .glsl .d .fs .fsx .hx",
        "c-dquote": ".rs .swift",
        "php": ".php",
        "dash": ".adb .ads .elm .purs .vhd .vhdl",
        "lua": ".lua",
        "sql": ".sql",
        "haskell": ".hs .lhs",
        "semicolon": ".lisp .lsp .cl .el .clj .cljs .cljc .edn .scm .ss .rkt .fnl .asm .s .nasm "
        ".ll",
        "ini": ".ini",
        "markup": ".html .htm .xhtml .xml .xsl .xslt .svg .md .markdown .mdx .cshtml .razor",
        "component": ".vue .svelte .astro",
        "css": ".css",
        "scss": ".scss .less .sass",
        "percent": ".tex .sty .cls .bib .erl .hrl",
    }
)

_BY_FILENAME = {
    "makefile": "hash",
    "gnumakefile": "hash",
    "cmakelists.txt": "hash",
    "dockerfile": "hash-spaced",
    "containerfile": "hash-spaced",
    ".bashrc": "hash-spaced",
    ".zshrc": "hash-spaced",
    ".profile": "hash-spaced",
    ".gitignore": "hash",
    ".dockerignore": "hash",
    ".env": "hash",
    "requirements.txt": "hash",
}


@dataclass(frozen=True)
class TodoComment:
    """A TODO / FIXME / XXX found in a comment."""

    line: int
    """0-based line of the marker."""
    text: str
    """The description after the marker (and an optional ``(owner)`` and ``:``) on its line."""
    marker: str
    """"TODO", "FIXME" or "XXX"."""
    comment_start_char: int
    """Index in the line where the comment starts (its opener, or the text of a block comment
    continued from an earlier line)."""
    comment_end_char: int
    """Index in the line where the comment ends (after ``*/`` when closed on the line)."""
    marker_char: int = 0
    owner: str | None = None
    """The name in ``TODO(name):``."""
    end_line: int | None = None
    """Last line of the description when comment lines after the marker continue it."""
    full_text: str = ""
    """The description including continuation lines, joined with spaces."""
    line_text: str = ""
    """The marker's whole line, stripped (identifies a TODO that has no description)."""
    syntax: str = "unknown"
    """Name of the comment syntax the file was read with."""

    @property
    def last_line(self) -> int:
        """Last line of the TODO's text (``line`` when it has no continuation)."""
        return self.line if self.end_line is None else self.end_line


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    content_start: int
    content_end: int
    opener: str
    closer: str
    """What ends the comment: the block closer, or "" for a line comment."""
    closed: bool
    """False for a block comment that goes on past the line (and for line comments)."""
    block: bool


def comment_syntax(language_id: str | None, uri_or_path: str | None) -> CommentSyntax:
    """The comment syntax for a languageId, else for the file name or extension."""
    if language_id:
        name = _BY_LANGUAGE.get(language_id.lower())
        if name is not None:
            return _SYNTAXES[name]
    if uri_or_path:
        path = uri_or_path
        if "://" in path or path.startswith("file:"):
            path = unquote(urlparse(path).path)
        base = posixpath.basename(path.replace("\\", "/")).lower()
        name = _BY_FILENAME.get(base)
        if name is None:
            extension = posixpath.splitext(base)[1]
            name = _BY_EXTENSION.get(extension)
        if name is not None:
            return _SYNTAXES[name]
    return _SYNTAXES["unknown"]


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` without their line breaks, numbered as LSP numbers them."""
    return _LINE_BREAK.split(text)


def find_todos(text: str, language_id: str | None, path: str | None) -> list[TodoComment]:
    """Every TODO / FIXME / XXX comment in ``text``, in line order."""
    syntax = comment_syntax(language_id, path)
    return _find_all(split_lines(text), syntax)


def find_todo(
    text: str, line: int, language_id: str | None, uri_or_path: str | None
) -> TodoComment | None:
    """The TODO / FIXME / XXX comment on ``line`` (0-based), or None when it has none."""
    lines = split_lines(text)
    if not 0 <= line < len(lines) or _MARKER.search(lines[line]) is None:
        return None
    syntax = comment_syntax(language_id, uri_or_path)
    state = _state_before(lines, line, syntax)
    found, _ = _todos_in_line(lines, line, syntax, state)
    return found[0] if found else None


def todo_still_present(text: str, todo: TodoComment) -> bool:
    """True when ``text`` still has a comment with the TODO's marker and description."""
    syntax = _SYNTAXES.get(todo.syntax, _SYNTAXES["unknown"])
    wanted = _normalise(todo.text)
    for candidate in _find_all(split_lines(text), syntax):
        if candidate.marker != todo.marker or _normalise(candidate.text) != wanted:
            continue
        # A bare "TODO" says nothing; only the same line of code identifies it.
        if wanted or _normalise(candidate.line_text) == _normalise(todo.line_text):
            return True
    return False


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _find_all(lines: list[str], syntax: CommentSyntax) -> list[TodoComment]:
    result: list[TodoComment] = []
    state: str | None = None
    openers = [opener for opener, _ in syntax.blocks]
    for number, line in enumerate(lines):
        if _MARKER.search(line) is None:
            # Lines without a marker only matter for the block-comment state.
            if state is None and not any(opener in line for opener in openers):
                continue
            if state is not None and state not in line:
                continue
            _, state = _comment_spans(line, syntax, state)
            continue
        found, state = _todos_in_line(lines, number, syntax, state)
        result.extend(found)
    return result


def _state_before(lines: list[str], line: int, syntax: CommentSyntax) -> str | None:
    if not syntax.blocks:
        return None
    state: str | None = None
    openers = [opener for opener, _ in syntax.blocks]
    for text in lines[:line]:
        if state is None and not any(opener in text for opener in openers):
            continue
        if state is not None and state not in text:
            continue
        _, state = _comment_spans(text, syntax, state)
    return state


def _todos_in_line(
    lines: list[str], number: int, syntax: CommentSyntax, state: str | None
) -> tuple[list[TodoComment], str | None]:
    line = lines[number]
    spans, after = _comment_spans(line, syntax, state)
    found: list[TodoComment] = []
    for span in spans:
        match = _MARKER.search(line, span.content_start, span.content_end)
        if match is None:
            continue
        details = _AFTER_MARKER.match(line, match.end(), span.content_end)
        description_start = details.end() if details else match.end()
        description = line[description_start : span.content_end].strip()
        owner = details.group("owner") if details else None
        continuation, end_line = _continuation(lines, number, span, syntax)
        full_text = " ".join(part for part in [description, *continuation] if part)
        found.append(
            TodoComment(
                line=number,
                text=description,
                marker=match.group(1),
                comment_start_char=span.start,
                comment_end_char=span.end,
                marker_char=match.start(),
                owner=owner.strip() if owner else None,
                end_line=end_line,
                full_text=full_text,
                line_text=line.strip(),
                syntax=syntax.name,
            )
        )
    return found, after


def _comment_spans(
    line: str, syntax: CommentSyntax, state: str | None
) -> tuple[list[_Span], str | None]:
    """Comment spans of one line, given the block closer still awaited from earlier lines."""
    spans: list[_Span] = []
    length = len(line)
    index = 0
    if state is not None:
        close = line.find(state)
        if close < 0:
            start = len(line) - len(line.lstrip())
            return [_Span(start, length, 0, length, "", state, False, True)], state
        spans.append(_Span(0, close + len(state), 0, close, "", state, True, True))
        index = close + len(state)
    quote: str | None = None
    while index < length:
        char = line[index]
        if quote is not None:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = None
            index += 1
            continue
        if char in syntax.quotes:
            quote = char
            index += 1
            continue
        block = _block_at(line, index, syntax)
        if block is not None:
            opener, closer = block
            body = index + len(opener)
            close = line.find(closer, body)
            if close < 0:
                spans.append(_Span(index, length, body, length, opener, closer, False, True))
                return spans, closer
            spans.append(_Span(index, close + len(closer), body, close, opener, closer, True, True))
            index = close + len(closer)
            continue
        marker = _line_marker_at(line, index, syntax)
        if marker is not None:
            spans.append(
                _Span(index, length, index + len(marker), length, marker, "", False, False)
            )
            return spans, None
        index += 1
    return spans, None


def _block_at(line: str, index: int, syntax: CommentSyntax) -> tuple[str, str] | None:
    for opener, closer in syntax.blocks:
        if line.startswith(opener, index):
            return opener, closer
    return None


def _line_marker_at(line: str, index: int, syntax: CommentSyntax) -> str | None:
    for marker in syntax.line:
        if line.startswith(marker, index):
            if syntax.spaced and index > 0 and not line[index - 1].isspace():
                continue
            return marker
    return None


def _continuation(
    lines: list[str], number: int, span: _Span, syntax: CommentSyntax
) -> tuple[list[str], int | None]:
    """Text of the comment lines after the marker's line that go on describing it."""
    parts: list[str] = []
    end_line: int | None = None
    last = min(len(lines), number + 1 + _CONTINUATION_LIMIT)
    if span.block and not span.closed:
        closer = span.closer
        for index in range(number + 1, last):
            text = lines[index]
            close = text.find(closer)
            content = (text if close < 0 else text[:close]).strip().lstrip("*").strip()
            if not content or _MARKER.search(content):
                break
            parts.append(content)
            end_line = index
            if close >= 0:
                break
        return parts, end_line
    if span.block:
        return parts, end_line
    column = span.start
    if _has_code_before(lines[number], column):
        return parts, end_line
    for index in range(number + 1, last):
        text = lines[index]
        stripped = text.lstrip()
        if len(text) - len(stripped) != column or not stripped.startswith(span.opener):
            break
        content = stripped[len(span.opener) :].lstrip(span.opener[:1]).strip()
        if not content or _MARKER.search(content):
            break
        parts.append(content)
        end_line = index
    return parts, end_line


def _has_code_before(line: str, column: int) -> bool:
    """True when something other than whitespace comes before ``column`` on ``line``."""
    return bool(line[:column].strip())


# --- enclosing block -------------------------------------------------------------------------

_DEF_KEYWORD = re.compile(
    r"""^\s*\(?
    (?:(?:export|default|public|private|protected|internal|static|final|abstract|async|override
      |virtual|inline|extern|unsafe|const|open|suspend|fileprivate|sealed|partial|local
      |pub(?:\([^)]*\))?)\s+)*
    (?:def|class|function|fn|func|fun|interface|struct|enum|impl|trait|module|namespace|sub
      |procedure|object|record|protocol|extension|union|defun|defn|defmacro|defmethod)\b""",
    re.VERBOSE,
)
_CALLABLE_HEADER = re.compile(
    r"^\s*(?:[\w$<>\[\],.:*&~]+\s+)*[*&]*[A-Za-z_$~][\w$:]*\s*\([^;]*\)"
    r"\s*(?:const\b\s*)?(?:(?:->|:)\s*[^{;=]+)?\s*(?:throws\s+[\w.,\s]+)?\{?\s*$"
)
_ARROW = re.compile(r"^\s*(?:export\s+)?(?:const|let|var)\s+[\w$]+\s*=\s*(?:async\s+)?.*=>")
_CONTROL = re.compile(
    r"^\s*(?:\}\s*)?(?:if|else|elif|for|foreach|while|switch|case|catch|try|do|return|with"
    r"|match|when|unless|until|loop|select|synchronized|using|lock)\b"
)
_CLOSING_BRACKET = re.compile(r"^\s*[)\]}]")
_CLOSING = re.compile(r"^\s*(?:[}\])]|end\b|fi\b|done\b|esac\b|</)")


def enclosing_block(text: str, line: int, max_lines: int = 80) -> tuple[int, int]:
    """(first, last) 0-based lines of the function, class or block around ``line``, inclusive.

    A heuristic by indentation: the nearest less-indented definition above (else the nearest
    less-indented line, else the paragraph), down to where the indentation returns, including a
    closing ``}`` / ``end`` line. Never longer than ``max_lines``, always containing ``line``.
    """
    lines = split_lines(text)
    max_lines = max(1, max_lines)
    line = max(0, min(line, len(lines) - 1))
    target = _nearest_code_line(lines, line)
    if target is None:
        return line, line
    header = _header_above(lines, target)
    if header is None:
        start, end = _paragraph(lines, target)
    else:
        start = _with_decorators(lines, header)
        end = _block_end(lines, header, target)
    start, end = min(start, line), max(end, line)
    if end - start + 1 > max_lines:
        start = max(start, line - max_lines // 2)
        end = min(end, start + max_lines - 1)
        start = max(start, end - max_lines + 1)
    return start, end


def _indent(text: str) -> int:
    return len(text.expandtabs(4)) - len(text.expandtabs(4).lstrip())


def _is_blank(text: str) -> bool:
    return not text.strip()


def _is_definition(text: str) -> bool:
    if _DEF_KEYWORD.match(text) or _ARROW.match(text):
        return True
    return _CALLABLE_HEADER.match(text) is not None and _CONTROL.match(text) is None


def _nearest_code_line(lines: list[str], line: int) -> int | None:
    for index in range(line, len(lines)):
        if not _is_blank(lines[index]):
            return index
    for index in range(line - 1, -1, -1):
        if not _is_blank(lines[index]):
            return index
    return None


def _header_above(lines: list[str], target: int) -> int | None:
    if _is_definition(lines[target]):
        return target
    threshold = _indent(lines[target])
    fallback: int | None = None
    # Far enough for long functions; bounded so a huge flat file costs little.
    stop = max(0, target - 5000)
    for index in range(target - 1, stop - 1, -1):
        if threshold == 0:
            break
        text = lines[index]
        if _is_blank(text):
            continue
        indent = _indent(text)
        if indent >= threshold:
            continue
        if _CLOSING_BRACKET.match(text):
            # ") -> int:" or "} else {": the construct starts where the bracket was opened.
            opening = _opening_line(lines, index)
            if opening is not None:
                index, text, indent = opening, lines[opening], _indent(lines[opening])
        if text.strip() == "{":
            # Allman style: the header is the line above the brace, at the same indentation.
            above = _nearest_code_line_above(lines, index)
            if above is not None and _indent(lines[above]) == indent:
                index, text = above, lines[above]
        if _is_definition(text):
            return index
        if fallback is None:
            fallback = index
        threshold = indent
    return fallback


def _opening_line(lines: list[str], line: int) -> int | None:
    """The line above whose unclosed bracket ``line``'s leading bracket closes."""
    depth = 0
    for index in range(line, max(-1, line - 200), -1):
        text = lines[index]
        if index == line:
            text = text[: len(text) - len(text.lstrip()) + 1]
        for char in reversed(text):
            if char in ")]}":
                depth += 1
            elif char in "([{":
                depth -= 1
                if depth == 0:
                    return index
    return None


def _nearest_code_line_above(lines: list[str], line: int) -> int | None:
    for index in range(line - 1, -1, -1):
        if not _is_blank(lines[index]):
            return index
    return None


def _with_decorators(lines: list[str], header: int) -> int:
    indent = _indent(lines[header])
    start = header
    while start > 0:
        above = lines[start - 1]
        if _indent(above) == indent and above.strip().startswith(("@", "#[")):
            start -= 1
        else:
            break
    return start


def _block_end(lines: list[str], header: int, target: int) -> int:
    indent = _indent(lines[header])
    end = max(header, target)
    index = header + 1
    # Allman brace and multi-line signature lines sit at the header's indentation.
    while index < len(lines):
        text = lines[index]
        if _is_blank(text):
            index += 1
            continue
        if _indent(text) > indent:
            end = max(end, index)
            index += 1
            continue
        stripped = text.strip()
        if stripped == "{" or (stripped.endswith(("{", ":")) and _CLOSING.match(text)):
            end = max(end, index)
            index += 1
            continue
        if _CLOSING.match(text):
            end = max(end, index)
        break
    return end


def _paragraph(lines: list[str], target: int) -> tuple[int, int]:
    start = target
    while start > 0 and not _is_blank(lines[start - 1]):
        start -= 1
    end = target
    while end + 1 < len(lines) and not _is_blank(lines[end + 1]):
        end += 1
    return start, end

"""Bash parsed by tree-sitter-bash into the simple commands a line would run: their words after
quote removal, their redirections and their pipelines. The command policy reads these instead of
re-lexing shell text, so a quoting corner bash knows cannot hide a command from it."""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tree_sitter import Parser

MAX_BYTES = 65_536
"""Longer command lines are not parsed; the policy asks about them instead."""
PARSE_SECONDS = 5.0
"""How long the parser process may take over one line before it is stopped."""
MAX_COMMANDS = 4_000
"""Simple commands one parse may yield before the line counts as too complex to check."""

_parser: Parser | None = None
# One line at a time through the parser process: the server may check commands from threads.
_lock = threading.Lock()

_EXPANSIONS = frozenset(
    {
        "simple_expansion",
        "expansion",
        "command_substitution",
        "process_substitution",
        "arithmetic_expansion",
    }
)
_PLAIN = frozenset({"word", "number", "extglob_pattern", "regex", "variable_name", "test_operator"})
_REDIRECTS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_DECLARATIONS = frozenset({"declaration_command", "unset_command"})
_KEYWORDS = frozenset(
    {"then", "fi", "do", "done", "elif", "else", "esac", "{", "}", "!", "if", "for", "while",
     "until", "case", "select", "function", "[[", "]]"}
)  # fmt: skip
_REDIRECT_PASSES = frozenset({"list", "pipeline", "negated_command", "redirected_statement"})
_NOT_STANDALONE = _DECLARATIONS | {"command", "variable_assignments", "c_style_for_statement"}
# Children of a redirection that belong to it; any other named child is a statement of its own.
_REDIRECT_PARTS = frozenset(
    {
        "heredoc_start",
        "heredoc_body",
        "heredoc_end",
        "file_redirect",
        "file_descriptor",
        "word",
        "number",
        "string",
        "raw_string",
        "ansi_c_string",
        "translated_string",
        "concatenation",
        "simple_expansion",
        "expansion",
        "command_substitution",
        "process_substitution",
        "arithmetic_expansion",
    }
)
_MAX_BRACE_WORDS = 64
_BRACE_SCAN_BUDGET = 200_000
_ANSI_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


@dataclass
class Word:
    """One word of a command as bash would pass it, as far as that is known before running."""

    value: str
    """The word after quote removal; expansions stay as their source text."""
    start: int
    end: int
    """Byte offsets into the source the word was parsed from."""
    quoted: bool = False
    dynamic: bool = False
    """Holds an expansion or a command substitution, so its value is only known at run time."""
    tilde: bool = False
    assignment: bool = False
    """A ``NAME=value`` prefix of a command, not one of its arguments."""
    ansi_c: bool = False
    """Written with ``$'...'`` escapes."""
    glob: bool = False
    """Has an unquoted ``*``, ``?`` or ``[``: bash may replace it with file names."""
    brace: bool = False
    """Has an unquoted brace expansion, expanded into the following words when that is small."""


@dataclass
class Redirect:
    """A redirection of a command: ``op`` is ``>``, ``>>``, ``<``, ``<<``, ``<<<`` and so on."""

    op: str
    fd: str | None
    target: Word | None
    start: int
    end: int
    body: str | None = None
    """A here-document's text."""
    body_literal: bool = False
    """The here-document's delimiter is quoted, so bash expands nothing in its body."""


# Compared by identity and shown without their links: a 4,000-stage pipeline links each command
# to the one before it, and comparing or printing that chain field by field would recurse.
@dataclass(eq=False)
class Command:
    """A simple command, with what feeds its standard input."""

    words: list[Word]
    redirects: list[Redirect]
    source: bytes = field(repr=False)
    start: int
    end: int
    piped: bool = False
    """Its stdin is a pipe from an earlier stage of a pipeline."""
    feeders: list[Command] = field(default_factory=list, repr=False)
    """The commands of the pipeline stage just before this one."""
    enclosing: Command | None = field(default=None, repr=False)
    """The command whose word or redirection holds this one as a substitution."""
    hidden_name: str | None = None
    """Why the command's name is only known when it runs (None when it is plain text)."""
    derived: bool = False
    """Made by the policy from a wrapper's words (``nice CMD``); its redirects are the wrapper's."""

    @property
    def text(self) -> str:
        """The command's source text."""
        return self.source[self.start : self.end].decode("utf-8", "replace").strip()

    def _name_index(self) -> int:
        i = 0
        while i < len(self.words) and self.words[i].assignment:
            i += 1
        return i

    @property
    def head(self) -> str | None:
        """The command name without its directory; None when it is only known at run time."""
        i = self._name_index()
        if i >= len(self.words) or self.hidden_name is not None or self.words[i].dynamic:
            return None
        value = self.words[i].value
        return value.rsplit("/", 1)[-1] or value

    @property
    def args(self) -> list[Word]:
        """The words after the command name (assignment prefixes left out)."""
        return self.words[self._name_index() + 1 :]


@dataclass
class Function:
    """A shell function definition."""

    name: str
    text: str
    calls_itself: bool


@dataclass
class Script:
    """What parsing a command line found."""

    commands: list[Command] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    error: str | None = None
    """Why the line cannot be read reliably (a syntax error, too long, too complex)."""


def _get_parser() -> Parser:
    global _parser
    if _parser is None:
        # Only the parser process imports these (see _ParserProcess).
        import tree_sitter
        import tree_sitter_bash

        _parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
    return _parser


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse(command: str) -> Script:
    """The simple commands of ``command`` in source order (outer ones before nested ones)."""
    if "\x00" in command:
        return Script(error="it contains a NUL byte, which no shell command line can hold")
    try:
        data = command.encode("utf-8")
    except UnicodeEncodeError:
        return Script(error="it is not valid text (it holds unpaired surrogate characters)")
    if len(data) > MAX_BYTES:
        return Script(
            error=f"it is too long to check ({len(data)} bytes, the limit is {MAX_BYTES})"
        )
    try:
        rows = _worker.rows(data)
    except TimeoutError:
        return Script(error=f"it took longer than {PARSE_SECONDS:g} s to parse")
    except _ParserDied as exc:
        why = str(exc)
        if "ModuleNotFoundError" in why or "ImportError" in why:
            return Script(
                error=f"the shell parser could not start ({why}); reinstall ollama-agent-ls "
                "with its dependencies (pip install ollama-agent-ls)"
            )
        return Script(error="the shell parser crashed on it")
    except (OSError, ValueError) as exc:
        return Script(error=f"the shell parser could not run ({_short(str(exc))})")
    return _Walker(data).walk(_build(rows))


# --- the parse tree, copied out of tree-sitter ---------------------------------------------------

_Row = tuple[str, bool, bool, int, int, int, "str | None"]
"""A node in pre-order: (type, is_named, is_missing, start byte, end byte, parent row, field)."""


@dataclass(eq=False)
class _Node:
    """A parse-tree node as plain data, so a tree can come from another process."""

    type: str
    is_named: bool
    is_missing: bool
    start_byte: int
    end_byte: int
    parent: _Node | None = field(repr=False)
    id: int
    field_name: str | None
    children: list[_Node] = field(default_factory=list, repr=False)
    has_error: bool = False

    @property
    def named_children(self) -> list[_Node]:
        """The named children, in order."""
        return [c for c in self.children if c.is_named]

    def child_by_field_name(self, name: str) -> _Node | None:
        """The first child in field ``name``."""
        for child in self.children:
            if child.field_name == name:
                return child
        return None


def _rows(root: Any) -> list[_Row]:
    """The tree under ``root`` (a tree_sitter._Node) in pre-order, walked without recursion."""
    rows: list[_Row] = []
    stack: list[tuple[Any, int, str | None]] = [(root, -1, None)]
    while stack:
        node, parent, name = stack.pop()
        index = len(rows)
        rows.append(
            (
                node.type,
                node.is_named,
                node.is_missing,
                node.start_byte,
                node.end_byte,
                parent,
                name,
            )
        )
        children = node.children
        for i in reversed(range(len(children))):
            stack.append((children[i], index, node.field_name_for_child(i)))
    return rows


def _build(rows: list[_Row]) -> _Node:
    nodes: list[_Node] = []
    error = False
    for i, (kind, named, missing, start, end, parent, name) in enumerate(rows):
        owner = nodes[parent] if parent >= 0 else None
        node = _Node(kind, named, missing, start, end, owner, i, name)
        error = error or missing or kind == "ERROR"
        if owner is not None:
            owner.children.append(node)
        nodes.append(node)
    if not nodes:
        return _Node("program", True, False, 0, 0, None, 0, None)
    nodes[0].has_error = error
    return nodes[0]


class _ParserDied(Exception):
    """The parser process exited while parsing a line."""


class _ParserProcess:
    """tree-sitter-bash in a long-lived child process, one line at a time.

    Not in this process: the grammar's scanner segfaults on some input (``{`` followed by
    U+D1DF8 does it in tree-sitter-bash 0.25.1), which would take the language server down, and
    its error recovery is quadratic on other input (a 64 KB run of ``a|`` takes a minute) where
    neither tree-sitter's timeout nor its progress callback stops it. A child can be killed and
    started again; the line it choked on is then "cannot tell".
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.owner = os.getpid()

    def rows(self, data: bytes) -> list[_Row]:
        """The parse tree of ``data``, as rows (see ``_rows``)."""
        with _lock:
            proc = self._running()
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(len(data).to_bytes(4, "big") + data)
                proc.stdin.flush()
                deadline = time.monotonic() + PARSE_SECONDS
                fd = proc.stdout.fileno()
                size = int.from_bytes(_read_exactly(fd, 4, deadline), "big")
                body = _read_exactly(fd, size, deadline)
            except (BrokenPipeError, _ParserDied) as exc:
                raise _ParserDied(self._stop()) from exc
            except BaseException:
                self._stop()
                raise
        try:
            return [
                (str(k), bool(n), bool(m), int(s), int(e), int(p), None if f is None else str(f))
                for k, n, m, s, e, p, f in json.loads(body)
            ]
        except TypeError as exc:
            raise ValueError(f"unexpected output from the parser process: {exc}") from exc

    def _running(self) -> subprocess.Popen[bytes]:
        if self.owner != os.getpid():
            # A forked copy of this process must not talk over its parent's pipes.
            self.proc, self.owner = None, os.getpid()
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        return self.proc

    def _stop(self) -> str:
        """Stop the process; the last line it wrote to stderr, if any (why it died)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return ""
        proc.kill()
        proc.wait()
        last = ""
        if proc.stderr is not None:
            # The process writes to stderr only as it dies, so this read cannot block for long.
            lines = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
            last = lines[-1] if lines else ""
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        return last


def _read_exactly(fd: int, size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            raise TimeoutError("the shell parser took too long")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise _ParserDied()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_WORKER_CODE = "from ollama_agent_ls.tools.shell_syntax import worker_main; worker_main()"
_WORKER = _WORKER_CODE
_worker = _ParserProcess()


def worker_main() -> None:
    """The parser process: read length-prefixed lines from stdin, answer each with its rows."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when this ends
    # (it closes the pipe).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # stderr is read only once this process dies; warnings piling up there could fill the pipe.
    warnings.simplefilter("ignore")
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    parser = _get_parser()
    while True:
        header = source.read(4)
        if len(header) < 4:
            return
        data = source.read(int.from_bytes(header, "big"))
        rows = _rows(parser.parse(data).root_node)
        body = json.dumps(rows, separators=(",", ":")).encode()
        sink.write(len(body).to_bytes(4, "big") + body)
        sink.flush()


# --- words -------------------------------------------------------------------------------------


def _unescape(text: str) -> tuple[str, bool]:
    """Unquoted text after backslash removal, and whether it had a backslash."""
    if "\\" not in text:
        return text, False
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out), True


def _dq_unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def ansi_c_decode(body: str) -> str:
    """The text of a ``$'...'`` string's body, escapes decoded as bash does."""
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        i += 2
        if e in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[e])
        elif e in "01234567":
            j = i
            while j < n and j < i + 2 and body[j] in "01234567":
                j += 1
            out.append(chr(int(e + body[i:j], 8) & 0xFF))
            i = j
        elif e in "xuU":
            limit = {"x": 2, "u": 4, "U": 8}[e]
            j = i
            while j < n and j < i + limit and body[j] in "0123456789abcdefABCDEF":
                j += 1
            if j == i:
                out.append("\\" + e)
            else:
                code = int(body[i:j], 16)
                out.append(chr(code) if code <= 0x10FFFF else "\ufffd")
            i = j
        elif e == "c" and i < n:
            out.append(chr(ord(body[i]) & 0x1F))
            i += 1
        else:
            out.append("\\" + e)
    return "".join(out)


class _WordBuilder:
    def __init__(self, src: bytes) -> None:
        self.src = src
        self.parts: list[str] = []
        self.raw_unquoted: list[str] = []
        self.word = Word("", 0, 0)

    def text(self, node: _Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def unquoted(self, text: str) -> None:
        if not self.parts and text.startswith("~"):
            self.word.tilde = True
        value, escaped = _unescape(text)
        self.word.quoted = self.word.quoted or escaped
        if not escaped and any(c in text for c in "*?["):
            self.word.glob = True
        elif escaped and any(c in value for c in "*?["):
            # Only the unescaped ones glob; telling them apart costs a scan, so look once.
            self.word.glob = self.word.glob or _has_unescaped_glob(text)
        self.raw_unquoted.append(text)
        self.parts.append(value)

    def quoted(self, value: str) -> None:
        self.word.quoted = True
        self.raw_unquoted.append("Q")
        self.parts.append(value)

    def dynamic(self, node: _Node) -> None:
        self.word.dynamic = True
        text = self.text(node)
        self.raw_unquoted.append("D")
        self.parts.append(text)

    def add(self, node: _Node, depth: int = 0) -> None:
        kind = node.type
        if kind in _PLAIN or kind == "special_variable_name":
            self.unquoted(self.text(node))
        elif kind == "raw_string":
            text = self.text(node)
            self.quoted(text[1:-1] if len(text) >= 2 and text.endswith("'") else text[1:])
        elif kind == "ansi_c_string":
            text = self.text(node)
            body = text[2:-1] if len(text) >= 3 and text.endswith("'") else text[2:]
            self.word.ansi_c = True
            self.quoted(ansi_c_decode(body))
        elif kind in ("string", "translated_string"):
            self.string(node, depth)
        elif kind == "concatenation" and depth < 4:
            self.sequence(node, node.start_byte, node.end_byte, depth)
        elif kind == "brace_expression":
            self.unquoted(self.text(node))
        elif kind in _EXPANSIONS:
            self.dynamic(node)
        else:
            text = self.text(node)
            if "$" in text or "`" in text:
                self.dynamic(node)
            else:
                self.unquoted(text)

    def sequence(self, node: _Node, start: int, end: int, depth: int) -> None:
        pos = start
        for child in node.children:
            if child.start_byte > pos:
                self.unquoted(self.src[pos : child.start_byte].decode("utf-8", "replace"))
            self.add(child, depth + 1)
            pos = max(pos, child.end_byte)
        if end > pos:
            self.unquoted(self.src[pos:end].decode("utf-8", "replace"))

    def string(self, node: _Node, depth: int) -> None:
        self.word.quoted = True
        start = node.start_byte
        end = node.end_byte
        text = self.text(node)
        if text.startswith("$"):
            start += 1
        start += 1  # the opening quote
        if text.endswith('"') and end - 1 >= start:
            end -= 1
        pos = start
        for child in node.children:
            if child.type in ('"', "$") and not child.is_named and child.start_byte < start:
                continue
            if child.start_byte >= end and not child.is_named:
                continue
            if child.start_byte > pos:
                gap = self.src[pos : child.start_byte].decode("utf-8", "replace")
                self.quoted(_dq_unescape(gap))
            if child.type == "string" and depth < 4:
                self.string(child, depth + 1)
            elif child.type == "string_content" or not child.is_named:
                self.quoted(_dq_unescape(self.text(child)))
            else:
                self.dynamic(child)
            pos = max(pos, child.end_byte)
        if end > pos:
            self.quoted(_dq_unescape(self.src[pos:end].decode("utf-8", "replace")))

    def build(self, node: _Node) -> Word:
        self.word.start = node.start_byte
        self.word.end = node.end_byte
        self.add(node)
        self.word.value = "".join(self.parts)
        if _has_brace_expansion("".join(self.raw_unquoted)):
            self.word.brace = True
        return self.word


def _has_brace_expansion(text: str) -> bool:
    """Whether unquoted ``text`` holds ``{a,b}`` or ``{1..3}``, which bash makes into words.

    A scan, not a regex: the obvious pattern backtracks quadratically on `{,,,,...`.
    """
    start = text.find("{")
    while start >= 0:
        end = start + 1
        while end < len(text) and text[end] not in "{}":
            end += 1
        if end < len(text) and text[end] == "}":
            inner = text[start + 1 : end]
            if "," in inner or ".." in inner:
                return True
        start = text.find("{", end if end > start else start + 1)
    return False


def _has_unescaped_glob(text: str) -> bool:
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c in "*?[":
            return True
        i += 1
    return False


def expand_braces(value: str) -> list[str] | None:
    """The words bash's brace expansion makes of ``value`` (None when too many or unclear)."""
    results: list[str] = []
    work = [value]
    steps = 0
    budget = [_BRACE_SCAN_BUDGET]
    while work:
        steps += 1
        if steps > 4 * _MAX_BRACE_WORDS:
            return None
        item = work.pop()
        split = _first_brace(item, budget)
        if budget[0] < 0:
            return None
        if split is None:
            results.append(item)
            if len(results) > _MAX_BRACE_WORDS:
                return None
            continue
        prefix, alternatives, suffix = split
        work.extend(prefix + alt + suffix for alt in reversed(alternatives))
        if len(work) > 4 * _MAX_BRACE_WORDS:
            return None
    return results


def _first_brace(value: str, budget: list[int]) -> tuple[str, list[str], str] | None:
    n = len(value)
    for i, c in enumerate(value):
        if c != "{":
            continue
        depth = 0
        commas: list[int] = []
        budget[0] -= n - i
        if budget[0] < 0:
            return None
        for j in range(i, n):
            d = value[j]
            if d == "{":
                depth += 1
            elif d == "}":
                depth -= 1
                if depth == 0:
                    if not commas:
                        break
                    bounds = [i, *commas, j]
                    alts = [value[a + 1 : b] for a, b in itertools.pairwise(bounds)]
                    return value[:i], alts, value[j + 1 :]
            elif d == "," and depth == 1:
                commas.append(j)
        else:
            return None
    return None


# --- the walk ----------------------------------------------------------------------------------


@dataclass
class _Ctx:
    feeders: list[Command]
    piped: bool
    enclosing: Command | None
    arithmetic: bool = False


@dataclass
class _Begin:
    """Marks the start of pipeline stage ``index``: its feeders are the stage before it."""

    stages: list[_Node]
    starts: list[int]
    index: int
    ctx: _Ctx
    base: list[Command]


class _Walker:
    def __init__(self, src: bytes) -> None:
        self.src = src
        self.script = Script()
        self.by_node: dict[int, Command] = {}
        self.pending_redirects: dict[int, list[_Node]] = {}

    def text(self, node: _Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def word(self, node: _Node) -> Word:
        return _WordBuilder(self.src).build(node)

    def fail(self, why: str) -> None:
        if self.script.error is None:
            self.script.error = why

    def walk(self, root: _Node) -> Script:
        check_errors = root.has_error
        stack: list[tuple[_Node, _Ctx] | _Begin] = [(root, _Ctx([], False, None))]
        while stack:
            item = stack.pop()
            if isinstance(item, _Begin):
                self.begin_stage(item, stack)
                continue
            node, ctx = item
            kind = node.type
            if check_errors and (node.is_missing or kind == "ERROR"):
                self.error_node(node, ctx)
            if len(self.script.commands) > MAX_COMMANDS:
                self.fail(f"it runs too many commands to check (more than {MAX_COMMANDS})")
                break
            child_ctx = ctx
            if kind == "command":
                command = self.command(node, ctx)
                child_ctx = _Ctx(ctx.feeders, ctx.piped, command, ctx.arithmetic)
            elif kind in _DECLARATIONS:
                command = self.declaration(node, ctx)
                child_ctx = _Ctx(ctx.feeders, ctx.piped, command, ctx.arithmetic)
            elif kind == "variable_assignments" or (
                kind == "variable_assignment"
                and node.parent is not None
                and node.parent.type not in _NOT_STANDALONE
            ):
                self.assignments(node, ctx)
            elif kind in _REDIRECTS:
                self.push_redirect_children(node, ctx, stack)
                continue
            elif kind == "redirected_statement":
                self.redirected(node, ctx)
            elif kind == "function_definition":
                self.function(node)
            elif kind == "pipeline":
                self.pipeline(node, ctx, stack)
                continue
            elif kind == "arithmetic_expansion":
                child_ctx = _Ctx(ctx.feeders, ctx.piped, ctx.enclosing, True)
            for child in reversed(node.children):
                stack.append((child, child_ctx))
        return self.script

    def push_redirect_children(
        self, node: _Node, ctx: _Ctx, stack: list[tuple[_Node, _Ctx] | _Begin]
    ) -> None:
        # A substitution in a redirection runs for the command it redirects (`bash < <(curl x)`),
        # but `| sh` after a here-document's start is a command of its own.
        owner = ctx.enclosing
        parent = node.parent
        if parent is not None and parent.type == "heredoc_redirect":
            parent = parent.parent
        if parent is not None and parent.type == "redirected_statement":
            body = parent.child_by_field_name("body")
            if body is not None and body.id in self.by_node:
                owner = self.by_node[body.id]
        inner = _Ctx(ctx.feeders, ctx.piped, owner, ctx.arithmetic)
        for child in reversed(node.children):
            statement = child.is_named and child.type not in _REDIRECT_PARTS
            stack.append((child, ctx if statement else inner))

    def error_node(self, node: _Node, ctx: _Ctx) -> None:
        text = self.text(node)
        # `$(( rm -rf x ))` is an arithmetic error bash refuses without running anything; the
        # grammar's arithmetic is narrower than bash's, so an error there hides no command unless
        # it swallowed a substitution.
        if ctx.arithmetic and not any(s in text for s in ("$(", "`", "<(", ">(")):
            return
        if node.is_missing:
            missing = "a word or a command" if node.is_named else repr(node.type)
            self.fail(f"it could not be parsed: it is incomplete ({missing} is missing)")
        else:
            self.fail(f"it could not be parsed near {_short(text) or 'the end'!r}")

    def pipeline(self, node: _Node, ctx: _Ctx, stack: list[tuple[_Node, _Ctx] | _Begin]) -> None:
        stages = [c for c in node.children if c.is_named and c.type != "comment"]
        base: list[Command] = []
        first = node.children[0] if node.children else None
        parent = node.parent
        # `cat <<EOF | sh`: the grammar puts `| sh` inside the here-document redirection.
        if (
            first is not None
            and not first.is_named
            and first.type in ("|", "|&")
            and parent is not None
            and parent.type == "heredoc_redirect"
            and parent.parent is not None
        ):
            body = parent.parent.child_by_field_name("body")
            if body is not None and body.id in self.by_node:
                base = [self.by_node[body.id]]
        for child in node.children:
            if not child.is_named and (child.is_missing or child.type == "ERROR"):
                stack.append((child, ctx))
        starts = [0] * len(stages)
        for i in reversed(range(len(stages))):
            stack.append(_Begin(stages, starts, i, ctx, base))

    def begin_stage(self, item: _Begin, stack: list[tuple[_Node, _Ctx] | _Begin]) -> None:
        i = item.index
        item.starts[i] = len(self.script.commands)
        ctx = item.ctx
        if i == 0:
            if item.base:
                ctx = _Ctx(item.base, True, ctx.enclosing, ctx.arithmetic)
        else:
            feeders = self.script.commands[item.starts[i - 1] : item.starts[i]]
            ctx = _Ctx(feeders, True, ctx.enclosing, ctx.arithmetic)
        stack.append((item.stages[i], ctx))

    def new_command(self, node: _Node, words: list[Word], ctx: _Ctx) -> Command:
        redirects = [self.redirect(r) for r in self.pending_redirects.pop(node.id, [])]
        start = node.start_byte
        end = max([node.end_byte, *(r.end for r in redirects)])
        command = Command(
            words,
            redirects,
            self.src,
            start,
            end,
            piped=ctx.piped,
            feeders=ctx.feeders,
            enclosing=ctx.enclosing,
        )
        self.by_node[node.id] = command
        self.script.commands.append(command)
        return command

    def command(self, node: _Node, ctx: _Ctx) -> Command:
        assignments: list[Word] = []
        redirect_nodes: list[_Node] = []
        parts: list[Word] = []
        has_name = False
        for child in node.children:
            kind = child.type
            if kind == "variable_assignment":
                assignments.append(self.assignment(child))
                continue
            if kind in _REDIRECTS:
                redirect_nodes.append(child)
                continue
            if kind == "command_name":
                inner = child.named_children
                word = self.word(inner[0] if inner else child)
                has_name = True
            elif child.is_named and kind != "comment":
                word = self.word(child)
            else:
                continue
            # The grammar skips a backslash-newline like a space; bash joins the two halves
            # (`r\<newline>m` is `rm`).
            if parts and self.src[parts[-1].end : word.start] == b"\\\n":
                parts[-1] = _joined(parts[-1], word)
            else:
                parts.append(word)
        if redirect_nodes:
            self.pending_redirects.setdefault(node.id, []).extend(redirect_nodes)
        words = list(assignments)
        for word in parts:
            words.extend(self.expanded(word))
        command = self.new_command(node, words, ctx)
        if has_name and parts:
            name = parts[0]
            command.hidden_name = _hidden(name)
            if not name.quoted and name.value in _KEYWORDS:
                # `timeout 5 if x; then rm y; fi` is a syntax error in bash, but the grammar reads
                # a command named `then`: what the line does is then anybody's guess.
                self.fail(f"it could not be parsed near {name.value!r}")
        return command

    def expanded(self, word: Word) -> list[Word]:
        """``word`` after brace expansion (``rm -{r,f}`` is ``rm -r -f``)."""
        if not word.brace or word.dynamic:
            return [word]
        values = expand_braces(word.value)
        if values is None:
            self.fail("it has a brace expansion too large to check")
            return [word]
        return [
            Word(v, word.start, word.end, quoted=word.quoted, tilde=v.startswith("~"))
            for v in values
        ]

    def declaration(self, node: _Node, ctx: _Ctx) -> Command:
        words: list[Word] = []
        for child in node.children:
            if child.type == "comment":
                continue
            if not child.is_named:
                words.append(Word(self.text(child), child.start_byte, child.end_byte))
            elif child.type in _REDIRECTS:
                self.pending_redirects.setdefault(node.id, []).append(child)
            elif child.type == "variable_assignment":
                word = self.assignment(child)
                word.assignment = False
                words.append(word)
            else:
                words.append(self.word(child))
        return self.new_command(node, words, ctx)

    def assignments(self, node: _Node, ctx: _Ctx) -> None:
        nodes = [node] if node.type == "variable_assignment" else node.named_children
        words = [self.assignment(n) for n in nodes if n.type == "variable_assignment"]
        if words:
            self.new_command(node, words, ctx)

    def assignment(self, node: _Node) -> Word:
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        prefix_end = value.start_byte if value is not None else node.end_byte
        prefix = self.src[node.start_byte : prefix_end].decode("utf-8", "replace")
        word = Word(prefix, node.start_byte, node.end_byte, assignment=True)
        if value is not None:
            inner = self.word(value)
            word.value = prefix + inner.value
            word.dynamic = inner.dynamic
            word.quoted = inner.quoted
            word.tilde = inner.tilde
        elif name is None:
            word.value = self.text(node)
        return word

    def redirected(self, node: _Node, ctx: _Ctx) -> None:
        body = node.child_by_field_name("body")
        redirects: list[_Node] = []
        for child in node.children:
            if child.type in _REDIRECTS:
                redirects.append(child)
                # `cat <<EOF > notes.md`: the grammar nests the second redirection in the first.
                redirects.extend(c for c in child.children if c.type == "file_redirect")
        # The grammar hangs `a && b > f` and `a | b > f` on the whole list or pipeline; bash
        # gives the redirection to the last command only.
        target = body
        while target is not None and target.type in _REDIRECT_PASSES:
            if target.type == "redirected_statement":
                target = target.child_by_field_name("body")
            else:
                named = [c for c in target.named_children if c.type != "comment"]
                target = named[-1] if named else None
        if target is not None and target.type == "command":
            self.pending_redirects.setdefault(target.id, []).extend(redirects)
        elif redirects:
            # A redirection of a group, loop or subshell, or of nothing at all: still a write.
            self.pending_redirects[node.id] = redirects
            self.new_command(node, [], ctx)

    def redirect(self, node: _Node) -> Redirect:
        op = ""
        fd: str | None = None
        target: Word | None = None
        body: str | None = None
        literal = False
        end = node.end_byte
        for child in node.children:
            kind = child.type
            if kind == "file_descriptor":
                fd = self.text(child)
            elif not child.is_named and not op:
                op = kind
            elif kind == "heredoc_start":
                delimiter = self.text(child)
                literal = any(c in delimiter for c in "'\"\\")
                target = Word(_unescape(delimiter.replace("'", "").replace('"', ""))[0], 0, 0)
                end = child.end_byte
            elif kind == "heredoc_body":
                body = self.text(child)
                if op == "<<-":
                    body = "\n".join(line.lstrip("\t") for line in body.split("\n"))
            elif kind in ("heredoc_end", "file_redirect", "comment") or kind in _REDIRECTS:
                continue
            elif child.is_named and target is None and node.type != "heredoc_redirect":
                target = self.word(child)
            elif child.is_named and node.type == "heredoc_redirect":
                end = min(end, child.start_byte)
        if node.type == "herestring_redirect":
            op = "<<<"
        return Redirect(op, fd, target, node.start_byte, end, body, literal)

    def function(self, node: _Node) -> None:
        name_node = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        if name_node is None or body is None:
            return
        name = self.text(name_node)
        calls = False
        stack = [body]
        seen = 0
        while stack and seen < 10_000:
            seen += 1
            n = stack.pop()
            if n.type == "command_name" and self.text(n) == name:
                calls = True
                break
            stack.extend(n.children)
        self.script.functions.append(Function(name, self.text(node), calls))


def _joined(a: Word, b: Word) -> Word:
    return Word(
        a.value + b.value,
        a.start,
        b.end,
        quoted=a.quoted or b.quoted,
        dynamic=a.dynamic or b.dynamic,
        tilde=a.tilde,
        ansi_c=a.ansi_c or b.ansi_c,
        glob=a.glob or b.glob,
        brace=a.brace or b.brace,
    )


def _hidden(name: Word) -> str | None:
    if name.dynamic:
        return "its name comes from an expansion or a command substitution"
    if name.ansi_c:
        return "its name is written with $'...' escapes"
    if name.glob:
        return "its name is a file-name pattern"
    if not name.value:
        return "its name is empty"
    return None

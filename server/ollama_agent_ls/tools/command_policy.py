"""Whether run_command may run a command: a shell parser that finds hidden commands, a floor of
destructive patterns that no policy waives, and the approval policy on top."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ollama_agent_ls.settings import CommandApproval, Settings
from ollama_agent_ls.workspace.paths import is_inside

Action = Literal["allow", "ask", "deny"]

# Nested strings (bash -c inside $( ) inside eval ...) deeper than this are not parsed; the
# command is then treated as destructive because nobody can tell what it runs.
_MAX_DEPTH = 8
_META = frozenset(" \t\n;&|()<>")
_REDIRECT = re.compile(r"(\d*)(&>>|&>|>>|>\||>&|>|<<<|<<-|<<|<>|<&|<)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Reserved words that may start a simple command; what follows them is the real command.
_RESERVED = frozenset(
    {"{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while", "until"}
)
# Environment variables that change which code a command runs; an allowlisted command with
# one of these set is not the command the user allowed.
_RISKY_VARS = re.compile(
    r"^(LD_\w*|DYLD_\w*|PATH|BASH_ENV|ENV|IFS|SHELLOPTS|PS4|PROMPT_COMMAND|PYTHONPATH|"
    r"PYTHONSTARTUP|PYTHONHOME|NODE_OPTIONS|PERL5OPT|PERL5LIB|RUBYOPT|GIT_\w*)$"
)
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "tcsh", "csh"})
_INTERPRETERS = _SHELLS | frozenset(
    {
        "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "deno", "bun",
        "php", "lua", "pwsh", "powershell", "osascript", "source", ".", "eval",
    }
)  # fmt: skip
_DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "http", "https", "xh"})
_AS_OTHER_USER = frozenset({"sudo", "doas", "su", "pkexec", "run0"})
_DISK_TOOLS = frozenset(
    {"mkswap", "wipefs", "fdisk", "sfdisk", "cfdisk", "parted", "sgdisk", "gdisk"}
)
_FIND_DELETERS = frozenset({"rm", "rmdir", "unlink", "shred", "truncate"})
_SAFE_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero"})
_BLOCK_DEVICE = re.compile(
    r"^/dev/(sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|r?disk\d|loop\d|md\d|dm-\d|"
    r"mapper/|sr\d|fd\d)"
)
_FUNCTION = re.compile(r"(?P<name>[\w:.-]+)\s*\(\s*\)\s*\{(?P<body>[^}]*)\}")
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>"})


@dataclass
class _Word:
    value: str
    """The word after quote removal; expansions stay as their source text."""
    start: int
    end: int
    quoted: bool = False
    dynamic: bool = False
    """Holds a $-expansion or command substitution, so its value is only known at run time."""
    tilde: bool = False
    subs: list[str] = field(default_factory=list)
    """Command substitutions ($( ), backticks, <( )) found in the word: they run too."""


@dataclass
class _Redirect:
    op: str
    target: _Word | None
    start: int
    end: int
    body: str | None = None
    subs: list[str] = field(default_factory=list)


@dataclass
class _Op:
    op: str
    start: int
    end: int


_Token = _Word | _Redirect | _Op


@dataclass
class _Simple:
    words: list[_Word]
    redirects: list[_Redirect]
    text: str
    src: str
    """The string the words were lexed from (their offsets point into it)."""
    piped: bool = False
    """Its stdin is the previous command's stdout."""
    transparent: bool = False
    """A harmless wrapper (nice, timeout, VAR=x ...): its inner command decides for allowlists."""

    @property
    def head(self) -> str | None:
        """The command name without its directory; None when it is only known at run time."""
        if not self.words or self.words[0].dynamic:
            return None
        return os.path.basename(self.words[0].value) or self.words[0].value


def _balanced_end(src: str, i: int, open_: str = "(", close: str = ")") -> int:
    """Index just after the bracket matching the one at ``src[i]`` (len(src) if unterminated)."""
    n = len(src)
    depth = 0
    j = i
    while j < n:
        c = src[j]
        if c == "\\":
            j += 2
            continue
        if c == "'":
            k = src.find("'", j + 1)
            j = n if k < 0 else k + 1
            continue
        if c == '"':
            j = _dq_end(src, j + 1)
            continue
        if c == "`":
            k = src.find("`", j + 1)
            j = n if k < 0 else k + 1
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return n


def _dq_end(src: str, j: int) -> int:
    """Index just after the double quote closing a string that starts at ``j``."""
    n = len(src)
    while j < n:
        c = src[j]
        if c == "\\":
            j += 2
        elif c == '"':
            return j + 1
        elif src.startswith("$(", j):
            j = _balanced_end(src, j + 1)
        elif c == "`":
            k = src.find("`", j + 1)
            j = n if k < 0 else k + 1
        else:
            j += 1
    return n


class _Lexer:
    """Splits a shell command line into words, operators and redirections like POSIX sh does."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.n = len(src)
        self.i = 0
        self.tokens: list[_Token] = []
        self.heredocs: list[_Redirect] = []

    def run(self) -> list[_Token]:
        src = self.src
        while self.i < self.n:
            c = src[self.i]
            if c in " \t":
                self.i += 1
            elif c == "\\" and src.startswith("\n", self.i + 1):
                self.i += 2
            elif c == "\n":
                self.tokens.append(_Op("\n", self.i, self.i + 1))
                self.i += 1
                self._heredoc_bodies()
            elif c == "#":
                k = src.find("\n", self.i)
                self.i = self.n if k < 0 else k
            elif c in "<>" and src.startswith("(", self.i + 1):
                self.tokens.append(self._process_substitution())
            elif c.isdigit() or c in "<>&":
                m = _REDIRECT.match(src, self.i)
                if m and (c != "&" or m.group(2).startswith("&>")):
                    self._redirect(m)
                elif c == "&":
                    self._operator()
                else:
                    self.tokens.append(self._word())
            elif c in ";|()":
                self._operator()
            else:
                self.tokens.append(self._word())
        return self.tokens

    def _operator(self) -> None:
        two = self.src[self.i : self.i + 2]
        op = two if two in ("&&", "||", "|&", ";;") else self.src[self.i]
        self.tokens.append(_Op(";" if op == ";;" else op, self.i, self.i + len(op)))
        self.i += len(op)

    def _process_substitution(self) -> _Word:
        start = self.i
        end = _balanced_end(self.src, self.i + 1)
        self.i = end
        inner = (
            self.src[start + 2 : end - 1]
            if self.src[end - 1 : end] == ")"
            else self.src[start + 2 :]
        )
        return _Word(self.src[start:end], start, end, dynamic=True, subs=[inner])

    def _redirect(self, m: re.Match[str]) -> None:
        start = self.i
        op = m.group(2)
        self.i = m.end()
        while self.i < self.n and self.src[self.i] in " \t":
            self.i += 1
        target: _Word | None = None
        if self.i < self.n:
            if self.src[self.i] in "<>" and self.src.startswith("(", self.i + 1):
                target = self._process_substitution()
            elif self.src[self.i] not in _META:
                target = self._word()
        redirect = _Redirect(op, target, start, self.i)
        if op in ("<<", "<<-") and target is not None:
            self.heredocs.append(redirect)
        self.tokens.append(redirect)

    def _heredoc_bodies(self) -> None:
        src = self.src
        for redirect in self.heredocs:
            assert redirect.target is not None
            delimiter = redirect.target.value
            lines: list[str] = []
            while self.i < self.n:
                k = src.find("\n", self.i)
                line_end = self.n if k < 0 else k
                line = src[self.i : line_end]
                self.i = min(line_end + 1, self.n)
                if (line.lstrip("\t") if redirect.op == "<<-" else line) == delimiter:
                    break
                lines.append(line)
            redirect.body = "\n".join(lines)
            if not redirect.target.quoted:
                redirect.subs = _subs_in_text(redirect.body)
        self.heredocs.clear()

    def _word(self) -> _Word:
        src = self.src
        word = _Word("", self.i, self.i, tilde=src[self.i] == "~")
        parts: list[str] = []
        while self.i < self.n:
            c = src[self.i]
            if c in _META:
                break
            if c == "\\":
                if self.i + 1 >= self.n:
                    parts.append("\\")
                    self.i += 1
                elif src[self.i + 1] == "\n":
                    self.i += 2
                else:
                    parts.append(src[self.i + 1])
                    word.quoted = True
                    self.i += 2
            elif c == "'":
                k = src.find("'", self.i + 1)
                k = self.n if k < 0 else k
                parts.append(src[self.i + 1 : k])
                word.quoted = True
                self.i = k + 1
            elif c == '"':
                self.i += 1
                parts.append(self._double_quoted(word, stop_at_quote=True))
                word.quoted = True
            elif c == "$":
                parts.append(self._dollar(word, in_dq=False))
            elif c == "`":
                parts.append(self._backtick(word))
            else:
                parts.append(c)
                self.i += 1
        word.value = "".join(parts)
        word.end = min(self.i, self.n)
        return word

    def _double_quoted(self, word: _Word, stop_at_quote: bool) -> str:
        src = self.src
        parts: list[str] = []
        while self.i < self.n:
            c = src[self.i]
            if c == '"' and stop_at_quote:
                self.i += 1
                break
            if c == "\\" and self.i + 1 < self.n and src[self.i + 1] in '$`"\\\n':
                if src[self.i + 1] != "\n":
                    parts.append(src[self.i + 1])
                self.i += 2
            elif c == "$":
                parts.append(self._dollar(word, in_dq=True))
            elif c == "`":
                parts.append(self._backtick(word))
            else:
                parts.append(c)
                self.i += 1
        return "".join(parts)

    def _dollar(self, word: _Word, in_dq: bool) -> str:
        src = self.src
        start = self.i
        nxt = src[self.i + 1 : self.i + 2]
        if src.startswith("$((", self.i):
            # Arithmetic: not a command, but substitutions inside it still run.
            end = _balanced_end(src, self.i + 1)
            word.subs.extend(_subs_in_text(src[self.i + 3 : end]))
            word.dynamic = True
            self.i = end
            return src[start:end]
        if nxt == "(":
            end = _balanced_end(src, self.i + 1)
            closed = src[end - 1 : end] == ")" and end - 1 > self.i + 1
            word.subs.append(src[self.i + 2 : end - 1] if closed else src[self.i + 2 : end])
            word.dynamic = True
            self.i = end
            return src[start:end]
        if nxt == "{":
            end = _balanced_end(src, self.i + 1, "{", "}")
            word.subs.extend(_subs_in_text(src[self.i + 2 : end]))
            word.dynamic = True
            self.i = end
            return src[start:end]
        if nxt == "'" and not in_dq:
            return self._ansi_c(word)
        if nxt == '"' and not in_dq:
            self.i += 1  # $"..." is a double-quoted string; the word loop reads it
            return ""
        m = _NAME.match(src, self.i + 1)
        if m:
            self.i = m.end()
            word.dynamic = True
            return src[start : self.i]
        if nxt and (nxt.isdigit() or nxt in "@*#?$!-"):
            self.i += 2
            word.dynamic = True
            return src[start : self.i]
        self.i += 1
        return "$"

    def _ansi_c(self, word: _Word) -> str:
        src = self.src
        j = self.i + 2
        parts: list[str] = []
        escapes = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "v": "\v"}
        while j < self.n and src[j] != "'":
            if src[j] == "\\" and j + 1 < self.n:
                parts.append(escapes.get(src[j + 1], src[j + 1]))
                j += 2
            else:
                parts.append(src[j])
                j += 1
        self.i = j + 1
        word.quoted = True
        return "".join(parts)

    def _backtick(self, word: _Word) -> str:
        src = self.src
        j = self.i + 1
        parts: list[str] = []
        while j < self.n and src[j] != "`":
            if src[j] == "\\" and j + 1 < self.n and src[j + 1] in "`$\\":
                parts.append(src[j + 1])
                j += 2
            else:
                parts.append(src[j])
                j += 1
        word.subs.append("".join(parts))
        word.dynamic = True
        raw = src[self.i : j + 1]
        self.i = j + 1
        return raw


def _subs_in_text(text: str) -> list[str]:
    """Command substitutions in text that the shell expands like a double-quoted string."""
    lexer = _Lexer(text)
    word = _Word("", 0, 0)
    lexer._double_quoted(word, stop_at_quote=False)
    return word.subs


def _split(src: str) -> list[_Simple]:
    """The simple commands of ``src`` in order, with subshell and group brackets removed."""
    simples: list[_Simple] = []
    words: list[_Word] = []
    redirects: list[_Redirect] = []
    piped = False

    def flush() -> None:
        nonlocal piped
        while words and not words[0].quoted and words[0].value in _RESERVED:
            words.pop(0)
        if words or redirects:
            spans = [(w.start, w.end) for w in words] + [(r.start, r.end) for r in redirects]
            text = src[min(s for s, _ in spans) : max(e for _, e in spans)].strip()
            simples.append(_Simple(list(words), list(redirects), text, src, piped=piped))
            piped = False
        words.clear()
        redirects.clear()

    for token in _Lexer(src).run():
        if isinstance(token, _Word):
            words.append(token)
        elif isinstance(token, _Redirect):
            redirects.append(token)
        else:
            flush()
            if token.op in ("|", "|&"):
                piped = True
            elif token.op not in ("(", ")"):
                piped = False
    flush()
    return simples


def _derived(parent: _Simple, words: list[_Word]) -> _Simple:
    """A command run by ``parent`` (a wrapper's inner command), made of some of its words."""
    text = parent.src[words[0].start : words[-1].end].strip()
    return _Simple(words, [], text, parent.src, piped=parent.piped)


def _skip_options(words: list[_Word], i: int, with_arg: frozenset[str]) -> int:
    """Index of the first operand after the options starting at ``words[i]``."""
    while i < len(words):
        v = words[i].value
        if v == "--":
            return i + 1
        if not v.startswith("-") or v == "-":
            return i
        i += 2 if v in with_arg else 1
    return i


_WRAPPER_OPTIONS: dict[str, frozenset[str]] = {
    "nice": frozenset({"-n", "--adjustment"}),
    "nohup": frozenset(),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
    "builtin": frozenset(),
    "exec": frozenset({"-a"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "setsid": frozenset(),
    "ionice": frozenset({"-c", "-n", "-p", "-P", "-u"}),
    "sudo": frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R"}),
    "doas": frozenset({"-u", "-C"}),
    "pkexec": frozenset({"--user"}),
    "run0": frozenset({"-u", "--user", "-D", "--chdir"}),
    "xargs": frozenset({"-I", "-L", "-n", "-P", "-s", "-d", "-E", "-a", "-l"}),
}
_TRANSPARENT = frozenset(
    {"nice", "nohup", "time", "timeout", "builtin", "exec", "stdbuf", "command"}
)


def _unwrap(s: _Simple) -> tuple[list[_Simple], list[str], bool]:
    """Commands that ``s`` runs itself: (inner simple commands, command strings, transparent)."""
    words = s.words
    if not words:
        return [], [], True
    k = 0
    risky = False
    while k < len(words) and _ASSIGNMENT.match(words[k].value):
        risky = risky or bool(_RISKY_VARS.match(words[k].value.split("=", 1)[0]))
        k += 1
    if k:
        if k == len(words):
            return [], [], not risky
        return [_derived(s, words[k:])], [], not risky
    head = s.head
    if head is None:
        return [], [], False
    if head in _WRAPPER_OPTIONS:
        i = _skip_options(words, 1, _WRAPPER_OPTIONS[head])
        return _inner(s, words[i:], head in _TRANSPARENT)
    if head == "command":
        if any(w.value in ("-v", "-V") for w in words[1:2]):
            return [], [], True
        return _inner(s, words[_skip_options(words, 1, frozenset()) :], True)
    if head == "timeout":
        i = _skip_options(words, 1, frozenset({"-s", "--signal", "-k", "--kill-after"}))
        return _inner(s, words[i + 1 :], True)
    if head == "env":
        return _unwrap_env(s)
    if head in _SHELLS:
        return [], _shell_strings(s), False
    if head == "su":
        strings = [
            words[j + 1].value
            for j, w in enumerate(words[:-1])
            if w.value in ("-c", "--command") or w.value.startswith("--command=")
        ]
        strings += [w.value.split("=", 1)[1] for w in words if w.value.startswith("--command=")]
        return [], strings, False
    if head == "eval":
        return [], [" ".join(w.value for w in words[1:])], False
    if head == "watch":
        i = _skip_options(words, 1, frozenset({"-n", "--interval", "-q", "--equexit"}))
        return [], [" ".join(w.value for w in words[i:])], False
    if head == "find":
        return _find_execs(s), [], False
    return [], [], False


def _inner(
    s: _Simple, words: list[_Word], transparent: bool
) -> tuple[list[_Simple], list[str], bool]:
    # `timeout 5 { rm -rf x; }` is a syntax error in sh, but flagging it costs nothing.
    while words and not words[0].quoted and words[0].value in _RESERVED:
        words = words[1:]
    if not words:
        return [], [], transparent
    return [_derived(s, words)], [], transparent


def _unwrap_env(s: _Simple) -> tuple[list[_Simple], list[str], bool]:
    words = s.words
    i = 1
    risky = False
    while i < len(words):
        v = words[i].value
        if v == "--":
            i += 1
            break
        split = _env_split_string(words, i)
        if split is not None:
            return [], [split], False
        if v in ("-u", "--unset", "-C", "--chdir"):
            i += 2
        elif v.startswith("-"):
            i += 1
        elif _ASSIGNMENT.match(v):
            risky = risky or bool(_RISKY_VARS.match(v.split("=", 1)[0]))
            i += 1
        else:
            break
    return _inner(s, words[i:], not risky)


def _env_split_string(words: list[_Word], i: int) -> str | None:
    """The command line ``env -S STRING`` (or its other spellings) at ``words[i]`` runs."""
    v = words[i].value
    if v in ("-S", "--split-string") and i + 1 < len(words):
        inner, rest = words[i + 1].value, words[i + 2 :]
    elif v.startswith("--split-string="):
        inner, rest = v.split("=", 1)[1], words[i + 1 :]
    elif v.startswith("-S") and len(v) > 2:
        inner, rest = v[2:], words[i + 1 :]
    else:
        return None
    return " ".join([inner, *(w.value for w in rest)]).strip()


def _shell_strings(s: _Simple) -> list[str]:
    """What ``sh -c STRING``, ``bash <<EOF``, ``bash <<< STRING`` run."""
    words = s.words
    i = 1
    has_c = False
    while i < len(words):
        v = words[i].value
        if v == "--":
            i += 1
            break
        if v in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if not (v.startswith("-") or v.startswith("+")) or v in ("-", "+"):
            break
        if not v.startswith("--") and "c" in v[1:]:
            has_c = True
        i += 1
    if has_c:
        return [words[i].value] if i < len(words) else []
    if i < len(words):
        return []  # a script file: its contents are not known here
    strings: list[str] = []
    for r in s.redirects:
        if r.op in ("<<", "<<-") and r.body is not None:
            strings.append(r.body)
        elif r.op == "<<<" and r.target is not None:
            strings.append(r.target.value)
    return strings


def _find_execs(s: _Simple) -> list[_Simple]:
    execs: list[_Simple] = []
    words = s.words
    i = 1
    while i < len(words):
        if words[i].value in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < len(words) and words[j].value not in (";", "+"):
                j += 1
            if j > i + 1:
                execs.append(_derived(s, words[i + 1 : j]))
            i = j
        i += 1
    return execs


@dataclass
class _Analysis:
    segments: list[_Simple] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _analyse(src: str, depth: int = 0, out: _Analysis | None = None) -> _Analysis:
    out = out if out is not None else _Analysis()
    if depth > _MAX_DEPTH:
        out.problems.append(f"commands nested too deeply to check ({_short(src)})")
        return out
    for m in _FUNCTION.finditer(src):
        name = re.escape(m.group("name"))
        calls = re.findall(rf"(?<![\w:.-]){name}(?![\w:.-])", m.group("body"))
        if calls and "&" in m.group("body"):
            out.problems.append(f"fork bomb ({_short(m.group(0))})")
    simples = _split(src)
    for s in simples:
        _add(s, depth, out)
    _check_pipelines(simples, depth, out)
    return out


def _add(s: _Simple, depth: int, out: _Analysis) -> None:
    out.segments.append(s)
    for w in s.words:
        for sub in w.subs:
            _analyse(sub, depth + 1, out)
    for r in s.redirects:
        for sub in r.subs + (r.target.subs if r.target else []):
            _analyse(sub, depth + 1, out)
    if s.head in _INTERPRETERS and _runs_download(s, depth):
        out.problems.append(f"runs a downloaded script ({_short(s.text)})")
    inner, strings, transparent = _unwrap(s)
    s.transparent = transparent
    for d in inner:
        _add(d, depth, out)
    for text in strings:
        _analyse(text, depth + 1, out)


def _runs_download(s: _Simple, depth: int) -> bool:
    subs = [sub for w in s.words for sub in w.subs]
    subs += [sub for r in s.redirects if r.target for sub in r.target.subs]
    for sub in subs:
        inner = _analyse(sub, depth + 1)
        if any(_core(seg).head in _DOWNLOADERS for seg in inner.segments):
            return True
    return False


def _core(s: _Simple) -> _Simple:
    """The command a chain of wrappers (sudo, env, timeout ...) finally runs."""
    for _ in range(32):
        inner, _strings, _t = _unwrap(s)
        if len(inner) != 1 or s.head == "find":
            return s
        s = inner[0]
    return s


def _check_pipelines(simples: list[_Simple], depth: int, out: _Analysis) -> None:
    pipeline: list[_Simple] = []
    for s in [*simples, None]:
        if s is not None and s.piped and pipeline:
            pipeline.append(s)
            continue
        for k, stage in enumerate(pipeline[1:], start=1):
            core = _core(stage)
            if core.head not in _INTERPRETERS:
                continue
            feeders = [_core(p) for p in pipeline[:k]]
            if any(f.head in _DOWNLOADERS for f in feeders):
                piped = " | ".join(p.text for p in pipeline[: k + 1])
                out.problems.append(f"download piped into {core.head} ({_short(piped)})")
            if core.head in _SHELLS and not _shell_strings(core) and len(core.words) == 1:
                # `echo CMD | sh`, `cat <<EOF | sh`: what is piped in runs as commands.
                for f in feeders:
                    if f.head in ("echo", "printf"):
                        _analyse(" ".join(w.value for w in f.words[1:]), depth + 1, out)
                    for r in f.redirects:
                        if r.body is not None:
                            _analyse(r.body, depth + 1, out)
                        elif r.op == "<<<" and r.target is not None:
                            _analyse(r.target.value, depth + 1, out)
        pipeline = [s] if s is not None else []


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def split_segments(command: str) -> list[str]:
    """Every simple command ``command`` runs, outer ones first, including hidden nested ones."""
    return [s.text for s in _analyse(command).segments]


# --- the destructive floor -------------------------------------------------------------------


def _flags(words: list[_Word]) -> tuple[set[str], set[str], list[_Word], bool]:
    """(long options without values, short option letters, operands, whether ``--`` was seen)."""
    longs: set[str] = set()
    shorts: set[str] = set()
    operands: list[_Word] = []
    dashdash = False
    for w in words:
        v = w.value
        if dashdash:
            operands.append(w)
        elif v == "--":
            dashdash = True
        elif v.startswith("--"):
            longs.add(v.split("=", 1)[0])
        elif v.startswith("-") and len(v) > 1:
            shorts.update(v[1:])
        else:
            operands.append(w)
    return longs, shorts, operands, dashdash


def _home() -> Path:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError):
        return Path("/")


def _where(word: _Word, root: Path, cwd: Path | None) -> Path | None:
    """The absolute path a word names, or None when that is only known at run time."""
    v = word.value
    if word.tilde:
        rest = v[1:]
        if rest and not rest.startswith("/"):
            return Path("/home")  # ~user: another user's home, outside any workspace
        return Path(os.path.normpath(str(_home()) + rest))
    for var, base in (("$HOME", _home()), ("${HOME}", _home()), ("$PWD", cwd), ("${PWD}", cwd)):
        if v == var or v.startswith(var + "/"):
            if base is None:
                return None
            v = str(base) + v[len(var) :]
            return Path(os.path.normpath(v)) if "$" not in v and "`" not in v else None
    if word.dynamic:
        return None
    if v.startswith("/"):
        path = Path(v)
    elif cwd is None:
        return None
    else:
        path = cwd / v
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.normpath(path))


def _write_problem(word: _Word, root: Path, cwd: Path | None, text: str) -> str | None:
    v = word.value
    if v in _SAFE_TARGETS or v.startswith("/dev/fd/"):
        return None
    if _BLOCK_DEVICE.match(v):
        return f"write to a block device ({_short(text)})"
    path = _where(word, root, cwd)
    if path is None:
        return f"writes to a path only known when it runs ({_short(text)})"
    if not is_inside(path, root):
        return f"writes outside the workspace to {path} ({_short(text)})"
    return None


def _rm_reasons(s: _Simple, root: Path, cwd: Path | None) -> list[str]:
    reasons: list[str] = []
    recursive = False
    operands: list[_Word] = []
    options_done = False
    for w in s.words[1:]:
        v = w.value
        if options_done or not v.startswith("-") or v == "-":
            operands.append(w)
        elif v == "--":
            options_done = True
        elif v.startswith("--"):
            if len(v) >= 3 and "--recursive".startswith(v):
                recursive = True
            elif v == "--no-preserve-root":
                reasons.append(f"rm --no-preserve-root ({_short(s.text)})")
        elif "r" in v or "R" in v:
            recursive = True
    if recursive:
        reasons.append(f"recursive rm ({_short(s.text)})")
    for w in operands:
        if not w.quoted and w.value in ("*", "./*", "/*", "~/*"):
            reasons.append(f"rm of every file in a directory ({_short(s.text)})")
            continue
        path = _where(w, root, cwd)
        if path is not None and (path == root or not is_inside(path, root)):
            where = "the whole workspace" if path == root else f"{path}, outside the workspace"
            reasons.append(f"rm of {where} ({_short(s.text)})")
    return reasons


def _git_reasons(s: _Simple) -> list[str]:
    words = s.words[1:]
    i = 0
    while i < len(words) and words[i].value.startswith("-"):
        i += 2 if words[i].value in ("-C", "-c", "--git-dir", "--work-tree", "--namespace") else 1
    if i >= len(words):
        return []
    sub = words[i].value
    longs, shorts, operands, dashdash = _flags(words[i + 1 :])
    text = _short(s.text)
    if sub == "push":
        force = {"--force", "--force-with-lease", "--force-if-includes", "--mirror"} & longs
        if force or "f" in shorts or any(o.value.startswith("+") for o in operands):
            return [f"git push --force rewrites remote history ({text})"]
        if (
            "--delete" in longs
            or "d" in shorts
            or any(o.value.startswith(":") and len(o.value) > 1 for o in operands)
        ):
            return [f"git push deletes remote branches ({text})"]
    elif sub == "reset" and "--hard" in longs:
        return [f"git reset --hard discards uncommitted changes ({text})"]
    elif sub == "clean":
        dry = "n" in shorts or "--dry-run" in longs
        if not dry and (shorts & set("fdxX") or "--force" in longs):
            return [f"git clean deletes untracked files ({text})"]
    elif sub == "checkout":
        paths_after_dashdash = dashdash and bool(operands)
        if (
            paths_after_dashdash
            or "f" in shorts
            or "--force" in longs
            or any(o.value in (".", ":/", "*") for o in operands)
        ):
            return [f"git checkout discards work-tree changes ({text})"]
    elif sub == "restore":
        staged_only = ("S" in shorts or "--staged" in longs) and not (
            "W" in shorts or "--worktree" in longs
        )
        if not staged_only:
            return [f"git restore discards work-tree changes ({text})"]
    elif sub == "switch":
        if {"--discard-changes", "--force", "--force-create"} & longs or {"f", "C"} & shorts:
            return [f"git switch discards changes or resets a branch ({text})"]
    elif sub == "branch":
        deleting = "--delete" in longs or "d" in shorts
        forcing = "--force" in longs or "f" in shorts
        if "D" in shorts or "M" in shorts or "C" in shorts or (deleting and forcing):
            return [f"git branch -D deletes unmerged branches ({text})"]
    elif sub == "stash" and operands and operands[0].value in ("drop", "clear"):
        return [f"git stash {operands[0].value} deletes stashed work ({text})"]
    return []


def _segment_reasons(s: _Simple, root: Path, cwd: Path | None) -> list[str]:
    reasons: list[str] = []
    for r in s.redirects:
        if r.target is None:
            continue
        writes = r.op in _WRITE_REDIRECTS or (
            r.op == ">&" and not (r.target.value.isdigit() or r.target.value == "-")
        )
        if writes and (problem := _write_problem(r.target, root, cwd, s.text)):
            reasons.append(problem)
    head = s.head
    if head is None:
        return reasons
    args = s.words[1:]
    text = _short(s.text)
    if head == "rm":
        reasons += _rm_reasons(s, root, cwd)
    elif head == "git":
        reasons += _git_reasons(s)
    elif head in _AS_OTHER_USER:
        reasons.append(f"runs as another user with {head} ({text})")
    elif head.startswith("mkfs") or head in _DISK_TOOLS:
        reasons.append(f"formats or repartitions a disk ({text})")
    elif head == "dd":
        if any(a.value.startswith("of=") and a.value != "of=/dev/null" for a in args):
            reasons.append(f"dd writes raw data with of= ({text})")
    elif head == "shred":
        reasons.append(f"shred destroys files ({text})")
    elif head == "truncate":
        reasons.append(f"truncate cuts files ({text})")
    elif head in ("chmod", "chown", "chgrp"):
        longs, shorts, operands, _ = _flags(args)
        if "R" in shorts or "--recursive" in longs:
            paths = operands if any(x.startswith("--reference") for x in longs) else operands[1:]
            for p in paths:
                where = _where(p, root, cwd)
                if where is None or where == root or not is_inside(where, root):
                    reasons.append(
                        f"recursive {head} outside the workspace or on its root ({text})"
                    )
                    break
    elif head == "tee":
        for w in _flags(args)[2]:
            if problem := _write_problem(w, root, cwd, s.text):
                reasons.append(problem)
    elif head in ("cp", "mv", "install", "ln", "rsync") and args:
        if _BLOCK_DEVICE.match(args[-1].value):
            reasons.append(f"write to a block device ({text})")
    elif head == "find":
        values = [w.value for w in args]
        if "-delete" in values:
            reasons.append(f"find -delete deletes files ({text})")
        for j, v in enumerate(values[:-1]):
            if v in ("-exec", "-execdir", "-ok", "-okdir"):
                inner = os.path.basename(values[j + 1])
                if inner in _FIND_DELETERS:
                    reasons.append(f"find {v} {inner} deletes files ({text})")
    return reasons


def _after_cd(s: _Simple, cwd: Path | None, root: Path) -> Path | None:
    """The working directory after ``s`` (None once it cannot be known before running)."""
    if s.head in ("popd",):
        return None
    if s.head not in ("cd", "pushd"):
        return cwd
    operands = [w for w in s.words[1:] if not (w.value.startswith("-") and w.value != "-")]
    if not operands:
        return _home()
    if operands[0].value == "-":
        return None
    return _where(operands[0], root, cwd)


def find_destructive(command: str, root: Path) -> list[str]:
    """Reasons why ``command`` is destructive (empty when it is not), hidden commands included."""
    return _destructive_reasons(_analyse(command), Path(root).resolve())


def _destructive_reasons(analysis: _Analysis, root: Path) -> list[str]:
    reasons = list(analysis.problems)
    cwd: Path | None = root
    for s in analysis.segments:
        reasons += _segment_reasons(s, root, cwd)
        cwd = _after_cd(s, cwd, root)
    return list(dict.fromkeys(reasons))


# --- the policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What run_command does with a command, and why."""

    action: Action
    reason: str
    destructive: bool = False


def normalise_command(command: str) -> str:
    """``command`` with runs of whitespace collapsed, as remembered for "allow for this run"."""
    return " ".join(command.split())


def _allowed_prefixes(settings: Settings) -> list[list[str]]:
    prefixes: list[list[str]] = []
    for entry in settings.allowed_commands:
        try:
            words = shlex.split(entry)
        except ValueError:
            words = entry.split()
        if words:
            prefixes.append(words)
    return prefixes


def _first_not_allowed(segments: list[_Simple], settings: Settings) -> str | None:
    """The first segment no allowedCommands prefix covers (None when all are covered)."""
    prefixes = _allowed_prefixes(settings)
    for s in segments:
        if s.transparent or not s.words:
            continue
        values = [w.value for w in s.words]
        if not any(values[: len(p)] == p for p in prefixes):
            return s.text
    return None


def decide(command: str, settings: Settings, root: Path, allowed_for_run: set[str]) -> Decision:
    """Allow, ask or deny ``command``: the destructive floor first, then commandApproval."""
    policy = CommandApproval(settings.command_approval)
    # Parsed once: the destructive floor and the allowlist look at the same segments.
    analysis = _analyse(command)
    reasons = _destructive_reasons(analysis, Path(root).resolve())
    if reasons:
        why = "destructive: " + "; ".join(reasons)
        if policy is CommandApproval.NEVER:
            return Decision(
                "deny",
                "run_command is disabled by commandApproval=never and this command is "
                f"{why}; ask the user to run it",
                True,
            )
        return Decision("ask", why, True)
    if policy is CommandApproval.NEVER:
        return Decision(
            "deny", "run_command is disabled by commandApproval=never; ask the user to run it"
        )
    if normalise_command(command) in {normalise_command(c) for c in allowed_for_run}:
        return Decision("allow", "the user allowed this command for this run")
    if policy is CommandApproval.ALWAYS:
        return Decision("allow", "commandApproval=always")
    if policy is CommandApproval.ALLOWLIST:
        missing = _first_not_allowed(analysis.segments, settings)
        if missing is None:
            return Decision("allow", "every part matches allowedCommands")
        return Decision("ask", f"not in allowedCommands: {_short(missing)}")
    return Decision("ask", "commandApproval=ask: every command needs the user's approval")

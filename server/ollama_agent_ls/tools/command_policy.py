"""Whether run_command may run a command: tree-sitter-bash reads the line into every command it
would run (nested shells, substitutions and wrappers included), a floor of destructive patterns
asks whatever the policy, and the approval policy decides the rest.

Three outcomes a command can have before the policy is asked:
- destructive (the floor): known to destroy or leak, or impossible to read (a syntax error, a
  command name computed at run time). Always asks; "allow for this session" does not waive it.
- opaque: runs code the line does not show (``python -c``, a here-document fed to a shell, a
  script written earlier in the same line). Asks even under commandApproval=always, unless the
  exact command is allowed (allowedCommands entry or "allow for this session").
- plain: the policy decides.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ollama_agent_ls.settings import CommandApproval, Settings
from ollama_agent_ls.tools import shell_syntax
from ollama_agent_ls.tools.shell_syntax import Command, Word
from ollama_agent_ls.workspace.paths import is_inside

Action = Literal["allow", "ask", "deny"]

# Command strings nested deeper than this (bash -c inside $( ) inside eval ...) are not read; the
# command is then destructive because nobody can tell what it runs.
_MAX_DEPTH = 8
_MAX_WRAPPERS = 24
"""Wrappers around one command (nice nohup timeout ...) before it counts as too deep to read."""
_TEXT_BUDGET = 1_000_000
"""Characters of nested command text one check may parse in all."""
_MAX_SEGMENTS = 10_000
_SHOWN_REASONS = 3

_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "tcsh", "csh"})
_PYTHON = re.compile(r"^(python|pypy)[0-9.]*$")
_INTERPRETER_NAMES = frozenset(
    {
        "perl", "ruby", "node", "nodejs", "deno", "bun", "php", "lua", "luajit", "pwsh",
        "powershell", "osascript", "Rscript", "R", "julia", "expect", "tclsh", "wish",
    }
)  # fmt: skip
_DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "http", "https", "xh"})
_AS_OTHER_USER = frozenset({"sudo", "doas", "su", "pkexec", "run0", "runuser"})
_DISK_TOOLS = frozenset(
    {"mkswap", "wipefs", "fdisk", "sfdisk", "cfdisk", "parted", "sgdisk", "gdisk"}
)
_POWER = frozenset({"reboot", "shutdown", "poweroff", "halt"})
_FIND_DELETERS = frozenset({"rm", "rmdir", "unlink", "shred", "truncate"})
_SAFE_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero"})
_FD_PATH = re.compile(r"^/dev/fd/\d+$")
_BLOCK_DEVICE = re.compile(
    r"^/dev/(sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|r?disk\d|loop\d|md\d|dm-\d|"
    r"mapper/|sr\d|fd\d)"
)
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>"})
# Files a shell, git or ssh reads and acts on when they start: writing one runs code later.
_STARTUP_FILES = frozenset(
    {
        ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc",
        ".zshenv", ".zprofile", ".zlogin", ".kshrc", ".cshrc", ".tcshrc", ".inputrc",
        ".envrc", ".netrc", ".gitconfig", ".npmrc", ".pypirc", "authorized_keys",
    }
)  # fmt: skip
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\+?=")
# Environment variables that change which code a command runs; an allowlisted command with one
# of these set is not the command the user allowed.
_RISKY_VARS = re.compile(
    r"^(LD_\w*|DYLD_\w*|PATH|BASH_ENV|ENV|IFS|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|PYTHONPATH|"
    r"PYTHONSTARTUP|PYTHONHOME|NODE_OPTIONS|PERL5OPT|PERL5LIB|RUBYOPT|GIT_\w*)$"
)
# Environment variables whose value is a command line that the program runs.
_COMMAND_VARS = frozenset(
    {
        "GIT_SSH_COMMAND", "GIT_SSH", "GIT_PAGER", "PAGER", "MANPAGER", "GIT_EDITOR", "EDITOR",
        "VISUAL", "GIT_SEQUENCE_EDITOR", "GIT_ASKPASS", "SSH_ASKPASS", "SUDO_ASKPASS",
        "GIT_EXTERNAL_DIFF", "GIT_PROXY_COMMAND", "PROMPT_COMMAND", "BROWSER", "LESSOPEN",
        "LESSCLOSE",
    }
)  # fmt: skip
_PRELOAD_VARS = frozenset(
    {"LD_PRELOAD", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "BASH_ENV", "ENV", "PYTHONSTARTUP"}
)
_RESERVED = frozenset({"{", "}", "!", "then", "do", "else", "elif"})
_STDIN_PATHS = frozenset({"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- options ----------------------------------------------------------------------------------


@dataclass
class _Opts:
    """A command's options as getopt would read them, and its operands."""

    longs: dict[str, list[str | None]] = field(default_factory=dict)
    shorts: dict[str, list[str | None]] = field(default_factory=dict)
    operands: list[Word] = field(default_factory=list)
    after_dashdash: list[Word] = field(default_factory=list)

    def long(self, full: str, least: int = 3) -> bool:
        """Whether ``full`` (or an abbreviation of it at least ``least`` long) was given."""
        return any(len(name) >= least and full.startswith(name) for name in self.longs)

    def long_values(self, full: str, least: int = 3) -> list[str | None]:
        """The values given to ``full`` or its abbreviations."""
        values: list[str | None] = []
        for name, given in self.longs.items():
            if len(name) >= least and full.startswith(name):
                values.extend(given)
        return values

    def short(self, letters: str) -> bool:
        """Whether any of the short options ``letters`` was given."""
        return any(letter in self.shorts for letter in letters)

    def values(self, letters: str, *longs: str) -> list[str | None]:
        """The values of the short options ``letters`` and of the long options ``longs``."""
        out: list[str | None] = []
        for letter in letters:
            out.extend(self.shorts.get(letter, []))
        for name in longs:
            out.extend(self.long_values(name, 4))
        return out


def _opts(words: list[Word], short_arg: str = "", long_arg: frozenset[str] = frozenset()) -> _Opts:
    """Options and operands of ``words``; ``short_arg``/``long_arg`` are the options with a value.

    Long options with a value also take the next word when written without ``=``, like getopt
    does, and so do their unambiguous abbreviations.
    """
    out = _Opts()
    i = 0
    n = len(words)
    while i < n:
        v = words[i].value
        if v == "--":
            out.after_dashdash = words[i + 1 :]
            break
        if v.startswith("--") and len(v) > 2:
            name, eq, value = v.partition("=")
            if eq:
                out.longs.setdefault(name, []).append(value)
            elif (
                name in long_arg or any(len(name) >= 4 and a.startswith(name) for a in long_arg)
            ) and i + 1 < n:
                out.longs.setdefault(name, []).append(words[i + 1].value)
                i += 1
            else:
                out.longs.setdefault(name, []).append(None)
        elif v.startswith("-") and len(v) > 1 and not v[1:].isdigit():
            for k, letter in enumerate(v[1:], start=1):
                if letter in short_arg:
                    rest = v[k + 1 :]
                    if rest:
                        out.shorts.setdefault(letter, []).append(rest)
                    elif i + 1 < n:
                        out.shorts.setdefault(letter, []).append(words[i + 1].value)
                        i += 1
                    else:
                        out.shorts.setdefault(letter, []).append(None)
                    break
                out.shorts.setdefault(letter, []).append(None)
        else:
            out.operands.append(words[i])
        i += 1
    return out


# --- reading what a command runs --------------------------------------------------------------


@dataclass(frozen=True)
class _Wrapper:
    """A command that runs another command given in its own arguments (``nice -n 5 CMD``)."""

    with_arg: frozenset[str] = frozenset()
    no_arg: frozenset[str] = frozenset()
    positional: int = 0
    """Operands before the command (timeout's duration, taskset's mask, flock's file)."""
    transparent: bool = False
    """Harmless itself: for allowedCommands only the wrapped command counts."""
    strings: frozenset[str] = frozenset()
    """Options whose value is a command line (``script -c CMD``)."""
    stop: frozenset[str] = frozenset()
    """Options after which the operands are not a command (``taskset -p``)."""
    runs_operands: bool = True
    numeric: bool = False
    """``-N`` is an option (nice's old ``nice -10 CMD``), not an operand."""
    string_command: bool = False
    """A command given as one word with spaces is a shell command line (GNU parallel)."""


def _w(
    with_arg: str = "",
    no_arg: str = "",
    positional: int = 0,
    transparent: bool = False,
    strings: str = "",
    stop: str = "",
    runs_operands: bool = True,
    numeric: bool = False,
    string_command: bool = False,
) -> _Wrapper:
    return _Wrapper(
        frozenset(with_arg.split()),
        frozenset(no_arg.split()),
        positional,
        transparent,
        frozenset(strings.split()),
        frozenset(stop.split()),
        runs_operands,
        numeric,
        string_command,
    )


_WRAPPERS: dict[str, _Wrapper] = {
    "nice": _w("-n --adjustment", transparent=True, numeric=True),
    "nohup": _w(transparent=True),
    "time": _w("-f --format -o --output", "-p -v --verbose -a --append -q --quiet", 0, True),
    "timeout": _w(
        "-s --signal -k --kill-after", "-v --verbose --preserve-status --foreground", 1, True
    ),
    "stdbuf": _w("-i -o -e --input --output --error", transparent=True),
    "setsid": _w("", "-c --ctty -f --fork -w --wait", transparent=True),
    "ionice": _w(
        "-c --class -n --classdata -p --pid -P --pgid -u --uid",
        "-t --ignore",
        transparent=True,
        stop="-p --pid -P --pgid -u --uid",
    ),
    "chrt": _w(
        "-T --sched-runtime -P --sched-period -D --sched-deadline",
        "-a --all-tasks -b --batch -d --deadline -f --fifo -i --idle -o --other -r --rr "
        "-R --reset-on-fork -v --verbose",
        1,
        True,
        stop="-p --pid -m --max",
    ),
    "taskset": _w("", "-a --all-tasks -c --cpu-list", 1, True, stop="-p --pid"),
    "flock": _w(
        "-w --timeout -E --conflict-exit-code",
        "-s --shared -x -e --exclusive -u --unlock -n --nb --nonblock -o --close -F --no-fork "
        "--verbose",
        1,
        True,
        strings="-c --command",
    ),
    "unshare": _w(
        "-S --setuid -G --setgid -R --root -w --wd --map-user --map-group --map-users "
        "--map-groups --propagation --setgroups --monotonic --boottime",
        "-m --mount -u --uts -i --ipc -n --net -p --pid -U --user -C --cgroup -T --time -f "
        "--fork -r --map-root-user -c --map-current-user --kill-child --mount-proc --keep-caps",
    ),
    "strace": _w(
        "-e -o -p -s -u -E -a -b -I -O -P -S -X -U",
        "-c -C -d -D -f -ff -F -h -i -k -n -q -qq -r -t -tt -ttt -T -v -V -w -x -xx -y -yy -z -Z",
    ),
    "ltrace": _w(
        "-e -o -p -s -u -a -n -A -D -l -x -w -F",
        "-b -c -C -d -f -h -i -r -S -t -tt -ttt -T -V",
    ),
    "script": _w(
        "-E --echo -I --log-in -O --log-out -B --log-io -T --log-timing -m --logging-format",
        "-a --append -e --return -f --flush -q --quiet",
        strings="-c --command",
        runs_operands=False,
    ),
    "xargs": _w(
        "-I -L -n -P -s -d -E -a --max-args --max-lines --max-procs --max-chars --delimiter "
        "--eof --arg-file --process-slot-var",
        "-0 --null -r --no-run-if-empty -t --verbose -p --interactive -x --exit --open-tty -o "
        "--show-limits -i -l -e",
    ),
    "sudo": _w(
        "-u -g -C -D -h -p -r -t -U -T -R --user --group --close-from --chdir --host --prompt "
        "--role --type --other-user --command-timeout --chroot",
        "-A -b -E -H -i -K -k -l -n -P -S -s -V -v --preserve-env --login --shell "
        "--non-interactive --stdin --askpass --background --set-home",
    ),
    "doas": _w("-u -C", "-n -s -L"),
    "pkexec": _w("--user", "--disable-internal-agent --keep-cwd"),
    "run0": _w("-u --user -D --chdir -g --group --nice --property --slice --unit --setenv"),
    "runuser": _w("-u --user -g --group -G --supp-group", "-l --login -m -p"),
    "builtin": _w(transparent=True),
    "exec": _w("-a", "-c -l", transparent=True),
    "command": _w("", "-p", transparent=True, stop="-v -V"),
    "coproc": _w(),
    "busybox": _w(),
    "catchsegv": _w(),
    "valgrind": _w(),
    "chroot": _w("--userspec --groups", "--skip-chdir", 1),
    "nsenter": _w(
        "-t --target -S --setuid -G --setgid -r --root -w --wd",
        "-a --all -m -u -i -n -p -U -C -T -F --no-fork --preserve-credentials",
    ),
    "parallel": _w(
        "-j --jobs -S --sshlogin -a --arg-file -d --delimiter -I -n --max-args -N --colsep "
        "-C --joblog --results --tmpdir --timeout --delay --halt --env",
        "-k --keep-order -q --quote -0 --null -v --verbose --dry-run --bar --eta -u --ungroup",
        string_command=True,
    ),
    "entr": _w("", "-a -c -cc -d -n -p -r -s -z", string_command=True),
    "systemd-run": _w(
        "-u --unit -p --property --description --slice -E --setenv --working-directory --uid "
        "--gid --nice -M --machine -H --host --on-active --on-calendar",
        "--user --system --scope -t --pty -P --pipe -q --quiet --wait -G --collect -S --shell",
    ),
    "ssh-agent": _w("-a -E -t -P", "-c -s -d -D -k"),
    "xvfb-run": _w(
        "-n --server-num -s --server-args -e --error-file -f --auth-file -p --xauth-protocol "
        "-w --wait",
        "-a --auto-servernum -l --listen-tcp",
    ),
    "dbus-run-session": _w(),
    "faketime": _w("", "-f -m", 1),
    "proxychains": _w("-f", "-q"),
    "proxychains4": _w("-f", "-q"),
    "torsocks": _w("-u --user -p --pass -a --address -P --port", "-i --isolate -d --debug"),
    "tsocks": _w(),
    "firejail": _w(),
    "npx": _w("-p --package", "-y --yes --no -q --quiet", strings="-c --call"),
}
# `uv run CMD`, `poetry run CMD` ...: a tool whose subcommand runs another command.
_RUNNERS: dict[str, tuple[str, _Wrapper]] = {
    "uv": ("run", _w("--with --python -p --directory --project --package --extra --group")),
    "poetry": ("run", _w("-C --directory -P --project")),
    "pipenv": ("run", _w()),
    "pdm": ("run", _w("-p --project")),
    "hatch": ("run", _w()),
    "bundle": ("exec", _w()),
    "conda": ("run", _w("-n --name -p --prefix")),
    "mamba": ("run", _w("-n --name -p --prefix")),
    "pixi": ("run", _w("-e --environment --manifest-path")),
    "npm": ("exec", _w("-c --call -w --workspace -p --package", strings="-c --call")),
    "pnpm": ("exec", _w("-C --dir -F --filter")),
    "direnv": ("exec", _w(positional=1)),
}


def _wrapper_starts(args: list[Word], spec: _Wrapper) -> tuple[int | None, list[int], bool]:
    """Where the wrapped command starts: (as read, other readings, whether a stop option was seen).

    An option the table does not know may or may not take a value; both readings are returned,
    so the destructive floor checks the command either way.
    """
    n = len(args)
    first: int | None = None
    others: set[int] = set()
    stopped = False
    work = [(0, True)]
    seen: set[int] = set()
    while work:
        i, main = work.pop()
        if i in seen and not main:
            continue
        seen.add(i)
        if i >= n:
            continue
        v = args[i].value
        operand: int | None = None
        nexts: list[tuple[int, bool]] = []
        if v == "--":
            operand = i + 1
        elif not v.startswith("-") or v == "-":
            operand = i
        elif spec.numeric and v[1:].isdigit():
            nexts = [(i + 1, main)]
        else:
            name = v.partition("=")[0]
            if name in spec.stop:
                stopped = True
            if v.startswith("--"):
                if "=" in v or name in spec.no_arg:
                    nexts = [(i + 1, main)]
                elif name in spec.with_arg or name in spec.strings:
                    nexts = [(i + 2, main)]
                else:
                    nexts = [(i + 1, main), (i + 2, False)]
            else:
                letter = v[:2]
                if letter in spec.with_arg or letter in spec.strings:
                    nexts = [(i + 1 if len(v) > 2 else i + 2, main)]
                elif v in spec.no_arg or all(f"-{c}" in spec.no_arg for c in v[1:]):
                    nexts = [(i + 1, main)]
                else:
                    nexts = [(i + 1, main), (i + 2, False)]
        if operand is not None:
            start = operand + spec.positional
            if main:
                first = start
            else:
                others.add(start)
        work.extend(reversed(nexts))
    others.discard(first if first is not None else -1)
    return first, sorted(others), stopped


def _wrapper_strings(args: list[Word], spec: _Wrapper) -> list[Word]:
    """The command lines given to ``spec``'s string options (``-c CMD``, ``-qc CMD``)."""
    found: list[Word] = []
    if not spec.strings:
        return found
    for i, w in enumerate(args):
        v = w.value
        if v.startswith("--"):
            name, eq, value = v.partition("=")
            if name in spec.strings:
                if eq:
                    found.append(replace(w, value=value))
                elif i + 1 < len(args):
                    found.append(args[i + 1])
        elif v.startswith("-") and len(v) > 1:
            for k, letter in enumerate(v[1:], start=1):
                if f"-{letter}" in spec.strings:
                    rest = v[k + 1 :]
                    if rest:
                        found.append(replace(w, value=rest))
                    elif i + 1 < len(args):
                        found.append(args[i + 1])
                    break
                if f"-{letter}" in spec.with_arg:
                    break
    return found


@dataclass
class _Unwrapped:
    inner: list[Command] = field(default_factory=list)
    """Commands ``s`` runs as it reads its arguments."""
    maybe: list[Command] = field(default_factory=list)
    """Other readings of its arguments (an unknown option might take a value)."""
    strings: list[Word] = field(default_factory=list)
    """Command lines it hands to a shell (``bash -c STRING``, ``env -S STRING``)."""
    transparent: bool = False
    """Harmless itself: for allowedCommands only what it runs counts."""


def _derive(parent: Command, words: list[Word]) -> Command | None:
    while words and not words[0].quoted and words[0].value in _RESERVED:
        words = words[1:]
    if not words:
        return None
    first = words[0]
    hidden = None
    if first.dynamic:
        hidden = "its name comes from an expansion or a command substitution"
    elif first.ansi_c:
        hidden = "its name is written with $'...' escapes"
    elif first.glob:
        hidden = "its name is a file-name pattern"
    return replace(
        parent,
        words=words,
        start=words[0].start,
        end=max(words[0].end, words[-1].end),
        hidden_name=hidden,
        derived=True,
    )


def _unwrap(s: Command) -> _Unwrapped:
    """What ``s`` runs itself: wrapped commands, and command lines it hands to a shell."""
    out = _Unwrapped()
    words = s.words
    k = 0
    risky = False
    while k < len(words) and words[k].assignment:
        name, _, value = words[k].value.partition("=")
        name = name.rstrip("+")
        risky = risky or bool(_RISKY_VARS.match(name))
        if name in _COMMAND_VARS and value and not words[k].dynamic:
            out.strings.append(replace(words[k], value=value))
        k += 1
    if k:
        out.transparent = not risky
        if k < len(words) and (inner := _derive(s, words[k:])) is not None:
            out.inner.append(inner)
        return out
    head = s.head
    if head is None:
        return out
    args = words[1:]
    if head in _WRAPPERS:
        _unwrap_wrapper(s, head, args, _WRAPPERS[head], out)
        return out
    runner = _RUNNERS.get(head)
    if runner is not None and args and args[0].value == runner[0]:
        _unwrap_wrapper(s, head, args[1:], runner[1], out)
        return out
    if head == "env":
        return _unwrap_env(s)
    if head in _SHELLS:
        code = _shell_code(s)
        out.strings.extend(code.strings)
        return out
    if head == "su":
        out.strings.extend(_wrapper_strings(args, _w(strings="-c --command --session-command")))
        return out
    if head == "eval":
        out.strings.extend(_joined(args))
        return out
    if head in ("source", ".") and args and args[0].value in _STDIN_PATHS:
        code = _ShellCode()
        _stdin_code(s, code)
        out.strings.extend(code.strings)
        return out
    if head == "watch":
        spec = _w("-n --interval -d --differences -q --equexit -e --errexit")
        first, _, _ = _wrapper_starts(args, spec)
        if first is not None:
            out.strings.extend(_joined(args[first:]))
        return out
    if head == "trap":
        ops = [w for w in args if not (w.value.startswith("-") and w.value != "-")]
        if len(ops) >= 2 and ops[0].value != "-":
            out.strings.append(ops[0])
        return out
    if head == "find":
        out.inner.extend(_find_execs(s))
        return out
    if head == "alias":
        # With expand_aliases set, a later line of the same command runs the alias's text.
        for w in args:
            name, eq, value = w.value.partition("=")
            if eq and value and not w.dynamic:
                out.strings.append(replace(w, value=value))
        return out
    if head == "git":
        _unwrap_git(s, out)
    return out


def _unwrap_wrapper(
    s: Command, head: str, args: list[Word], spec: _Wrapper, out: _Unwrapped
) -> None:
    first, others, stopped = _wrapper_starts(args, spec)
    # Only the wrapper's own options: `flock f python -c CODE` hands CODE to python.
    own = args if not spec.runs_operands or first is None else args[: first - spec.positional]
    strings = _wrapper_strings(own, spec)
    out.strings.extend(strings)
    if head == "flock":
        out.strings.extend(_flock_string(args, spec))
    out.transparent = spec.transparent and not others and not strings
    if stopped or not spec.runs_operands or first is None or first >= len(args):
        return
    if head == "flock" and args[first].value in ("-c", "--command"):
        return
    # `parallel 'rm -rf {}' ::: a b`, `entr -s 'make test'`: one word with spaces is a command line.
    if spec.string_command and any(c.isspace() for c in args[first].value):
        out.strings.append(args[first])
    if (inner := _derive(s, args[first:])) is not None:
        out.inner.append(inner)
    for start in others:
        if start < len(args) and (maybe := _derive(s, args[start:])) is not None:
            out.maybe.append(maybe)


def _joined(words: list[Word]) -> list[Word]:
    if not words:
        return []
    value = " ".join(w.value for w in words)
    return [Word(value, words[0].start, words[-1].end, dynamic=any(w.dynamic for w in words))]


def _flock_string(args: list[Word], spec: _Wrapper) -> list[Word]:
    first, _, _ = _wrapper_starts(args, replace(spec, positional=0))
    if first is not None and first + 2 < len(args) and args[first + 1].value in ("-c", "--command"):
        return [args[first + 2]]
    return []


def _unwrap_env(s: Command) -> _Unwrapped:
    out = _Unwrapped()
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
            out.strings.append(split)
            return out
        if v in ("-u", "--unset", "-C", "--chdir", "-P"):
            i += 2
        elif v.startswith("-"):
            i += 1
        elif _ASSIGNMENT.match(v):
            name, _, value = v.partition("=")
            name = name.rstrip("+")
            risky = risky or bool(_RISKY_VARS.match(name))
            if name in _COMMAND_VARS and value and not words[i].dynamic:
                out.strings.append(replace(words[i], value=value))
            i += 1
        else:
            break
    out.transparent = not risky
    if (inner := _derive(s, words[i:])) is not None:
        out.inner.append(inner)
    return out


def _env_split_string(words: list[Word], i: int) -> Word | None:
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
    value = " ".join([inner, *(w.value for w in rest)]).strip()
    dynamic = any(w.dynamic for w in words[i:])
    return Word(value, words[i].start, words[-1].end, dynamic=dynamic)


@dataclass
class _ShellCode:
    strings: list[Word] = field(default_factory=list)
    script: Word | None = None
    inline: bool = False
    stdin: list[str] = field(default_factory=list)
    """How code reaches the shell's standard input (here-document, a file, a pipe)."""


def _shell_code(s: Command) -> _ShellCode:
    """Where a shell's commands come from: ``-c STRING``, a script file, or its input."""
    out = _ShellCode()
    args = s.args
    i = 0
    has_c = False
    from_stdin = False
    while i < len(args):
        v = args[i].value
        if v == "--":
            i += 1
            break
        if v in ("-", "+"):
            from_stdin = True
            i += 1
            break
        if v in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if not v.startswith(("-", "+")):
            break
        if not v.startswith("--"):
            has_c = has_c or "c" in v[1:]
            from_stdin = from_stdin or "s" in v[1:]
        i += 1
    if has_c:
        out.inline = True
        if i < len(args):
            out.strings.append(args[i])
        return out
    if i < len(args) and not from_stdin and args[i].value not in _STDIN_PATHS:
        out.script = args[i]
        return out
    _stdin_code(s, out)
    return out


def _stdin_code(s: Command, out: _ShellCode) -> None:
    for r in s.redirects:
        if r.fd not in (None, "0"):
            continue
        if r.op in ("<<", "<<-") and r.body is not None:
            out.strings.append(Word(r.body, r.start, r.end))
            out.stdin.append("a here-document")
        elif r.op == "<<<" and r.target is not None:
            out.strings.append(r.target)
            out.stdin.append("a here-string")
        elif r.op == "<" and r.target is not None:
            out.stdin.append(f"the file {r.target.value}")
    if s.piped:
        out.stdin.append("a pipe")
        for f in s.feeders:
            if _core(f).head in ("echo", "printf"):
                out.strings.extend(_joined(_core(f).args))
            for r in f.redirects:
                if r.op in ("<<", "<<-") and r.body is not None:
                    out.strings.append(Word(r.body, r.start, r.end))
                elif r.op == "<<<" and r.target is not None:
                    out.strings.append(r.target)


def _find_execs(s: Command) -> list[Command]:
    execs: list[Command] = []
    words = s.words
    i = 1
    while i < len(words):
        if words[i].value in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < len(words) and words[j].value not in (";", "+"):
                j += 1
            if j > i + 1 and (inner := _derive(s, words[i + 1 : j])) is not None:
                execs.append(inner)
            i = j
        i += 1
    return execs


_GIT_GLOBAL_WITH_ARG = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env"}
)


def _git_sub(args: list[Word]) -> tuple[list[tuple[str, str]], int]:
    """git's global ``-c`` settings and the index of its subcommand in ``args``."""
    configs: list[tuple[str, str]] = []
    i = 0
    while i < len(args) and args[i].value.startswith("-"):
        v = args[i].value
        if v == "-c" and i + 1 < len(args):
            configs.append(_config_pair(args[i + 1].value))
        elif v == "--config-env" and i + 1 < len(args):
            configs.append((args[i + 1].value.partition("=")[0], "<from the environment>"))
        elif v.startswith("--config-env="):
            configs.append((v.split("=", 2)[1], "<from the environment>"))
        i += 2 if v in _GIT_GLOBAL_WITH_ARG else 1
    return configs, i


def _config_pair(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    return key, value if eq else "true"


def _unwrap_git(s: Command, out: _Unwrapped) -> None:
    args = s.args
    configs, i = _git_sub(args)
    for key, value in configs:
        if key.lower().startswith("alias.") and value.lstrip().startswith("!"):
            out.strings.append(Word(value.lstrip()[1:], s.start, s.end))
    if i >= len(args):
        return
    sub, rest = args[i].value, args[i + 1 :]
    if sub == "bisect" and rest and rest[0].value == "run":
        if (inner := _derive(s, rest[1:])) is not None:
            out.inner.append(inner)
    elif sub == "rebase":
        o = _opts(rest, "xsX", frozenset({"--exec", "--onto", "--strategy", "--strategy-option"}))
        out.strings.extend(_as_words(o.values("x", "--exec"), s))
    elif sub in ("difftool", "mergetool"):
        o = _opts(rest, "xtg", frozenset({"--extcmd", "--tool"}))
        out.strings.extend(_as_words(o.values("x", "--extcmd"), s))
    elif sub == "submodule" and rest and rest[0].value == "foreach":
        tail = [w for w in rest[1:] if w.value not in ("--recursive", "-q", "--quiet")]
        out.strings.extend(_joined(tail))


def _as_words(values: list[str | None], s: Command) -> list[Word]:
    return [Word(v, s.start, s.end) for v in values if v]


def _core(c: Command) -> Command:
    """The command a chain of wrappers (sudo, env, timeout ...) finally runs."""
    for _ in range(_MAX_WRAPPERS):
        if c.head == "find":
            return c
        inner = _unwrap(c).inner
        if len(inner) != 1:
            return c
        c = inner[0]
    return c


# --- the analysis -----------------------------------------------------------------------------


@dataclass
class _Segment:
    cmd: Command
    transparent: bool = False
    shadow: bool = False
    """Another reading of a wrapper's arguments: checked by the floor, not by the allowlist."""
    parent: _Segment | None = None
    """The wrapper this command was read out of (``uv run pytest`` for ``pytest``)."""
    offset: int = 0
    """Where this command's words start among the wrapper's."""


@dataclass
class _Analysis:
    segments: list[_Segment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Destructive findings that need no workspace: unreadable parts, fork bombs, downloads."""
    budget: int = _TEXT_BUDGET
    upstream: dict[int, Command] = field(default_factory=dict)
    """id(command) -> a downloader whose output reaches the command's input."""
    full: bool = False


def _interpreter(head: str | None) -> bool:
    return head is not None and (
        head in _SHELLS
        or head in _INTERPRETER_NAMES
        or head in ("source", ".", "eval")
        or bool(_PYTHON.match(head))
    )


def _analyse(src: str, depth: int = 0, out: _Analysis | None = None) -> _Analysis:
    out = out if out is not None else _Analysis()
    if depth > _MAX_DEPTH:
        out.problems.append(f"cannot tell what it runs: commands nested too deeply ({_short(src)})")
        return out
    # A line over the parser's cap is refused without parsing; it should say so, not "too much".
    out.budget -= min(len(src), shell_syntax.MAX_BYTES)
    if out.budget < 0:
        out.problems.append("cannot tell what it runs: too much nested shell text to check")
        return out
    script = shell_syntax.parse(src)
    if script.error:
        out.problems.append(f"cannot tell what it runs: {script.error} ({_short(src, 60)})")
    for f in script.functions:
        if f.calls_itself and ("&" in f.text or "|" in f.text):
            out.problems.append(f"fork bomb ({_short(f.text)})")
    for c in script.commands:
        _add(c, depth, out)
    return out


def _add(c: Command, depth: int, out: _Analysis) -> None:
    if not c.derived:
        _note_download(c, out)
    stack: list[tuple[Command, bool, int, _Segment | None] | Word] = [(c, False, 0, None)]
    while stack:
        item = stack.pop()
        if isinstance(item, Word):
            if item.dynamic:
                out.problems.append(
                    "cannot tell what it runs: it hands a shell text only known when it runs "
                    f"({_short(item.value)})"
                )
            _analyse(item.value, depth + 1, out)
            continue
        cmd, shadow, level, parent = item
        if len(out.segments) >= _MAX_SEGMENTS:
            if not out.full:
                out.full = True
                out.problems.append("cannot tell what it runs: too many commands to check")
            return
        segment = _Segment(cmd, shadow=shadow, parent=parent)
        if parent is not None and cmd.words:
            first = cmd.words[0]
            segment.offset = next(
                (i for i, w in enumerate(parent.cmd.words) if w is first), len(parent.cmd.words)
            )
        out.segments.append(segment)
        if cmd.hidden_name is not None:
            out.problems.append(
                f"cannot tell which command runs: {cmd.hidden_name} ({_short(cmd.text)})"
            )
        if level >= _MAX_WRAPPERS:
            out.problems.append(f"cannot tell what it runs: wrapped too deeply ({_short(c.text)})")
            continue
        unwrapped = _unwrap(cmd)
        segment.transparent = unwrapped.transparent
        tasks: list[tuple[Command, bool, int, _Segment | None] | Word] = [
            *((d, shadow, level + 1, segment) for d in unwrapped.inner),
            *((d, True, level + 1, segment) for d in unwrapped.maybe),
            *unwrapped.strings,
        ]
        stack.extend(reversed(tasks))


def _note_download(c: Command, out: _Analysis) -> None:
    """Downloads that reach an interpreter: through a pipe, or as a substitution it reads."""
    core = _core(c)
    for f in c.feeders:
        source = f if _core(f).head in _DOWNLOADERS else out.upstream.get(id(f))
        if source is not None:
            out.upstream[id(c)] = source
            break
    source = out.upstream.get(id(c))
    if source is not None and c.piped and _reads_code_from_stdin(core):
        shown = (
            f"{source.text} | {c.text}"
            if source in c.feeders
            else f"{source.text} | ... | {c.text}"
        )
        out.problems.append(f"download piped into {core.head} ({_short(shown)})")
    if core.head in _DOWNLOADERS:
        outer = c.enclosing
        for _ in range(64):
            if outer is None:
                break
            if _interpreter(_core(outer).head):
                out.problems.append(f"runs a downloaded script ({_short(outer.text)})")
                break
            outer = outer.enclosing


def _reads_code_from_stdin(c: Command) -> bool:
    """Whether an interpreter takes the code it runs from its standard input."""
    head = c.head
    if head in _SHELLS:
        code = _shell_code(c)
        return not code.inline and code.script is None
    if head in ("source", "."):
        return True
    lang = _lang(head)
    return lang is not None and _code_source(c).stdin


def split_segments(command: str) -> list[str]:
    """Every simple command ``command`` runs, outer ones first, including hidden nested ones."""
    return [s.cmd.text for s in _analyse(command).segments if not s.shadow and s.cmd.words]


# --- paths ------------------------------------------------------------------------------------


def _home() -> Path:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError, OSError):
        return Path("/")


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.normpath(path))


def _where(word: Word, root: Path, cwd: Path | None) -> Path | None:
    """The absolute path a word names, or None when that is only known at run time."""
    v = word.value
    if word.tilde:
        rest = v[1:]
        if rest and not rest.startswith("/"):
            return Path("/home")  # ~user: another user's home, outside any workspace
        return Path(os.path.normpath(str(_home()) + rest))
    for var in ("$HOME", "${HOME}", "$PWD", "${PWD}"):
        if v.startswith(var) and (v == var or v.startswith(var + "/")):
            base = _home() if "HOME" in var else cwd
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
    return _resolve(path)


def _path_problem(path: Path, root: Path, what: str, text: str) -> str | None:
    if not is_inside(path, root):
        return f"{what} outside the workspace to {path} ({_short(text)})"
    parts = path.relative_to(root).parts
    if ".git" in parts:
        return f"{what} into .git, where hooks and config run code ({_short(text)})"
    if path.name in _STARTUP_FILES or ".ssh" in parts:
        return f"{what} {path.name}, which runs or trusts code later ({_short(text)})"
    return None


@dataclass
class _State:
    root: Path
    cwd: Path | None
    written: set[Path] = field(default_factory=set)
    downloaded: set[Path] = field(default_factory=set)


def _write_problem(word: Word, st: _State, text: str, what: str = "writes") -> str | None:
    v = word.value
    if not word.dynamic:
        if v in _SAFE_TARGETS or _FD_PATH.match(v):
            return None
        if v.startswith(("/dev/tcp/", "/dev/udp/")):
            return f"opens a network connection through {v} ({_short(text)})"
        if _BLOCK_DEVICE.match(v):
            return f"write to a block device ({_short(text)})"
    path = _where(word, st.root, st.cwd)
    if path is None:
        return f"{what} to a path only known when it runs ({_short(text)})"
    return _path_problem(path, st.root, what, text)


# --- the destructive floor --------------------------------------------------------------------


def _rm_reasons(c: Command, st: _State) -> list[str]:
    reasons: list[str] = []
    recursive = False
    operands: list[Word] = []
    options_done = False
    text = _short(c.text)
    for w in c.args:
        v = w.value
        if options_done or not v.startswith("-") or v == "-":
            operands.append(w)
        elif v == "--":
            options_done = True
        elif v.startswith("--"):
            if len(v) >= 3 and "--recursive".startswith(v):
                recursive = True
            elif len(v) >= 4 and "--no-preserve-root".startswith(v):
                reasons.append(f"rm --no-preserve-root ({text})")
        elif "r" in v or "R" in v:
            recursive = True
    if recursive:
        reasons.append(f"recursive rm ({text})")
    for w in operands:
        if not w.quoted and w.value in ("*", "./*", "/*", "~/*", ".*"):
            reasons.append(f"rm of every file in a directory ({text})")
            continue
        path = _where(w, st.root, st.cwd)
        if path is None:
            continue
        if path == st.root:
            reasons.append(f"rm of the whole workspace ({text})")
        elif (problem := _path_problem(path, st.root, "deletes", c.text)) is not None:
            if not is_inside(path, st.root):
                reasons.append(f"rm of {path}, outside the workspace ({text})")
            else:
                reasons.append(problem)
    return reasons


# Settings whose value is a program git runs, as section.key or section.*.key (lowercase).
_GIT_CODE_KEYS = frozenset(
    {
        "core.fsmonitor", "core.pager", "core.sshcommand", "core.hookspath", "core.editor",
        "core.askpass", "core.gitproxy", "core.alternaterefscommand", "credential.helper",
        "diff.external", "gpg.program", "sequence.editor", "uploadpack.packobjectshook",
        "include.path", "init.templatedir", "web.browser", "man.viewer",
        "interactive.difffilter", "protocol.allow", "sendemail.smtpserver",
        "sendemail.tocmd", "sendemail.cccmd", "receive.procreceiverefs",
    }
)  # fmt: skip
_GIT_CODE_SUBKEYS = frozenset(
    {
        ("credential", "helper"), ("diff", "textconv"), ("diff", "command"), ("filter", "clean"),
        ("filter", "smudge"), ("filter", "process"), ("merge", "driver"), ("gpg", "program"),
        ("remote", "uploadpack"), ("remote", "receivepack"), ("remote", "proxy"),
        ("includeif", "path"), ("difftool", "cmd"), ("mergetool", "cmd"), ("browser", "cmd"),
        ("man", "cmd"), ("protocol", "allow"), ("url", "insteadof"), ("url", "pushinsteadof"),
    }
)  # fmt: skip
_BOOLEANS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0", ""})


def _git_key_runs_code(key: str, value: str | None) -> bool:
    parts = key.lower().split(".")
    if len(parts) < 2:
        return False
    section, last = parts[0], parts[-1]
    plain = (value or "").strip().lower()
    if section == "alias":
        return plain.startswith("!")
    if section == "pager" or (section, last) == ("core", "fsmonitor"):
        return plain not in _BOOLEANS
    if section == "submodule" and last == "update":
        return plain.startswith("!")
    if len(parts) == 2:
        return f"{section}.{last}" in _GIT_CODE_KEYS
    return (section, last) in _GIT_CODE_SUBKEYS


_GitCheck = Callable[[list[Word], str, _State], list[str]]


def _git_reasons(c: Command, st: _State) -> list[str]:
    args = c.args
    text = _short(c.text)
    reasons: list[str] = []
    configs, i = _git_sub(args)
    for key, value in configs:
        if _git_key_runs_code(key, value):
            reasons.append(
                f"git -c {key} makes git run a program of the command's choosing ({text})"
            )
    for w in args[:i]:
        if w.value.startswith("--exec-path="):
            reasons.append(f"git --exec-path runs git's programs from another folder ({text})")
    if i >= len(args):
        return reasons
    sub = args[i].value
    rest = args[i + 1 :]
    check = _GIT_CHECKS.get(sub)
    if check is not None:
        reasons += check(rest, text, st)
    return reasons


def _git_push(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest, "o", frozenset({"--push-option", "--repo", "--receive-pack", "--exec"}))
    values = [w.value for w in o.operands + o.after_dashdash]
    force = (
        o.short("f")
        or any(o.long(x) for x in ("--force", "--force-with-lease", "--force-if-includes"))
        or o.long("--mirror", 4)
        or any(v.startswith("+") for v in values)
    )
    reasons: list[str] = []
    if force:
        reasons.append(f"git push --force rewrites remote history ({text})")
    if (
        o.short("d")
        or o.long("--delete", 4)
        or o.long("--prune", 4)
        or any(v.startswith(":") and len(v) > 1 for v in values)
    ):
        reasons.append(f"git push deletes remote branches ({text})")
    if o.long("--receive-pack", 4) or o.long("--exec", 4):
        reasons.append(f"git push --receive-pack runs a program of the command's choosing ({text})")
    return reasons


def _git_reset(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest)
    if o.long("--hard"):
        return [f"git reset --hard discards uncommitted work ({text})"]
    return []


def _git_clean(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest, "e", frozenset({"--exclude"}))
    dry = o.short("n") or o.long("--dry-run")
    if not dry and (o.short("fdxX") or o.long("--force")):
        return [f"git clean deletes untracked files ({text})"]
    return []


def _git_checkout(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest, "bB", frozenset({"--orphan", "--conflict", "--pathspec-from-file"}))
    why = f"git checkout discards work-tree changes ({text})"
    if o.short("f") or o.long("--force", 4) or o.long("--pathspec-from-file", 4):
        return [why]
    if o.after_dashdash:
        return [why]
    ops = o.operands
    if any(w.value in (".", "./", ":/", "*") or w.glob for w in ops):
        return [why]
    if o.short("B"):
        return [f"git checkout -B resets an existing branch ({text})"]
    creating = o.short("b") or o.long("--orphan", 4)
    if len(ops) >= 2 or (ops and not creating and _exists(ops[0], st)):
        return [why]
    return []


def _exists(word: Word, st: _State) -> bool:
    path = _where(word, st.root, st.cwd)
    try:
        return path is not None and path.exists()
    except (OSError, ValueError):
        return False


def _git_restore(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest, "s", frozenset({"--source", "--pathspec-from-file", "--conflict"}))
    staged_only = (o.short("S") or o.long("--staged", 4)) and not (
        o.short("W") or o.long("--worktree")
    )
    if not staged_only:
        return [f"git restore discards work-tree changes ({text})"]
    return []


def _git_switch(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest, "cC", frozenset({"--create", "--force-create", "--orphan", "--conflict"}))
    if o.short("fC") or o.long("--discard-changes", 4) or o.long("--force", 4):
        return [f"git switch discards changes or resets a branch ({text})"]
    return []


def _git_branch(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest, "u", frozenset({"--set-upstream-to", "--format", "--sort", "--contains"}))
    deleting = o.short("d") or o.long("--delete", 5)
    forcing = o.short("f") or o.long("--force", 4)
    if o.short("DMC") or forcing:
        if deleting or o.short("D"):
            return [f"git branch -D deletes unmerged branches ({text})"]
        return [f"git branch -D deletes unmerged branches or -f resets one ({text})"]
    return []


def _git_stash(rest: list[Word], text: str, st: _State) -> list[str]:
    ops = [w.value for w in rest if not w.value.startswith("-")]
    if ops and ops[0] in ("drop", "clear"):
        return [f"git stash {ops[0]} deletes stashed work ({text})"]
    return []


def _git_rm(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest, "", frozenset({"--pathspec-from-file"}))
    if o.long("--cached", 4):
        return []
    if o.short("rf") or o.long("--force", 4):
        return [f"git rm -r/-f deletes files from the work tree ({text})"]
    return []


def _git_read_tree(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest)
    if o.short("u") or o.long("--reset", 5):
        return [f"git read-tree -u overwrites work-tree files ({text})"]
    return []


def _git_checkout_index(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest)
    if o.short("f") or o.long("--force", 4):
        return [f"git checkout-index -f overwrites work-tree files ({text})"]
    return []


def _always(why: str) -> _GitCheck:
    def check(rest: list[Word], text: str, st: _State) -> list[str]:
        return [f"{why} ({text})"]

    return check


def _git_reflog(rest: list[Word], text: str, st: _State) -> list[str]:
    if rest and rest[0].value in ("expire", "delete"):
        return [f"git reflog {rest[0].value} drops the history that undoes mistakes ({text})"]
    return []


def _git_gc(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(rest)
    if any(v != "never" for v in o.long_values("--prune", 4)):
        return [f"git gc --prune deletes unreachable commits for good ({text})"]
    return []


def _git_worktree(rest: list[Word], text: str, st: _State) -> list[str]:
    if rest and rest[0].value == "remove":
        o = _opts(rest[1:])
        if o.short("f") or o.long("--force", 4):
            return [f"git worktree remove --force deletes a work tree's changes ({text})"]
    return []


def _git_submodule(rest: list[Word], text: str, st: _State) -> list[str]:
    if rest and rest[0].value == "deinit":
        o = _opts(rest[1:])
        if o.short("f") or o.long("--force", 4) or o.long("--all", 4):
            return [f"git submodule deinit --force deletes submodule work trees ({text})"]
    return []


def _git_clone(rest: list[Word], text: str, st: _State) -> list[str]:
    return _git_remote_code(rest, text, clone=True)


def _git_fetch(rest: list[Word], text: str, st: _State) -> list[str]:
    return _git_remote_code(rest, text, clone=False)


def _git_remote_code(rest: list[Word], text: str, clone: bool) -> list[str]:
    o = _opts(
        rest,
        "ucjob" if clone else "jo",
        frozenset({"--upload-pack", "--config", "--template", "--origin", "--branch", "--depth"}),
    )
    reasons: list[str] = []
    if o.long("--upload-pack", 4) or (clone and o.short("u")):
        reasons.append(f"git --upload-pack runs a program of the command's choosing ({text})")
    if o.long("--template", 4):
        reasons.append(f"git clone --template installs hooks from another folder ({text})")
    for value in o.values("c", "--config"):
        key, val = _config_pair(value or "")
        if _git_key_runs_code(key, val):
            reasons.append(
                f"git -c {key} makes git run a program of the command's choosing ({text})"
            )
    if any(w.value.startswith("ext::") for w in o.operands):
        reasons.append(f"git's ext:: transport runs a command ({text})")
    return reasons


_CONFIG_READS = frozenset(
    {
        "--get", "--get-all", "--get-regexp", "--get-urlmatch", "--get-color",
        "--get-colorbool", "-l", "--list", "--show-origin", "--show-scope", "--name-only",
    }
)  # fmt: skip
_CONFIG_CHANGES = frozenset(
    {
        "--unset", "--unset-all", "--rename-section", "--remove-section", "-e", "--edit",
        "--add", "--replace-all",
    }
)  # fmt: skip


_CONFIG_SUBCOMMANDS = frozenset(
    {"set", "unset", "rename-section", "remove-section", "edit", "get", "list"}
)


def _git_config(rest: list[Word], text: str, st: _State) -> list[str]:
    o = _opts(
        rest,
        "f",
        frozenset({"--file", "--blob", "--type", "--default", "--comment", "--value"}),
    )
    ops = [w.value for w in o.operands]
    given = set(o.longs) | {f"-{letter}" for letter in o.shorts}
    # git 2.46 spells the actions as subcommands too: `git config set KEY VALUE`.
    subcommand = ops[0] if ops and ops[0] in _CONFIG_SUBCOMMANDS else None
    if subcommand is not None:
        ops = ops[1:]
    reading = subcommand in ("get", "list") or bool(given & _CONFIG_READS)
    writing = (
        subcommand == "set"
        or bool(given & {"--add", "--replace-all"})
        or (subcommand is None and not reading and len(ops) >= 2)
    )
    changing = (
        writing
        or subcommand in ("unset", "rename-section", "remove-section", "edit")
        or (bool(given & _CONFIG_CHANGES))
    )
    reasons: list[str] = []
    if writing and ops:
        key = ops[0]
        value = ops[1] if len(ops) > 1 else None
        if _git_key_runs_code(key, value):
            reasons.append(f"git config sets {key}, which makes git run a program ({text})")
    if changing:
        files = [v for v in o.values("f", "--file") if v]
        outside = o.long("--global", 4) or o.long("--system", 4)
        for f in files:
            path = _where(Word(f, 0, 0, tilde=f.startswith("~")), st.root, st.cwd)
            outside = outside or path is None or not is_inside(path, st.root)
        if outside:
            reasons.append(f"git config changes settings outside the workspace ({text})")
    return reasons


_GIT_CHECKS: dict[str, _GitCheck] = {
    "push": _git_push,
    "reset": _git_reset,
    "clean": _git_clean,
    "checkout": _git_checkout,
    "restore": _git_restore,
    "switch": _git_switch,
    "branch": _git_branch,
    "stash": _git_stash,
    "rm": _git_rm,
    "read-tree": _git_read_tree,
    "checkout-index": _git_checkout_index,
    "update-ref": _always("git update-ref moves or deletes a ref directly"),
    "filter-branch": _always("git filter-branch rewrites history"),
    "filter-repo": _always("git filter-repo rewrites history"),
    "prune": _always("git prune deletes unreachable commits for good"),
    "reflog": _git_reflog,
    "gc": _git_gc,
    "worktree": _git_worktree,
    "submodule": _git_submodule,
    "clone": _git_clone,
    "fetch": _git_fetch,
    "pull": _git_fetch,
    "ls-remote": _git_fetch,
    "archive": _git_fetch,
    "config": _git_config,
}


def _chmod_reasons(c: Command, st: _State) -> list[str]:
    head = c.head or "chmod"
    o = _opts(c.args, "", frozenset({"--reference"}))
    recursive = o.short("R") or o.long("--recursive", 4)
    paths = o.operands if o.long("--reference", 4) else o.operands[1:]
    paths += o.after_dashdash
    for p in paths:
        where = _where(p, st.root, st.cwd)
        if recursive and (where is None or where == st.root or not is_inside(where, st.root)):
            return [f"recursive {head} outside the workspace or on its root ({_short(c.text)})"]
        if where is not None and (problem := _path_problem(where, st.root, "changes", c.text)):
            return [f"{head} {problem}"]
    return []


def _destination(o: _Opts) -> tuple[list[Word], Word | None]:
    """(sources, destination) of cp/mv/install/ln: ``-t DIR`` or the last operand."""
    ops = o.operands + o.after_dashdash
    target = o.values("t", "--target-directory")
    if target and target[-1] is not None:
        value = target[-1]
        return ops, Word(value, 0, 0, tilde=value.startswith("~"), dynamic="$" in value)
    if len(ops) >= 2:
        return ops[:-1], ops[-1]
    return ops, None


_COPY_ARGS: dict[str, tuple[str, frozenset[str]]] = {
    "cp": ("tS", frozenset({"--target-directory", "--suffix"})),
    "mv": ("tS", frozenset({"--target-directory", "--suffix"})),
    "install": ("gmotS", frozenset({"--group", "--mode", "--owner", "--target-directory"})),
    "ln": ("tS", frozenset({"--target-directory", "--suffix"})),
}


def _copy_reasons(c: Command, st: _State) -> list[str]:
    head = c.head or ""
    short_arg, long_arg = _COPY_ARGS[head]
    o = _opts(c.args, short_arg, long_arg)
    reasons: list[str] = []
    text = c.text
    if head == "install" and o.short("d"):
        for w in o.operands:
            if problem := _write_problem(w, st, text):
                reasons.append(problem)
        return reasons
    sources, dest = _destination(o)
    if head == "ln" and dest is None and sources:
        dest = Word(os.path.basename(sources[0].value) or ".", 0, 0)
    if dest is not None:
        if problem := _write_problem(dest, st, text):
            reasons.append(problem)
        dest_path = _where(dest, st.root, st.cwd)
        if dest_path is not None and _is_dir(dest_path):
            for src in sources:
                inside = dest_path / os.path.basename(src.value.rstrip("/"))
                if problem := _path_problem(inside, st.root, "writes", text):
                    reasons.append(problem)
    if head == "mv":
        for src in sources:
            path = _where(src, st.root, st.cwd)
            if path is not None and not is_inside(path, st.root):
                reasons.append(f"mv takes {path} from outside the workspace ({_short(text)})")
    if head == "ln":
        reasons += _link_reasons(o, sources, dest, st, text)
    return reasons


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _link_reasons(
    o: _Opts, targets: list[Word], link: Word | None, st: _State, text: str
) -> list[str]:
    symbolic = o.short("s") or o.long("--symbolic", 4)
    link_path = _where(link, st.root, st.cwd) if link is not None else None
    base = link_path if link_path is not None and _is_dir(link_path) else None
    if base is None and link_path is not None:
        base = link_path.parent
    reasons: list[str] = []
    for t in targets:
        if t.dynamic:
            reasons.append(f"links to a path only known when it runs ({_short(text)})")
            continue
        if symbolic and not t.tilde and not t.value.startswith("/"):
            if base is None:
                continue
            where: Path | None = _resolve(base / t.value)
        else:
            where = _where(t, st.root, st.cwd)
        if where is not None and not is_inside(where, st.root):
            kind = "symlink" if symbolic else "hard link"
            reasons.append(f"{kind} pointing outside the workspace to {where} ({_short(text)})")
    return reasons


def _is_remote(value: str) -> bool:
    if value.startswith(("rsync://", "scp://", "sftp://", "ssh://")):
        return True
    host, colon, _ = value.partition(":")
    return bool(colon) and bool(host) and "/" not in host and not value.startswith(("/", "."))


def _rsync_reasons(c: Command, st: _State) -> list[str]:
    o = _opts(
        c.args,
        "eBfT",
        frozenset({"--rsh", "--filter", "--exclude", "--include", "--temp-dir", "--rsync-path"}),
    )
    text = c.text
    reasons: list[str] = []
    if any(name.startswith("--del") for name in o.longs) or o.long("--remove-source-files", 4):
        reasons.append(f"rsync --delete removes files at the destination ({_short(text)})")
    ops = o.operands + o.after_dashdash
    if len(ops) >= 2:
        dest = ops[-1]
        if _is_remote(dest.value):
            reasons.append(f"copies files to another machine ({_short(text)})")
        elif problem := _write_problem(dest, st, text):
            reasons.append(problem)
    return reasons


def _scp_reasons(c: Command, st: _State) -> list[str]:
    o = _opts(c.args, "cFiJlPSoDX", frozenset())
    ops = o.operands + o.after_dashdash
    if len(ops) >= 2:
        dest = ops[-1]
        if _is_remote(dest.value):
            return [f"copies files to another machine ({_short(c.text)})"]
        if problem := _write_problem(dest, st, c.text):
            return [problem]
    return []


_CURL_SHORT_ARG = "AbcCdDeEFHKmoPQrtTuUwxXyYz"
_CURL_LONG_ARG = frozenset(
    {
        "--data", "--data-binary", "--data-raw", "--data-ascii", "--data-urlencode", "--json",
        "--form", "--form-string", "--upload-file", "--output", "--output-dir", "--config",
        "--cookie", "--cookie-jar", "--dump-header", "--header", "--user", "--request", "--url",
        "--proxy", "--referer", "--user-agent", "--max-time", "--connect-timeout", "--retry",
        "--range", "--write-out", "--trace", "--trace-ascii", "--stderr", "--cacert", "--cert",
        "--key", "--resolve", "--connect-to", "--limit-rate", "--etag-save", "--variable",
    }
)  # fmt: skip


def _loopback_only(urls: list[str]) -> bool:
    """Whether every URL names this machine, so what is sent there does not leave it."""
    if not urls:
        return False
    for url in urls:
        try:
            host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
        except ValueError:
            return False
        if host not in ("localhost", "::1") and not host.startswith("127."):
            return False
    return True


def _curl_reasons(c: Command, st: _State) -> list[str]:
    o = _opts(c.args, _CURL_SHORT_ARG, _CURL_LONG_ARG)
    text = c.text
    reasons: list[str] = []
    urls = [w.value for w in o.operands] + [v for v in o.values("", "--url") if v]
    if _loopback_only(urls):
        urls = []  # uploads to a local server stay on the machine: only the writes matter
    for value in o.values("T", "--upload-file") if urls else []:
        reasons.append(f"uploads {value or 'a file'} ({_short(text)})")
    data = o.values("d", "--data", "--data-binary", "--data-ascii", "--json", "--data-urlencode")
    for value in data if urls else []:
        if value is not None and (value.startswith("@") or "=@" in value[:64]):
            name = value.split("@", 1)[1] or "stdin"
            reasons.append(f"sends the file {name} ({_short(text)})")
        elif value is not None and ("$" in value or "`" in value):
            reasons.append(f"sends data only known when it runs ({_short(text)})")
    for value in o.values("F", "--form") if urls else []:
        if value is not None and ("=@" in value or "=<" in value):
            reasons.append(f"uploads a file in a form ({_short(text)})")
    for value in o.values("ocD", "--output", "--cookie-jar", "--dump-header", "--trace"):
        if value and value != "-":
            word = Word(value, 0, 0, tilde=value.startswith("~"), dynamic="$" in value)
            if problem := _write_problem(word, st, text):
                reasons.append(problem)
    return reasons


_WGET_SHORT_ARG = "oaOiIPDXRAeBtTwQUlY"
_WGET_LONG_ARG = frozenset(
    {
        "--output-document", "--output-file", "--append-output", "--input-file",
        "--directory-prefix", "--post-file", "--body-file", "--post-data", "--body-data",
        "--user-agent", "--header", "--method", "--user", "--password", "--execute",
    }
)  # fmt: skip


def _wget_reasons(c: Command, st: _State) -> list[str]:
    o = _opts(c.args, _WGET_SHORT_ARG, _WGET_LONG_ARG)
    text = c.text
    reasons: list[str] = []
    local = _loopback_only([w.value for w in o.operands])
    for value in [] if local else o.values("", "--post-file", "--body-file"):
        reasons.append(f"uploads {value or 'a file'} ({_short(text)})")
    for value in o.values("oaOP", "--output-document", "--output-file", "--directory-prefix"):
        if value and value != "-":
            word = Word(value, 0, 0, tilde=value.startswith("~"), dynamic="$" in value)
            if problem := _write_problem(word, st, text):
                reasons.append(problem)
    return reasons


_PIP_LONG_ARG = frozenset(
    {
        "--requirement", "--constraint", "--editable", "--index-url", "--extra-index-url",
        "--find-links", "--target", "--prefix", "--root", "--src", "--upgrade-strategy",
        "--platform", "--python-version", "--implementation", "--abi", "--config-settings",
        "--trusted-host", "--proxy", "--cert", "--client-cert", "--cache-dir", "--report",
        "--only-binary", "--no-binary", "--python", "--progress-bar",
    }
)  # fmt: skip


def _pip_reasons(args: list[Word], text: str, st: _State) -> list[str]:
    return _pip_sources(args, text, st)[0]


def _pip_sources(args: list[Word], text: str, st: _State) -> tuple[list[str], list[str]]:
    """(destructive reasons, workspace folders whose build code pip runs) of a pip command."""
    ops = [i for i, w in enumerate(args) if not w.value.startswith("-")]
    if not ops or args[ops[0]].value != "install":
        return [], []
    o = _opts(args[ops[0] + 1 :], "rceiftb", _PIP_LONG_ARG)
    reasons: list[str] = []
    local: list[str] = []
    if o.values("if", "--index-url", "--extra-index-url", "--find-links"):
        reasons.append(f"pip installs from another package index ({_short(text)})")
    sources = [v for v in o.values("e", "--editable") if v]
    sources += [w.value for w in o.operands + o.after_dashdash]
    for v in sources:
        if "://" in v or " @ " in v or v.startswith(("git+", "hg+", "svn+", "bzr+")):
            reasons.append(f"pip installs from {v}, not from the package index ({_short(text)})")
        elif (
            v.startswith((".", "/", "~"))
            or "/" in v
            or v.endswith((".whl", ".tar.gz", ".zip", ".tgz", ".tar.bz2"))
        ):
            path = _where(Word(v, 0, 0, tilde=v.startswith("~")), st.root, st.cwd)
            if path is not None and is_inside(path, st.root):
                local.append(v)
            else:
                reasons.append(f"pip installs from {v}, outside the workspace ({_short(text)})")
    for value in o.values("t", "--target", "--prefix", "--root"):
        if value:
            word = Word(value, 0, 0, tilde=value.startswith("~"), dynamic="$" in value)
            if problem := _write_problem(word, st, text, "installs"):
                reasons.append(problem)
    return reasons, local


def _pip_args(c: Command) -> list[Word] | None:
    """The arguments after ``pip`` of pip, pip3, ``python -m pip`` and ``uv pip``."""
    head = c.head
    args = c.args
    if head in ("pip", "pip3") or (head is not None and re.match(r"^pip[0-9.]+$", head)):
        return args
    if head == "uv" and args and args[0].value == "pip":
        return args[1:]
    python = head is not None and bool(_PYTHON.match(head))
    if python and len(args) >= 2 and args[0].value == "-m" and args[1].value in ("pip", "pip3"):
        return args[2:]
    return None


def _npm_reasons(c: Command, st: _State) -> list[str]:
    args = [w for w in c.args if not w.value.startswith("-")]
    if not args or args[0].value not in ("install", "i", "add", "isntall", "in"):
        return []
    for w in args[1:]:
        v = w.value
        if (
            "://" in v
            or v.startswith(("git+", "github:", "gitlab:", "bitbucket:", "git@"))
            or (v.endswith((".tgz", ".tar.gz")))
        ):
            return [f"installs a package from {v}, not from the registry ({_short(c.text)})"]
    return []


def _tar_reasons(c: Command, st: _State) -> list[str]:
    args = list(c.args)
    if args and not args[0].value.startswith("-"):
        args[0] = replace(args[0], value="-" + args[0].value)  # `tar xzf a.tar`: old-style options
    o = _opts(
        args,
        "fCbFgIKLNTVX",
        frozenset({"--file", "--directory", "--to-command", "--use-compress-program",
                   "--info-script", "--new-volume-script", "--checkpoint-action"}),
    )  # fmt: skip
    text = c.text
    reasons: list[str] = []
    if o.long("--remove-files", 4):
        reasons.append(f"tar --remove-files deletes what it archives ({_short(text)})")
    if o.short("P") or o.long("--absolute-names", 4):
        reasons.append(f"tar -P writes to absolute paths ({_short(text)})")
    extracting = o.short("x") or o.long("--extract", 4) or o.long("--get", 4)
    if extracting:
        for value in o.values("C", "--directory"):
            if value:
                word = Word(value, 0, 0, tilde=value.startswith("~"), dynamic="$" in value)
                if problem := _write_problem(word, st, text, "extracts"):
                    reasons.append(problem)
    if o.values("F", "--to-command", "--info-script", "--new-volume-script") or any(
        (v or "").startswith("exec") for v in o.values("", "--checkpoint-action")
    ):
        reasons.append(f"tar runs a command for each file ({_short(text)})")
    return reasons


def _find_reasons(c: Command, st: _State) -> list[str]:
    values = [w.value for w in c.args]
    text = _short(c.text)
    reasons: list[str] = []
    if "-delete" in values:
        reasons.append(f"find -delete deletes files ({text})")
    for j, v in enumerate(values[:-1]):
        if v in ("-exec", "-execdir", "-ok", "-okdir"):
            inner = os.path.basename(values[j + 1])
            if inner in _FIND_DELETERS:
                reasons.append(f"find {v} {inner} deletes files ({text})")
        elif v in ("-fprint", "-fprint0", "-fls", "-fprintf") and (
            problem := _write_problem(c.args[j + 1], st, c.text)
        ):
            reasons.append(problem)
    return reasons


def _dd_reasons(c: Command, st: _State) -> list[str]:
    if any(a.value.startswith("of=") and a.value != "of=/dev/null" for a in c.args):
        return [f"dd writes raw data with of= ({_short(c.text)})"]
    return []


def _tee_reasons(c: Command, st: _State) -> list[str]:
    o = _opts(c.args, "", frozenset({"--output-error"}))
    return [p for w in o.operands + o.after_dashdash if (p := _write_problem(w, st, c.text))]


def _kill_reasons(c: Command, st: _State) -> list[str]:
    args = [w.value for w in c.args]
    for j, v in enumerate(args):
        if v == "-1" and (j > 0 and args[j - 1] not in ("-s", "-n")):
            return [f"kill -1 signals every process you own ({_short(c.text)})"]
    return []


def _crontab_reasons(c: Command, st: _State) -> list[str]:
    values = [w.value for w in c.args]
    if values in (["-l"], ["-u"]) or (values and values[0] == "-l"):
        return []
    return [f"crontab replaces or removes your scheduled jobs ({_short(c.text)})"]


def _systemctl_reasons(c: Command, st: _State) -> list[str]:
    if any(w.value in ("reboot", "poweroff", "halt", "kexec") for w in c.args):
        return [f"shuts down or restarts the machine ({_short(c.text)})"]
    return []


def _netcat_reasons(c: Command, st: _State) -> list[str]:
    o = _opts(c.args, "ceIiOpqswxXTW", frozenset())
    if o.short("ce") or o.long("--exec", 4) or o.long("--sh-exec", 4):
        return [f"{c.head} -e runs a program for whoever connects ({_short(c.text)})"]
    fed = c.piped or any(r.op == "<" and r.fd in (None, "0") for r in c.redirects)
    if fed and not o.short("lz"):
        return [f"sends data over the network with {c.head} ({_short(c.text)})"]
    return []


def _socat_reasons(c: Command, st: _State) -> list[str]:
    if any(w.value.upper().startswith(("EXEC:", "SYSTEM:")) for w in c.args):
        return [f"socat runs a program for the network ({_short(c.text)})"]
    return []


def _sed_reasons(c: Command, st: _State) -> list[str]:
    scripts, files, in_place = _sed_parts(c)
    reasons: list[str] = []
    for script in scripts:
        for target in _sed_scan(script).writes:
            word = Word(target, 0, 0, tilde=target.startswith("~"))
            if target not in ("/dev/stdout", "/dev/stderr") and (
                problem := _write_problem(word, st, c.text)
            ):
                reasons.append(problem)
    if in_place:
        for w in files:
            if problem := _write_problem(w, st, c.text, "edits"):
                reasons.append(problem)
    return reasons


_SED_LONG_ARG = frozenset({"--expression", "--file", "--line-length"})


def _sed_parts(c: Command) -> tuple[list[str], list[Word], bool]:
    """(scripts, files, in place) of a sed command."""
    o = _opts(c.args, "efl", _SED_LONG_ARG)
    scripts = [v for v in o.values("e", "--expression") if v is not None]
    files = o.operands + o.after_dashdash
    if not scripts and not o.values("f", "--file") and files:
        scripts, files = [files[0].value], files[1:]
    in_place = o.short("i") or o.long("--in-place", 4)
    return scripts, files, bool(in_place)


@dataclass
class _SedScan:
    runs: bool = False
    writes: list[str] = field(default_factory=list)


def _sed_scan(script: str) -> _SedScan:
    """Whether a sed script runs commands (``e``, ``s///e``) and the files it writes (``w``)."""
    out = _SedScan()
    n = len(script)
    i = 0

    def skip_regex(j: int, delim: str) -> int:
        while j < n and script[j] != delim:
            j += 2 if script[j] == "\\" else 1
        return j + 1

    def to_eol(j: int) -> int:
        k = script.find("\n", j)
        return n if k < 0 else k

    while i < n:
        ch = script[i]
        if ch in " \t\n;{}!":
            i += 1
            continue
        if ch.isdigit() or ch in "$,~+":
            i += 1
            continue
        if ch == "/":
            i = skip_regex(i + 1, "/")
            i = i + 1 if i < n and script[i] in "IM" else i
            continue
        if ch == "\\" and i + 1 < n:
            i = skip_regex(i + 2, script[i + 1])
            continue
        if ch == "#":
            i = to_eol(i)
            continue
        if ch in "aicrRbtTvV:":
            # Text, file names and labels run to the end of the line (a b t : also stop at `;`).
            end = to_eol(i)
            if ch in "btTv:":
                semi = script.find(";", i, end)
                end = semi if semi >= 0 else end
            i = end
            continue
        if ch in "wW":
            end = to_eol(i)
            out.writes.append(script[i + 1 : end].strip())
            i = end
            continue
        if ch == "e":
            out.runs = True
            i = to_eol(i)
            continue
        if ch in "sy" and i + 1 < n:
            delim = script[i + 1]
            if delim in "\n\\":
                out.runs = True  # unusual enough not to guess at
                return out
            i = skip_regex(i + 2, delim)
            i = skip_regex(i, delim)
            if ch == "s":
                while i < n and script[i] in "gpiImMe0123456789w":
                    if script[i] == "e":
                        out.runs = True
                    if script[i] == "w":
                        end = to_eol(i)
                        out.writes.append(script[i + 1 : end].strip())
                        i = end
                        break
                    i += 1
            continue
        if ch in "dDgGhHlnNpPqQxz=F":
            i += 1
            continue
        out.runs = True  # a command this scanner does not know: do not guess what it does
        return out
    return out


_SegmentCheck = Callable[[Command, _State], list[str]]


def _user_reasons(c: Command, st: _State) -> list[str]:
    return [f"runs as another user with {c.head} ({_short(c.text)})"]


def _disk_reasons(c: Command, st: _State) -> list[str]:
    return [f"formats or repartitions a disk ({_short(c.text)})"]


def _simple(why: str) -> _SegmentCheck:
    def check(c: Command, st: _State) -> list[str]:
        return [f"{why} ({_short(c.text)})"]

    return check


def _unlink_reasons(c: Command, st: _State) -> list[str]:
    for w in c.args:
        path = _where(w, st.root, st.cwd)
        if path is not None and (problem := _path_problem(path, st.root, "deletes", c.text)):
            return [problem]
    return []


_CHECKS: dict[str, _SegmentCheck] = {
    "rm": _rm_reasons,
    "unlink": _unlink_reasons,
    "git": _git_reasons,
    "dd": _dd_reasons,
    "shred": _simple("shred destroys files"),
    "truncate": _simple("truncate cuts files"),
    "chmod": _chmod_reasons,
    "chown": _chmod_reasons,
    "chgrp": _chmod_reasons,
    "tee": _tee_reasons,
    "cp": _copy_reasons,
    "mv": _copy_reasons,
    "install": _copy_reasons,
    "ln": _copy_reasons,
    "rsync": _rsync_reasons,
    "scp": _scp_reasons,
    "find": _find_reasons,
    "tar": _tar_reasons,
    "curl": _curl_reasons,
    "wget": _wget_reasons,
    "npm": _npm_reasons,
    "pnpm": _npm_reasons,
    "yarn": _npm_reasons,
    "kill": _kill_reasons,
    "crontab": _crontab_reasons,
    "systemctl": _systemctl_reasons,
    "nc": _netcat_reasons,
    "ncat": _netcat_reasons,
    "netcat": _netcat_reasons,
    "socat": _socat_reasons,
    "sed": _sed_reasons,
    "gsed": _sed_reasons,
}
for _name in _AS_OTHER_USER:
    _CHECKS[_name] = _user_reasons
for _name in _DISK_TOOLS:
    _CHECKS[_name] = _disk_reasons
for _name in _POWER:
    _CHECKS[_name] = _simple("shuts down or restarts the machine")
_CHECKS["rimraf"] = _simple("rimraf deletes folders recursively")


def _at_reasons(c: Command, st: _State) -> list[str]:
    if any(w.value in ("-l", "-d", "-r", "-c") for w in c.args):
        return []
    return [f"{c.head} schedules commands to run later, unseen ({_short(c.text)})"]


_CHECKS["at"] = _at_reasons
_CHECKS["batch"] = _at_reasons


def _redirect_reasons(c: Command, st: _State) -> list[str]:
    reasons: list[str] = []
    for r in c.redirects:
        target = r.target
        if target is None or r.op in ("<<", "<<-", "<<<"):
            continue
        if not target.dynamic and target.value.startswith(("/dev/tcp/", "/dev/udp/")):
            reasons.append(f"opens a network connection through {target.value} ({_short(c.text)})")
            continue
        writes = r.op in _WRITE_REDIRECTS or (
            r.op == ">&" and not (target.value.isdigit() or target.value == "-")
        )
        if writes and (problem := _write_problem(target, st, c.text)):
            reasons.append(problem)
    return reasons


def _env_reasons(c: Command) -> list[str]:
    """Git settings passed through the environment (GIT_CONFIG_KEY_0=core.pager ...)."""
    values = [w.value for w in c.words if w.assignment]
    if c.head == "env":
        values += [w.value for w in c.args if _ASSIGNMENT.match(w.value)]
    for v in values:
        name, _, value = v.partition("=")
        if (name.startswith("GIT_CONFIG_KEY_") and _git_key_runs_code(value, "cmd")) or (
            name == "GIT_CONFIG_PARAMETERS"
        ):
            return [f"sets git config through the environment ({_short(c.text)})"]
    return []


def _script_word(c: Command) -> Word | None:
    """The word naming the file a command runs as a script or program."""
    words = [w for w in c.words if not w.assignment]
    if not words or c.hidden_name is not None:
        return None
    head = c.head
    if "/" in words[0].value:
        return words[0]
    if head in _SHELLS:
        return _shell_code(c).script
    if head in ("source", ".") and len(words) > 1:
        return words[1]
    if _lang(head) is not None:
        return _code_source(c).script
    return None


def _script_run(c: Command, st: _State) -> Path | None:
    """The file a command runs as a script or program, when the line names one."""
    word = _script_word(c)
    if word is None or word.dynamic:
        return None
    return _where(word, st.root, st.cwd)


def _segment_reasons(c: Command, st: _State) -> list[str]:
    reasons = [] if c.derived else _redirect_reasons(c, st)
    reasons += _env_reasons(c)
    head = c.head
    if head is None:
        return reasons
    if head.startswith("mkfs"):
        reasons.append(f"formats or repartitions a disk ({_short(c.text)})")
    check = _CHECKS.get(head)
    if check is not None:
        reasons += check(c, st)
    if (pip := _pip_args(c)) is not None:
        reasons += _pip_reasons(pip, c.text, st)
    script = _script_run(c, st)
    if script is not None and script in st.downloaded:
        reasons.append(f"runs a downloaded script ({_short(c.text)})")
    return reasons


def _record_writes(c: Command, st: _State, analysis: _Analysis) -> None:
    """Remember the files ``c`` writes, so running one later in the line is seen."""
    head = c.head
    written: list[Path] = []
    words: list[Word] = []
    if not c.derived:
        words += [r.target for r in c.redirects if r.target and r.op in _WRITE_REDIRECTS]
    downloads = head in _DOWNLOADERS or id(c) in analysis.upstream
    if head == "tee":
        words += _opts(c.args).operands
    elif head in _COPY_ARGS:
        short_arg, long_arg = _COPY_ARGS[head]
        sources, dest = _destination(_opts(c.args, short_arg, long_arg))
        if dest is not None:
            words.append(dest)
            dest_path = _where(dest, st.root, st.cwd)
            if dest_path is not None:
                written += [dest_path / os.path.basename(s.value) for s in sources]
    elif head == "curl":
        o = _opts(c.args, _CURL_SHORT_ARG, _CURL_LONG_ARG)
        names = [v for v in o.values("o", "--output") if v]
        if o.short("O") or o.long("--remote-name", 4):
            names += [_url_name(w.value) for w in o.operands]
        words += [Word(v, 0, 0, tilde=v.startswith("~")) for v in names]
    elif head == "wget":
        o = _opts(c.args, _WGET_SHORT_ARG, _WGET_LONG_ARG)
        names = [v for v in o.values("O", "--output-document") if v]
        if not names:
            names = [_url_name(w.value) for w in o.operands]
        words += [Word(v, 0, 0, tilde=v.startswith("~")) for v in names]
    elif head == "dd":
        words += [Word(a.value[3:], 0, 0) for a in c.args if a.value.startswith("of=")]
    for w in words:
        path = _where(w, st.root, st.cwd)
        if path is not None:
            written.append(path)
    st.written.update(written)
    if downloads:
        st.downloaded.update(written)


def _url_name(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "index.html"


def _after_cd(c: Command, cwd: Path | None, root: Path) -> Path | None:
    """The working directory after ``c`` (None once it cannot be known before running)."""
    if c.head in ("popd",):
        return None
    if c.head not in ("cd", "pushd"):
        return cwd
    operands = [w for w in c.args if not (w.value.startswith("-") and w.value != "-")]
    if not operands:
        return _home()
    if operands[0].value == "-":
        return None
    return _where(operands[0], root, cwd)


# --- code the line does not show --------------------------------------------------------------


@dataclass(frozen=True)
class _Lang:
    name: str
    inline: str = ""
    """Short options whose value is code (``-c`` for python, ``-e`` for perl)."""
    inline_long: frozenset[str] = frozenset()
    with_arg: str = ""
    """Short options that take the next word as a value."""
    with_arg_long: frozenset[str] = frozenset()
    module: str = ""
    """Short options that run an installed module instead of code (python's ``-m``)."""
    attached: str = ""
    """Short options whose value is the rest of the word (perl's ``-Mstrict``)."""
    reads_stdin: bool = True


_PY = _Lang(
    "python", "c", with_arg="WXQ", with_arg_long=frozenset({"--check-hash-based-pycs"}), module="m"
)
_LANGS: dict[str, _Lang] = {
    "perl": _Lang("perl", "eE", attached="IMmlx0iCdDV"),
    "ruby": _Lang("ruby", "e", with_arg="IrCE", attached="iFxK0TW"),
    "node": _Lang(
        "node",
        "ep",
        frozenset({"--eval", "--print"}),
        "rC",
        frozenset({"--require", "--import", "--loader", "--experimental-loader", "--conditions"}),
    ),
    "bun": _Lang("bun", "ep", frozenset({"--eval", "--print"}), reads_stdin=False),
    "php": _Lang("php", "rBRE", with_arg="cdfzt"),
    "lua": _Lang("lua", "e", with_arg="l"),
    "luajit": _Lang("lua", "e", with_arg="lbj"),
    "Rscript": _Lang("R", "e", reads_stdin=False),
    "R": _Lang("R", "e", reads_stdin=False),
    "julia": _Lang("julia", "eE", frozenset({"--eval", "--print"}), with_arg="JCLpt"),
    "osascript": _Lang("AppleScript", "e", with_arg="l"),
    "expect": _Lang("expect", "c", with_arg="f", reads_stdin=False),
    "tclsh": _Lang("Tcl", reads_stdin=True),
    "wish": _Lang("Tcl", reads_stdin=True),
}
_LANGS["nodejs"] = _LANGS["node"]
# PowerShell's options take one dash and any case.
_PWSH_INLINE = frozenset({"-c", "-command", "-e", "-ec", "-encodedcommand", "-cwa"})


@dataclass
class _CodeSource:
    inline: bool = False
    module: bool = False
    script: Word | None = None
    stdin: bool = False


def _lang(head: str | None) -> _Lang | None:
    if head is None:
        return None
    if _PYTHON.match(head):
        return _PY
    return _LANGS.get(head)


def _code_source(c: Command) -> _CodeSource:
    """Where an interpreter's code comes from: inline, a module, a script file, or its input."""
    lang = _lang(c.head) or _PY
    out = _CodeSource()
    args = c.args
    i = 0
    while i < len(args):
        v = args[i].value
        if v == "--":
            i += 1
            break
        if v == "-" or not v.startswith("-"):
            break
        if v.startswith("--"):
            name = v.partition("=")[0]
            if name in lang.inline_long:
                out.inline = True
                return out
            i += 2 if name in lang.with_arg_long and "=" not in v else 1
            continue
        for k, letter in enumerate(v[1:], start=1):
            if letter in lang.inline:
                out.inline = True
                return out
            if letter in lang.module:
                out.module = True
                return out
            if letter in lang.attached:
                break
            if letter in lang.with_arg:
                if k == len(v) - 1:
                    i += 1
                break
        i += 1
    if i < len(args) and args[i].value not in _STDIN_PATHS:
        out.script = args[i]
    else:
        out.stdin = True
    return out


def _fed(c: Command) -> list[str]:
    """How code could reach ``c``'s standard input."""
    shell = _ShellCode()
    _stdin_code(c, shell)
    return shell.stdin


_AWK = frozenset({"awk", "gawk", "mawk", "nawk"})
_AWK_SYSTEM = re.compile(r"\bsystem\s*\(")


def _blank_strings(program: str) -> str:
    """``program`` with the text of its double-quoted strings removed (a linear scan: a regex
    backtracks quadratically on a long unterminated string full of escapes)."""
    out: list[str] = []
    i = 0
    n = len(program)
    while i < n:
        ch = program[i]
        if ch != '"':
            out.append(ch)
            i += 1
            continue
        j = i + 1
        while j < n and program[j] not in '"\n':
            j += 2 if program[j] == "\\" else 1
        if j < n and program[j] == '"':
            out.append('""')
            i = j + 1
        else:
            out.append(program[i:j])
            i = j
    return "".join(out)


def _awk_plain(program: str) -> str:
    """An awk program with its strings and regex literals blanked (their ``|`` runs nothing)."""
    plain = _blank_strings(program)
    out: list[str] = []
    i = 0
    n = len(plain)
    last = ""
    while i < n:
        ch = plain[i]
        if ch == "/" and (not last or last in "(,~!{};&|\n"):
            end = i + 1
            while end < n and plain[end] not in "/\n":
                end += 2 if plain[end] == "\\" else 1
            if end < n and plain[end] == "/":
                out.append("//")
                i = end + 1
                last = "/"
                continue
        out.append(ch)
        if not ch.isspace():
            last = ch
        i += 1
    return "".join(out)


def _awk_reason(c: Command) -> str | None:
    o = _opts(c.args, "Ffvi", frozenset({"--file", "--assign", "--field-separator", "--include"}))
    programs = [v for v in o.values("e", "--source") if v]
    if o.short("l") or o.long("--load", 4):
        return "loads a compiled extension into awk"
    if not programs and not o.values("f", "--file") and o.operands:
        programs = [o.operands[0].value]
    for program in programs:
        plain = _awk_plain(program)
        if _AWK_SYSTEM.search(plain):
            return "runs commands through awk's system()"
        if "|&" in plain or re.search(r"(?<!\|)\|(?!\|)", plain):
            return "runs a command from awk through a pipe"
        for statement in re.split(r"[;{}\n]", plain):
            if re.search(r"\bprintf?\b", statement) and ">" in statement:
                return "writes files from inside awk"
    return None


def _opaque_reason(c: Command, st: _State) -> str | None:
    """Why ``c`` runs code the line does not show (None when everything it runs is visible)."""
    head = c.head
    if head is None:
        return None
    settings = [w for w in c.words if w.assignment]
    if head == "env":
        settings += [w for w in c.args if _ASSIGNMENT.match(w.value)]
    for w in settings:
        name = w.value.partition("=")[0]
        if name in _PRELOAD_VARS:
            return f"loads code from {name} into the command"
    script = _script_run(c, st)
    if script is not None and script in st.written and script not in st.downloaded:
        return "runs a script this same command line writes"
    script_word = _script_word(c)
    if script_word is not None and script_word.value.startswith(("<(", "$(", "`")):
        return "runs a script another command produces"
    if head in ("source", ".") and script_word is not None:
        if script_word.value in _STDIN_PATHS and (fed := _fed(c)):
            return f"feeds {head} commands through {' and '.join(fed)}"
        return None
    if (pip := _pip_args(c)) is not None:
        local = _pip_sources(pip, c.text, st)[1]
        return f"pip runs the build code of {', '.join(local)}" if local else None
    if head in _SHELLS:
        code = _shell_code(c)
        if code.inline or code.script is not None:
            return None
        if code.stdin:
            return f"feeds {head} commands through {' and '.join(code.stdin)}"
        return None
    lang = _lang(head)
    if lang is not None:
        source = _code_source(c)
        if source.inline:
            return f"runs inline {lang.name} code"
        if source.stdin and lang.reads_stdin and (fed := _fed(c)):
            return f"runs {lang.name} code fed through {' and '.join(fed)}"
        return None
    if head in _AWK:
        return _awk_reason(c)
    if head in ("sed", "gsed"):
        if "--sandbox" in (w.value for w in c.args):
            return None
        scripts, _, _ = _sed_parts(c)
        if any(_sed_scan(s).runs for s in scripts):
            return "runs commands through sed's e command"
        return None
    if head == "deno" and c.args and c.args[0].value == "eval":
        return "runs inline JavaScript code"
    if head in ("pwsh", "powershell") and any(w.value.lower() in _PWSH_INLINE for w in c.args):
        return "runs inline PowerShell code"
    if head == "gdb" and any(
        w.value.lstrip("-") in ("ex", "iex", "eval-command", "init-eval-command", "x")
        or w.value.startswith("--eval-command=")
        for w in c.args
    ):
        return "runs gdb commands given inline"
    if head in ("vim", "nvim", "vi", "ex", "view") and any(
        w.value in ("-c", "--cmd", "-S") or w.value.startswith("+") for w in c.args
    ):
        return "runs editor commands given inline"
    return None


# --- the policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What run_command does with a command, and why."""

    action: Action
    reason: str
    destructive: bool = False


@dataclass
class _Verdict:
    destructive: list[str]
    opaque: list[tuple[_Segment, str]]


def _evaluate(analysis: _Analysis, root: Path) -> _Verdict:
    reasons = list(analysis.problems)
    opaque: list[tuple[_Segment, str]] = []
    st = _State(root, root)
    for segment in analysis.segments:
        c = segment.cmd
        reasons += _segment_reasons(c, st)
        if (why := _opaque_reason(c, st)) is not None:
            opaque.append((segment, f"{why} ({_short(c.text)})"))
        _record_writes(c, st, analysis)
        st.cwd = _after_cd(c, st.cwd, root)
    return _Verdict(list(dict.fromkeys(reasons)), opaque)


def find_destructive(command: str, root: Path) -> list[str]:
    """Reasons why ``command`` is destructive (empty when it is not), hidden commands included."""
    return _evaluate(_analyse(command), _resolve(Path(root))).destructive


def normalise_command(command: str) -> str:
    """``command`` with runs of whitespace collapsed, as remembered for "allow for this session"."""
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


def _first_not_allowed(segments: list[_Segment], prefixes: list[list[str]]) -> str | None:
    """The first segment no allowedCommands prefix covers (None when all are covered).

    An entry that reaches into a wrapped command covers it too: "uv run pytest" allows the
    pytest that ``uv run pytest -q`` runs, while "uv run" alone leaves it to its own entry.
    """
    reach: dict[int, int] = {}
    """id(segment) -> how many of its words the longest matching entry pins down."""
    for s in segments:
        if s.shadow or not s.cmd.words:
            continue
        values = [w.value for w in s.cmd.words]
        matched = max((len(p) for p in prefixes if values[: len(p)] == p), default=0)
        inherited = reach.get(id(s.parent), 0) - s.offset if s.parent is not None else 0
        reach[id(s)] = max(matched, inherited)
        if not s.transparent and reach[id(s)] <= 0:
            return s.cmd.text
    return None


def _unwaived(opaque: list[tuple[_Segment, str]], prefixes: list[list[str]]) -> str | None:
    """The first opaque part that no allowedCommands entry names exactly."""
    for segment, why in opaque:
        values = [w.value for w in segment.cmd.words]
        if not any(values == p for p in prefixes):
            return why
    return None


def _joined_reasons(reasons: list[str]) -> str:
    shown = "; ".join(reasons[:_SHOWN_REASONS])
    if len(reasons) > _SHOWN_REASONS:
        shown += f"; and {len(reasons) - _SHOWN_REASONS} more"
    return shown


def decide(command: str, settings: Settings, root: Path, allowed_for_session: set[str]) -> Decision:
    """Allow, ask or deny ``command``: the destructive floor first, then commandApproval."""
    policy = CommandApproval(settings.command_approval)
    # Parsed once: the floor, the opaque check and the allowlist look at the same segments.
    analysis = _analyse(command)
    verdict = _evaluate(analysis, _resolve(Path(root)))
    if verdict.destructive:
        why = "destructive: " + _joined_reasons(verdict.destructive)
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
    if normalise_command(command) in {normalise_command(c) for c in allowed_for_session}:
        return Decision("allow", "the user allowed this command for this session")
    prefixes = _allowed_prefixes(settings)
    # An entry that is this very command line allows it whatever it holds (the floor aside).
    exact = normalise_command(command) in {
        normalise_command(e) for e in settings.allowed_commands if e.strip()
    }
    if exact and policy in (CommandApproval.ALWAYS, CommandApproval.ALLOWLIST):
        return Decision("allow", "the command is in allowedCommands exactly")
    hidden = _unwaived(verdict.opaque, prefixes)
    hidden_why = (
        f"cannot tell what it does: {hidden}; allow it for this session, or add the exact command "
        "to allowedCommands"
        if hidden
        else None
    )
    if policy is CommandApproval.ALWAYS:
        if hidden_why:
            return Decision("ask", hidden_why)
        return Decision("allow", "commandApproval=always")
    if policy is CommandApproval.ALLOWLIST:
        missing = _first_not_allowed(analysis.segments, prefixes)
        if missing is not None:
            return Decision("ask", f"not in allowedCommands: {_short(missing)}")
        if hidden_why:
            return Decision("ask", hidden_why)
        return Decision("allow", "every part matches allowedCommands")
    # Shown to the person on the approval prompt: plain words first, the setting after.
    reason = "the agent asks before every command (setting commandApproval: ask)"
    return Decision("ask", f"{reason}; {hidden_why}" if hidden_why else reason)

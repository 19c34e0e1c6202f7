"""The operating-system boundary under every command the agent runs (run_command, verify:).

Linux: bubblewrap, the system tool Flatpak and Claude Code's sandbox rely on. It mounts the
whole filesystem read-only, binds the workspace writable with its ``.git`` read-only again on
top, gives the command a private TMPDIR, hides the secret stores, drops every capability
and, unless ``sandboxNetwork`` is on, runs it in a network namespace of its own (only a
private loopback). A policy of patterns cannot enumerate what a shell can do; a read-only
mount holds whatever the command turns out to be. macOS: ``sandbox-exec`` with a profile of
the same rules (written, not tested: no macOS machine runs the tests).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ollama_agent_ls.ollama.setup_check import SetupReport
from ollama_agent_ls.settings import SandboxMode, Settings

_PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class SandboxStatus:
    """Whether commands can be confined on this machine, with what, and the fix when not."""

    available: bool
    tool: str
    """What confines commands ("bubblewrap 0.8.0", "sandbox-exec"), or what was looked for."""
    problem: str = ""
    """Why no sandbox can be set up, and how to fix it (empty when available)."""


@dataclass
class SandboxedCommand:
    """How to start one command inside the sandbox, and the private directory to remove after."""

    argv: list[str]
    env: dict[str, str]
    tmpdir: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def sandboxed(self) -> bool:
        """Whether the command runs confined."""
        return self.tmpdir is not None

    def cleanup(self) -> None:
        """Remove the command's private temporary directory."""
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def _probe_bwrap(bwrap: str) -> SandboxStatus:
    version = "bubblewrap"
    try:
        out = subprocess.run(
            [bwrap, "--version"], capture_output=True, text=True, timeout=_PROBE_TIMEOUT
        )
        version = out.stdout.strip() or version
        test = subprocess.run(
            [bwrap, *_base_args(network=False), "--", "/bin/sh", "-c", "true"],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return SandboxStatus(False, version, f"{bwrap} could not be started: {exc}")
    if test.returncode != 0:
        err = test.stderr.strip().splitlines()[-1:] or [f"exit code {test.returncode}"]
        return SandboxStatus(
            False,
            version,
            f"bubblewrap cannot create a sandbox here ({err[0]}). It needs unprivileged user "
            "namespaces: `sysctl -w kernel.unprivileged_userns_clone=1`, or on Ubuntu 24.04+ "
            "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (or an AppArmor "
            "profile for bwrap); inside a container, run it with user namespaces allowed",
        )
    return SandboxStatus(True, version)


@functools.lru_cache(maxsize=1)
def sandbox_status() -> SandboxStatus:
    """Probe once per process whether this machine can sandbox commands."""
    if sys.platform.startswith("linux"):
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            return SandboxStatus(
                False,
                "bubblewrap",
                "bubblewrap is not installed: `sudo apt-get install bubblewrap` (Debian, "
                "Ubuntu), `sudo dnf install bubblewrap` (Fedora) or `sudo pacman -S "
                "bubblewrap` (Arch)",
            )
        return _probe_bwrap(bwrap)
    if sys.platform == "darwin":
        if shutil.which("sandbox-exec") is None:
            return SandboxStatus(False, "sandbox-exec", "/usr/bin/sandbox-exec is missing")
        return SandboxStatus(True, "sandbox-exec (untested)")
    return SandboxStatus(
        False, "none", f"no sandbox is known for {sys.platform}; set sandbox=off to run commands"
    )


def sandbox_problem(settings: Settings) -> str | None:
    """Why commands cannot run sandboxed as configured (None: sandboxed, or sandbox=off)."""
    if settings.sandbox is SandboxMode.OFF:
        return None
    status = sandbox_status()
    return None if status.available else status.problem


def check_sandbox(report: SetupReport, settings: Settings) -> None:
    """Add what doctor and checkSetup say about the sandbox; a problem when none can be set up."""
    report.sandbox = settings.sandbox.value
    if settings.sandbox is SandboxMode.OFF:
        report.sandbox_active = False
        report.sandbox_tool = "none (sandbox=off)"
        return
    status = sandbox_status()
    report.sandbox_tool = status.tool
    report.sandbox_active = status.available
    if not status.available:
        report.problems.append(
            f"Commands cannot run in a sandbox: {status.problem}. Until then every command "
            "asks first, even under commandApproval=always or --yes (and is denied where "
            "nobody can be asked); set sandbox=off to accept running them unconfined."
        )


def _base_args(network: bool) -> list[str]:
    args = [
        "--die-with-parent",
        "--unshare-all",
        # Root keeps every capability inside the namespaces unless told: without this a root
        # command could remount the read-only binds.
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
    ]
    if network:
        args.append("--share-net")
    return args


def git_dirs(root: Path) -> list[Path]:
    """``root/.git`` and, for a ``.git`` file (worktrees, submodules), the directory it names."""
    dot_git = root / ".git"
    found: list[Path] = []
    if dot_git.is_dir() or dot_git.is_file():
        found.append(dot_git)
    if dot_git.is_file():
        try:
            text = dot_git.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return found
        match = re.match(r"gitdir:\s*(.+)", text.strip())
        if match:
            target = Path(match.group(1).strip())
            target = (root / target).resolve() if not target.is_absolute() else target.resolve()
            if target.is_dir():
                found.append(target)
    return found


def _deny_paths(settings: Settings, root: Path) -> tuple[list[Path], list[str]]:
    paths: list[Path] = []
    notes: list[str] = []
    for raw in settings.sandbox_deny_read:
        path = Path(os.path.expanduser(raw))
        if not path.is_absolute() or not os.path.lexists(path):
            continue
        path = path.resolve()
        if path == root or path in root.parents:
            notes.append(f"sandboxDenyRead entry {raw} holds the workspace, so it stays readable")
            continue
        paths.append(path)
    return paths, notes


def _bwrap_argv(
    bwrap: str, shell_command: str, root: Path, tmpdir: Path, settings: Settings
) -> tuple[list[str], list[str]]:
    args = [bwrap, *_base_args(settings.sandbox_network)]
    if settings.sandbox is SandboxMode.WORKSPACE_WRITE:
        args += ["--bind", str(root), str(root)]
        for git in git_dirs(root):
            args += ["--ro-bind", str(git), str(git)]
    args += ["--bind", str(tmpdir), str(tmpdir)]
    deny, notes = _deny_paths(settings, root)
    for path in deny:
        if path.is_dir():
            args += ["--tmpfs", str(path), "--remount-ro", str(path)]
        else:
            args += ["--ro-bind", "/dev/null", str(path)]
    args += ["--chdir", str(root), "--", "/bin/sh", "-c", shell_command]
    return args, notes


def _sbpl_quote(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def seatbelt_profile(root: Path, tmpdir: Path, settings: Settings) -> str:
    """The sandbox-exec profile with the same rules as the Linux sandbox (untested here)."""
    lines = ["(version 1)", "(allow default)", "(deny file-write*)"]
    writable = [tmpdir, Path("/dev")]
    if settings.sandbox is SandboxMode.WORKSPACE_WRITE:
        writable.insert(0, root)
    lines += [f"(allow file-write* (subpath {_sbpl_quote(p)}))" for p in writable]
    lines += [f"(deny file-write* (subpath {_sbpl_quote(g)}))" for g in git_dirs(root)]
    deny, _ = _deny_paths(settings, root)
    lines += [f"(deny file-read* (subpath {_sbpl_quote(p)}))" for p in deny]
    if not settings.sandbox_network:
        lines += ["(deny network*)", '(allow network* (remote ip "localhost:*"))']
    return "\n".join(lines) + "\n"


def sandboxed(shell_command: str, root: Path, settings: Settings) -> SandboxedCommand:
    """How to run ``shell_command`` in ``root`` under settings.sandbox (the plain shell if off)."""
    env = dict(os.environ)
    if settings.sandbox is SandboxMode.OFF:
        return SandboxedCommand(["/bin/sh", "-c", shell_command], env)
    status = sandbox_status()
    if not status.available:
        raise SandboxUnavailable(status.problem)
    tmpdir = Path(tempfile.mkdtemp(prefix="ollama-agent-sandbox-")).resolve()
    # Tools that honour TMPDIR (Python's tempfile, pytest, mktemp) and XDG caches (pip, many
    # others) write there instead of failing on the read-only home directory.
    env.update(
        TMPDIR=str(tmpdir),
        TMP=str(tmpdir),
        TEMP=str(tmpdir),
        XDG_CACHE_HOME=str(tmpdir / ".cache"),
    )
    if sys.platform == "darwin":
        profile = seatbelt_profile(root, tmpdir, settings)
        argv = ["sandbox-exec", "-p", profile, "/bin/sh", "-c", shell_command]
        return SandboxedCommand(argv, env, tmpdir)
    bwrap = shutil.which("bwrap") or "bwrap"
    argv, notes = _bwrap_argv(bwrap, shell_command, root, tmpdir, settings)
    return SandboxedCommand(argv, env, tmpdir, notes)


class SandboxUnavailable(Exception):
    """The configured sandbox cannot be set up on this machine; the message says how to fix it."""


_READ_ONLY = re.compile(r"read-only file system", re.IGNORECASE)
_NETWORK = re.compile(
    r"network is unreachable|could not resolve host|temporary failure in name resolution|"
    r"name or service not known|failed to resolve|no address associated with hostname|"
    r"getaddrinfo failed|nodename nor servname|connection refused|couldn't connect to server|"
    r"failed to establish a new connection|network unreachable",
    re.IGNORECASE,
)


def blocked_by_sandbox(output: str, exit_code: int | None, settings: Settings) -> str | None:
    """What the sandbox seems to have stopped, from a failed command's output (None: nothing)."""
    if settings.sandbox is SandboxMode.OFF:
        return None
    what = []
    # A failed write can hide behind a later command's success (`echo x > f; cat f`).
    if _READ_ONLY.search(output):
        where = (
            "outside the workspace or into .git/"
            if settings.sandbox is SandboxMode.WORKSPACE_WRITE
            else "anywhere but $TMPDIR (sandbox=read-only)"
        )
        what.append(f'a write {where} ("Read-only file system")')
    if exit_code != 0 and not settings.sandbox_network and _NETWORK.search(output):
        what.append("a network connection (sandboxNetwork is off; only a private loopback works)")
    return " and ".join(what) or None

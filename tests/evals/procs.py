"""Run a command with a wall-time limit that kills its whole process tree, not just its shell."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Finished:
    """What a command did: exit code (None when it was killed), output, seconds, timeout."""

    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, wait a little for the leader, then SIGKILL the whole group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    # Children in the group (a test run the agent started) may outlive the leader.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run(
    command: Sequence[str] | str,
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float,
    stdin: str | None = None,
) -> Finished:
    """Run ``command`` in its own session; after ``timeout`` seconds the whole group is killed."""
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        shell=isinstance(command, str),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(stdin.encode() if stdin is not None else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_tree(proc)
        out, err = proc.communicate()
    else:
        # Commands the agent started in the background must not outlive the run.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    return Finished(
        None if timed_out else proc.returncode,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
        time.monotonic() - started,
        timed_out,
    )

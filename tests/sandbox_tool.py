"""bubblewrap for the test suite: the sandbox every command runs in needs it, so a fresh machine
gets it the way the README's test line promises (Debian's package), or the run fails naming it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def ensure_bubblewrap() -> None:
    """Install bubblewrap with apt-get when missing; raise naming the package if that fails."""
    if not sys.platform.startswith("linux") or shutil.which("bwrap"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    apt = shutil.which("apt-get")
    problem = "apt-get is not available"
    if apt is not None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for args in ([apt, "-qq", "update"], [apt, "-qq", "install", "-y", "bubblewrap"]):
            done = subprocess.run(
                [*sudo, *args], capture_output=True, text=True, env=env, timeout=600
            )
            if done.returncode != 0:
                problem = f"`{' '.join(args)}` failed: {done.stderr.strip()[-300:]}"
                break
        else:
            if shutil.which("bwrap"):
                return
            problem = "apt-get installed bubblewrap, but bwrap is not on PATH"
    raise RuntimeError(
        "The tests run commands in the sandbox, which needs bubblewrap (the Debian/Ubuntu "
        f"package `bubblewrap`, command `bwrap`), and it could not be installed: {problem}. "
        "Install it (`sudo apt-get install bubblewrap`) and run the tests again."
    )

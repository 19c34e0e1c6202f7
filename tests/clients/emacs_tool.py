"""Emacs with eglot for the client tests: Debian's packages are installed when missing, or the run
fails naming them (the test must not pass by skipping)."""

from __future__ import annotations

import os
import shutil
import subprocess

PACKAGES = ("emacs-nox", "elpa-eglot")
PROBE = "(progn (require 'package) (package-initialize) (require 'eglot) (princ emacs-version))"


def _probe() -> str | None:
    """Emacs's version when it runs and loads eglot; None otherwise."""
    emacs = shutil.which("emacs")
    if emacs is None:
        return None
    done = subprocess.run(
        [emacs, "--batch", "--eval", PROBE],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def ensure_emacs() -> str:
    """The path of an emacs that loads eglot, installing PACKAGES with apt-get if needed."""
    if _probe() is None:
        problem = _install()
        if _probe() is None:
            raise RuntimeError(
                "The Emacs client test needs Emacs with eglot (Debian/Ubuntu packages "
                f"{' and '.join(PACKAGES)}), and they could not be installed: {problem}. Install "
                f"them (`sudo apt-get install -y {' '.join(PACKAGES)}`) and run the tests again."
            )
    emacs = shutil.which("emacs")
    assert emacs is not None
    return emacs


def _install() -> str:
    """Run apt-get as root (or through sudo -n); what went wrong, or a note that it ran."""
    apt = shutil.which("apt-get")
    if apt is None:
        return "apt-get is not available"
    if os.geteuid() == 0:
        sudo: list[str] = []
    elif shutil.which("sudo"):
        sudo = ["sudo", "-n"]
    else:
        return "not root, and sudo is not available"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in ([apt, "-qq", "update"], [apt, "-qq", "install", "-y", *PACKAGES]):
        done = subprocess.run(
            [*sudo, *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
        if done.returncode != 0:
            return f"`{' '.join(args)}` failed: {done.stderr.strip()[-300:]}"
    return "apt-get installed them, but emacs still does not load eglot"

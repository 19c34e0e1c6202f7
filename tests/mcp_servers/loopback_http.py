"""The echo server over streamable HTTP on a free loopback port, for the tests that need one
(not named http.py: the server scripts run from this folder, where it would hide the stdlib)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

SERVER = str(Path(__file__).resolve().parent / "echo_server.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def http_echo_server() -> Iterator[str]:
    """Start the server; its MCP endpoint URL while it runs."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        # uvicorn says so on stderr once it listens.
        for line in proc.stderr:
            if "Uvicorn running on" in line:
                break
        else:
            raise RuntimeError(f"the streamable HTTP echo server exited at start ({proc.wait()})")
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)

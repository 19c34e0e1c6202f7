"""llama.cpp's own HTTP server (the xllamacpp wheel) in a child process, for tests.

``xllamacpp.Server(params)`` serves until its process exits and cannot be stopped from Python,
so it runs in a child process that the parent terminates. The child is
``python -m tests.realmodel.llama_server --model PATH --port N [--ctx 8192] [--alias NAME]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

DEFAULT_CTX = 8192
DEFAULT_ALIAS = "qwen2.5-coder-1.5b"
# Loading 1.1 GB and warming up takes 7-20 s here; 180 s leaves room for a loaded machine.
DEFAULT_READY_TIMEOUT_S = 180.0
_HEALTH_POLL_S = 0.25
_HEALTH_TIMEOUT_S = 2.0
_STOP_TIMEOUT_S = 10.0
_LOG_TAIL = 6000
_PORT_ATTEMPTS = 3
# What llama.cpp logs when it cannot listen on the port (it exits before loading the model).
_BIND_FAILED = "exiting due to HTTP server error"


class LlamaServerError(RuntimeError):
    """The server did not start or died."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(model: str, port: int, ctx: int, alias: str) -> None:
    # Imported in the child only: the parent never loads llama.cpp. The wheel ships no types.
    import xllamacpp as xlc  # type: ignore[import-untyped]

    params = xlc.CommonParams()
    params.model.path = model
    params.model_alias = {alias}
    params.n_ctx = ctx
    # One slot: the agent sends one request at a time, and a single slot keeps the KV cache of
    # the previous request for prefix reuse (timings.cache_n) instead of splitting it.
    params.n_parallel = 1
    params.port = port
    params.hostnames = ["127.0.0.1"]
    params.use_jinja = True
    # One thread: on the shared 2-core machines two spin-waiting threads ran 4-8x slower.
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    # The server keeps running on its own threads once constructed; the name keeps it alive.
    server = xlc.Server(params)
    # Park the main thread until the parent terminates the process (SIGTERM's default action).
    threading.Event().wait()
    del server


def _tail(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"
    return data[-_LOG_TAIL:].decode("utf-8", "replace")


class LlamaServer:
    """A started llama.cpp server on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        model_path: Path | str,
        *,
        alias: str = DEFAULT_ALIAS,
        ctx: int = DEFAULT_CTX,
        port: int | None = None,
        log_path: Path | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT_S,
    ) -> None:
        self.model_path = Path(model_path)
        self.alias = alias
        self.ctx = ctx
        self._auto_port = port is None
        self.port = port if port is not None else free_port()
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def root_url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:PORT`` (for /health, /props)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ``root_url + "/v1"``."""
        return f"{self.root_url}/v1"

    def start(self) -> None:
        """Start the child and return once GET /health answers 200."""
        if not self.model_path.is_file():
            raise LlamaServerError(
                f"model file {self.model_path} does not exist; fetch it with "
                "`python -m tests.realmodel.weights`"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        for attempt in range(_PORT_ATTEMPTS):
            self._spawn()
            try:
                self._wait_ready(started)
            except LlamaServerError:
                self.stop()
                # free_port() can race another process for the port; llama.cpp then exits at
                # once (before loading the model), so a fresh port costs nothing.
                lost_race = self._auto_port and _BIND_FAILED in _tail(self.log_path)
                if lost_race and attempt + 1 < _PORT_ATTEMPTS:
                    self.port = free_port()
                    continue
                raise
            except BaseException:
                self.stop()
                raise
            break
        self.startup_seconds = time.monotonic() - started

    def _spawn(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "tests.realmodel.llama_server",
            "--model",
            str(self.model_path),
            "--port",
            str(self.port),
            "--ctx",
            str(self.ctx),
            "--alias",
            self.alias,
        ]
        # The repository root on the path, so the child finds this module from any cwd.
        repo_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo_root, env.get("PYTHONPATH")]))
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )

    def _wait_ready(self, started: float) -> None:
        assert self._proc is not None
        deadline = started + self.ready_timeout
        last = "no answer yet"
        # Short: llama.cpp answers /health at once (503 while loading); a port taken by some
        # other program may never answer, and the child's exit must still be noticed quickly.
        with httpx.Client(timeout=_HEALTH_TIMEOUT_S) as client:
            # No event says "model loaded": /health is the server's own readiness signal.
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise LlamaServerError(
                        f"llama.cpp server exited with code {code} before it was ready "
                        f"(model {self.model_path}, port {self.port}). Its log "
                        f"({self.log_path}) ends:\n{_tail(self.log_path)}"
                    )
                try:
                    response = client.get(f"{self.root_url}/health")
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() > deadline:
                    raise LlamaServerError(
                        f"llama.cpp server not ready after {self.ready_timeout:.0f}s (last "
                        f"/health: {last}); a loaded machine may need a longer ready_timeout. "
                        f"Its log ({self.log_path}) ends:\n{_tail(self.log_path)}"
                    )
                time.sleep(_HEALTH_POLL_S)

    def stop(self) -> None:
        """Terminate the child (then kill it if it lingers)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=_STOP_TIMEOUT_S)

    def log_tail(self) -> str:
        """The end of the server's log, for failure messages."""
        return _tail(self.log_path)

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point: serve ``--model`` on 127.0.0.1:``--port`` until terminated."""
    parser = argparse.ArgumentParser(prog="python -m tests.realmodel.llama_server")
    parser.add_argument("--model", required=True, help="path to the .gguf file")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, default=DEFAULT_CTX, help="context size in tokens")
    parser.add_argument("--alias", default=DEFAULT_ALIAS, help="model name requests use")
    args = parser.parse_args(argv)
    if not Path(args.model).is_file():
        parser.error(f"model file {args.model} does not exist")
    _serve(args.model, args.port, args.ctx, args.alias)
    return 0


if __name__ == "__main__":
    sys.exit(main())

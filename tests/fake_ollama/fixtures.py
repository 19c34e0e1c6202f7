"""Pytest fixtures around the fake Ollama; register with ``pytest_plugins``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeOllama


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A started fake Ollama with the default models and an empty reply queue."""
    with FakeOllama() as fake:
        yield fake

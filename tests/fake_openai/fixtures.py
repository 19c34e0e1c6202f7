"""Pytest fixtures around the fake OpenAI-compatible server; register with ``pytest_plugins``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeOpenAI


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started fake llama.cpp server (one model, 8192 context) with an empty reply queue."""
    with FakeOpenAI("llamacpp") as fake:
        yield fake


@pytest.fixture
def fake_vllm() -> Iterator[FakeOpenAI]:
    """A started fake vLLM server (one model, max_model_len 32768) with an empty reply queue."""
    with FakeOpenAI("vllm") as fake:
        yield fake

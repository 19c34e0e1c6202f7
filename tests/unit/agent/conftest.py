"""Fixtures of the agent-loop tests: a workspace with app.py, and a client of the fake Ollama."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ollama_agent_ls.ollama.client import OllamaClient
from ollama_agent_ls.settings import Settings
from tests.fake_ollama.server import FakeOllama

APP = "def add(a, b):\n    return a - b\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace holding app.py, whose add() subtracts."""
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


@pytest.fixture
async def client(fake_ollama: FakeOllama) -> AsyncIterator[OllamaClient]:
    """An Ollama client of the fake Ollama."""
    async with OllamaClient(Settings(ollama_url=fake_ollama.url)) as c:
        yield c

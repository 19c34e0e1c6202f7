"""Starting and stopping llama.cpp's server: failures say why, a lost port race is retried."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from . import llama_server
from .fixtures import RealModel
from .llama_server import LlamaServer, LlamaServerError


def test_a_missing_model_file_names_the_fetch_command(tmp_path: Path) -> None:
    server = LlamaServer(tmp_path / "absent.gguf", log_path=tmp_path / "server.log")

    with pytest.raises(LlamaServerError, match=r"python -m tests\.realmodel\.weights"):
        server.start()


def test_a_file_that_is_not_a_model_fails_with_llama_cpps_reason(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_text("not a model\n")
    server = LlamaServer(bogus, log_path=tmp_path / "server.log", ready_timeout=60)

    with pytest.raises(LlamaServerError) as caught:
        server.start()

    message = str(caught.value)
    assert "exited with code" in message
    # The child's log, not just xllamacpp's "please check the input params".
    assert "invalid magic characters" in message


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other process is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_taken_meanwhile_is_replaced_and_stop_frees_the_server(
    real_model: RealModel,
    taken_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ports = iter([taken_port])
    real_free_port = llama_server.free_port
    # The first "free" port is taken by the time the child binds it: the race free_port() has.
    monkeypatch.setattr(llama_server, "free_port", lambda: next(ports, None) or real_free_port())

    with LlamaServer(
        real_model.path, alias=real_model.model, log_path=tmp_path / "server.log"
    ) as server:
        assert server.port != taken_port
        assert httpx.get(f"{server.root_url}/health", timeout=10).status_code == 200
        root_url = server.root_url

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{root_url}/health", timeout=5)

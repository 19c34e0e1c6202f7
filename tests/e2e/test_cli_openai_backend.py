"""The CLI on an OpenAI-compatible server, as a user runs it: a subprocess on the fake servers.

Covers how the backend is chosen (--base-url, --backend, OLLAMA_AGENT_* variables), that runs,
doctor and models work on it, and that the API key reaches the server but never the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_openai.replies import Reply, call
from tests.fake_openai.server import FakeOpenAI

APP = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
SECRET = "sk-test-0123456789abcdef"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_AGENT_", "OLLAMA_"))}
    return subprocess.run(
        [sys.executable, "-m", "ollama_agent_ls", *args],
        capture_output=True,
        text=True,
        env={**base, "NO_COLOR": "1", **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def test_base_url_alone_selects_the_openai_backend_and_the_run_edits(
    fake_openai: FakeOpenAI, workspace: Path
) -> None:
    fake_openai.enqueue(Reply.calls(FIX), Reply.say("Fixed."))
    done = cli(
        "run", "fix add", "-w", str(workspace), "--base-url", fake_openai.url,
        "-m", "qwen2.5-coder-7b", "-o", "editFormat=tools", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (workspace / "app.py").read_text() == FIXED
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert result["metrics"]["cachedPromptTokens"] > 0  # the second turn reused the first's prefix
    assert result["metrics"]["prefillTokens"] < result["metrics"]["promptTokens"]
    assert [r.path for r in fake_openai.chat_requests] == ["/v1/chat/completions"] * 2
    assert "num_ctx" not in json.dumps(fake_openai.chat_requests[0].body)


def test_environment_variables_choose_the_backend_and_carry_the_key(
    workspace: Path,
) -> None:
    with FakeOpenAI("vllm", api_key=SECRET) as vllm:
        vllm.enqueue(Reply.calls(FIX), Reply.say("Fixed."))
        done = cli(
            "run", "fix add", "-w", str(workspace), "-m", "qwen2.5-coder-1.5b",
            "-o", "editFormat=tools",
            env={
                "OLLAMA_AGENT_BACKEND": "openai",
                "OLLAMA_AGENT_BASE_URL": vllm.url,
                "OLLAMA_AGENT_API_KEY": SECRET,
            },
        )  # fmt: skip
        headers = vllm.chat_requests[0].headers
    assert done.returncode == 0, done.stderr
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert (workspace / "app.py").read_text() == FIXED


def test_a_wrong_key_is_a_setup_error_that_names_the_fix_and_not_the_key(
    workspace: Path,
) -> None:
    with FakeOpenAI("vllm", api_key=SECRET) as vllm:
        done = cli(
            "run", "fix add", "-w", str(workspace), "--base-url", vllm.url,
            "-m", "qwen2.5-coder-1.5b", "-o", "apiKey=sk-wrong-key-999",
        )  # fmt: skip
    assert done.returncode == 3
    assert "apiKey" in done.stderr
    assert "sk-wrong-key-999" not in done.stderr + done.stdout
    assert (workspace / "app.py").read_text() == APP


def test_api_key_env_names_the_variable_that_holds_the_key(workspace: Path) -> None:
    with FakeOpenAI("vllm", api_key=SECRET) as vllm:
        vllm.enqueue(Reply.say("Nothing to do."))
        done = cli(
            "run", "look", "-w", str(workspace), "--base-url", vllm.url,
            "-m", "qwen2.5-coder-1.5b", "-o", "apiKeyEnv=MY_LLM_KEY",
            env={"MY_LLM_KEY": SECRET},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_doctor_reports_the_backend_in_use(fake_openai: FakeOpenAI) -> None:
    done = cli("doctor", "--base-url", fake_openai.url, "-m", "qwen2.5-coder-1.5b")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"OpenAI-compatible server at {fake_openai.url}" in done.stdout
    assert "server context window 8192" in done.stdout
    assert "prefix caching on" in done.stdout
    assert "Ollama at" not in done.stdout


def test_doctor_on_a_server_that_is_down_names_the_base_url_setting() -> None:
    done = cli("doctor", "--backend", "openai", "-o", "baseUrl=http://127.0.0.1:9/v1")
    assert done.returncode == 3
    assert "http://127.0.0.1:9/v1" in done.stdout
    assert "baseUrl" in done.stdout


def test_models_lists_what_the_server_serves(fake_vllm: FakeOpenAI) -> None:
    fake_vllm.set_models(["qwen2.5-coder-7b", "llama-3.1-8b"])
    done = cli("models", "--json", "--base-url", fake_vllm.url)
    assert done.returncode == 0, done.stderr
    names = [m["name"] for m in json.loads(done.stdout)]
    assert names == ["qwen2.5-coder-7b", "llama-3.1-8b"]

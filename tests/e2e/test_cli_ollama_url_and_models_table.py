"""README: `--ollama-url` beats OLLAMA_HOST, and `models` without --json is a readable table."""

from __future__ import annotations

from tests.e2e.test_cli_run import cli
from tests.fake_ollama.server import FakeOllama

DEAD = "http://127.0.0.1:9"


def test_ollama_url_flag_wins_over_ollama_host(fake_ollama: FakeOllama) -> None:
    # OLLAMA_HOST points at nothing; the flag must be what doctor checks.
    proc = cli("doctor", "--ollama-url", fake_ollama.url, url=DEAD)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ model qwen3:8b installed" in proc.stdout


def test_models_without_json_lists_names_context_and_tools(fake_ollama: FakeOllama) -> None:
    proc = cli("models", url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert "40960" in lines["qwen3:8b"] or "40,960" in lines["qwen3:8b"], proc.stdout
    assert "tools" in lines["qwen3:8b"]
    assert "tools" not in lines["gemma3:4b"]


def test_doctor_names_the_rule_files_and_a_missing_one(fake_ollama: FakeOllama, tmp_path) -> None:
    (tmp_path / "AGENTS.md").write_text("Run the tests with make test.\n" * 20)
    proc = cli(
        "doctor",
        "-w",
        str(tmp_path),
        "-o",
        'rules=["gone.md"]',
        "--sandbox",
        "off",
        url=fake_ollama.url,
    )
    assert "✓ project rules: AGENTS.md (about" in proc.stdout, proc.stdout
    assert "problem: rules file gone.md was not used" in proc.stdout
    assert proc.returncode == 3

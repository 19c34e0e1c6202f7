"""The settings model: defaults, validation by key, the environment, and the README's reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ollama_agent_ls.settings import (
    ApplyMode,
    Settings,
    SettingsProblem,
    load_settings,
    normalise_ollama_host,
    settings_from_env,
    strict_settings,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_invalid_keys_are_reported_by_name_and_defaults_kept() -> None:
    settings, problems = load_settings(
        {"maxTurns": 0, "applyMode": "later", "model": "llama3.1:8b", "bogus": 1}
    )
    assert settings.max_turns == 25
    assert settings.apply_mode is ApplyMode.LIVE
    assert settings.model == "llama3.1:8b"
    text = " | ".join(problems)
    assert "'maxTurns'" in text
    assert "'applyMode'" in text and "'live'" in text and "'review'" in text
    assert "unknown option 'bogus'" in text and "maxNumCtx" in text


def test_strict_settings_raises_naming_every_problem() -> None:
    with pytest.raises(SettingsProblem, match=r"commandApproval.*numCtx|numCtx.*commandApproval"):
        strict_settings({"commandApproval": "sometimes", "numCtx": 10})


def test_layers_override_in_order() -> None:
    base, _ = load_settings({"model": "a:1", "maxTurns": 5})
    top, problems = load_settings({"maxTurns": 9}, base)
    assert (top.model, top.max_turns, problems) == ("a:1", 9, [])


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("gpu-box:8080", "http://gpu-box:8080"),
        ("https://ollama.example.com", "https://ollama.example.com:443"),
        ("http://10.0.0.2:11434/", "http://10.0.0.2:11434"),
    ],
)
def test_ollama_host_forms(raw: str, url: str) -> None:
    assert normalise_ollama_host(raw) == url


def test_environment_overrides_and_bad_values_are_reported() -> None:
    settings, problems = settings_from_env(
        {"OLLAMA_HOST": "box:1234", "OLLAMA_AGENT_MODEL": "m:1", "OLLAMA_AGENT_MAX_TURNS": "x"}
    )
    assert settings.ollama_url == "http://box:1234"
    assert settings.model == "m:1"
    assert settings.max_turns == 25
    assert problems and "maxTurns" in problems[0] and "environment" in problems[0]


def test_vscode_extension_offers_every_option() -> None:
    vscode = README.parent / "editor-clients" / "vscode"
    contributed = json.loads((vscode / "package.json").read_text(encoding="utf-8"))
    properties = contributed["contributes"]["configuration"]["properties"]
    forwarded = (vscode / "src" / "config.ts").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        key = field.alias or name
        assert f"ollamaAgent.{key}" in properties, f"package.json lacks ollamaAgent.{key}"
        # Only keys in serverSettingKeys reach the server.
        assert f'"{key}",' in forwarded, f"config.ts does not forward {key}"


def test_readme_documents_every_option() -> None:
    readme = README.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"`{field.alias or name}`" in readme, f"README lacks {field.alias}"


@pytest.mark.parametrize(
    ("var", "value", "field", "expected"),
    [
        ("OLLAMA_AGENT_NUM_CTX", "16384", "num_ctx", 16384),
        ("OLLAMA_AGENT_MAX_NUM_CTX", "8192", "max_num_ctx", 8192),
        ("OLLAMA_AGENT_KEEP_ALIVE", "1h", "keep_alive", "1h"),
        ("OLLAMA_AGENT_COMMAND_APPROVAL", "never", "command_approval", "never"),
        ("OLLAMA_AGENT_COMMAND_TIMEOUT", "30", "command_timeout", 30.0),
    ],
)
def test_each_documented_environment_variable_is_read(
    var: str, value: str, field: str, expected: object
) -> None:
    settings, problems = settings_from_env({var: value})
    assert problems == []
    actual = getattr(settings, field)
    assert getattr(actual, "value", actual) == expected
    assert f"`{var}`" in README.read_text(encoding="utf-8")


def test_an_api_key_is_never_shown_not_even_when_invalid() -> None:
    from ollama_agent_ls.settings import load_settings

    _, problems = load_settings({"apiKey": ["sk-secret-value"]})
    assert problems and "apiKey" in problems[0]
    assert "sk-secret" not in problems[0]
    good, _ = load_settings({"apiKey": "sk-secret-value"})
    assert "sk-secret" not in repr(good) and "sk-secret" not in good.model_dump_json()
    assert good.resolved_api_key() == "sk-secret-value"


def test_the_disk_readers_default_limit_is_read_max_bytes_default() -> None:
    from ollama_agent_ls.workspace.documents import DEFAULT_READ_MAX_BYTES

    assert Settings().read_max_bytes == DEFAULT_READ_MAX_BYTES

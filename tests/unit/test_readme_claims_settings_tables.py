"""The default column of the settings tables in the READMEs is what the server and extension use.

The tables are what users read to decide whether to set a key; a default that drifted from
``Settings`` (or from the VS Code manifest) would make them set, or not set, the wrong thing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ollama_agent_ls.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MAIN_README = ROOT / "README.md"
VSCODE = ROOT / "editor-clients" / "vscode"
ROW = re.compile(r"^\| `(?P<key>[\w.]+)` \| (?P<default>[^|]+?) \|", re.MULTILINE)


def _table_defaults(readme: Path, prefix: str = "") -> dict[str, str]:
    """Map each `key` row of the README's settings table to its default cell."""
    rows = {}
    for match in ROW.finditer(readme.read_text(encoding="utf-8")):
        key = match["key"]
        if key.startswith(prefix):
            rows[key[len(prefix) :]] = match["default"].strip()
    return rows


def _as_cell(value: Any) -> str:
    """How the README writes a default value."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{json.dumps(value)}`"
    if hasattr(value, "value"):
        value = value.value
    if isinstance(value, str) and value[-1:].isalpha() and value[:-1].isdigit():
        return f'`"{value}"`'
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dict, list)):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


SETTINGS = {(f.alias or name): name for name, f in Settings.model_fields.items()}
DEFAULTS = Settings()


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_main_readme_default_is_the_servers(key: str) -> None:
    rows = _table_defaults(MAIN_README)
    assert key in rows, f"README.md's settings table lacks {key}"
    if key == "ollamaUrl":
        # The model's default depends on OLLAMA_HOST; the README names the plain default.
        assert rows[key] == "`http://127.0.0.1:11434`"
        return
    assert rows[key] == _as_cell(getattr(DEFAULTS, SETTINGS[key])), key


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_vscode_readme_default_is_the_manifests(key: str) -> None:
    rows = _table_defaults(VSCODE / "README.md", prefix="ollamaAgent.")
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    properties = manifest["contributes"]["configuration"]["properties"]
    assert key in rows, f"the VS Code README's settings table lacks ollamaAgent.{key}"
    default = properties[f"ollamaAgent.{key}"].get("default")
    assert rows[key] == _as_cell(default), key
    if key != "ollamaUrl":
        # The extension sends only what the user set, so its default must be the server's too.
        assert rows[key] == _as_cell(getattr(DEFAULTS, SETTINGS[key])), key

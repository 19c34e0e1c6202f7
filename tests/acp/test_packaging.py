"""The ACP mode stays out of the language server's start-up, and its registry manifest is valid."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

MANIFEST = Path(__file__).parents[2] / "acp-registry" / "ollama-agent-ls" / "agent.json"


def test_serving_lsp_does_not_load_the_acp_sdk() -> None:
    probe = (
        "import sys, ollama_agent_ls.lsp.server, ollama_agent_ls.cli;"
        "print(sorted(m for m in sys.modules if m == 'acp' or m.startswith('acp.')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_registry_manifest_has_what_the_registry_schema_requires() -> None:
    entry = json.loads(MANIFEST.read_text())
    assert {"id", "name", "version", "description", "distribution"} <= set(entry)
    assert re.fullmatch(r"[a-z][a-z0-9-]*", entry["id"]) and MANIFEST.parent.name == entry["id"]
    assert re.match(r"[0-9]+\.[0-9]+\.[0-9]+", entry["version"])
    assert set(entry["distribution"]) <= {"binary", "npx", "uvx"}
    assert entry["distribution"]["uvx"]["args"] == ["acp"]

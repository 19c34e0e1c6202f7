"""The VS Code extension's whole check, run as part of the test suite.

typecheck, bundle, vitest unit tests, `.vsix` packaging, then end-to-end tests in real VS Code
(code-server + headless Chromium) against this server and the fake Ollama. The script installs
what it needs (npm packages, code-server, Chromium via apt) and caches it outside the repo.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "editor-clients" / "vscode" / "scripts" / "ci.sh"


def test_vscode_extension_checks_and_end_to_end() -> None:
    env = {**os.environ, "OLLAMA_AGENT_E2E_PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=1800,
    )
    output = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"editor-clients/vscode/scripts/ci.sh failed:\n{output}"

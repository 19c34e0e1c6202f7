"""acplint (PyPI), a conformance linter for ACP agents, run against the agent on stdio.

acplint 0.1.0 disagrees with the protocol in a few places, so only its checks that follow the
specification (docs/protocol/v1, schema/v1/schema.json) are asserted. Left out, with the reason:

- ``initialize_v1``, ``protocol_version_returned``, ``schema_initialize``: it wants
  ``protocolVersion`` as the string "1"; the schema's ProtocolVersion is an integer.
- ``new_session``, ``schema_session_new``: it wants ``label`` in each config option; the schema
  names that field ``name`` (and requires it).
- the ``streaming`` checks: its prompt sends ``content``; session/prompt takes ``prompt``, so
  the agent answers Invalid params and nothing streams.
- ``load_session``: it loads a session id it never created and counts the error as "not
  advertised" although ``loadSession`` is true.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fake_ollama.replies import Reply
from tests.fake_ollama.server import FakeOllama

ACPLINT = "acplint==0.1.0"
SPEC_CHECKS = {
    "agent_capabilities_present",
    "agent_capabilities_schema_valid",
    "auth_methods_advertised",
    "list_sessions",
    "resume_session",
    "close_session",
    "fork_session",
    "set_session_mode",
    "set_config_option",
    "cancel_notification_sent",
    "cancel_graceful_handling",
    "stress_sequential_prompts",
    "stress_concurrent_sessions",
    "stress_large_prompt",
    "stress_rapid_cancel",
    "schema_session_list",
}
"""acplint's checks that test what the specification asks (see the module docstring)."""


def acplint_dir() -> Path:
    """acplint installed once into a cache outside the repository (not a project dependency)."""
    cache = Path(
        os.environ.get("OLLAMA_AGENT_ACPLINT_CACHE", Path.home() / ".cache/ollama-agent-acplint")
    )
    if not (cache / "acplint" / "runner.py").exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(cache), ACPLINT],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return cache


RUN = """
import json, sys
sys.path.append(sys.argv[1])  # after site-packages: the project's own pydantic is used
from acplint.runner import ConformanceRunner
runner = ConformanceRunner(json.loads(sys.argv[2]), cwd=sys.argv[3], timeout=20)
print(runner.run_all().to_json())
"""


def test_acplint_spec_checks_pass(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    fake_ollama.enqueue(*[Reply().thinking("hm").content("hello").done() for _ in range(40)])
    agent = [sys.executable, "-m", "ollama_agent_ls.acp_agent", "--ollama-url", fake_ollama.url]
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(acplint_dir()), json.dumps(agent), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    results = {r["name"]: r for r in report["results"]}
    missing = SPEC_CHECKS - set(results)
    assert not missing, f"acplint no longer runs {missing}"
    failed = {n: results[n].get("message") for n in SPEC_CHECKS if results[n]["status"] != "PASS"}
    assert not failed

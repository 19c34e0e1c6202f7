"""``ollama-agent-ls spec PATH`` as a user runs it: a subprocess against the fake Ollama."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_ollama import FakeOllama, Reply, call
from tests.lsp_specs.helpers import (
    FIX_GREETING,
    MODEL,
    SPEC_REL,
    TICK_BOTH,
    VERIFY,
    frontmatter_lines,
    write_spec,
)


def _run(fake: FakeOllama, root: Path, spec: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("OLLAMA_HOST", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ollama_agent_ls",
            "spec",
            str(spec),
            "--workspace",
            str(root),
            "--ollama-url",
            fake.url,
            "--model",
            MODEL,
            "--yes",
            *extra,
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=60,
    )


def test_spec_run_edits_ticks_verifies_and_completes(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path)
    original = spec.read_text(encoding="utf-8")
    fake_ollama.enqueue(
        Reply.calls(FIX_GREETING),
        Reply.calls(call("run_command", {"command": VERIFY})),
        Reply.calls(*TICK_BOTH),
        "Set GREETING to hello.",
    )

    proc = _run(fake_ollama, tmp_path, spec)

    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "greet.py").read_text(encoding="utf-8") == 'GREETING = "hello"\n'
    text = spec.read_text(encoding="utf-8")
    old_front = frontmatter_lines(original)
    new_front = frontmatter_lines(text)
    # Only the status line changed; completed_at and model were added at the end.
    assert new_front[: len(old_front)] == [
        "status: completed" if line == "status: pending" else line for line in old_front
    ]
    assert re.fullmatch(
        r"completed_at: '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'", new_front[len(old_front)]
    )
    assert new_front[len(old_front) + 1 :] == [f"model: {MODEL}"]
    assert "- [x] `greet.py` defines" in text and "- [x] the check script passes" in text
    assert "## Agent Output" in text and "Set GREETING to hello." in text
    assert "check ok" in text
    assert "[completed]" in proc.stderr

    # The spec run is a run of a session like `run`'s: `undo` puts back what it changed.
    env = {**os.environ, "NO_COLOR": "1"}
    undo = subprocess.run(
        [sys.executable, "-m", "ollama_agent_ls", "undo", "-w", str(tmp_path)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, timeout=60,
    )  # fmt: skip
    assert undo.returncode == 0, undo.stderr
    assert (tmp_path / "greet.py").read_text(encoding="utf-8") == "GREETING = None\n"
    assert spec.read_text(encoding="utf-8") == original


def test_failing_verify_goes_back_to_the_agent_then_needs_attention(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path)
    # The agent never fixes greet.py: one first round and two fix rounds (verifyRounds=2).
    fake_ollama.enqueue(
        Reply.calls(call("check_criterion", {"index": 1, "evidence": "I think so"})),
        "Done.",
        "Still done.",
        "Really done.",
    )

    proc = _run(fake_ollama, tmp_path, spec)

    assert proc.returncode == 1, proc.stderr
    chats = fake_ollama.chat_requests
    assert len(chats) == 4
    for request in chats[2:]:
        messages = request.body["messages"]
        users = [m["content"] for m in messages if m["role"] == "user"]
        # The fix rounds continue the conversation: the spec, what the model did, then the failure.
        assert "Implement the spec" in users[0]
        assert any(m["role"] == "tool" and m["tool_name"] == "check_criterion" for m in messages)
        assert "Verification FAILED" in users[-1]
        assert "CHECK-FAILED: greet.py has no GREETING" in users[-1]
    assert len([m for m in chats[3].body["messages"] if m["role"] == "user"]) == 3
    text = spec.read_text(encoding="utf-8")
    front = frontmatter_lines(text)
    assert "status: needs_attention" in front
    assert "- [x] `greet.py` defines" in text
    assert "- [ ] the check script passes" in text
    output = text.split("## Agent Output", 1)[1]
    assert "failed after 2 fix round(s)" in output
    assert "criteria not ticked: #2" in output
    assert "CHECK-FAILED" in output


@pytest.mark.parametrize(
    ("extra", "deps", "expected"),
    [
        ("", {"2026-02-01-001-aaa": "in_progress"}, "2026-02-01-001-aaa (status in_progress)"),
        ("", {}, "aaa (no spec of that id"),
        ("approval:\n  required: true\n  status: pending\n", None, "requires approval"),
    ],
    ids=["dependency-not-completed", "dependency-missing", "unapproved"],
)
def test_refused_specs_are_left_untouched(
    fake_ollama: FakeOllama,
    tmp_path: Path,
    extra: str,
    deps: dict[str, str] | None,
    expected: str,
) -> None:
    if deps is not None:
        extra = "depends_on:\n- aaa\n"
    spec = write_spec(tmp_path, extra=extra)
    for dep_id, status in (deps or {}).items():
        (spec.parent / f"{dep_id}.md").write_text(f"---\nstatus: {status}\n---\n# D\n")
    before = spec.read_bytes()

    proc = _run(fake_ollama, tmp_path, spec)

    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert spec.read_bytes() == before
    assert fake_ollama.chat_requests == []


def test_completed_spec_is_refused_unless_rerun(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    spec.write_text(spec.read_text().replace("status: pending", "status: completed"))
    before = spec.read_bytes()

    refused = _run(fake_ollama, tmp_path, spec)
    assert refused.returncode == 2
    assert "already completed" in refused.stderr
    assert spec.read_bytes() == before

    fake_ollama.enqueue("Nothing left to do.")
    rerun = _run(fake_ollama, tmp_path, spec, "--rerun")
    assert rerun.returncode == 1  # verify fails and no box is ticked
    assert "status: needs_attention" in spec.read_text()


def test_invalid_yaml_names_the_line_and_leaves_the_spec(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path)
    labels = "labels: [small, lsp]\n"
    spec.write_text(spec.read_text().replace(labels, labels + "broken: [unclosed\n"))
    before = spec.read_bytes()
    broken_line = spec.read_text().splitlines().index("broken: [unclosed") + 1

    proc = _run(fake_ollama, tmp_path, spec)

    assert proc.returncode == 2
    assert "invalid YAML" in proc.stderr
    assert f"line {broken_line}" in proc.stderr, proc.stderr  # the line with the unclosed list
    assert spec.read_bytes() == before
    assert fake_ollama.chat_requests == []


def test_dry_run_prints_the_diff_including_the_spec(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, verify="false")
    before = spec.read_bytes()
    fake_ollama.enqueue(
        Reply.calls(call("write_file", {"path": "greet.py", "content": 'GREETING = "hello"\n'})),
        Reply.calls(call("check_criterion", {"index": 1, "evidence": "wrote it"})),
        "Wrote it.",
    )

    proc = _run(fake_ollama, tmp_path, spec, "--dry-run")

    assert spec.read_bytes() == before
    assert (tmp_path / "greet.py").read_text() == "GREETING = None\n"
    assert '+GREETING = "hello"' in proc.stdout
    assert f"+++ b/{SPEC_REL}" in proc.stdout
    assert "-status: pending\n+status: needs_attention" in proc.stdout
    assert "+- [x] `greet.py` defines" in proc.stdout
    assert "Dry run: the verify commands were not run" in proc.stdout
    assert proc.returncode == 1


def test_json_prints_the_spec_result_for_scripts(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    import json

    spec = write_spec(tmp_path)
    fake_ollama.enqueue(
        Reply.calls(FIX_GREETING),
        Reply.calls(*TICK_BOTH),
        "Set GREETING to hello.",
    )
    proc = _run(fake_ollama, tmp_path, spec, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["specStatus"], result["status"]) == ("completed", "completed")
    assert result["ticked"] == [1, 2]
    assert result["changedFiles"] == ["greet.py"]
    assert [v["passed"] for v in result["verify"]] == [True]
    assert result["metrics"]["requests"] == 3

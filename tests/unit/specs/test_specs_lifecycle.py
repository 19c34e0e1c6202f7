"""When a spec may run, and the prompt the agent gets for it."""

from __future__ import annotations

from pathlib import Path

from ollama_agent_ls.specs.lifecycle import build_spec_prompt, build_verify_feedback, refusal
from ollama_agent_ls.specs.model import load_spec
from ollama_agent_ls.workspace.documents import DiskDocuments


def _spec_file(folder: Path, spec_id: str, frontmatter: str, body: str = "# T\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec_id}.md"
    path.write_text(f"---\n{frontmatter}---\n{body}", encoding="utf-8")
    return path


def test_completed_spec_is_refused_unless_rerun(tmp_path: Path) -> None:
    spec = load_spec(_spec_file(tmp_path, "2026-01-01-001-abc", "status: completed\n"))
    reason = refusal(spec)
    assert reason is not None and "already completed" in reason and "--rerun" in reason
    assert refusal(spec, rerun=True) is None


def test_approval_required_needs_approved_status(tmp_path: Path) -> None:
    path = _spec_file(tmp_path, "s1", "status: ready\napproval:\n  required: true\n")
    reason = refusal(load_spec(path))
    assert reason is not None and "requires approval" in reason and "approved" in reason
    pending = _spec_file(
        tmp_path, "s2", "approval:\n  required: true\n  status: pending\n  by: ann\n"
    )
    assert "approval.status is pending" in (refusal(load_spec(pending)) or "")
    approved = _spec_file(tmp_path, "s3", "approval:\n  required: true\n  status: approved\n")
    assert refusal(load_spec(approved)) is None
    not_required = _spec_file(tmp_path, "s4", "approval:\n  required: false\n")
    assert refusal(load_spec(not_required)) is None


def test_dependencies_resolved_in_the_same_folder_by_full_or_short_id(tmp_path: Path) -> None:
    specs = tmp_path / ".chant" / "specs"
    _spec_file(specs, "2026-01-01-001-abc", "status: completed\n")
    _spec_file(specs, "2026-01-02-002-def", "status: in_progress\n")
    ok = _spec_file(specs, "2026-01-03-003-ghi", "depends_on:\n- 2026-01-01-001-abc\n- abc\n")
    assert refusal(load_spec(ok)) is None

    blocked = _spec_file(specs, "2026-01-04-004-jkl", "depends_on: [abc, def, zzz]\n")
    reason = refusal(load_spec(blocked))
    assert reason is not None
    assert "blocked" in reason
    assert "2026-01-02-002-def (status in_progress)" in reason
    assert "zzz (no spec of that id" in reason
    assert "001-abc" not in reason


def test_ambiguous_or_broken_dependency_is_named(tmp_path: Path) -> None:
    _spec_file(tmp_path, "2026-01-01-001-x1", "status: completed\n")
    _spec_file(tmp_path, "2026-01-01-002-x1", "status: completed\n")
    (tmp_path / "2026-01-01-003-bad.md").write_text("---\nstatus: [\n---\n", encoding="utf-8")
    spec = load_spec(_spec_file(tmp_path, "s", "depends_on: [x1, bad]\n"))
    reason = refusal(spec) or ""
    assert "x1 (ambiguous: 2026-01-01-001-x1, 2026-01-01-002-x1" in reason
    assert "2026-01-01-003-bad (cannot be read:" in reason


def test_prompt_has_title_body_numbered_criteria_and_instructions(tmp_path: Path) -> None:
    body = (
        "# Add slugify\n\n## Problem\n\nTitles differ.\n\n## Acceptance Criteria\n\n"
        "- [ ] slugify exists\n- [x] tests pass\n\n## Agent Output\n\n> old run summary\n"
    )
    spec = load_spec(_spec_file(tmp_path, "s", "verify: pytest -q\n", body))
    prompt = build_spec_prompt(spec, tmp_path, DiskDocuments(tmp_path))
    assert "Add slugify" in prompt and "Titles differ." in prompt
    assert "1. slugify exists\n2. tests pass (already ticked)" in prompt
    assert "check_criterion" in prompt
    assert "`pytest -q`" in prompt
    assert "old run summary" not in prompt


def test_prompt_includes_files_within_budget_and_lists_the_rest(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "small.py").write_text("print('small')\n", encoding="utf-8")
    (tmp_path / "src" / "big.py").write_text("x = 1\n" * 2000, encoding="utf-8")
    (tmp_path / "docs.md").write_text("Context ``` fence\n", encoding="utf-8")
    spec = load_spec(
        _spec_file(
            tmp_path,
            "s",
            "target_files: [src/small.py, src/big.py, src/new.py]\ncontext: [docs.md, ../out]\n",
        )
    )
    prompt = build_spec_prompt(spec, tmp_path, DiskDocuments(tmp_path), budget=1000)
    assert "src/small.py:\n```\nprint('small')\n```" in prompt
    assert "docs.md:\n````\nContext ``` fence\n````" in prompt
    assert "x = 1" not in prompt
    assert "- src/big.py (2001 lines; read it with read_file)" in prompt
    assert "- src/new.py (does not exist yet)" in prompt
    assert "- ../out (not readable:" in prompt


def test_verify_feedback_carries_the_failing_output_bounded() -> None:
    output = "FAILED tests/test_a.py::test_x\n" + "." * 20_000 + "\nassert 1 == 2"
    text = build_verify_feedback([("pytest", output)], 1, 2)
    assert text.startswith("Verification FAILED")
    assert "FAILED tests/test_a.py::test_x" in text and "assert 1 == 2" in text
    assert "fix round 1 of 2" in text
    assert len(text) < 8_000

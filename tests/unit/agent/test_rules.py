"""Project rules: AGENTS.md and the rules setting's files, read once, capped, confined."""

from __future__ import annotations

from pathlib import Path

from ollama_agent_ls.agent.rules import (
    RULES_HEAD,
    NestedRules,
    load_rules,
    nested_files,
)
from ollama_agent_ls.workspace.documents import DiskDocuments


def _rules(root: Path, extra: list[str] | None = None, max_chars: int = 8000):
    return load_rules(root, DiskDocuments(root), extra or [], max_chars)


def test_agents_md_and_the_rules_files_go_into_one_block_in_order(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("Use tabs.\r\nRun make test.\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "style.md").write_text("No globals.\n")
    rules = _rules(tmp_path, ["docs/style.md"])
    assert rules.files == ("AGENTS.md", "docs/style.md")
    assert rules.text.startswith(f"\n\n{RULES_HEAD}\n")
    assert rules.text.index("## AGENTS.md\nUse tabs.\nRun make test.") < rules.text.index(
        "## docs/style.md\nNo globals."
    )
    assert not rules.problems and not rules.cut


def test_without_rules_the_prompt_gets_nothing(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    assert rules.text == "" and rules.files == () and rules.problems == ()
    (tmp_path / "AGENTS.md").write_text("   \n")
    assert _rules(tmp_path).text == ""


def test_a_rules_file_outside_the_workspace_or_missing_is_a_problem_naming_the_fix(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "secret.md").write_text("outside\n")
    rules = _rules(root, ["../secret.md", "missing.md"])
    assert rules.text == ""
    outside, missing = rules.problems
    assert "'../secret.md' was not used" in outside and "inside the workspace" in outside
    assert "missing.md was not used" in missing
    assert "outside" not in rules.text


def test_rules_longer_than_the_cap_are_cut_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("".join(f"rule {n}: be careful\n" for n in range(500)))
    rules = _rules(tmp_path, max_chars=1000)
    assert rules.cut == ("AGENTS.md",)
    assert "rule 0: be careful" in rules.text and "rule 499" not in rules.text
    assert "left out: the rules are capped at rulesMaxChars" in rules.text
    assert len(rules.text) < 1000 + 400


def test_a_nested_agents_md_is_shown_once_outermost_first(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("root rules\n")
    (tmp_path / "src" / "api").mkdir(parents=True)
    (tmp_path / "src" / "AGENTS.md").write_text("src rules\n")
    (tmp_path / "src" / "api" / "AGENTS.md").write_text("api rules\n")
    (tmp_path / "src" / "api" / "views.py").write_text("x = 1\n")
    nested = NestedRules(tmp_path, DiskDocuments(tmp_path), 8000)
    text, files = nested.for_paths(["src/api/views.py"])
    assert files == ["src/AGENTS.md", "src/api/AGENTS.md"]
    assert text.index("src rules") < text.index("api rules")
    assert "root rules" not in text  # the system prompt has those
    assert nested_files(text) == files
    assert nested.for_paths(["src/api/views.py", "src/api"]) == ("", [])
    assert nested.for_paths(["../elsewhere.py", "README.md"]) == ("", [])


def test_a_nested_agents_md_longer_than_the_cap_is_cut_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "AGENTS.md").write_text(
        "".join(f"pkg rule {n}: keep it short\n" for n in range(300))
    )
    nested = NestedRules(tmp_path, DiskDocuments(tmp_path), 500)
    text, files = nested.for_paths(["pkg/mod.py"])
    assert files == ["pkg/AGENTS.md"]
    assert "pkg rule 0: keep it short" in text and "pkg rule 299" not in text
    assert "more characters of pkg/AGENTS.md left out: the rules are capped at rulesMaxChars" in (
        text
    )
    assert len(text) < 500 + 300
    assert nested_files(text) == files  # a resumed conversation still knows it was shown

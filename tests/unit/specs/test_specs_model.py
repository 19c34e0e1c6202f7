"""Reading spec files: frontmatter, title, acceptance criteria, and what counts as a spec."""

from __future__ import annotations

from pathlib import Path, PurePath

import pytest

from ollama_agent_ls.specs.model import SpecError, is_spec, load_spec, parse_spec

EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "specs"


def _examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.md") if p.name != "README.md")


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="shared/specs is not beside the checkout")
def test_both_example_specs_parse() -> None:
    specs = {p.stem: load_spec(p) for p in _examples()}
    assert set(specs) == {"2026-01-24-001-q7k", "2026-02-03-002-m2x"}

    big = specs["2026-01-24-001-q7k"]
    assert big.title == "Add ollama-rs agent runtime with tool calling"
    assert big.status == "pending"
    assert big.target_files == ["Cargo.toml", "src/agent.rs", "src/tools.rs", "src/provider.rs"]
    assert big.verify == []
    # The body has code blocks with '#' comments and '- ' lists; only the real boxes count.
    assert len(big.criteria) == 7
    assert big.criteria[0].text.startswith("`ollama-rs` added to Cargo.toml")
    assert big.criteria[-1].text.startswith("Manual test:")
    lines = big.text.split("\n")
    assert all(lines[c.line].startswith("- [ ]") for c in big.criteria)

    small = specs["2026-02-03-002-m2x"]
    assert small.title == "Add a slugify helper"
    assert small.verify == ["python -m pytest -q tests/test_slug.py"]
    assert small.frontmatter["labels"] == ["small"]
    assert [c.index for c in small.criteria] == [1, 2, 3, 4]
    assert not any(c.checked for c in small.criteria)


def test_criteria_only_from_the_acceptance_section_and_outside_code_blocks() -> None:
    text = (
        "---\nstatus: pending\n---\n\n```md\n# Not the title\n```\n# Real title\n\n"
        "## Plan\n\n- [ ] a plan step, not a criterion\n\n"
        "## Acceptance Criteria\n\n- [ ] first\n```\n- [ ] inside a fence\n## not a heading\n```\n"
        "- [x] second\n  - [X] nested third\n\n### Details\n\n- [ ] fourth under a subheading\n"
        "\n## Notes\n\n- [ ] after the section\n"
    )
    spec = parse_spec(text, Path("/w/.chant/specs/x.md"))
    assert spec.title == "Real title"
    assert [(c.index, c.text, c.checked) for c in spec.criteria] == [
        (1, "first", False),
        (2, "second", True),
        (3, "nested third", True),
        (4, "fourth under a subheading", False),
    ]
    assert [c.index for c in spec.unchecked] == [1, 4]


def test_verify_as_a_list_and_defaults() -> None:
    text = "---\nverify:\n  - ruff check\n  - pytest -q\napproval:\n  required: true\n---\n"
    spec = parse_spec(text, Path("/w/s.md"))
    assert spec.verify == ["ruff check", "pytest -q"]
    assert spec.status == "pending"
    assert spec.approval == {"required": True}
    assert spec.depends_on == [] and spec.context == []
    assert spec.title == "s"  # no heading: the id stands in


def test_crlf_spec_parses_like_lf() -> None:
    lf = "---\nstatus: ready\n---\n# T\n\n## Acceptance Criteria\n\n- [ ] one\n"
    crlf = parse_spec(lf.replace("\n", "\r\n"), Path("/w/s.md"))
    assert crlf.status == "ready"
    assert crlf.title == "T"
    assert [c.text for c in crlf.criteria] == ["one"]


def test_invalid_yaml_names_the_file_line() -> None:
    text = "---\ntype: code\nstatus: pending\ntarget_files: [a.py\nlabels: x\n---\n# T\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, Path("/w/.chant/specs/bad.md"))
    message = str(info.value)
    assert "bad.md" in message
    assert "invalid YAML" in message
    # The flow list opened on file line 4 and the parser notices on line 5 or 6.
    assert any(f"line {n}" in message for n in (4, 5, 6))
    assert "unchanged" in message


def test_frontmatter_without_closing_line_or_not_a_mapping() -> None:
    with pytest.raises(SpecError, match="closing '---'"):
        parse_spec("---\nstatus: pending\n# T\n", Path("/w/s.md"))
    with pytest.raises(SpecError, match="mapping"):
        parse_spec("---\n- a\n- b\n---\n", Path("/w/s.md"))


def test_is_spec() -> None:
    assert is_spec(PurePath("/p/.chant/specs/2026-01-01-001-abc.md"))
    assert is_spec(PurePath("/p/docs/task.md"), "---\nstatus: ready\n---\n# T\n")
    assert not is_spec(PurePath("/p/README.md"), "# Readme\n")
    assert not is_spec(PurePath("/p/notes.md"), "---\ntitle: x\n---\n")
    assert not is_spec(PurePath("/p/.chant/specs/data.json"), "{}")
    # Broken YAML with a status line is still a spec, so its error can be shown.
    assert is_spec(PurePath("/p/t.md"), "---\nstatus: ready\nx: [\n---\n")

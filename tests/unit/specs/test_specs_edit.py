"""Targeted spec edits: a frontmatter key, a checkbox, the Agent Output section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.specs.frontmatter_edit import (
    OutputReport,
    VerifyReport,
    bounded,
    format_scalar,
    render_agent_output,
    set_agent_output,
    set_key,
    set_keys,
    tick_criterion,
)
from ollama_agent_ls.specs.model import SpecError, parse_spec

KEYS = ["status", "completed_at", "model", "type", "labels", "target_files", "notes", "x-y"]

scalars = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.booleans(),
    st.none(),
    st.sampled_from(["pending", "2026-02-03T10:11:12Z", "qwen3:8b", "a: b", "# no", "yes", ""]),
)
words = st.text(alphabet="abcdefghij XYZ-_.", min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and not s.startswith("-")
)


@st.composite
def entries(draw: st.DrawFn, key: str) -> str:
    """One top-level entry in one of the layouts people write."""
    kind = draw(st.sampled_from(["scalar", "wrapped", "list", "indented_list", "map", "block"]))
    if kind == "scalar":
        line = f"{key}: {format_scalar(draw(scalars))}"
        if draw(st.booleans()):
            line += "  # " + draw(words)
        return line + "\n"
    if kind == "wrapped":
        value = " ".join(draw(st.lists(words, min_size=1, max_size=8)))
        return yaml.safe_dump({key: value}, width=draw(st.integers(10, 60)), allow_unicode=True)
    if kind == "list":
        return yaml.safe_dump({key: draw(st.lists(words, max_size=3))}, default_flow_style=False)
    if kind == "indented_list":
        items = draw(st.lists(words, min_size=1, max_size=3))
        return f"{key}:\n" + "".join(f"  - {item}\n" for item in items)
    if kind == "map":
        inner = draw(st.dictionaries(st.sampled_from(["a", "b", "c"]), words, min_size=1))
        return f"{key}:\n" + "".join(f"  {k}: {v}\n" for k, v in inner.items())
    lines = draw(st.lists(words, min_size=1, max_size=3))
    body = "".join(f"  {line}\n" if i != 1 else f"\n  {line}\n" for i, line in enumerate(lines))
    return f"{key}: |\n{body}"


@st.composite
def frontmatters(draw: st.DrawFn) -> list[tuple[str | None, str]]:
    """Chunks of a frontmatter: (key, entry text) or (None, comment/blank lines)."""
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=6))
    chunks: list[tuple[str | None, str]] = []
    for key in keys:
        if draw(st.booleans()):
            filler = draw(st.sampled_from(["# " + draw(words) + "\n", "\n", "  # indented\n"]))
            chunks.append((None, filler))
        chunks.append((key, draw(entries(key))))
    if draw(st.booleans()):
        chunks.append((None, "# trailing comment\n"))
    return chunks


BODY = "\n# Title\n\n## Acceptance Criteria\n\n- [ ] one\n"


@settings(max_examples=300, deadline=None)
@given(frontmatters(), st.sampled_from(KEYS), scalars)
def test_set_key_changes_only_that_key(
    chunks: list[tuple[str | None, str]], key: str, value: Any
) -> None:
    text = "---\n" + "".join(chunk for _, chunk in chunks) + "---\n" + BODY
    old = yaml.safe_load("".join(chunk for _, chunk in chunks)) or {}

    new = set_key(text, key, value)

    spec = parse_spec(new, Path("/w/s.md"))
    assert spec.frontmatter == {**old, key: value}
    keys = [k for k, _ in chunks]
    if key in keys:
        at = keys.index(key)
        before = "---\n" + "".join(c for _, c in chunks[:at])
        after = "".join(c for _, c in chunks[at + 1 :]) + "---\n" + BODY
    else:
        before = "---\n" + "".join(c for _, c in chunks)
        after = "---\n" + BODY
    # Every line outside the key's own entry is byte-identical, in the same order.
    assert new.startswith(before)
    assert new.endswith(after)
    middle = new[len(before) : len(new) - len(after)]
    assert middle.startswith(f"{key}: ")
    assert middle.count("\n") == 1


@settings(max_examples=200, deadline=None)
@given(scalars)
def test_format_scalar_round_trips_on_one_line(value: Any) -> None:
    formatted = format_scalar(value)
    assert "\n" not in formatted and "\r" not in formatted
    assert yaml.safe_load(f"k: {formatted}") == {"k": value}


def test_set_key_keeps_inline_comment_and_crlf() -> None:
    text = "---\r\ntype: code\r\nstatus: pending  # chant sets this\r\n---\r\n# T\r\n"
    new = set_keys(text, {"status": "in_progress", "model": "qwen3:8b"})
    assert new == (
        "---\r\ntype: code\r\nstatus: in_progress  # chant sets this\r\nmodel: qwen3:8b\r\n"
        "---\r\n# T\r\n"
    )


def test_set_key_quotes_what_yaml_would_misread() -> None:
    new = set_key("---\nstatus: pending\n---\n", "completed_at", "2026-02-03T10:11:12Z")
    assert new == "---\nstatus: pending\ncompleted_at: '2026-02-03T10:11:12Z'\n---\n"
    assert set_key("---\n---\n", "model", "a: b") == "---\nmodel: 'a: b'\n---\n"


def test_set_key_without_frontmatter_adds_one() -> None:
    assert set_key("# T\n", "status", "in_progress") == "---\nstatus: in_progress\n---\n# T\n"


def test_set_key_refuses_layouts_it_cannot_edit_safely() -> None:
    text = "---\n{status: pending, type: code}\n---\n"
    with pytest.raises(SpecError, match="by hand"):
        set_key(text, "status", "in_progress")


def test_tick_criterion_by_index() -> None:
    text = "# T\n\n## Acceptance Criteria\n\n* [ ] one\n- [x] two\n- [ ]   three  \n"
    once = tick_criterion(text, 3)
    assert once == "# T\n\n## Acceptance Criteria\n\n* [ ] one\n- [x] two\n- [x]   three  \n"
    assert tick_criterion(once, 2) == once
    assert tick_criterion(once, 1).startswith("# T\n\n## Acceptance Criteria\n\n* [x] one\n")
    with pytest.raises(SpecError, match="no acceptance criterion #4; the spec has 3"):
        tick_criterion(text, 4)


def _report(**kw: Any) -> OutputReport:
    base: dict[str, Any] = {
        "status": "completed",
        "summary": "Added it.",
        "model": "qwen3:8b",
        "finished_at": "2026-02-03T10:11:12Z",
    }
    return OutputReport(**{**base, **kw})


def test_agent_output_is_appended_then_replaced_in_place() -> None:
    text = "---\nstatus: pending\n---\n# T\n\n## Acceptance Criteria\n\n- [ ] one\n\n\n"
    first = set_agent_output(text, render_agent_output(_report(changed_files=["a.py"])))
    assert first.startswith(
        "---\nstatus: pending\n---\n# T\n\n## Acceptance Criteria\n\n- [ ] one\n\n## Agent Output\n"
    )
    assert "`a.py`" in first and first.endswith("\n")
    report = _report(
        status="needs_attention",
        summary="## Heading from the model\n- [ ] a box",
        reason="verify failed",
        verify=[VerifyReport("pytest", False, "```\nE assert 1 == 2\n", 1)],
    )
    with_notes = first + "\n## Notes\n\nkept\n"
    second = set_agent_output(with_notes, render_agent_output(report))
    assert second.count("## Agent Output") == 1
    assert "`a.py`" not in second
    assert second.endswith("\n## Notes\n\nkept\n")
    spec = parse_spec(second, Path("/w/s.md"))
    # The model's heading and box are quoted: the criteria and sections stay as they were.
    assert [c.text for c in spec.criteria] == ["one"]
    assert "> ## Heading from the model" in second
    assert "````text\n```\nE assert 1 == 2\n````" in second
    assert set_agent_output(second, render_agent_output(report)) == second


def test_verify_output_is_bounded_head_and_tail() -> None:
    output = "START\n" + "x" * 50_000 + "\nEND"
    section = render_agent_output(_report(verify=[VerifyReport("make", False, output, 2)]))
    assert len(section) < 6_000
    assert "START" in section and "END" in section and "characters left out" in section
    assert bounded("short", 10) == "short"

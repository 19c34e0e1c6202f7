"""Edits sent to the editor reproduce the new text exactly and touch only what changed."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types as lsp

from ollama_agent_ls.workspace import text_edits
from ollama_agent_ls.workspace.text_edits import (
    LineEdit,
    LineIndex,
    apply_edits,
    changed_lines,
    minimal_line_edits,
    offset_to_position,
    position_to_offset,
    split_lines,
    to_lsp_text_edits,
)

ENCODINGS = ("utf-8", "utf-16", "utf-32")

# Pieces chosen to hit every awkward case: astral emoji, CJK, combining marks, all three line
# breaks, empty lines and the lack of a trailing newline.
PIECES = st.sampled_from(
    ["a", "b", "x = 1", " ", "\t", "😀", "中文", "é", "e\u0301", "𝔘", "\n", "\r\n", "\r", "{", "}"]
)
TEXTS = st.lists(PIECES, max_size=40).map("".join) | st.text(max_size=60)


def apply_lsp(text: str, edits: list[lsp.TextEdit], encoding: str) -> str:
    index = LineIndex(text, encoding)
    offsets = [
        LineEdit(
            index.offset(edit.range.start.line, edit.range.start.character),
            index.offset(edit.range.end.line, edit.range.end.character),
            edit.new_text,
        )
        for edit in edits
    ]
    return apply_edits(text, offsets)


def valid_offsets(text: str) -> list[int]:
    """Every offset an editor can point at: none between the two halves of a CRLF."""
    return [
        offset
        for offset in range(len(text) + 1)
        if not (0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n")
    ]


@settings(max_examples=400, deadline=None)
@given(TEXTS, TEXTS)
def test_edits_turn_before_into_after(before: str, after: str) -> None:
    edits = minimal_line_edits(before, after)
    assert apply_edits(before, edits) == after
    previous_end = -1
    for start, end, _ in edits:
        assert previous_end <= start <= end <= len(before)
        previous_end = end


@settings(max_examples=400, deadline=None)
@given(TEXTS, TEXTS)
def test_edits_applied_in_reverse_order_give_after(before: str, after: str) -> None:
    text = before
    for start, end, new_text in reversed(minimal_line_edits(before, after)):
        text = text[:start] + new_text + text[end:]
    assert text == after


@settings(max_examples=300, deadline=None)
@given(TEXTS, TEXTS, st.sampled_from(ENCODINGS))
def test_lsp_edits_through_positions_give_after(before: str, after: str, encoding: str) -> None:
    assert apply_lsp(before, to_lsp_text_edits(before, after, encoding), encoding) == after


@settings(max_examples=300, deadline=None)
@given(TEXTS, TEXTS, st.sampled_from(ENCODINGS), st.integers(1, 5))
def test_block_size_of_the_shared_head_and_tail_search_never_changes_the_edits(
    before: str, after: str, encoding: str, block: int
) -> None:
    # The real block is 32 K characters; tiny blocks make these texts cross block boundaries.
    expected_lines = minimal_line_edits(before, after)
    expected_lsp = to_lsp_text_edits(before, after, encoding)
    with mock.patch.object(text_edits, "_BLOCK", block):
        head, tail = changed_lines(before, after)
        assert minimal_line_edits(before, after) == expected_lines
        assert to_lsp_text_edits(before, after, encoding) == expected_lsp
    assert before[:head] == after[:head]
    assert before[len(before) - tail :] == after[len(after) - tail :]


@settings(max_examples=300, deadline=None)
@given(TEXTS, TEXTS)
def test_edits_never_split_a_crlf(before: str, after: str) -> None:
    allowed = set(valid_offsets(before))
    for start, end, _ in minimal_line_edits(before, after):
        assert start in allowed
        assert end in allowed


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.sampled_from(ENCODINGS))
def test_positions_convert_back_to_the_same_offsets(text: str, encoding: str) -> None:
    index = LineIndex(text, encoding)
    for offset in valid_offsets(text):
        line, character = index.position(offset)
        assert index.offset(line, character) == offset
        assert offset_to_position(text, offset, encoding) == (line, character)
        assert position_to_offset(text, line, character, encoding) == offset


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_line_numbers_follow_lsp_line_breaks(text: str) -> None:
    index = LineIndex(text)
    assert index.line_count == len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    assert "".join(split_lines(text)) == text


def test_emoji_code_units_in_each_encoding() -> None:
    text = "a😀b"
    assert offset_to_position(text, 2, "utf-16") == (0, 3)
    assert offset_to_position(text, 2, "utf-8") == (0, 5)
    assert offset_to_position(text, 2, "utf-32") == (0, 2)
    assert position_to_offset(text, 0, 3, "utf-16") == 2
    assert position_to_offset(text, 0, 5, "utf-8") == 2
    assert position_to_offset(text, 0, 2, "utf-32") == 2


def test_pygls_reference_example_pi_emoji_x() -> None:
    text = "π😀x"
    assert position_to_offset(text, 0, 3, "utf-16") == 2
    assert position_to_offset(text, 0, 6, "utf-8") == 2
    assert position_to_offset(text, 0, 2, "utf-32") == 2


def test_lsprotocol_encoding_kinds_are_accepted() -> None:
    assert offset_to_position("😀", 1, lsp.PositionEncodingKind.Utf16) == (0, 2)


def test_unknown_encoding_is_refused_with_the_valid_ones_named() -> None:
    with pytest.raises(ValueError, match="utf-16"):
        LineIndex("x", "latin-1")


def test_positions_across_crlf_and_lone_cr() -> None:
    text = "ab\r\ncd\ref\ngh"
    assert offset_to_position(text, 4, "utf-16") == (1, 0)
    assert offset_to_position(text, 7, "utf-16") == (2, 0)
    assert offset_to_position(text, 10, "utf-16") == (3, 0)
    assert offset_to_position(text, 12, "utf-16") == (3, 2)


def test_a_character_past_the_line_end_means_the_line_end() -> None:
    text = "ab\r\ncd"
    assert position_to_offset(text, 0, 99, "utf-16") == 2
    assert position_to_offset(text, 7, 0, "utf-16") == len(text)


def test_a_position_inside_a_surrogate_pair_means_the_character_start() -> None:
    assert position_to_offset("😀x", 0, 1, "utf-16") == 0
    assert position_to_offset("😀x", 0, 3, "utf-8") == 0


def test_no_change_gives_no_edits() -> None:
    assert minimal_line_edits("same\n", "same\n") == []
    assert to_lsp_text_edits("same\n", "same\n", "utf-16") == []


def test_one_line_change_in_a_long_file_touches_only_that_line() -> None:
    lines = [f"line {number}\n" for number in range(2000)]
    before = "".join(lines)
    lines[1234] = "line 1234 changed\n"
    after = "".join(lines)
    edits = to_lsp_text_edits(before, after, "utf-16")
    assert len(edits) == 1
    (edit,) = edits
    assert edit.range.start.line == edit.range.end.line == 1234
    assert edit.range.start.character == len("line 1234")
    assert edit.new_text == " changed"


def test_a_change_keeps_the_unchanged_start_of_the_line() -> None:
    (edit,) = minimal_line_edits("    return a + b\n", "    return a - b\n")
    assert edit == LineEdit(13, 14, "-")


def test_separate_changes_give_separate_edits() -> None:
    before = "".join(f"{number}\n" for number in range(100))
    after = before.replace("10\n", "ten\n").replace("90\n", "ninety\n")
    edits = minimal_line_edits(before, after)
    assert len(edits) == 2
    assert all(end - start <= 3 for start, end, _ in edits)


def test_inserting_and_deleting_lines() -> None:
    before = "a\nb\nc\n"
    assert minimal_line_edits(before, "a\nnew\nb\nc\n") == [LineEdit(2, 2, "new\n")]
    assert minimal_line_edits(before, "a\nc\n") == [LineEdit(2, 4, "")]


def test_crlf_file_edits_keep_crlf() -> None:
    before = "one\r\ntwo\r\nthree\r\n"
    after = "one\r\n2\r\nthree\r\n"
    edits = to_lsp_text_edits(before, after, "utf-16")
    assert apply_lsp(before, edits, "utf-16") == after
    assert [(e.range.start.line, e.range.end.line) for e in edits] == [(1, 1)]


def test_an_insertion_among_20000_identical_lines_is_one_edit() -> None:
    # Many identical lines would make an unbounded diff quadratic; trimming keeps it linear.
    before = "\n".join(["    pass"] * 20_000) + "\n"
    after = before[:1000] + "    changed\n" + before[1000:]
    edits = minimal_line_edits(before, after)
    assert apply_edits(before, edits) == after
    assert len(edits) == 1


def test_empty_texts() -> None:
    assert minimal_line_edits("", "hello") == [LineEdit(0, 0, "hello")]
    assert minimal_line_edits("hello", "") == [LineEdit(0, 5, "")]
    assert LineIndex("").position(0) == (0, 0)


def test_a_one_megabyte_file_converts_positions() -> None:
    line_text = "x = '中文😀'\r\n"
    text = (line_text * 100_000)[:1_000_000]
    index = LineIndex(text, "utf-16")
    assert index.line_count == 1_000_000 // len(line_text) + 1
    offset = text.index("😀", 900_000)
    line, character = index.position(offset)
    assert (line, character) == (offset // len(line_text), 7)
    assert index.offset(line, character) == offset
    assert index.offset(line, character + 2) == offset + 1


def test_a_rewrite_of_many_repeated_lines_is_still_exact() -> None:
    # Identical lines everywhere make an exact diff cubic; the edits must stay correct anyway.
    before = "    pass\n" * 20_000
    after = "    pass\nx\n" * 10_000
    assert apply_edits(before, minimal_line_edits(before, after)) == after


@pytest.mark.parametrize("brk", ["\n", "\r\n", "\r"])
def test_an_append_to_a_newline_terminated_file_goes_before_its_final_break(brk: str) -> None:
    # Neovim 0.10/0.11 applies an insert at (line count, 0) as whole lines and adds an empty
    # line; the same change made before the final break lands exactly in every editor.
    before = f"def add(a, b):{brk}    return a - b{brk}"
    added = f"{brk}{brk}def sub(a, b):{brk}    return a - b{brk}"
    after = before + added
    for encoding in ENCODINGS:
        (edit,) = to_lsp_text_edits(before, after, encoding)
        end_of_last_line = lsp.Position(line=1, character=len("    return a - b"))
        assert edit.range == lsp.Range(start=end_of_last_line, end=end_of_last_line)
        assert edit.new_text == brk + added[: -len(brk)]
        assert apply_lsp(before, [edit], encoding) == after


def test_an_append_after_a_non_ascii_last_line_counts_its_code_units() -> None:
    before = "x = '😀'\n"
    (edit,) = to_lsp_text_edits(before, before + "y = 2\n", "utf-16")
    assert edit.range.start == lsp.Position(line=0, character=len("x = '") + 2 + 1)
    (edit,) = to_lsp_text_edits(before, before + "y = 2\n", "utf-8")
    assert edit.range.start == lsp.Position(line=0, character=len("x = '") + 4 + 1)


def test_an_append_to_a_file_without_a_final_break_stays_at_the_end() -> None:
    (edit,) = to_lsp_text_edits("a\nb", "a\nb\nc\n", "utf-16")
    assert edit.range.start == lsp.Position(line=1, character=1)
    assert edit.new_text == "\nc\n"


def test_an_append_without_a_final_break_of_its_own_is_left_alone() -> None:
    # "c" alone after "a\n": moving it would need a break the new text does not end with.
    (edit,) = to_lsp_text_edits("a\n", "a\nc", "utf-16")
    assert edit.range.start == lsp.Position(line=1, character=0)
    assert edit.new_text == "c"


@settings(max_examples=300, deadline=None)
@given(TEXTS, TEXTS, st.sampled_from(ENCODINGS))
def test_no_insert_sits_past_the_final_break_of_a_newline_terminated_text(
    before: str, added: str, encoding: str
) -> None:
    brk = text_edits._final_break(before)
    after = before + added + brk
    edits = to_lsp_text_edits(before, after, encoding)
    assert apply_lsp(before, edits, encoding) == after
    if brk:
        line, character = LineIndex(before, encoding).position(len(before))
        end = lsp.Position(line=line, character=character)
        assert not any(e.range.start == e.range.end == end for e in edits)

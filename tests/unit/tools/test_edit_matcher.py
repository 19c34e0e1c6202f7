"""The edit matcher: exact first, then whitespace-tolerant, always unique, with useful errors."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ollama_agent_ls.tools.context import ToolError
from ollama_agent_ls.tools.edit_matcher import EditAmbiguous, EditNoMatch, replace_unique

PY = """class Greeter:
    def greet(self, name):
        message = "hello " + name
        return message

    def bye(self):
        return "bye"
"""


def error_message(error: type[ToolError], text: str, old: str, new: str = "x") -> str:
    """The message of the ``error`` replace_unique must raise."""
    with pytest.raises(error) as info:
        replace_unique(text, old, new)
    return str(info.value)


def test_exact_replacement() -> None:
    result = replace_unique(PY, 'return "bye"', 'return "see you"')
    assert result.new_text == PY.replace('return "bye"', 'return "see you"')
    assert result.strategy == "exact"
    assert result.first_line == 7
    assert result.count == 1


def test_trailing_whitespace_differences_are_tolerated() -> None:
    text = "a = 1   \nb = 2\t\nc = 3\n"
    result = replace_unique(text, "a = 1\nb = 2\n", "a = 10\nb = 20\n")
    assert result.strategy == "trailing_whitespace"
    assert result.new_text == "a = 10\nb = 20\nc = 3\n"
    assert result.first_line == 1


def test_indentation_is_shifted_to_the_files() -> None:
    old = 'def greet(self, name):\n    message = "hello " + name\n'
    new = (
        'def greet(self, name):\n    if not name:\n        name = "you"\n'
        '    message = "hi " + name\n'
    )
    result = replace_unique(PY, old, new)
    assert result.strategy == "indentation"
    assert result.first_line == 2
    assert (
        '    def greet(self, name):\n        if not name:\n            name = "you"\n'
        '        message = "hi " + name\n        return message\n'
    ) in result.new_text


def test_tabs_in_file_and_spaces_in_old_string() -> None:
    text = "func main() {\n\tif x {\n\t\ty()\n\t}\n}\n"
    result = replace_unique(text, "if x {\n    y()\n}", "if x {\n    y()\n    z()\n}")
    assert result.strategy == "indentation"
    assert result.new_text == "func main() {\n\tif x {\n\t\ty()\n\t\tz()\n\t}\n}\n"


def test_case_is_never_ignored() -> None:
    with pytest.raises(EditNoMatch):
        replace_unique(PY, "CLASS GREETER:", "class Host:")


def test_ambiguous_match_names_the_lines_and_the_fix() -> None:
    message = error_message(EditAmbiguous, "x = 1\ny = 2\nx = 1\n", "x = 1", "x = 5")
    assert "lines 1, 3" in message
    assert "surrounding lines" in message
    assert "replace_all" in message


def test_fuzzy_ambiguity_is_also_an_error() -> None:
    text = "if a:\n    go()\nif b:\n  go()\n"
    with pytest.raises(EditAmbiguous, match="lines 2, 4"):
        replace_unique(text, "go()  \n", "stop()\n")


def test_replace_all_changes_every_occurrence() -> None:
    text = "x = 1\ny = 2\nx = 1\n"
    result = replace_unique(text, "x = 1", "x = 5", replace_all=True)
    assert result.new_text == "x = 5\ny = 2\nx = 5\n"
    assert result.count == 2


def test_no_match_quotes_closest_region_with_line_numbers() -> None:
    message = error_message(EditNoMatch, PY, '        message = "hallo " + nam\n')
    assert '     3\t        message = "hello " + name' in message
    assert "read_file" in message
    assert "exactly" in message


def test_no_match_quote_is_capped() -> None:
    text = "".join(f"line {i}\n" for i in range(100))
    old = "".join(f"lime {i}\n" for i in range(40))
    message = error_message(EditNoMatch, text, old)
    quoted = [line for line in message.splitlines() if "\tline " in line]
    assert 0 < len(quoted) <= 15


def test_line_number_prefixes_are_pointed_out() -> None:
    with pytest.raises(EditNoMatch, match="line number"):
        replace_unique(PY, "     7\t        return 'bye'\n", "x")


def test_identical_old_and_new_is_an_error() -> None:
    with pytest.raises(ToolError, match="no change"):
        replace_unique(PY, "bye", "bye")


def test_empty_old_string_points_to_write_file() -> None:
    with pytest.raises(ToolError, match="write_file"):
        replace_unique(PY, "", "x")


def test_errors_are_tool_errors() -> None:
    assert issubclass(EditNoMatch, ToolError)
    assert issubclass(EditAmbiguous, ToolError)


small_text = st.text(alphabet="ab \n\tx{}", max_size=60)


@given(
    before=small_text,
    after=small_text,
    left=st.text(alphabet="ab \n", max_size=6),
    right=st.text(alphabet="ab \n", max_size=6),
    new=small_text,
)
def test_unique_exact_substring_behaves_like_str_replace(
    before: str, after: str, left: str, right: str, new: str
) -> None:
    # The marker occurs only inside old, so old is a unique substring of text.
    old = left + "§" + right
    text = before + old + after
    assume(old != new)
    result = replace_unique(text, old, new)
    assert result.new_text == text.replace(old, new, 1)
    assert result.strategy == "exact"
    assert result.first_line == before.count("\n") + 1


@given(text=small_text, old=st.text(alphabet="ab x", min_size=1, max_size=4))
def test_repeated_old_string_is_ambiguous(text: str, old: str) -> None:
    doubled = text + old + "\n" + old
    with pytest.raises(EditAmbiguous):
        replace_unique(doubled, old, old + "!")


@given(text=st.text(alphabet="ab\n", max_size=40), old=st.text(alphabet="cd", min_size=1))
def test_missing_old_string_is_an_error(text: str, old: str) -> None:
    with pytest.raises(EditNoMatch):
        replace_unique(text, old, "z")


identifier = st.text(alphabet="abcdefgh", min_size=1, max_size=6)
code_line = st.tuples(st.integers(0, 2), identifier).map(lambda t: "    " * t[0] + t[1] + "()")


@given(
    block=st.lists(code_line, min_size=2, max_size=5),
    new=st.lists(code_line, min_size=1, max_size=5),
    k=st.integers(1, 3),
    indent_char=st.sampled_from(["    ", "\t", "  "]),
)
def test_block_edited_at_indent_zero_lands_at_its_indentation(
    block: list[str], new: list[str], k: int, indent_char: str
) -> None:
    # The block's first line sets the base indentation (0 in old_string). Two lines or more:
    # a single line at indentation 0 is an exact substring of the indented line.
    block = [block[0].lstrip(), *block[1:]]
    new = [new[0].lstrip(), *new[1:]]
    assume(block != new)

    def indent(lines: list[str], prefix: str) -> str:
        out = []
        for line in lines:
            depth = (len(line) - len(line.lstrip())) // 4
            out.append(prefix + indent_char * depth + line.lstrip())
        return "\n".join(out) + "\n"

    base = indent_char * k
    text = "header = 1\n" + indent(block, base) + "footer = 2\n"
    old = indent(block, "")
    expected = "header = 1\n" + indent(new, base) + "footer = 2\n"
    result = replace_unique(text, old, indent(new, ""))
    assert result.new_text == expected
    assert result.first_line == 2


def test_no_match_first_line_is_a_whole_sentence() -> None:
    # A transcript shows only a result's first line: it must not end in "lines 8-8:".
    message = error_message(EditNoMatch, PY, '        message = "hallo " + nam\n')
    first = message.split("\n", 1)[0]
    assert first.endswith("quoted below.")
    assert "Call read_file again" in first

"""TODO comments are found in comments of every common syntax, and only there."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.lsp.todo_comments import (
    TodoComment,
    enclosing_block,
    find_todo,
    find_todos,
    todo_still_present,
)


def described(text: str, language_id: str | None, path: str = "file") -> list[tuple[int, str]]:
    return [(todo.line, todo.text) for todo in find_todos(text, language_id, path)]


@pytest.mark.parametrize(
    ("language_id", "text"),
    [
        ("python", "x = 1  # TODO: fix this"),
        ("shellscript", "echo hi  # TODO: fix this"),
        ("ruby", "# TODO: fix this"),
        ("yaml", "key: value # TODO: fix this"),
        ("toml", "a = 1 # TODO: fix this"),
        ("perl", "my $x; # TODO: fix this"),
        ("r", "x <- 1 # TODO: fix this"),
        ("makefile", "all: # TODO: fix this"),
        ("c", "int x; // TODO: fix this"),
        ("cpp", "/* TODO: fix this */ int x;"),
        ("java", "int x; // TODO: fix this"),
        ("javascript", "let x; // TODO: fix this"),
        ("typescript", "let x: number; /* TODO: fix this */"),
        ("go", "x := 1 // TODO: fix this"),
        ("rust", "fn f<'a>(x: &'a str) {} // TODO: fix this"),
        ("swift", "let x = 1 // TODO: fix this"),
        ("kotlin", "val x = 1 // TODO: fix this"),
        ("csharp", "int x; // TODO: fix this"),
        ("php", "$x = 1; // TODO: fix this"),
        ("scala", "val x = 1 // TODO: fix this"),
        ("dart", "var x = 1; // TODO: fix this"),
        ("lua", "local x = 1 -- TODO: fix this"),
        ("sql", "SELECT 1; -- TODO: fix this"),
        ("haskell", "x = 1 -- TODO: fix this"),
        ("ada", "X : Integer; -- TODO: fix this"),
        ("lisp", "(defun f () nil) ; TODO: fix this"),
        ("clojure", "(def x 1) ; TODO: fix this"),
        ("scheme", "(define x 1) ; TODO: fix this"),
        ("asm", "mov eax, 1 ; TODO: fix this"),
        ("ini", "; TODO: fix this"),
        ("html", "<p>hi</p> <!-- TODO: fix this -->"),
        ("xml", "<a/><!-- TODO: fix this -->"),
        ("markdown", "Text. <!-- TODO: fix this -->"),
        ("vue", "<div/> <!-- TODO: fix this -->"),
        ("svelte", "let x = 1; // TODO: fix this"),
        ("css", "a { color: red; } /* TODO: fix this */"),
        ("scss", "a { color: red; } // TODO: fix this"),
    ],
)
def test_each_language_finds_its_comment_todo(language_id: str, text: str) -> None:
    assert described(text, language_id) == [(0, "fix this")]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/w/a.py", "x = 1  # TODO: fix this"),
        ("/w/run.sh", "ls # TODO: fix this"),
        ("/w/Makefile", "all: # TODO: fix this"),
        ("/w/Dockerfile", "RUN ls # TODO: fix this"),
        ("/w/a.c", "int x; // TODO: fix this"),
        ("/w/a.tsx", "const x = 1; // TODO: fix this"),
        ("/w/lib.rs", "let x = 1; // TODO: fix this"),
        ("/w/a.lua", "x = 1 -- TODO: fix this"),
        ("/w/q.sql", "SELECT 1 -- TODO: fix this"),
        ("/w/Main.hs", "main = pure () -- TODO: fix this"),
        ("/w/core.clj", "(def x 1) ; TODO: fix this"),
        ("/w/boot.asm", "nop ; TODO: fix this"),
        ("/w/README.md", "<!-- TODO: fix this -->"),
        ("/w/page.html", "<!-- TODO: fix this -->"),
        ("/w/site.css", "/* TODO: fix this */"),
        ("file:///w/my%20dir/a.go", "x := 1 // TODO: fix this"),
        ("C:\\w\\a.py", "x = 1  # TODO: fix this"),
    ],
)
def test_the_file_extension_chooses_the_syntax_without_a_language_id(path: str, text: str) -> None:
    assert described(text, None, path) == [(0, "fix this")]


def test_the_language_id_wins_over_the_extension() -> None:
    assert described("x = 1  # TODO: fix", "python", "/w/a.txt") == [(0, "fix")]
    assert described("x = 1  # TODO: fix", "c", "/w/a.py") == []


@pytest.mark.parametrize(
    ("language_id", "text"),
    [
        ("python", 'print("# TODO: not a comment")'),
        ("python", "print('TODO: just a string')"),
        ("javascript", 'const url = "http://x // TODO not";'),
        ("javascript", "const s = `/* TODO */`;"),
        ("c", 'puts("TODO: string");'),
        ("sql", "SELECT '-- TODO' FROM t;"),
        ("python", "TODO = 1"),
        ("python", "x = TODO_LIST"),
        ("c", "int TODO = 1;"),
    ],
)
def test_todo_outside_a_comment_is_not_a_todo(language_id: str, text: str) -> None:
    assert described(text, language_id) == []


def test_a_comment_after_a_string_holding_a_marker_is_found() -> None:
    text = 'x = "a # b"  # TODO: real one'
    assert described(text, "python") == [(0, "real one")]


def test_escaped_quotes_do_not_end_the_string() -> None:
    assert described('s = "say \\"hi\\" // TODO not"; // TODO: yes', "c") == [(0, "yes")]


def test_fixme_and_xxx_and_owners() -> None:
    text = "# FIXME: overflow\n# XXX(ann): hack\n# TODO(bob) - later\n"
    todos = find_todos(text, "python", "a.py")
    assert [(t.marker, t.owner, t.text) for t in todos] == [
        ("FIXME", None, "overflow"),
        ("XXX", "ann", "hack"),
        ("TODO", "bob", "later"),
    ]


@pytest.mark.parametrize("text", ["# todo: lower", "# Todo: mixed", "# TODOS are many", "# XXXL"])
def test_other_spellings_are_not_markers(text: str) -> None:
    assert described(text, "python") == []


def test_a_multi_line_block_comment_continues_the_todo() -> None:
    text = "int x;\n/*\n * TODO: split the parser\n * into two passes\n */\nint y;\n"
    (todo,) = find_todos(text, "c", "a.c")
    assert todo.line == 2
    assert todo.text == "split the parser"
    assert todo.full_text == "split the parser into two passes"
    assert todo.last_line == 3


def test_consecutive_line_comments_continue_the_todo() -> None:
    text = "def f():\n    # TODO: cache this\n    # per user\n    return 1\n"
    (todo,) = find_todos(text, "python", "a.py")
    assert todo.full_text == "cache this per user"
    assert todo.last_line == 2


def test_a_comment_at_another_column_is_not_a_continuation() -> None:
    text = "x = 1  # TODO: later\n# unrelated note\n"
    (todo,) = find_todos(text, "python", "a.py")
    assert todo.full_text == "later"
    assert todo.end_line is None


def test_code_after_a_block_comment_is_not_in_the_comment() -> None:
    text = '/* note */ puts("TODO");\n/* open\nstill comment */ x = 1; // TODO: after\n'
    assert described(text, "c") == [(2, "after")]


def test_find_todo_reports_the_comment_position_on_its_line() -> None:
    text = "a = 1\nb = 2  # TODO: b is wrong\n"
    todo = find_todo(text, 1, "python", "file:///w/a.py")
    assert todo is not None
    assert (todo.line, todo.marker, todo.text) == (1, "TODO", "b is wrong")
    line = text.splitlines()[1]
    assert line[todo.comment_start_char :].startswith("# TODO")
    assert todo.comment_end_char == len(line)
    assert find_todo(text, 0, "python", "a.py") is None
    assert find_todo(text, 99, "python", "a.py") is None


def test_find_todo_sees_a_block_comment_opened_lines_earlier() -> None:
    text = '/*\n  TODO: explain\n*/\nputs("TODO");\n'
    todo = find_todo(text, 1, "c", "a.c")
    assert todo is not None and todo.text == "explain"
    assert find_todo(text, 3, "c", "a.c") is None


def test_lines_are_counted_like_the_editor_counts_them() -> None:
    text = "a\r\nb\rc # TODO: third\n"
    assert described(text, "python") == [(2, "third")]


def test_unknown_file_types_accept_common_comments_but_not_urls() -> None:
    text = "see http://example.com TODO\n# TODO: hash\n// TODO: slashes\n<!-- TODO: html -->\n"
    assert described(text, None, "/w/notes.unknown") == [(1, "hash"), (2, "slashes"), (3, "html")]


def test_the_todo_is_still_present_until_its_comment_is_gone() -> None:
    before = "def f():\n    # TODO: handle errors\n    return 1\n"
    todo = find_todo(before, 1, "python", "a.py")
    assert todo is not None
    moved = "import os\n\n" + before
    assert todo_still_present(moved, todo)
    done = "def f():\n    try:\n        return 1\n    except OSError:\n        return 0\n"
    assert not todo_still_present(done, todo)
    assert not todo_still_present(before.replace("TODO", "FIXME"), todo)


def test_a_bare_todo_is_matched_by_its_line() -> None:
    before = "x = compute()  # TODO\ny = other()  # TODO\n"
    todo = find_todo(before, 0, "python", "a.py")
    assert todo is not None
    assert todo_still_present(before, todo)
    assert not todo_still_present("x = compute()\ny = other()  # TODO\n", todo)


PYTHON = """\
import os


class Store:
    @property
    def size(self):
        total = 0
        for item in self.items:
            # TODO: skip deleted items
            total += item.size
        return total

    def clear(self):
        self.items = []
"""


def test_enclosing_block_of_a_python_method() -> None:
    assert enclosing_block(PYTHON, 8) == (4, 10)


def test_enclosing_block_of_a_python_def_line_is_the_def() -> None:
    assert enclosing_block(PYTHON, 12) == (12, 13)


def test_enclosing_block_of_a_multi_line_python_signature() -> None:
    text = "def f(\n    a,\n    b,\n) -> int:\n    # TODO: x\n    return a\n\n\nz = 1\n"
    assert enclosing_block(text, 4) == (0, 5)


BRACES = """\
#include <stdio.h>

static int parse(const char *s)
{
    int n = 0;
    // TODO: handle signs
    return n;
}

int main(void) {
    if (1) {
        puts("hi"); // TODO: remove
    } else {
        puts("no");
    }
    return 0;
}
"""


def test_enclosing_block_of_an_allman_style_c_function() -> None:
    assert enclosing_block(BRACES, 5) == (2, 7)


def test_enclosing_block_of_a_k_and_r_function_includes_its_closing_brace() -> None:
    assert enclosing_block(BRACES, 11) == (9, 16)


def test_enclosing_block_of_a_javascript_method() -> None:
    text = "class A {\n  run(x) {\n    // TODO: validate x\n    return x;\n  }\n\n  stop() {}\n}\n"
    assert enclosing_block(text, 2) == (1, 4)


def test_enclosing_block_is_bounded_and_contains_the_line() -> None:
    body = "".join(f"    x{n} = {n}\n" for n in range(500))
    text = "def big():\n" + body
    start, end = enclosing_block(text, 300, max_lines=40)
    assert end - start + 1 <= 40
    assert start <= 300 <= end


def test_enclosing_block_of_top_level_code_is_its_paragraph() -> None:
    text = "a = 1\n\nb = 2\nc = 3  # TODO\nd = 4\n\ne = 5\n"
    assert enclosing_block(text, 3) == (2, 4)


def test_enclosing_block_of_empty_text() -> None:
    assert enclosing_block("", 0) == (0, 0)
    assert enclosing_block("\n\n\n", 1) == (1, 1)


TOKENS = st.sampled_from(
    [
        *("TODO", "FIXME", "XXX", "(me)", ":", "# ", "//", "/*", "*/", "<!--", "-->", "--", ";"),
        *("# TODO: a", "// FIXME(me): b", "/* XXX c */", "<!-- TODO -->", "-- TODO", "; TODO"),
        *('"', "'", "`", "\\", "\n", "\r\n", "\r", " ", "    ", "x", "def f():", "{", "}", ")"),
    ]
)
TEXTS = st.lists(TOKENS, max_size=40).map("".join) | st.text()
LANGUAGES = st.sampled_from(
    [None, "python", "c", "lua", "html", "css", "lisp", "rust", "vue", "haskell", "sql"]
)


@settings(max_examples=300, deadline=None)
@given(
    TEXTS,
    LANGUAGES,
    st.sampled_from(["a.py", "a.c", "a.txt", "file:///w/a.md", ""]),
)
def test_scanning_arbitrary_text_never_raises(
    text: str, language_id: str | None, path: str
) -> None:
    todos = find_todos(text, language_id, path)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for todo in todos:
        assert isinstance(todo, TodoComment)
        line = lines[todo.line]
        assert line[todo.marker_char :].startswith(todo.marker)
        assert todo.comment_start_char <= todo.marker_char < todo.comment_end_char <= len(line)
        assert find_todo(text, todo.line, language_id, path) is not None
        assert todo_still_present(text, todo)
    for number in range(min(len(lines), 5)):
        start, end = enclosing_block(text, number, max_lines=10)
        assert start <= number <= end and end - start < 10

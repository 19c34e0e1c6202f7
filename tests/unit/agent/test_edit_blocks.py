"""Edits small models write as text (SEARCH/REPLACE blocks, whole files) are read as intended.

The examples are the shapes real models produce (many taken from aider's own tests); the
properties check that what we ask for round-trips exactly and that nothing raises or is lost.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.agent.edit_blocks import (
    _INTERNAL_ERROR,
    REWRITE_LINES_INSTRUCTIONS,
    ParsedEdits,
    SearchReplace,
    WholeFile,
    parse_rewritten_lines,
    parse_search_replace,
    parse_whole_files,
)
from ollama_agent_ls.agent.text_formats import SEARCH_REPLACE_RULES, WHOLE_RULES

F = "```"


def block(search: str, replace: str, head: str = "<<<<<<< SEARCH") -> str:
    """One SEARCH/REPLACE body (no path, no fence); ``search``/``replace`` end with newlines."""
    return f"{head}\n{search}=======\n{replace}>>>>>>> REPLACE\n"


OLD, NEW = "one\n", "two\n"
ONE = block(OLD, NEW)
THREE = block("three\n", "four\n")
EDIT = SearchReplace("app.py", "one\n", "two\n")


# --- SEARCH/REPLACE: the canonical format ---------------------------------------------------


def test_canonical_block_gives_the_edit_and_the_prose_around_it() -> None:
    reply = f"I will rename it.\n\napp.py\n{F}python\n{ONE}{F}\n\nDone."
    result = parse_search_replace(reply)
    assert result == ParsedEdits([EDIT], [], "I will rename it.\n\nDone.")


def test_several_blocks_for_several_files_keep_their_order() -> None:
    A1, A2, B1, B2 = "a = 1\n", "a = 2\n", "b = 1\n", "b = 2\n"
    T1, T2 = "assert a == 1\n", "assert a == 2\n"
    reply = (
        f"src/a.py\n{F}python\n{block(A1, A2)}{F}\n\n"
        f"Then the test:\n\ntests/test_a.py\n{F}python\n{block(T1, T2)}{F}\n\n"
        f"src/a.py\n{F}python\n{block(B1, B2)}{F}\n"
    )
    result = parse_search_replace(reply)
    assert result.edits == [
        SearchReplace("src/a.py", "a = 1\n", "a = 2\n"),
        SearchReplace("tests/test_a.py", "assert a == 1\n", "assert a == 2\n"),
        SearchReplace("src/a.py", "b = 1\n", "b = 2\n"),
    ]
    assert result.errors == []
    assert result.prose == "Then the test:"


def test_empty_search_creates_a_new_file() -> None:
    reply = f"hello.py\n{F}python\n{block('', 'def hello():' + chr(10) + '    pass' + chr(10))}{F}"
    assert parse_search_replace(reply).edits == [
        SearchReplace("hello.py", "", "def hello():\n    pass\n")
    ]


def test_blank_search_counts_as_empty() -> None:
    reply = "notes.txt\n<<<<<<< SEARCH\n   \n\n=======\nappended\n>>>>>>> REPLACE\n"
    assert parse_search_replace(reply).edits == [SearchReplace("notes.txt", "", "appended\n")]


def test_new_file_is_not_redirected_to_a_known_file_with_the_same_name() -> None:
    reply = "app.py\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n"
    result = parse_search_replace(reply, known_paths=["src/app.py"])
    assert result.edits == [SearchReplace("app.py", "", "x = 1\n")]


def test_empty_replace_deletes_the_lines() -> None:
    reply = "app.py\n<<<<<<< SEARCH\nold\n=======\n>>>>>>> REPLACE\n"
    assert parse_search_replace(reply).edits == [SearchReplace("app.py", "old\n", "")]


def test_block_content_is_kept_verbatim() -> None:
    search = '    s = "a\\nb"  # quote \' and "\n\n\t\tlast ünïcödé ✓\n'
    replace = "    s = r'C:\\path'\n```\nnot a fence to us\n"
    reply = f"app.py\n{F}python\n{block(search, replace)}{F}\n"
    assert parse_search_replace(reply).edits == [SearchReplace("app.py", search, replace)]


def test_windows_line_endings_are_read_as_lines() -> None:
    reply = f"app.py\n{F}\n{ONE}{F}\n".replace("\n", "\r\n")
    assert parse_search_replace(reply).edits == [EDIT]


# --- SEARCH/REPLACE: what small models write instead ----------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        f"app.py\n{F}\n{block(OLD, NEW, '<<<<< SEARCH')}{F}",
        f"app.py\n{F}\n<<<<<<<<< SEARCH\none\n=========\ntwo\n>>>>>>>>> REPLACE\n{F}",
        f"app.py\n{F}\n<<<<<<< SEARCH>\none\n=====\ntwo\n>>>>> REPLACE\n{F}",
        f"app.py\n{F}\n<<<<<<<SEARCH\none\n=======\ntwo\n>>>>>>>REPLACE\n{F}",
        f"{F}python\napp.py\n{ONE}{F}",
        f"{F}python app.py\n{ONE}{F}",
        f"{F}app.py\n{ONE}{F}",
        f"{F}python:app.py\n{ONE}{F}",
        f'{F}python title="app.py"\n{ONE}{F}',
        f"**app.py**\n{F}python\n{ONE}{F}",
        f"`app.py`\n{F}python\n{ONE}{F}",
        f"# app.py\n{F}python\n{ONE}{F}",
        f"### app.py\n{F}python\n{ONE}{F}",
        f"app.py:\n{F}python\n{ONE}{F}",
        f"**`app.py`**:\n{F}python\n{ONE}{F}",
        f"File: `app.py`\n{F}python\n{ONE}{F}",
        f"**New file: app.py**\n{F}python\n{ONE}{F}",
        f"`app.py` (new file)\n{F}python\n{ONE}{F}",
        f"app.py\n\n{F}python\n{ONE}{F}",
        f"app.py\n{ONE}",
        f" {F}python\napp.py\n{F}\n{F}python\n{ONE}{F}",
        f"app.py\n{F}python\n  <<<<<<< SEARCH\none\n  =======\ntwo\n  >>>>>>> REPLACE\n{F}",
        f"app.py\n{F}\n<<<<<<< SEARCH\none\n=======\ntwo\n=======\n{F}",
        f"app.py\n{F}\n<<<<<<< SEARCH\none\n=======\ntwo\n=======\n>>>>>>> REPLACE\n{F}",
    ],
    ids=[
        "five-markers",
        "nine-markers",
        "mixed-lengths-and-trailing-gt",
        "no-space-before-word",
        "path-inside-fence",
        "path-after-language",
        "path-as-info",
        "language-colon-path",
        "title-attribute",
        "bold-path",
        "backtick-path",
        "hash-path",
        "heading-path",
        "colon-path",
        "bold-backtick-colon-path",
        "file-label",
        "new-file-label",
        "new-file-remark",
        "blank-between-path-and-fence",
        "bare-markers-no-fence",
        "deepseek-path-in-own-fence",
        "indented-markers",
        "divider-as-end",
        "divider-then-replace",
    ],
)
def test_tolerated_variants_give_the_same_edit(reply: str) -> None:
    result = parse_search_replace(f"Here is the change:\n\n{reply}\n\nHope that helps.")
    assert result.edits == [EDIT]
    assert result.errors == []
    assert result.prose == "Here is the change:\n\nHope that helps."


def test_several_blocks_in_one_fence_share_its_path() -> None:
    reply = f"{F}text\nfoo.txt\n{ONE}\n...\n\n{THREE}{F}\n\nHope you like it!"
    result = parse_search_replace(reply)
    assert result.edits == [
        SearchReplace("foo.txt", "one\n", "two\n"),
        SearchReplace("foo.txt", "three\n", "four\n"),
    ]
    assert result.prose == "Hope you like it!"


def test_a_block_without_a_path_reuses_the_previous_blocks_path() -> None:
    reply = f"app.py\n{F}python\n{ONE}{F}\n\nAnd the next change:\n\n{F}python\n{THREE}{F}\n"
    assert parse_search_replace(reply).edits == [EDIT, SearchReplace("app.py", "three\n", "four\n")]


def test_known_path_wins_over_other_candidates() -> None:
    # DeepSeek-style: a fence's info string and a path line; the known one is the file.
    reply = f"src/app.py\n{F}\n{F}python main.py\n{ONE}{F}"
    assert parse_search_replace(reply, known_paths=["src/app.py"]).edits == [
        SearchReplace("src/app.py", "one\n", "two\n")
    ]


def test_a_bare_file_name_resolves_to_the_known_path() -> None:
    result = parse_search_replace(f"app.py\n{F}\n{ONE}{F}", known_paths=["src/app.py", "README"])
    assert result.edits == [SearchReplace("src/app.py", "one\n", "two\n")]


def test_an_ambiguous_file_name_is_kept_as_written() -> None:
    known = ["src/app.py", "tests/app.py"]
    result = parse_search_replace(f"app.py\n{F}\n{ONE}{F}", known_paths=known)
    assert result.edits == [EDIT]


def test_a_word_counts_as_a_path_only_when_it_is_a_known_file() -> None:
    reply = f"Makefile\n{F}make\n{ONE}{F}"
    assert parse_search_replace(reply, known_paths=["Makefile"]).edits == [
        SearchReplace("Makefile", "one\n", "two\n")
    ]
    assert parse_search_replace(reply).edits == []


def test_a_prose_line_above_the_block_is_not_taken_for_a_path() -> None:
    result = parse_search_replace(f"Change this:\n{F}python\n{ONE}{F}")
    assert result.edits == []
    assert result.errors == [
        "SEARCH/REPLACE block 1 (line 3) has no file path. Put the file's path alone on the line "
        "before the opening ``` fence and send that block again."
    ]
    assert "Change this:" in result.prose


# --- SEARCH/REPLACE: malformed blocks are reported, the rest still applies -------------------


def test_missing_divider_names_the_block_and_the_fix() -> None:
    reply = f"app.py\n{F}\n<<<<<<< SEARCH\none\ntwo\n>>>>>>> REPLACE\n{F}\n\nb.py\n{F}\n{ONE}{F}"
    result = parse_search_replace(reply)
    assert result.edits == [SearchReplace("b.py", "one\n", "two\n")]
    assert result.errors == [
        "SEARCH/REPLACE block 1 (app.py, line 3): the SEARCH part has no ======= line. Write "
        "<<<<<<< SEARCH, the old lines, a line =======, the new lines, then >>>>>>> REPLACE."
    ]


def test_missing_replace_marker_before_the_next_block_is_reported() -> None:
    reply = (
        "app.py\n<<<<<<< SEARCH\na\n=======\nb\n\n"
        "b.py\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE"
    )
    result = parse_search_replace(reply)
    # The next block's path line is swallowed into the broken block, so it reuses app.py.
    assert result.edits == [SearchReplace("app.py", "c\n", "d\n")]
    assert result.errors == [
        "SEARCH/REPLACE block 1 (app.py, line 2): the block has no >>>>>>> REPLACE line before "
        "the next <<<<<<< SEARCH. End every block with >>>>>>> REPLACE and send that block again."
    ]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (
            f"foo.txt\n{F}text\n<<<<<<< SEARCH\nTwo\n=======\nTooooo\n\n\noops!\n",
            "the reply ended before >>>>>>> REPLACE. Send that block again, complete, ending "
            "with >>>>>>> REPLACE.",
        ),
        (
            f"foo.txt\n{F}text\n<<<<<<< SEARCH\nTwo\n",
            "the SEARCH part has no ======= line. Write <<<<<<< SEARCH, the old lines, a line "
            "=======, the new lines, then >>>>>>> REPLACE.",
        ),
    ],
    ids=["in-replace", "in-search"],
)
def test_a_reply_cut_off_inside_a_block_is_reported(reply: str, problem: str) -> None:
    result = parse_search_replace(reply)
    assert result.edits == []
    assert result.errors == [f"SEARCH/REPLACE block 1 (foo.txt, line 3): {problem}"]


def test_a_block_with_no_path_at_all_is_reported_with_its_position() -> None:
    reply = f"Here:\n\n{F}text\n<<<<<<< SEARCH\nTwo\n=======\nTooooo\n>>>>>>> REPLACE\n{F}"
    assert parse_search_replace(reply).errors == [
        "SEARCH/REPLACE block 1 (line 4) has no file path. Put the file's path alone on the line "
        "before the opening ``` fence and send that block again."
    ]


def test_a_replace_marker_without_search_is_reported() -> None:
    reply = f"app.py\n{F}\none\n=======\ntwo\n>>>>>>> REPLACE\n{F}"
    result = parse_search_replace(reply)
    assert result.edits == []
    assert result.errors == [
        "Line 6 has >>>>>>> REPLACE without a <<<<<<< SEARCH before it. Start every block with "
        "<<<<<<< SEARCH, then the old lines, =======, the new lines and >>>>>>> REPLACE."
    ]


def test_shell_blocks_and_prose_are_not_edits() -> None:
    reply = f"Run the tests:\n\n{F}bash\npytest -q\n{F}\n\nThat is all.\n"
    assert parse_search_replace(reply) == ParsedEdits([], [], reply.strip())


# --- whole files ----------------------------------------------------------------------------


def whole(reply: str, known: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    result = parse_whole_files(reply, known)
    assert result.errors == []
    return [(edit.path, edit.content) for edit in result.edits if isinstance(edit, WholeFile)]


def test_whole_file_listing_gives_the_exact_content() -> None:
    reply = (
        f"I rewrote it.\n\nsrc/app.py\n{F}python\nimport os\n\n\ndef f():\n    return 1\n{F}"
        "\n\nDone."
    )
    result = parse_whole_files(reply)
    assert result == ParsedEdits(
        [WholeFile("src/app.py", "import os\n\n\ndef f():\n    return 1\n")],
        [],
        "I rewrote it.\n\nDone.",
    )


def test_several_files_in_one_reply() -> None:
    reply = f"a.py\n{F}\nA\n{F}\n\nNow b:\n\nb/c.txt\n{F}text\nB\n{F}\n"
    assert whole(reply) == [("a.py", "A\n"), ("b/c.txt", "B\n")]


@pytest.mark.parametrize(
    "reply",
    [
        f"{F}python app.py\nx = 1\n{F}",
        f"{F}app.py\nx = 1\n{F}",
        f"**app.py**\n{F}python\nx = 1\n{F}",
        f"### app.py\n{F}\nx = 1\n{F}",
        f"`app.py`:\n{F}\nx = 1\n{F}",
        "app.py\n~~~python\nx = 1\n~~~",
    ],
    ids=["path-after-language", "path-as-info", "bold", "heading", "backticks-colon", "tildes"],
)
def test_whole_file_path_variants(reply: str) -> None:
    assert whole(f"Here it is:\n\n{reply}\n\nBye.") == [("app.py", "x = 1\n")]


def test_a_file_named_in_the_prose_above_an_unnamed_block_is_that_file() -> None:
    reply = (
        "Here is a new version of `a.txt` for you to consider:\n\n"
        f"{F}\nafter a\n{F}\n\nAnd here is `b.txt`:\n\n{F}\nafter b\n{F}\n"
    )
    assert whole(reply, ("a.txt", "b.txt")) == [("a.txt", "after a\n"), ("b.txt", "after b\n")]


def test_with_one_known_file_an_unnamed_block_is_that_file_and_later_ones_are_prose() -> None:
    reply = (
        "Here's the modified file:\n\n"
        f"{F}\nnew\ncontent\n{F}\n\nRun it like this:\n\n{F}\npython hello.py\n{F}\n"
    )
    result = parse_whole_files(reply, ["hello.py"])
    assert result.edits == [WholeFile("hello.py", "new\ncontent\n")]
    assert result.errors == []
    assert "python hello.py" in result.prose


def test_a_file_name_resolves_to_the_known_path() -> None:
    assert whole(f"app.py\n{F}\nx\n{F}", ("src/app.py",)) == [("src/app.py", "x\n")]


def test_an_unnamed_block_with_several_known_files_is_an_error() -> None:
    result = parse_whole_files(f"Here:\n{F}python\nx = 1\n{F}\n", ["a.py", "b.py"])
    assert result.edits == []
    assert result.errors == [
        "The fenced block at line 2 has no file path. Write the file's path alone on the line "
        "before the opening ``` fence, then the complete file."
    ]


def test_unnamed_command_blocks_are_prose_not_errors() -> None:
    reply = f"Run:\n{F}bash\npytest\n{F}\n"
    assert parse_whole_files(reply, ["a.py", "b.py"]) == ParsedEdits([], [], reply.strip())


def test_unnamed_blocks_next_to_a_listing_are_prose() -> None:
    reply = f"a.py\n{F}\nx = 1\n{F}\n\nUse it:\n{F}python\nfrom a import x\n{F}\n"
    result = parse_whole_files(reply, ["a.py", "b.py"])
    assert result.edits == [WholeFile("a.py", "x = 1\n")]
    assert result.errors == []


def test_an_unclosed_listing_is_an_error_not_a_truncated_file() -> None:
    result = parse_whole_files(f"ok.py\n{F}\nfine\n{F}\n\na.py\n{F}python\nx = 1\n")
    assert result.edits == [WholeFile("ok.py", "fine\n")]
    assert result.errors == [
        "The listing for a.py at line 6 has no closing fence. End the file's content with a "
        "line ``` and send the whole file again."
    ]


def test_the_last_listing_of_a_file_wins() -> None:
    reply = f"a.py\n{F}\nfirst\n{F}\n\nSorry, this one:\n\na.py\n{F}\nsecond\n{F}\n"
    assert whole(reply) == [("a.py", "second\n")]


def test_an_empty_block_empties_the_file() -> None:
    assert whole(f"a.py\n{F}\n{F}\n") == [("a.py", "")]


def test_longer_outer_fence_holds_inner_fences() -> None:
    readme = "# Title\n\n```\npip install x\n```\n\n```python\nimport x\n```\n"
    assert whole(f"README.md\n````markdown\n{readme}````\n\nDone.") == [("README.md", readme)]


def test_markdown_with_nested_bare_fences_ends_at_the_last_fence_before_the_next_file() -> None:
    readme = "# Title\n```\ncode\n```\nmore\n"
    reply = f"README.md\n{F}\n{readme}{F}\n\napp.py\n{F}python\nx = 1\n{F}\n"
    assert whole(reply) == [("README.md", readme), ("app.py", "x = 1\n")]


def test_nested_fences_with_a_language_pair_up_inside_the_file() -> None:
    doc = '"""Usage:\n\n```python\n>>> add(1, 2)\n3\n```\n"""\n'
    reply = f"app.py\n{F}python\n{doc}{F}\n\nRun it:\n\n{F}\npython app.py\n{F}\n"
    assert whole(reply) == [("app.py", doc)]


def test_a_path_like_last_line_does_not_end_the_listing_early() -> None:
    reply = (
        f"requirements.txt\n{F}\nrequests==2.31.0\npytest==8.0.1\n{F}\n\nsetup.cfg\n{F}\n[x]\n{F}\n"
    )
    assert whole(reply) == [
        ("requirements.txt", "requests==2.31.0\npytest==8.0.1\n"),
        ("setup.cfg", "[x]\n"),
    ]


# --- rewritten lines ------------------------------------------------------------------------


def test_rewritten_lines_are_the_fenced_block() -> None:
    reply = f"Here you go:\n{F}python\n    x = 1\n    y = 2\n{F}\nThis is cleaner."
    assert parse_rewritten_lines(reply) == "    x = 1\n    y = 2\n"


def test_rewritten_lines_are_the_last_of_several_blocks() -> None:
    reply = f"Before:\n{F}\nold\n{F}\nAfter:\n{F}\nnew\n{F}\n"
    assert parse_rewritten_lines(reply) == "new\n"


def test_rewritten_lines_may_contain_fences_inside_a_longer_fence() -> None:
    assert parse_rewritten_lines("````\n```bash\nls\n```\n````") == "```bash\nls\n```\n"


@pytest.mark.parametrize("reply", ["Sure, x = 1.", "", f"{F}python\nx = 1\n"])
def test_no_closed_block_means_no_rewrite(reply: str) -> None:
    assert parse_rewritten_lines(reply) is None


# --- prompt texts ---------------------------------------------------------------------------


def test_each_prompts_example_is_accepted_by_its_parser() -> None:
    # The rules the text formats send (agent/text_formats.py) must parse as what they show.
    assert parse_search_replace(SEARCH_REPLACE_RULES).edits == [
        SearchReplace(
            "path/to/file.py",
            "lines copied exactly from the file\n",
            "the lines to put in their place\n",
        )
    ]
    assert parse_search_replace(SEARCH_REPLACE_RULES).errors == []
    assert parse_whole_files(WHOLE_RULES).edits == [
        WholeFile("path/to/file.py", "the entire content of the file\n")
    ]
    # The rewrite prompt has no example: small models copied it over the selection.
    assert parse_rewritten_lines(REWRITE_LINES_INSTRUCTIONS) is None


@pytest.mark.parametrize("text", [SEARCH_REPLACE_RULES, WHOLE_RULES, REWRITE_LINES_INSTRUCTIONS])
def test_prompts_are_short_stable_and_safe_to_format(text: str) -> None:
    assert len(text) / 4 < 110  # rough tokens; every one is paid in prefill on each request
    assert not re.search(r"\d{4}-\d{2}-\d{2}|/tmp|/var/|[A-Za-z]:\\", text)
    assert "{" not in text and "}" not in text  # safe inside a str.format template


# --- properties -----------------------------------------------------------------------------

MARKERISH = re.compile(r"[<=>]{5}")
_TRICKY = ['"quoted"', "back\\slash", "  indented 'q'", "ünïcödé ✓ 🙂", "", "\t", "x = {}"]
line_text = st.one_of(
    st.sampled_from(_TRICKY),
    st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=24),
)
# Lines that would be markers or fences are the one thing the format cannot carry.
content_line = line_text.filter(
    lambda line: not MARKERISH.match(line.strip()) and not line.strip().startswith(("```", "~~~"))
)
segment = st.text(
    st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="_-"),
    min_size=1,
    max_size=8,
)
paths = st.builds(
    lambda dirs, name, ext: "/".join([*dirs, f"{name}.{ext}"]),
    st.lists(segment, max_size=2),
    segment,
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=4),
)
texts = st.lists(content_line, max_size=6).map(lambda lines: "".join(x + "\n" for x in lines))
prose_line = content_line.filter(lambda line: " " in line.strip())
prose = st.lists(prose_line, max_size=2)


def render_block(path: str, search: str, replace: str, fenced: bool) -> str:
    body = block(search, replace)
    return f"{path}\n{F}python\n{body}{F}\n" if fenced else f"{path}\n{body}"


@settings(deadline=None)
@given(
    blocks=st.lists(
        st.tuples(paths, texts.filter(lambda t: t == "" or t.strip() != ""), texts, prose),
        max_size=5,
    ),
    fenced=st.booleans(),
    know=st.booleans(),
)
def test_rendered_blocks_parse_back_to_the_same_edits(
    blocks: list[tuple[str, str, str, list[str]]], fenced: bool, know: bool
) -> None:
    reply = "\n".join(
        render_block(path, search, replace, fenced) + "".join(f"\n{p}\n" for p in between)
        for path, search, replace, between in blocks
    )
    known = [path for path, *_ in blocks] if know else []
    result = parse_search_replace(reply, known)
    assert result.edits == [SearchReplace(p, s, r) for p, s, r, _ in blocks]
    assert result.errors == []
    for _, _, _, between in blocks:
        for line in between:
            assert line.strip() in result.prose


@settings(deadline=None)
@given(
    files=st.lists(st.tuples(paths, texts, prose), max_size=4, unique_by=lambda f: f[0]),
    know=st.booleans(),
)
def test_rendered_listings_parse_back_to_the_same_files(
    files: list[tuple[str, str, list[str]]], know: bool
) -> None:
    reply = "".join(
        f"{path}\n{F}\n{content}{F}\n" + "".join(f"\n{p}\n" for p in between) + "\n"
        for path, content, between in files
    )
    known = [path for path, *_ in files] if know else []
    result = parse_whole_files(reply, known)
    assert result.edits == [WholeFile(path, content) for path, content, _ in files]
    assert result.errors == []


@settings(deadline=None)
@given(before=prose, content=texts, after=prose)
def test_rendered_rewrite_parses_back(before: list[str], content: str, after: list[str]) -> None:
    reply = "\n".join([*before, f"{F}python\n{content}{F}", *after])
    assert parse_rewritten_lines(reply) == content


_SYNTAX = [
    "<<<<<<< SEARCH",
    "=======",
    ">>>>>>> REPLACE",
    "<<<<< SEARCH>",
    F,
    f"{F}python",
    f"{F}python app.py",
    "````",
    "~~~",
    "app.py",
    "**src/a.md**:",
    "...",
    "",
    "Here is `app.py`:",
]
replies = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(_SYNTAX), line_text), max_size=40).map("\n".join),
)


def heads(reply: str) -> int:
    lines = reply.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return sum(bool(re.fullmatch(r"<{5,9} ?SEARCH>?", x.strip(), re.IGNORECASE)) for x in lines)


@settings(deadline=None, max_examples=300)
@given(reply=replies, known=st.lists(st.sampled_from(["app.py", "src/a.md", "b.py"]), max_size=2))
def test_any_reply_parses_without_failing_and_every_block_is_accounted_for(
    reply: str, known: list[str]
) -> None:
    result = parse_search_replace(reply, known)
    assert _INTERNAL_ERROR not in result.errors
    block_errors = [e for e in result.errors if e.startswith("SEARCH/REPLACE block")]
    assert len(result.edits) + len(block_errors) == heads(reply)
    for edit in result.edits:
        assert isinstance(edit, SearchReplace) and edit.path
        assert all(t == "" or t.endswith("\n") for t in (edit.search, edit.replace))

    files = parse_whole_files(reply, known)
    assert _INTERNAL_ERROR not in files.errors
    assert len({edit.path for edit in files.edits}) == len(files.edits)
    for edit in files.edits:
        assert isinstance(edit, WholeFile) and edit.path
        assert edit.content == "" or edit.content.endswith("\n")

    rewritten = parse_rewritten_lines(reply)
    assert rewritten is None or rewritten == "" or rewritten.endswith("\n")


@settings(deadline=None)
@given(reply=st.lists(content_line, max_size=20).map("\n".join))
def test_text_without_markers_or_fences_has_no_edits(reply: str) -> None:
    assert parse_search_replace(reply, ["app.py"]) == ParsedEdits(
        [], [], parse_search_replace(reply).prose
    )
    assert parse_whole_files(reply, ["app.py"]).edits == []
    assert parse_whole_files(reply, ["app.py"]).errors == []
    assert parse_rewritten_lines(reply) is None


def test_large_replies_are_parsed_in_one_pass() -> None:
    many = "".join(f"f{i}.py\n{F}\n{ONE}{F}\n" for i in range(2000))
    assert len(parse_search_replace(many).edits) == 2000
    fences = "a.md\n" + f"{F}\n" * 20001
    assert len(parse_whole_files(fences).edits) == 1
    assert parse_rewritten_lines(fences) == ""
    heads_only = "a.py\n" + "<<<<<<< SEARCH\n" * 5000
    assert len(parse_search_replace(heads_only).errors) == 5000

"""The tool-call formats real small models write: each is read (repaired where it is almost-JSON)
or reported back to the model, and prose or code is never mistaken for a call.

Shapes come from /work/shared/reference/real-model.md ("How these models call tools") and the
issue threads it cites; the triple-quoted write_file is the reply that ended two measured
Qwen2.5-Coder-1.5B runs as "completed" after one turn with nothing changed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ollama_agent_ls.agent.text_tool_calls import (
    TextToolScan,
    clean_tool_name,
    extract_text_tool_calls,
    scan_text_tool_calls,
    strip_harmony,
)
from ollama_agent_ls.tools.schemas import ReadFileArgs

TOOLS = frozenset({"read_file", "write_file", "edit_file", "list_files", "run_command"})


def scan(content: str) -> TextToolScan:
    return scan_text_tool_calls(content, TOOLS)


def calls(content: str) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, call.arguments) for call in scan(content).calls]


def only_calls(content: str) -> list[tuple[str, dict[str, Any]]]:
    """The calls, after checking nothing was reported as unreadable."""
    result = scan(content)
    assert result.malformed == []
    return [(call.name, call.arguments) for call in result.calls]


# --- the real failing reply ---------------------------------------------------------------------

# File text with everything that breaks naive parsing: a docstring (its own triple quotes), double
# and single quotes, an f-string brace, and backslashes that must reach the file as written.
GREET = (
    "import re\n"
    "\n"
    "\n"
    "def greet(name):\n"
    '    """Say hello to name."""\n'
    '    print(f"Hello, {name}! It\'s \\"nice\\" here.\\n")\n'
    "    return re.sub(r'\\s+', ' ', name)\n"
)


def test_the_failing_triple_quoted_write_file_writes_exactly_the_intended_text() -> None:
    reply = (
        "Here is the file:\n"
        "```json\n"
        "{\n"
        '  "name": "write_file",\n'
        '  "arguments": {\n'
        '    "path": "greet.py",\n'
        '    "content": """' + GREET + '"""\n'
        "  }\n"
        "}\n"
        "```\n"
    )
    assert only_calls(reply) == [("write_file", {"path": "greet.py", "content": GREET})]
    # The loop's current entry point sees it too.
    (call,) = extract_text_tool_calls(reply, TOOLS)
    assert call.arguments["content"] == GREET


@pytest.mark.parametrize(
    "template",
    [
        "```python\n{'name': 'write_file', 'arguments': {'path': 'greet.py', "
        "'content': '''CONTENT'''}}\n```",
        '<tool_call>\n{"name": "write_file", "arguments": {"path": "greet.py", '
        '"content": """CONTENT"""}}\n</tool_call>',
        'I will write it. {"name": "write_file", "arguments": {"path": "greet.py", '
        '"content": """CONTENT"""}} Done.',
        '```json\n{"name": "write_file", "arguments": {"path": "greet.py", '
        '"content": r"""CONTENT""",}}\n```',
    ],
    ids=["python-fence-single-quotes", "tag", "bare-in-prose", "raw-prefix-trailing-comma"],
)
def test_triple_quoted_content_is_exact_in_every_container(template: str) -> None:
    reply = template.replace("CONTENT", GREET)
    assert only_calls(reply) == [("write_file", {"path": "greet.py", "content": GREET})]


def test_edit_file_with_two_triple_quoted_strings_keeps_both() -> None:
    reply = (
        '```json\n{"name": "edit_file", "arguments": {"path": "a.py", '
        '"old_string": """def f():\n    return 1\n""", '
        '"new_string": """def f():\n    """Two."""\n    return 2\n"""}}\n```'
    )
    assert only_calls(reply) == [
        (
            "edit_file",
            {
                "path": "a.py",
                "old_string": "def f():\n    return 1\n",
                "new_string": 'def f():\n    """Two."""\n    return 2\n',
            },
        )
    ]


def test_a_one_line_triple_quoted_string_uses_escapes_like_json() -> None:
    reply = (
        '```json\n{"name": "write_file", "arguments": {"path": "a", "content": """a\\nb"""}}\n```'
    )
    assert only_calls(reply) == [("write_file", {"path": "a", "content": "a\nb"})]


def test_the_newline_after_opening_triple_quotes_is_layout_not_content() -> None:
    reply = (
        '```json\n{"name": "write_file", "arguments": {"path": "a", "content": """\nx = 1\n"""}}'
    )
    assert only_calls(reply) == [("write_file", {"path": "a", "content": "x = 1\n"})]


def test_an_example_call_inside_the_file_being_written_is_not_made() -> None:
    readme = 'Call it like {"name": "run_command", "arguments": {"command": "rm -rf /"}}.\n'
    reply = (
        '```json\n{"name": "write_file", "arguments": {"path": "README.md", "content": """'
        + readme
        + '"""}}\n```'
    )
    assert only_calls(reply) == [("write_file", {"path": "README.md", "content": readme})]


# --- almost-JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "```json\n{'name': 'read_file', 'arguments': {'path': 'a.py'}}\n```",
            ("read_file", {"path": "a.py"}),
        ),
        (
            '<tool_call>{"name": "read_file", "arguments": {"path": "a.py",},}</tool_call>',
            ("read_file", {"path": "a.py"}),
        ),
        (
            '```json\n{"name": "write_file", "arguments": {"path": "a", "content": "l1\nl2"}}\n```',
            ("write_file", {"path": "a", "content": "l1\nl2"}),
        ),
        (
            '```json\n{"name": "read_file", "arguments": {"path": "a.py"}\n```',
            ("read_file", {"path": "a.py"}),
        ),
        (
            'Reading it.\n```json\n{"name": "read_file", "arguments": {"path": "a.py"',
            ("read_file", {"path": "a.py"}),
        ),
        (
            'Reading it. {"name": "read_file", "arguments": {"path": "a.py"}',
            ("read_file", {"path": "a.py"}),
        ),
        (
            '<tool_call>\n{"name": "edit_file", "arguments": {"path": "a", "old_string": "x", '
            '"new_string": "y", "replace_all": True}}\n</tool_call>',
            ("edit_file", {"path": "a", "old_string": "x", "new_string": "y", "replace_all": True}),
        ),
        (
            '```json\n{"name": "read_file", "arguments": {"path": "a", "start_line": None, '
            '"end_line": 3}}\n```',
            ("read_file", {"path": "a", "start_line": None, "end_line": 3}),
        ),
        (
            "Let me run it: {'name': 'run_command', 'arguments': {'command': \"echo 'hi'\"}}",
            ("run_command", {"command": "echo 'hi'"}),
        ),
        (
            "```json\n{\"function\": {'name': 'list_files', 'arguments': {'glob': '*.py'}}}\n```",
            ("list_files", {"glob": "*.py"}),
        ),
        (
            '```json\n{"name": "functions.read_file", "arguments": {"path": "a"}}\n```',
            ("read_file", {"path": "a"}),
        ),
    ],
    ids=[
        "single-quotes",
        "trailing-commas",
        "raw-newline-in-string",
        "missing-closing-brace",
        "reply-ends-mid-call",
        "bare-missing-brace",
        "python-true",
        "python-none",
        "bare-single-quotes",
        "wrapper-mixed-quotes",
        "functions-prefix",
    ],
)
def test_almost_json_calls_are_repaired(content: str, expected: tuple[str, dict[str, Any]]) -> None:
    assert only_calls(content) == [expected]


def test_a_readable_call_then_a_broken_one_gives_both() -> None:
    content = (
        "```json\n"
        '{"name": "read_file", "arguments": {"path": "a"}}\n'
        "{'name': 'list_files', 'arguments': {},}\n"
        "```"
    )
    assert only_calls(content) == [("read_file", {"path": "a"}), ("list_files", {})]


def test_a_repair_that_would_drop_text_is_reported_instead_of_run() -> None:
    content = (
        '```json\n{"name": "write_file", "arguments": {"path": "a.sh", "content": <<<EOF\n'
        "echo hi\nEOF\n}}\n```"
    )
    result = scan(content)
    assert result.calls == []
    (message,) = result.malformed
    assert message.startswith("Your write_file call could not be read:")
    assert "'<<<'" in message


# --- what is never a call ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "I will use read_file to look at it, then write_file. The name: read_file fits.",
        "```python\nconfig = {'name': 'read_file', 'arguments': {'path': 'a'}}\n```",
        '```python\ndef f():\n    """Doc."""\n'
        "    return {'name': 'read_file', 'x': True,}\n```",
        "```python\nTAG = '<tool_call>'\nprint(TAG + \"{'name': 'read_file'}\")\n```",
        "```python\nprint('<function=read_file><parameter=path>a</parameter></function>')\n```",
        "```js\nconst call = { name: 'read_file', arguments: { path: 'a' } };\n```",
        "{'name': 'Bob', 'age': 3} is a Python dict.",
        '```json\n{"name": "my-package", "version": "1.0.0", "scripts": {"test": "pytest"}}\n```',
        "The reply may wrap a call in <tool_call> tags.",
        "Harmony uses to=functions.NAME headers.",
        "```\n$ ls\nREADME.md\n```",
        "",
    ],
    ids=[
        "prose-naming-tools",
        "python-assignment",
        "python-docstring-and-dict",
        "python-string-holding-a-tag",
        "python-string-holding-a-function-tag",
        "js-object",
        "python-dict-in-prose",
        "package-json",
        "prose-about-the-tag",
        "prose-about-harmony",
        "shell-session",
        "empty",
    ],
)
def test_prose_and_code_give_neither_calls_nor_complaints(content: str) -> None:
    assert scan(content) == TextToolScan()


def test_an_echoed_tools_block_is_neither_a_call_nor_a_complaint() -> None:
    definition = {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file; lines are numbered.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
    content = f"<tools>\n{json.dumps(definition)}\n</tools>"
    assert scan(content) == TextToolScan()
    assert scan(f"```json\n{json.dumps(definition)}\n```") == TextToolScan()


def test_a_call_mentioned_in_harmony_reasoning_is_not_made() -> None:
    content = (
        '<|channel|>analysis<|message|>I could call {"name": "read_file", "arguments": '
        '{"path": "a"}} but need not.<|end|><|start|>assistant<|channel|>final<|message|>Done.'
    )
    assert scan(content) == TextToolScan()


# --- unreadable and unknown calls are reported ----------------------------------------------------


def test_an_unreadable_call_names_the_tool_the_reason_and_the_fix() -> None:
    content = '<tool_call>{"name": "read_file", "arguments": {"path": <<a.py>>}}</tool_call>'
    result = scan(content)
    assert result.calls == []
    (message,) = result.malformed
    assert message.startswith("Your read_file call could not be read: it is not valid JSON")
    assert 'Resend it as one JSON object: {"name": "read_file", "arguments": {...}}' in message
    assert "strings in double quotes, newlines as \\n" in message


@pytest.mark.parametrize(
    ("content", "name"),
    [
        ('<tool_call>{"name": "rm", "arguments": {"path": "/"}}</tool_call>', "rm"),
        ('```json\n{"name": "delete_file", "arguments": {"path": "a"}}\n```', "delete_file"),
        ("<function=shell><parameter=cmd>ls</parameter></function>", "shell"),
        (
            "<|channel|>commentary to=functions.browser.search <|constrain|>json"
            '<|message|>{"q": "x"}<|call|>',
            "browser.search",
        ),
    ],
    ids=["tag", "json-fence", "qwen3-function", "harmony"],
)
def test_an_unknown_tool_in_a_call_container_is_reported_with_the_available_ones(
    content: str, name: str
) -> None:
    result = scan(content)
    assert result.calls == []
    assert result.malformed == [
        f"Unknown tool {name!r}; available: edit_file, list_files, read_file, run_command, "
        "write_file. Resend the call as one JSON object with one of these names: "
        '{"name": "...", "arguments": {...}}.'
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('<tool_call>{"name": "read_file", "arguments": "a.py"}</tool_call>', '"arguments" must'),
        ('```json\n{"name": "read_file", "arguments": ["a.py"]}\n```', "not a list"),
        ('{"name": "read_file"}', 'no "arguments"'),
        ("<tool_call>{oops}</tool_call>", "A tool call in your reply could not be read"),
        ('<tool_call>{"path": "a.py"}</tool_call>', 'no "name"'),
        ("<function=write_file>not json</function>", "neither <parameter=NAME>"),
        ("<|channel|>commentary to=functions.read_file<|message|>a.py<|call|>", "not valid JSON"),
    ],
    ids=[
        "string-arguments",
        "list-arguments",
        "bare-without-arguments",
        "tag-garbage",
        "tag-without-name",
        "function-garbage",
        "harmony-garbage",
    ],
)
def test_plain_attempts_that_cannot_be_read_are_reported(content: str, reason: str) -> None:
    result = scan(content)
    assert result.calls == []
    assert len(result.malformed) == 1
    assert reason in result.malformed[0]


def test_good_and_bad_calls_in_one_reply_give_calls_and_complaints_in_order() -> None:
    content = (
        '<tool_call>{"name": "read_file", "arguments": {"path": "a"}}</tool_call>\n'
        '<tool_call>{"name": "rm", "arguments": {}}</tool_call>\n'
        '<tool_call>{"name": "list_files", "arguments": {}}</tool_call>'
    )
    result = scan(content)
    assert [(call.name, call.arguments) for call in result.calls] == [
        ("read_file", {"path": "a"}),
        ("list_files", {}),
    ]
    assert len(result.malformed) == 1
    assert result.malformed[0].startswith("Unknown tool 'rm'")


# --- Qwen3-Coder <function=...><parameter=...> ---------------------------------------------------


def test_qwen3_coder_calls_keep_multi_line_values_minus_one_newline_each_side() -> None:
    content = (
        "<tool_call>\n"
        "<function=write_file>\n"
        "<parameter=path>\n"
        "src/app.py\n"
        "</parameter>\n"
        "<parameter=content>\n"
        "\n"
        'def main():\n    print("hi <b>")\n'
        "\n"
        "</parameter>\n"
        "</function>\n"
        "</tool_call>"
    )
    assert only_calls(content) == [
        ("write_file", {"path": "src/app.py", "content": '\ndef main():\n    print("hi <b>")\n'})
    ]


def test_qwen3_coder_calls_without_the_tool_call_wrapper_or_closing_tags_are_read() -> None:
    content = (
        "<function=read_file><parameter=path>a.py</parameter></function>\n"
        "<function=run_command>\n<parameter=command>\npytest -q\n"
    )
    assert only_calls(content) == [
        ("read_file", {"path": "a.py"}),
        ("run_command", {"command": "pytest -q"}),
    ]


def test_qwen3_coder_numbers_stay_text_which_the_argument_models_accept() -> None:
    content = (
        "<function=read_file><parameter=path>a.py</parameter>"
        "<parameter=start_line>10</parameter></function>"
    )
    ((_, arguments),) = only_calls(content)
    assert arguments == {"path": "a.py", "start_line": "10"}
    assert ReadFileArgs.model_validate(arguments).start_line == 10


# --- gpt-oss harmony -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "<|channel|>analysis<|message|>Need the file.<|end|><|start|>assistant<|channel|>"
        'commentary to=functions.read_file <|constrain|>json<|message|>{"path": "a.py"}<|call|>',
        "<|start|>assistant<|channel|>analysis to=functions.read_file code<|message|>\n"
        '{"path": "a.py"}<|call|>',
        '<|start|>assistant to=functions.read_file<|channel|>commentary json<|message|>{"path": '
        '"a.py"}',
        'assistant<|channel|>commentary to=functions.read_file<|message|>{"path": "a.py",}<|call|>',
        'commentary to=functions.read_file json{"path":"a.py"}',
    ],
    ids=[
        "commentary-channel",
        "analysis-channel-recipient",
        "recipient-in-role-unterminated",
        "no-start-token-trailing-comma",
        "tokens-dropped-by-the-server",
    ],
)
def test_harmony_calls_are_read(content: str) -> None:
    assert only_calls(content) == [("read_file", {"path": "a.py"})]
    # The loop may strip harmony first: the call survives it.
    assert only_calls(strip_harmony(content)) == [("read_file", {"path": "a.py"})]


def test_strip_harmony_keeps_only_the_answer() -> None:
    content = (
        "<|channel|>analysis<|message|>The user wants 2+2. Think.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>The answer is 4.<|return|>"
    )
    assert strip_harmony(content) == "The answer is 4."


def test_strip_harmony_leaves_plain_text_alone() -> None:
    text = "No tokens here: a <b>tag</b>, a {dict} and a | pipe."
    assert strip_harmony(text) == text


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("read_file", "read_file"),
        ("read_file<|channel|>commentary", "read_file"),
        ("create_event<|channel|>analysis", "create_event"),
        ("functions.read_file", "read_file"),
        ("<|channel|>commentary to=functions.read_file <|constrain|>json", "read_file"),
        ("read_file json", "read_file"),
        ("read_file<|channel", "read_file"),
        ("  write_file\n", "write_file"),
        # The real name is lost here (ollama/ollama#11704); what is left names no tool, so the
        # executor answers "Unknown tool" with the list instead of running a guess.
        ("assistant<|channel|>analysis", "assistant"),
        ("", ""),
    ],
)
def test_clean_tool_name(name: str, clean: str) -> None:
    assert clean_tool_name(name) == clean


# --- properties ----------------------------------------------------------------------------------

TRICKY_TEXT = st.sampled_from(
    [
        'say "hi"',
        "C:\\temp\\new\\",
        "line1\nline2\n",
        "ünïcødé ✓ 日本",
        "'single'",
        '{"name": "read_file", "arguments": {}}',
        "```json\n{}\n```",
        "</tool_call>",
        "<function=read_file>",
        "",
    ]
)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | TRICKY_TEXT
ARGUMENTS = st.dictionaries(
    st.text(max_size=8), TEXT | st.integers() | st.booleans() | st.none(), max_size=4
)
NAMES = st.sampled_from(sorted(TOOLS))
PROSE = st.text(
    alphabet=st.characters(blacklist_characters="{}[]`<", blacklist_categories=("Cs",)),
    max_size=60,
)


def render(container: str, name: str, arguments: dict[str, Any]) -> str:
    args = json.dumps(arguments)
    call = json.dumps({"name": name, "arguments": arguments})
    return {
        "bare": call,
        "json-fence": f"```json\n{call}\n```",
        "plain-fence": f"```\n{call}\n```",
        "inline-fence": f"```json{call}```",
        "tag": f"<tool_call>\n{call}\n</tool_call>",
        "unclosed-tag": f"<tool_call>{call}",
        "tag-around-fence": f"<tool_call>\n```json\n{call}\n```\n</tool_call>",
        "llama-function": f"<function={name}>{args}</function>",
        "harmony": f"<|channel|>commentary to=functions.{name} <|constrain|>json"
        f"<|message|>{args}<|call|>",
        "harmony-loose": f"commentary to=functions.{name} json{args}",
    }[container]


JSON_CONTAINERS = [
    "bare",
    "json-fence",
    "plain-fence",
    "inline-fence",
    "tag",
    "unclosed-tag",
    "tag-around-fence",
    "llama-function",
    "harmony",
    "harmony-loose",
]


@settings(max_examples=400, deadline=None)
@given(
    container=st.sampled_from(JSON_CONTAINERS),
    name=NAMES,
    arguments=ARGUMENTS,
    before=PROSE,
    after=PROSE,
)
def test_every_json_container_round_trips_the_call(
    container: str, name: str, arguments: dict[str, Any], before: str, after: str
) -> None:
    if container.startswith("harmony"):
        # Harmony messages end at the next control token, so text cannot hold one.
        assume("<|" not in json.dumps(arguments) + before + after)
        assume("to=" not in before + after)
    content = f"{before}\n{render(container, name, arguments)}\n{after}"
    assert only_calls(content) == [(name, arguments)]
    if container.startswith("harmony"):
        assert only_calls(strip_harmony(content)) == [(name, arguments)]


XML_TAGS = ("</parameter>", "<parameter=", "</function>", "<function=", "</tool_call>", "<|")
XML_VALUE = TEXT.filter(lambda value: not any(tag in value for tag in XML_TAGS))


@settings(max_examples=300, deadline=None)
@given(
    name=NAMES,
    arguments=st.dictionaries(
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True), XML_VALUE, max_size=4
    ),
    wrapped=st.booleans(),
)
def test_qwen3_coder_format_round_trips_text_values(
    name: str, arguments: dict[str, str], wrapped: bool
) -> None:
    parameters = "".join(
        f"<parameter={key}>\n{value}\n</parameter>\n" for key, value in arguments.items()
    )
    block = f"<function={name}>\n{parameters}</function>"
    content = f"<tool_call>\n{block}\n</tool_call>" if wrapped else block
    assert only_calls(content) == [(name, arguments)]


FILE_LINES = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    min_size=2,
    max_size=5,
).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(content=FILE_LINES, quote=st.sampled_from(['"""', "'''"]))
def test_multi_line_triple_quoted_content_round_trips_verbatim(content: str, quote: str) -> None:
    # What a triple-quoted string cannot hold, or a fence cannot: its own quotes, a fence.
    assume(quote not in content and "```" not in content)
    assume(not content.startswith(("\n", "\r\n")) and quote[0] * 3 not in content)
    assume('\\"\\"\\"' not in content and "\\'\\'\\'" not in content)
    reply = (
        '```json\n{"name": "write_file", "arguments": {"path": "f", "content": '
        f"{quote}{content}{quote}}}}}\n```"
    )
    assert only_calls(reply) == [("write_file", {"path": "f", "content": content})]


CODE_AND_PROSE = st.lists(
    st.sampled_from(
        [
            "read_file",
            "write_file",
            "name",
            "arguments",
            " ",
            "\n",
            "the",
            "call",
            ":",
            ",",
            "=",
            "(",
            ")",
            "{",
            "}",
            "[",
            "]",
            "'hello'",
            '"text"',
            "def f(x):",
            "return {}",
            "x = {'a': 1}",
            "True",
            "None",
            "\\",
            "to",
            "functions.",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=CODE_AND_PROSE, fenced=st.sampled_from(["", "python", "js", "text"]))
def test_prose_and_code_without_call_containers_yield_nothing(text: str, fenced: str) -> None:
    content = f"```{fenced}\n{text}\n```" if fenced else text
    assert scan(content) == TextToolScan()


FRAGMENTS = st.sampled_from(
    [
        "<tool_call>",
        "</tool_call>",
        "<function=read_file>",
        "<function=nope>",
        "<parameter=path>",
        "</parameter>",
        "</function>",
        "```json\n",
        "```\n",
        "<|channel|>",
        "<|message|>",
        "<|call|>",
        "<|end|>",
        "commentary to=functions.read_file ",
        '{"name": "read_file", "arguments": ',
        "{'name': 'write_file', 'arguments': {'content': '''",
        '"""',
        "'''",
        "{",
        "}",
        "[",
        "]",
        '"',
        "'",
        ",",
        ":",
        "True",
        "\n",
        "\\",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(FRAGMENTS | st.text(max_size=10), max_size=30).map("".join))
def test_arbitrary_text_never_raises_and_only_names_known_tools(content: str) -> None:
    result = scan(content)
    for call in result.calls:
        assert call.name in TOOLS
        assert isinstance(call.arguments, dict)
    assert all(isinstance(message, str) and message for message in result.malformed)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_unicode_never_raises(content: str) -> None:
    assert all(call.name in TOOLS for call in scan(content).calls)


def test_extract_text_tool_calls_is_the_calls_of_the_scan() -> None:
    content = '<tool_call>{"name": "read_file", "arguments": {"path": "a"}}</tool_call>'
    assert extract_text_tool_calls(content, TOOLS) == scan(content).calls


def test_pathological_inputs_finish_with_only_known_tools() -> None:
    for content in (
        "{" * 100_000,
        "```json\n" + "{" * 50_000,
        "<tool_call>" + "[" * 50_000,
        '{"name": "read_file", "arguments": ' * 3000,
        "```\n" * 20_000,
        '"""' * 30_000,
        "<|channel|>" * 20_000,
        "<function=read_file>" * 5000,
    ):
        result = scan(content)
        assert all(call.name in TOOLS for call in result.calls)

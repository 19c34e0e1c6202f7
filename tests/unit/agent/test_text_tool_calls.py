"""Tool calls that small models write as text are found, and nothing else is mistaken for one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.agent.text_tool_calls import extract_text_tool_calls

TOOLS = {"read_file", "write_file", "list_files", "run_command"}


def calls(content: str) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, call.arguments) for call in extract_text_tool_calls(content, TOOLS)]


READ = ("read_file", {"path": "README.md"})


@pytest.mark.parametrize(
    "content",
    [
        '<tool_call>\n{"name": "read_file", "arguments": {"path": "README.md"}}\n</tool_call>',
        'Let me look.\n<tool_call>{"name": "read_file", "arguments": {"path": "README.md"}}',
        '```json\n{"name": "read_file", "arguments": {"path": "README.md"}}\n```',
        '```\n{"name": "read_file", "arguments": {"path": "README.md"}}\n```',
        '```tool_call\n{"name": "read_file", "arguments": {"path": "README.md"}}\n```',
        'I will call {"name": "read_file", "parameters": {"path": "README.md"}} now.',
        '{"name": "read_file", "args": {"path": "README.md"}}',
        '{"name": "read_file", "input": {"path": "README.md"}}',
        '{"function": {"name": "read_file", "arguments": {"path": "README.md"}}}',
        '{"type": "function",'
        ' "function": {"name": "read_file", "arguments": {"path": "README.md"}}}',
        '[{"name": "read_file", "arguments": {"path": "README.md"}}]',
        '{"tool_calls": [{"function": {"name": "read_file", "arguments": {"path": "README.md"}}}]}',
        '<function=read_file>{"path": "README.md"}</function>',
        '[TOOL_CALLS]read_file[ARGS]{"path": "README.md"}',
    ],
    ids=[
        "tag",
        "unclosed-tag",
        "json-fence",
        "plain-fence",
        "tool_call-fence",
        "bare-parameters",
        "args",
        "input",
        "function-wrapper",
        "openai-type-function",
        "list",
        "tool_calls-wrapper",
        "llama-function-tag",
        "mistral",
    ],
)
def test_each_format_gives_the_call(content: str) -> None:
    assert calls(content) == [READ]


def test_calls_get_no_id_so_the_loop_can_assign_one() -> None:
    (call,) = extract_text_tool_calls('{"name": "read_file", "arguments": {"path": "a"}}', TOOLS)
    assert call.id is None


def test_several_tags_in_a_row_give_every_call_in_order() -> None:
    content = (
        '<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}</tool_call>\n'
        '<tool_call>{"name": "write_file", "arguments": {"path": "b.py", "content": "x = {}"}}'
        "</tool_call>\n"
        '<tool_call>{"name": "list_files", "arguments": {}}'
    )
    assert calls(content) == [
        ("read_file", {"path": "a.py"}),
        ("write_file", {"path": "b.py", "content": "x = {}"}),
        ("list_files", {}),
    ]


def test_a_list_of_calls_gives_all_of_them() -> None:
    content = json.dumps(
        [
            {"name": "read_file", "arguments": {"path": "a"}},
            {"name": "run_command", "arguments": {"command": "pytest"}},
        ]
    )
    assert calls(content) == [("read_file", {"path": "a"}), ("run_command", {"command": "pytest"})]


def test_string_encoded_arguments_are_decoded() -> None:
    content = json.dumps({"name": "read_file", "arguments": json.dumps({"path": "x.py"})})
    assert calls(content) == [("read_file", {"path": "x.py"})]


def test_double_encoded_arguments_are_decoded() -> None:
    inner = json.dumps(json.dumps({"path": "x.py"}))
    content = '{"name": "read_file", "arguments": ' + inner + "}"
    assert calls(content) == [("read_file", {"path": "x.py"})]


@pytest.mark.parametrize(
    "content",
    [
        '{"name": "delete_everything", "arguments": {"path": "/"}}',
        '<tool_call>{"name": "rm", "arguments": {}}</tool_call>',
        '{"name": "Bob", "age": 3}',
        '{"name": "read_file"}',
        '{"name": "read_file", "arguments": "README.md"}',
        '{"name": "read_file", "arguments": ["README.md"]}',
        '{"name": "read_file", "arguments": null}',
        '{"name": "read_file", "arguments": "{not json"}',
        '{"name": "read_file", "arguments": "[1, 2]"}',
        '{"name": ["read_file"], "arguments": {}}',
    ],
    ids=[
        "unknown-name",
        "unknown-in-tag",
        "a-person",
        "no-arguments",
        "string-arguments",
        "list-arguments",
        "null-arguments",
        "broken-json-string",
        "string-holding-a-list",
        "name-not-a-string",
    ],
)
def test_things_that_are_not_calls_are_rejected(content: str) -> None:
    assert calls(content) == []


def test_an_echoed_tool_definition_is_not_a_call() -> None:
    definition = {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a workspace file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
    assert calls(json.dumps(definition)) == []


@pytest.mark.parametrize(
    "content",
    [
        "Use a dict like {name: value} or a set {1, 2, 3}.",
        "```python\nconfig = {'name': 'read_file', 'arguments': {'path': 'a'}}\n```",
        "```js\nfunction f() { return { name: 'read_file' }; }\n```",
        'The JSON {"name": "Bob", "arguments": {"x": 1}} describes a person.',
        "Here is a template: {{ name }} and {% if x %}{% endif %}",
        "Arrays [1, 2, 3] and objects {} and [] are fine.",
        '```json\n{"version": 1, "dependencies": {"name": "left-pad"}}\n```',
        "",
        "}{][",
    ],
)
def test_prose_and_code_with_braces_yield_nothing(content: str) -> None:
    assert calls(content) == []


def test_no_known_tools_means_no_calls() -> None:
    assert extract_text_tool_calls('{"name": "read_file", "arguments": {}}', []) == []


def test_deep_nesting_does_not_raise() -> None:
    assert calls("[" * 5000 + "]" * 5000) == []
    assert calls("{" * 100_000) == []


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(content: str) -> None:
    for call in extract_text_tool_calls(content, TOOLS):
        assert call.name in TOOLS
        assert isinstance(call.arguments, dict)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_characters="{}[]", blacklist_categories=("Cs",))),
    st.text(alphabet=st.characters(blacklist_characters="{}[]", blacklist_categories=("Cs",))),
)
def test_random_text_with_brackets_never_raises(prefix: str, suffix: str) -> None:
    for content in (prefix + "{" + suffix, prefix + '{"name": "read_file", "arguments": ' + suffix):
        extract_text_tool_calls(content, TOOLS)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
PROSE = st.text(
    alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=80
)


@settings(max_examples=300, deadline=None)
@given(
    before=PROSE,
    after=PROSE,
    name=st.sampled_from(sorted(TOOLS)),
    arguments=st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=4),
    key=st.sampled_from(["arguments", "parameters", "args", "input"]),
    encode=st.booleans(),
    wrapper=st.sampled_from(["bare", "tag", "fence", "function"]),
)
def test_a_call_in_random_prose_is_found_with_its_arguments(
    before: str,
    after: str,
    name: str,
    arguments: dict[str, Any],
    key: str,
    encode: bool,
    wrapper: str,
) -> None:
    payload: dict[str, Any] = {"name": name, key: json.dumps(arguments) if encode else arguments}
    if wrapper == "function":
        payload = {"type": "function", "function": payload}
    text = json.dumps(payload)
    if wrapper == "tag":
        text = f"<tool_call>{text}</tool_call>"
    elif wrapper == "fence":
        text = f"\n```json\n{text}\n```\n"
    content = f"{before} {text} {after}"
    assert calls(content) == [(name, arguments)]

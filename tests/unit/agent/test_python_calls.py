"""Tool calls written as a line of Python (seen on the real 1.5B model in spec runs)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.agent.python_calls import find_python_calls
from ollama_agent_ls.agent.text_tool_calls import scan_text_tool_calls

TOOLS = ["check_criterion", "read_file", "run_command", "write_file"]


def calls(text: str) -> list[tuple[str, dict[str, object]]]:
    return [(c.name, c.arguments) for c in scan_text_tool_calls(text, TOOLS).calls]


def test_the_1_5b_models_check_criterion_line_is_a_call() -> None:
    reply = 'I added the function.\ncheck_criterion(1, "Added slugify function to slug.py")\n'
    assert calls(reply) == [
        ("check_criterion", {"index": 1, "evidence": "Added slugify function to slug.py"})
    ]


def test_keywords_and_a_functions_prefix() -> None:
    assert calls('functions.read_file(path="a.py", start_line=3)') == [
        ("read_file", {"path": "a.py", "start_line": 3})
    ]


def test_several_lines_are_several_calls_in_order() -> None:
    reply = 'read_file("a.py")\nrun_command("pytest -q")\n'
    assert calls(reply) == [
        ("read_file", {"path": "a.py"}),
        ("run_command", {"command": "pytest -q"}),
    ]


def test_a_call_over_several_lines_with_a_triple_quoted_string() -> None:
    reply = 'write_file("a.py", """def f():\n    return (1)\n""")\n'
    assert calls(reply) == [
        ("write_file", {"path": "a.py", "content": "def f():\n    return (1)\n"})
    ]


def test_code_is_not_a_call() -> None:
    # In a fence (code being shown or written), inside an expression, or mid-sentence.
    assert calls('```python\nread_file("x.py")\n```\n') == []
    assert calls('data = read_file("x.py")\n') == []
    assert calls('Then I would read_file("x.py") to check.\n') == []
    assert calls('print(read_file("x.py"))\n') == []
    assert calls('unknown_tool("x")\n') == []


def test_a_call_it_cannot_read_is_reported_not_run() -> None:
    scan = scan_text_tool_calls('read_file(open("x"))\n', TOOLS)
    assert scan.calls == []
    assert "must be plain values" in scan.malformed[0]
    scan = scan_text_tool_calls('check_criterion(1, "a", "b", "c")\n', TOOLS)
    assert "at most 2 argument(s)" in scan.malformed[0]


@settings(deadline=None, max_examples=200)
@given(st.text(max_size=400))
def test_never_raises_on_any_text(text: str) -> None:
    find_python_calls(text, {"read_file": ["path", "start_line", "end_line"]})
    scan_text_tool_calls(text, TOOLS)


@settings(deadline=None, max_examples=200)
@given(
    index=st.integers(min_value=1, max_value=10**6),
    evidence=st.text(max_size=80),
    keyword=st.booleans(),
)
def test_what_is_written_is_what_is_called(index: int, evidence: str, keyword: bool) -> None:
    args = f"index={index}, evidence={evidence!r}" if keyword else f"{index}, {evidence!r}"
    found = find_python_calls(
        f"done\ncheck_criterion({args})\n", {"check_criterion": ["index", "evidence"]}
    )
    assert [(c.name, c.arguments) for _, c in found.calls] == [
        ("check_criterion", {"index": index, "evidence": evidence})
    ]

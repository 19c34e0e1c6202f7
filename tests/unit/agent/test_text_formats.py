"""Choosing an edit format per model, and the text helpers the text formats rely on."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.agent.prompts import AgentTask, SelectionContext
from ollama_agent_ls.agent.text_formats import (
    choose_edit_format,
    dropped_definitions,
    fenced,
    fix_path,
    parameter_billions,
    rewrite_selection_call,
    strip_line_numbers,
    text_system_prompt,
)
from ollama_agent_ls.ollama.models import ModelInfo
from ollama_agent_ls.tools.edit_matcher import number_lines
from ollama_agent_ls.tools.schemas import TOOL_DEFINITIONS


def info(name: str, size: str | None = None, caps: tuple[str, ...] = ("tools",)) -> ModelInfo:
    return ModelInfo(name=name, context_length=None, capabilities=caps, parameter_size=size)


def test_sizes_come_from_the_servers_details_or_else_the_name() -> None:
    assert parameter_billions(info("x", "1.5B")) == 1.5
    assert parameter_billions(info("x", "494.03M")) == pytest.approx(0.49403)
    assert parameter_billions(info("qwen2.5-coder:7b")) == 7.0
    assert parameter_billions(info("Qwen/Qwen2.5-Coder-0.5B-Instruct")) == 0.5
    assert parameter_billions(info("gpt-oss:20b")) == 20.0
    assert parameter_billions(info("llama3.1")) is None  # "3.1" is a version, not a size
    assert parameter_billions(info("mistral-small")) is None


def test_auto_picks_text_blocks_for_small_or_tool_less_models_only() -> None:
    assert choose_edit_format("auto", info("qwen2.5-coder:1.5b", "1.5B"))[0] == "search-replace"
    assert choose_edit_format("auto", info("m", "8.2B", ("completion",)))[0] == "search-replace"
    assert choose_edit_format("auto", info("qwen3:8b", "8.2B"))[0] == "tools"
    assert choose_edit_format("auto", info("unknown-size"))[0] == "tools"
    # Older Ollama reports no capabilities at all: that is not "no tools".
    assert choose_edit_format("auto", info("m", "8B", ()))[0] == "tools"
    assert choose_edit_format("whole", info("qwen3:8b", "8.2B"))[0] == "whole"
    assert choose_edit_format("tools", info("tiny", "0.5B"))[0] == "tools"


def test_text_prompt_lists_no_edit_tools_and_stays_small() -> None:
    tools = list(TOOL_DEFINITIONS.values())
    prompt = text_system_prompt("search-replace", tools)
    assert "- read_file(" in prompt and "- run_command(" in prompt
    assert "- edit_file(" not in prompt and "- write_file(" not in prompt
    assert len(prompt) / 4 < 700  # prefill is the cost on a CPU


@settings(deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=30)))
def test_line_numbers_come_off_exactly(lines: list[str]) -> None:
    assert strip_line_numbers(number_lines(lines, 1)) == "\n".join(lines)


@settings(deadline=None)
@given(st.text(max_size=200))
def test_a_fence_is_longer_than_any_backtick_run_inside(text: str) -> None:
    shown = fenced("a.md", text)
    fence = shown.split("\n")[1]
    assert set(fence) == {"`"}
    assert fence not in text
    assert shown.endswith(fence)


def test_rewriting_repeated_lines_pins_them_with_the_lines_above() -> None:
    text = "x = 1\n\ndef f():\n    return 0\n\ndef g():\n    return 0\n"
    task = AgentTask("t", selection=SelectionContext("a.py", text, 7, 7))
    call = rewrite_selection_call(task, "    return 1\n")
    old, new = call.arguments["old_string"], call.arguments["new_string"]
    assert text.count(old) == 1
    assert text.replace(old, new) == text.replace("g():\n    return 0", "g():\n    return 1")


def test_paths_small_models_garble_are_mapped_to_the_project_file() -> None:
    files = ["app.py", "textkit/slug.py", "textkit/__init__.py", "verify_slug.py", "a/util.py"]
    assert fix_path("path/to/app.py", files) == "app.py"  # the prompt's placeholder, copied
    assert fix_path("./app.py", files) == "app.py"
    assert fix_path(".textkit/slug.py", files) == "textkit/slug.py"
    assert fix_path(".textkit/new.py", files) == "textkit/new.py"  # a new file in a known folder
    assert fix_path(".verify_slug.py", files) == "verify_slug.py"
    assert fix_path("src/util.py", files) == "a/util.py"  # the one file of that name
    assert fix_path(".gitignore", files) == ".gitignore"  # a real dotfile stays
    assert fix_path("new/thing.py", files) == "new/thing.py"


def test_a_rewrite_that_leaves_out_a_function_the_task_does_not_name_is_caught() -> None:
    old = "def fib(n):\n    raise NotImplementedError\n\n\ndef squares(n):\n    return []\n"
    only_fib = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
    assert dropped_definitions(old, only_fib, "implement fib") == ["squares"]
    assert dropped_definitions(old, only_fib + "\n\ndef squares(n):\n    return []\n", "x") == []
    # A rename or a removal names what goes away.
    assert dropped_definitions(old, only_fib, "remove squares") == []
    renamed = "def fibonacci(n):\n    pass\n\n\ndef squares(n):\n    return []\n"
    assert dropped_definitions(old, renamed, "rename fib to fibonacci") == []
    assert dropped_definitions("class A:\n    pass\n", "x = 1\n", "t") == ["A"]
    # A method may go (a dataclass needs no __init__): only top-level definitions count.
    cls = "class P:\n    def __init__(self, x):\n        self.x = x\n"
    assert (
        dropped_definitions(cls, "@dataclass\nclass P:\n    x: float\n", "make P a dataclass") == []
    )

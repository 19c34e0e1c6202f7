"""The README's claims about the command line, checked against the parser itself: the command
table, each command's --help (description, two examples, exit codes), the Quickstart's lines,
and the install text of the editor READMEs (issue 15)."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from ollama_agent_ls.cli import build_parser, subcommands

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PARSER = build_parser()
COMMANDS = subcommands(PARSER)


def section(text: str, title: str) -> str:
    """The markdown section under ``## title``, up to the next ``## ``."""
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def table_rows() -> list[tuple[str, list[str]]]:
    """(subcommand, flags written in its row) for each row of the Command line table."""
    rows: list[tuple[str, list[str]]] = []
    for line in section(README, "Command line").splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split(" | ", 1)[0]
        for span in re.findall(r"`([^`]+)`", first_cell):
            words = span.replace("\\|", "|").split()
            if words == ["ollama-agent-ls"]:
                continue
            flags = re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", span)
            rows.append((words[0], flags))
    return rows


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def test_every_command_in_the_readme_table_exists_and_every_command_is_in_it() -> None:
    in_table = {name for name, _ in table_rows()}
    assert in_table == set(COMMANDS), (
        f"only in the README: {sorted(in_table - set(COMMANDS))}; "
        f"only in the parser: {sorted(set(COMMANDS) - in_table)}"
    )


def test_every_flag_in_the_readme_table_is_an_option_of_its_command() -> None:
    for name, flags in table_rows():
        known = option_strings(COMMANDS[name])
        missing = [flag for flag in flags if flag not in known]
        assert not missing, f"README's `{name}` row names {missing}, which `{name}` lacks"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_help_has_a_description_two_examples_and_exit_codes(name: str) -> None:
    text = COMMANDS[name].format_help()
    parser = COMMANDS[name]
    assert parser.description and len(parser.description) > 40, text
    examples = text.split("examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(examples) == 2, text
    for example in examples:
        argv = shlex.split(example.split(" > ", 1)[0])  # the command, not its redirection
        assert argv[:2] == ["ollama-agent-ls", name], example
        PARSER.parse_args(argv[1:])  # the example is a valid command line
    assert re.search(r"exit codes: 0 ", text), text


def test_models_help_offers_no_model_option() -> None:
    assert not {"--model", "-m"} & option_strings(COMMANDS["models"])
    assert "--model" not in COMMANDS["models"].format_help()


def test_quiet_is_documented_for_run_and_spec() -> None:
    flags: dict[str, set[str]] = {}
    for name, written in table_rows():
        flags.setdefault(name, set()).update(written)
    assert "-q" in flags["run"]
    assert "-q" in flags["spec"]
    for name in ("run", "spec"):
        assert "--quiet" in COMMANDS[name].format_help()


def test_the_quickstart_is_two_lines_with_the_test_line_ci_runs() -> None:
    quickstart = section(README, "Quickstart")
    block = quickstart.split("```\n", 2)[1].split("```", 1)[0]
    assert block.splitlines() == [
        "pip install . && ollama-agent-ls doctor",
        'pip install -e ".[test]" && python -m pytest',
    ]
    # What the test line installs, and how to run less of it.
    for needle in ("npm ci", "code-server", "apt-get", "bubblewrap", "1.1 GB", "not realmodel"):
        assert needle in quickstart, needle
    assert "python -m pytest tests/unit" in quickstart
    assert (ROOT / "tests" / "unit").is_dir()


def test_the_quickstart_examples_are_valid_command_lines_naming_real_files() -> None:
    quickstart = section(README, "Quickstart")
    lines = [
        line.split("  #", 1)[0].split(">", 1)[0]
        for line in quickstart.splitlines()
        if line.startswith("ollama-agent-ls ")
    ]
    assert len(lines) >= 4
    for line in lines:
        args = PARSER.parse_args(shlex.split(line)[1:])
        if args.command == "spec":
            # The example spec is one a clone has, in the workspace the line names.
            assert (ROOT / args.workspace / args.path).is_file(), line


def test_the_editor_readmes_install_the_server_from_a_clone() -> None:
    for readme in ("editor-clients/vscode/README.md", "editor-clients/neovim/README.md"):
        text = (ROOT / readme).read_text(encoding="utf-8")
        assert "pip install ollama-agent-ls" not in text, readme
        assert "pip install ." in text and "not on PyPI" in text, readme

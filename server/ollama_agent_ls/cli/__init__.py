"""The command line: ``serve`` (the default), ``run``, ``spec``, ``sessions``, ``undo``, ``doctor``,
``models``; a module per concern (parser, each command, transcript, exit codes, Ctrl-C)."""

from __future__ import annotations

from ollama_agent_ls.cli.main import main
from ollama_agent_ls.cli.parser import build_parser, subcommands

__all__ = ["build_parser", "main", "subcommands"]

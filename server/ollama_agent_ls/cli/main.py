"""The ``ollama-agent-ls`` entry point: parse, dispatch, and map mistakes to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from ollama_agent_ls.cli.exits import EXIT_CANCELLED, EXIT_USAGE
from ollama_agent_ls.cli.parser import build_parser, settings_for, workspace_of
from ollama_agent_ls.cli.transcript import is_terminal
from ollama_agent_ls.errors import UsageError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ollama-agent-ls`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "serve"
    try:
        if command == "serve":
            return _serve(args)
        if command == "acp":
            # It sets up its own logging and stdout (the protocol's alone).
            from ollama_agent_ls.acp_agent.main import run as run_acp

            return run_acp(args)
        logging.basicConfig(
            level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
        )
        settings = settings_for(args)
        # Each command's module on its own: ``serve`` must not wait for what the others load.
        if command == "run":
            from ollama_agent_ls.cli.run import run_command

            if args.lines and not args.file:
                raise UsageError("--lines needs --file")
            return asyncio.run(run_command(args, settings))
        if command == "spec":
            from ollama_agent_ls.cli.spec import spec_command

            return asyncio.run(spec_command(args, settings))
        if command == "doctor":
            from ollama_agent_ls.cli.doctor import doctor_command

            return asyncio.run(doctor_command(settings, workspace_of(args)))
        if command == "sessions":
            from ollama_agent_ls.cli.sessions import sessions_command

            return sessions_command(args, settings)
        if command == "undo":
            from ollama_agent_ls.cli.sessions import undo_command

            return asyncio.run(undo_command(args, settings))
        if command == "models":
            from ollama_agent_ls.cli.doctor import models_command

            return asyncio.run(models_command(settings, args.json))
    except UsageError as exc:
        # The usage of the command that was mistyped, as argparse prints for its own errors.
        used: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        used.print_usage(sys.stderr)
        sys.stderr.write(f"{used.prog}: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    parser.error(f"unknown command {command}")
    return EXIT_USAGE  # pragma: no cover - parser.error exits


SERVE_WAITING = "waiting for an LSP client on stdin; see --help (Ctrl-C quits)"


def _serve(args: argparse.Namespace) -> int:
    tcp = getattr(args, "tcp", None)
    # pygls reads stdin in a worker thread that nothing can interrupt and joins it on the way
    # out, so the first Ctrl-C hung and a second one aborted the interpreter mid-read (exit 134).
    # The server keeps nothing half-written of its own (edits are the editor's, commands have
    # their own process groups and sandboxes that die with it), so Ctrl-C ends the process.
    with contextlib.suppress(ValueError):  # not the main thread (an embedding program)
        signal.signal(signal.SIGINT, _exit_on_interrupt)
    if tcp is None and is_terminal(sys.stdin):
        sys.stderr.write(f"ollama-agent-ls: {SERVE_WAITING}\n")
        sys.stderr.flush()
    from ollama_agent_ls.lsp.server import serve

    return serve(
        tcp=tcp,
        log_file=getattr(args, "log_file", None),
        log_level=getattr(args, "log_level", None),
    )


def _exit_on_interrupt(signum: int, frame: object) -> None:
    """SIGINT in ``serve``: leave at once with the documented status."""
    with contextlib.suppress(Exception):
        sys.stderr.write("\n")
        sys.stderr.flush()
    os._exit(EXIT_CANCELLED)

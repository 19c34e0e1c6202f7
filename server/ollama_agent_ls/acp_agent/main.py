"""``python -m ollama_agent_ls.acp_agent`` (and ``ollama-agent-ls acp``): the ACP agent on stdio.

Only the protocol goes to stdout: the process's file descriptor 1 is pointed at stderr before
anything runs, and the protocol is written to a private copy of the original stdout, so a stray
print or a library's output cannot break the newline-delimited JSON the client reads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from acp.interfaces import Agent as AcpAgent

    from ollama_agent_ls.settings import Settings

EXIT_OK, EXIT_USAGE = 0, 2
DESCRIPTION = (
    "Run the agent as an ACP agent (Agent Client Protocol) on stdin/stdout, for the agent "
    "panels of Zed, JetBrains IDEs, Neovim (CodeCompanion, avante) and Emacs (agent-shell). "
    "Logs go to stderr."
)


class _Usage(Exception):
    """A bad flag or setting: exit code 2 with the message."""


def _option(value: str) -> tuple[str, Any]:
    key, sep, raw = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"'{value}' is not KEY=VALUE, e.g. -o maxTurns=40")
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return key.strip(), raw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The settings flags of ``run`` that apply to ACP (the same names and meanings)."""
    parser.add_argument(
        "--model", "-m", help="model name (default: qwen3:8b or OLLAMA_AGENT_MODEL)"
    )
    parser.add_argument("--backend", choices=["ollama", "openai"], help="the server's API")
    parser.add_argument(
        "--ollama-url", metavar="URL", help="Ollama's address (default: OLLAMA_HOST)"
    )
    parser.add_argument(
        "--base-url", metavar="URL", help="OpenAI-compatible URL with /v1; implies --backend openai"
    )
    parser.add_argument(
        "--sandbox", choices=["workspace-write", "read-only", "off"], help="where commands run"
    )
    parser.add_argument(
        "-o",
        "--option",
        action="append",
        type=_option,
        default=[],
        metavar="KEY=VALUE",
        help="any setting by its camelCase name, e.g. -o maxTurns=40",
    )
    parser.add_argument(
        "--workspace",
        "-w",
        type=Path,
        default=None,
        metavar="DIR",
        help="only serve sessions whose folder (the client's cwd) is inside DIR (default: any)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log on stderr (default: INFO)",
    )


def settings_of(args: argparse.Namespace) -> Settings:
    """Defaults, then the environment, then -o options, then the flags (as ``run`` does)."""
    from ollama_agent_ls.settings import (
        SettingsProblem,
        normalise_ollama_host,
        settings_from_env,
        strict_settings,
    )

    base, problems = settings_from_env()
    for problem in problems:
        logging.getLogger(__name__).warning("%s; using the default", problem)
    raw: dict[str, Any] = dict(args.option or [])
    if args.model:
        raw["model"] = args.model
    if args.ollama_url:
        raw["ollamaUrl"] = normalise_ollama_host(args.ollama_url)
    if args.base_url:
        raw["baseUrl"] = args.base_url
        raw.setdefault("backend", "openai")
    if args.backend:
        raw["backend"] = args.backend
    if args.sandbox:
        raw["sandbox"] = args.sandbox
    try:
        return strict_settings(raw, base)
    except SettingsProblem as exc:
        raise _Usage(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m ollama_agent_ls.acp_agent``."""
    parser = argparse.ArgumentParser(
        prog="ollama-agent-ls acp", description=DESCRIPTION, allow_abbrev=False
    )
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Serve ACP on stdio with the settings ``args`` give, until the client closes stdin."""
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = settings_of(args)
        workspace = None
        if args.workspace is not None:
            workspace = Path(args.workspace).expanduser()
            if not workspace.is_dir():
                raise _Usage(f"workspace {workspace} is not a directory; pass an existing folder")
    except _Usage as exc:
        sys.stderr.write(f"ollama-agent-ls acp: error: {exc}\n")
        return EXIT_USAGE
    protocol_out = _private_stdout()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings, workspace, protocol_out))
    return EXIT_OK


def _private_stdout() -> IO[bytes]:
    """A copy of stdout for the protocol alone; fd 1 and sys.stdout then lead to stderr."""
    sys.stdout.flush()
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


async def _serve(settings: Settings, workspace: Path | None, out: IO[bytes]) -> None:
    from acp import run_agent
    from ollama_agent_ls.acp_agent.agent import OllamaAcpAgent
    from ollama_agent_ls.backend import make_backend

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=50 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    backend = make_backend(settings)
    try:
        agent = OllamaAcpAgent(settings, backend, workspace)
        # The SDK's Agent protocol also lists the unstable methods (fork, resume, close), which
        # this agent does not offer: the SDK answers them with method-not-found.
        await run_agent(cast("AcpAgent", agent), writer, reader)
    finally:
        await backend.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m ollama_agent_ls.acp_agent``."""
    return run(build_parser().parse_args(argv))

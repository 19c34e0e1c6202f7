"""``python -m ollama_agent_ls.acp_agent`` (and ``ollama-agent-ls acp``): the ACP agent on stdio.

Only the protocol goes to stdout: the process's file descriptor 1 is pointed at stderr before
anything runs, and the protocol is written to a private copy of the original stdout, so a stray
print or a library's output cannot break the newline-delimited JSON the client reads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

if TYPE_CHECKING:
    from acp.interfaces import Agent as AcpAgent

    from ollama_agent_ls.settings import Settings

EXIT_OK, EXIT_USAGE = 0, 2
DESCRIPTION = (
    "Run the agent as an ACP agent (Agent Client Protocol) on stdin/stdout, for the agent "
    "panels of Zed, JetBrains IDEs, Neovim (CodeCompanion, avante) and Emacs (agent-shell). "
    "Logs go to stderr."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The settings flags of ``run`` (the same names and meanings), -w and --log-level."""
    from ollama_agent_ls.cli.parser import add_common

    add_common(parser)
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
    from ollama_agent_ls.cli.parser import settings_for
    from ollama_agent_ls.errors import UsageError

    try:
        settings = settings_for(args)
        workspace = None
        if args.workspace is not None:
            workspace = Path(args.workspace).expanduser()
            if not workspace.is_dir():
                raise UsageError(
                    f"workspace {workspace} is not a directory; pass an existing folder"
                )
    except UsageError as exc:
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
    from ollama_agent_ls.mcp_tools.hub import close_hub

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=50 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    backend = make_backend(settings)
    agent = OllamaAcpAgent(settings, backend, workspace)
    try:
        # The SDK's Agent protocol also lists the unstable methods (fork, resume, close), which
        # this agent does not offer: the SDK answers them with method-not-found.
        await run_agent(cast("AcpAgent", agent), writer, reader)
    finally:
        # The MCP servers the sessions started end with the agent, not after it.
        await close_hub(agent, quick=True)
        await backend.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m ollama_agent_ls.acp_agent``."""
    return run(build_parser().parse_args(argv))

"""An MCP server for the tests: echo, a failing tool, an image, a resource, and one that exits.

Run as ``python echo_server.py [--hang] [--pid-file F] [--http PORT] [--extra-tools N]
[--linger]``: over stdio by default; ``--hang`` never answers initialize; ``--http PORT`` serves
streamable HTTP on 127.0.0.1; ``--extra-tools N`` also offers ``extra_0`` .. ``extra_{N-1}`` (a
server with many tools); ``--linger`` keeps the process alive after stdin closes, so only its
client stopping it ends it (a server that would outlive a client that just went away). Each call
is appended to ``$ECHO_CALLS`` (a file) when set, so a test sees what ran.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path


def _hang_early() -> None:
    # Before the SDK's import (most of the start-up time): the stderr line is out at once.
    if "--hang" in sys.argv:
        print("echo server starting", file=sys.stderr, flush=True)
        if "--pid-file" in sys.argv:
            Path(sys.argv[sys.argv.index("--pid-file") + 1]).write_text(str(os.getpid()))
        while True:  # reads nothing, answers nothing: a server stuck before initialize
            time.sleep(3600)


_hang_early()

# The SDK is imported after _hang_early on purpose.
from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.types import EmbeddedResource, ImageContent, TextContent, TextResourceContents  # noqa: E402

app = MCPServer("echo")


def _record(line: str) -> None:
    calls = os.environ.get("ECHO_CALLS")
    if calls:
        with open(calls, "a", encoding="utf-8") as f:
            f.write(line + "\n")


@app.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    _record(f"echo {text}")
    return f"echo: {text}"


@app.tool()
def fail(why: str) -> str:
    """Always fails."""
    _record(f"fail {why}")
    raise ValueError(f"failed because {why}")


@app.tool()
def picture() -> list[TextContent | ImageContent | EmbeddedResource]:
    """A caption, an image and an embedded resource."""
    _record("picture")
    png = base64.b64encode(b"\x89PNG" + b"\0" * 96).decode()
    resource = TextResourceContents(uri="file:///notes.txt", mimeType="text/plain", text="x" * 50)
    return [
        TextContent(type="text", text="a caption"),
        ImageContent(type="image", data=png, mimeType="image/png"),
        EmbeddedResource(type="resource", resource=resource),
    ]


@app.tool()
def die() -> str:
    """Exit the server at once (a crash mid-run)."""
    _record("die")
    sys.stdout.flush()
    os._exit(3)


def _extra_tool(n: int) -> Callable[[str], str]:
    def extra(text: str) -> str:
        _record(f"extra_{n} {text}")
        return f"extra {n}: {text}"

    return extra


def _add_extra_tools(count: int) -> None:
    for n in range(count):
        app.add_tool(_extra_tool(n), name=f"extra_{n}", description=f"Extra tool number {n}.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--pid-file")
    parser.add_argument("--http", type=int)
    parser.add_argument("--extra-tools", type=int, default=0)
    parser.add_argument("--linger", action="store_true")
    args = parser.parse_args()
    _add_extra_tools(args.extra_tools)
    if args.pid_file:
        Path(args.pid_file).write_text(str(os.getpid()))
    print("echo server starting", file=sys.stderr, flush=True)
    if args.http:
        app.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        app.run()
    while args.linger:  # stdin closed, yet still running until a signal ends it
        time.sleep(3600)


if __name__ == "__main__":
    main()

"""Run the fake OpenAI-compatible server for clients in other processes.

Prints ``{"url": ".../v1", "root": ...}`` on one line, then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from .replies import Reply, replies_from_json
from .server import FLAVORS, FakeOpenAI


def main(argv: list[str] | None = None) -> int:
    """Start the server, print its URLs as one JSON line, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_openai", description=__doc__)
    parser.add_argument("--flavor", choices=FLAVORS, default="llamacpp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): an ephemeral port")
    parser.add_argument("--api-key", help="require this bearer token")
    parser.add_argument("--n-ctx", type=int, default=8192, help="llama.cpp's context per slot")
    parser.add_argument(
        "--script",
        type=Path,
        help='JSON: a list of reply specs, or {"models": [...], "replies": [...]}',
    )
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)

    models: list[Any] | None = None
    replies: list[Reply] = []
    if args.script is not None:
        spec = json.loads(args.script.read_text(encoding="utf-8"))
        if isinstance(spec, dict):
            models = spec.get("models")
            replies = replies_from_json(spec.get("replies", []))
        else:
            replies = replies_from_json(spec)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake = FakeOpenAI(
        args.flavor,
        models=models,
        api_key=args.api_key,
        n_ctx=args.n_ctx,
        host=args.host,
        port=args.port,
        replies=replies,
    )
    with fake:
        sys.stdout.write(json.dumps({"url": fake.url, "root": fake.root_url}) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

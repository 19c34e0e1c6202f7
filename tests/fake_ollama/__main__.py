"""Run the fake Ollama for clients in other processes; prints ``{"url": ...}`` then serves."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .replies import replies_from_json
from .server import FakeOllama, models_from_json


def main(argv: list[str] | None = None) -> int:
    """Start the server, print its URL as one JSON line, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_ollama", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): an ephemeral port")
    parser.add_argument(
        "--script",
        type=Path,
        help='JSON: a list of reply specs, or {"models": [...], "replies": [...]}',
    )
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)

    models = None
    replies = []
    if args.script is not None:
        spec = json.loads(args.script.read_text(encoding="utf-8"))
        if isinstance(spec, dict):
            if "models" in spec:
                models = models_from_json(spec["models"])
            replies = replies_from_json(spec.get("replies", []))
        else:
            replies = replies_from_json(spec)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with FakeOllama(models, host=args.host, port=args.port, replies=replies) as fake:
        sys.stdout.write(json.dumps({"url": fake.url}) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

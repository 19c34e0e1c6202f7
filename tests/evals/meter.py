"""A metering proxy in front of llama.cpp's server: the same yardstick for every face.

Each face counts tokens its own way (aider estimates with a tokenizer, our agent adds up what
the server reports), so the proxy reads what llama.cpp itself says about every chat request:
``timings.prompt_n`` (prompt tokens evaluated now, the prefill a CPU pays for) and
``timings.cache_n`` (prompt tokens reused from the KV cache). Bodies pass through unchanged and
streamed replies are forwarded as they arrive.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host"}
_KEEP_BODY = 8 << 20
"""Bytes of a chat reply kept for reading its timings; a longer reply is passed on unread."""


@dataclass
class Request:
    """What llama.cpp reported for one chat request."""

    prompt_n: int
    cache_n: int
    predicted_n: int
    prompt_ms: float
    predicted_ms: float


@dataclass
class Totals:
    """The sums over one run's chat requests."""

    requests: int
    prompt_tokens: int
    cached_prompt_tokens: int
    prefill_tokens: int
    generated_tokens: int
    prefill_seconds: float
    generate_seconds: float
    carried_over_tokens: int = 0
    """Cached tokens of the run's first request: reused from earlier runs, not from this one.

    llama.cpp keeps earlier prompts (its slot, and a prompt cache in RAM), so a face's constant
    system prompt is often cached from its previous task, and a run that sends the very prompt
    the previous run sent gets it almost free.
    """

    def to_json(self) -> dict[str, Any]:
        """camelCase, for the results file."""
        return {
            "requests": self.requests,
            "promptTokens": self.prompt_tokens,
            "cachedPromptTokens": self.cached_prompt_tokens,
            "prefillTokens": self.prefill_tokens,
            "generatedTokens": self.generated_tokens,
            "prefillSeconds": round(self.prefill_seconds, 1),
            "generateSeconds": round(self.generate_seconds, 1),
            "carriedOverTokens": self.carried_over_tokens,
        }


def timings_of(body: bytes) -> dict[str, Any] | None:
    """The last ``timings`` object in a chat reply, streamed (SSE) or not."""
    text = body.decode("utf-8", "replace")
    found: dict[str, Any] | None = None
    candidates = [text] if text.lstrip().startswith("{") else []
    candidates += [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    for raw in candidates:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and isinstance(data.get("timings"), dict):
            found = data["timings"]
    return found


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the evals print their own rows."""

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        meter = self.server.meter
        upstream = http.client.HTTPConnection(meter.host, meter.port, timeout=None)
        kept = bytearray()
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            reply = upstream.getresponse()
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            # HTTP/1.0 style: the body ends when the connection closes, chunked or not upstream.
            self.send_header("Connection", "close")
            self.end_headers()
            watch = self.path.rstrip("/").endswith("/chat/completions")
            while True:
                piece = reply.read1(65536)
                if not piece:
                    break
                if watch and len(kept) < _KEEP_BODY:
                    kept.extend(piece)
                self.wfile.write(piece)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the face was stopped; closing upstream tells llama.cpp to stop too
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.send_error(502, f"metering proxy: upstream {meter.host}:{meter.port}: {exc}")
        finally:
            upstream.close()
        timings = timings_of(bytes(kept)) if kept else None
        if timings is not None:
            meter.record(timings)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    meter: Meter


class Meter:
    """The proxy: point a face at ``url`` (with /v1) instead of the server's own."""

    def __init__(self, upstream_root: str) -> None:
        parsed = urlparse(upstream_root)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._server = _ProxyServer(("127.0.0.1", 0), _Handler)
        self._server.meter = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's OpenAI-compatible base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def record(self, timings: dict[str, Any]) -> None:
        """Add one chat request's timings."""
        with self._lock:
            self._requests.append(
                Request(
                    int(timings.get("prompt_n") or 0),
                    int(timings.get("cache_n") or 0),
                    int(timings.get("predicted_n") or 0),
                    float(timings.get("prompt_ms") or 0.0),
                    float(timings.get("predicted_ms") or 0.0),
                )
            )

    def take(self) -> Totals:
        """The totals since the last take, and start counting afresh."""
        with self._lock:
            done, self._requests = self._requests, []
        return Totals(
            requests=len(done),
            prompt_tokens=sum(r.prompt_n + r.cache_n for r in done),
            cached_prompt_tokens=sum(r.cache_n for r in done),
            prefill_tokens=sum(r.prompt_n for r in done),
            generated_tokens=sum(r.predicted_n for r in done),
            prefill_seconds=sum(r.prompt_ms for r in done) / 1000,
            generate_seconds=sum(r.predicted_ms for r in done) / 1000,
            carried_over_tokens=done[0].cache_n if done else 0,
        )

    def start(self) -> Meter:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def metered(upstream_root: str) -> Iterator[Meter]:
    """A started proxy to ``upstream_root`` (llama.cpp's URL without /v1)."""
    meter = Meter(upstream_root).start()
    try:
        yield meter
    finally:
        meter.stop()

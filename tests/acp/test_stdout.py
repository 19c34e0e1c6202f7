"""The agent's stdout carries the protocol and nothing else: every line a JSON-RPC message, the
logs on stderr (raw stdio, no SDK on the client side to forgive a stray line)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.fake_ollama.server import FakeOllama


async def test_stdout_is_only_json_rpc_even_with_debug_logging(
    fake_ollama: FakeOllama, workspace: Path
) -> None:
    env = {**os.environ, "OLLAMA_HOST": fake_ollama.url, "NO_COLOR": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ollama_agent_ls", "acp", "--log-level", "DEBUG",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}},
        {"jsonrpc": "2.0", "id": 2, "method": "session/new",
         "params": {"cwd": str(workspace), "mcpServers": []}},
        {"jsonrpc": "2.0", "id": 3, "method": "session/prompt",
         "params": {"sessionId": "s-nope", "prompt": [{"type": "text", "text": "x"}]}},
    ]  # fmt: skip
    lines: list[str] = []
    for request in requests:
        proc.stdin.write((json.dumps(request) + "\n").encode())
        await proc.stdin.drain()
        # Read up to this request's answer (notifications may come before it).
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            assert line, "the agent closed its stdout"
            lines.append(line)
            if json.loads(line).get("id") == request["id"]:
                break
    proc.stdin.close()
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)

    messages = [json.loads(line) for line in lines]  # a stray line would not parse
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    answers = {m["id"]: m for m in messages if "id" in m}
    assert "result" in answers[1] and "result" in answers[2]
    assert answers[3]["error"]["code"] == -32602  # the unknown session, answered, not printed
    assert b"DEBUG" in stderr or b"INFO" in stderr  # the logs went to stderr

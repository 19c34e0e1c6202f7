"""Item 5: what every request carries before the task: system prompt plus tool schemas.

Ours: ``system_prompt()`` and ``ToolExecutor(...).definitions()`` (the core tools of a run).
Mermaid CLI: its 16 tools, read out of the Rust source in ../shared/seeds and serialised as
serde_json sends them (``json!`` values: keys sorted, compact). Chant's spec: its four
``#[function]`` tools as ollama-rs renders them (name, doc comment, a string property per
argument); the schemars wrapper may add a few more bytes, so that row is a lower bound.

Tokens are estimated twice, since no model tokenizer can be loaded here: bytes / 4, and the
count of GPT-style pre-tokens (words, number runs, punctuation runs), which BPE vocabularies of
Llama 3 and Qwen almost never split further for English and JSON. Ollama renders the tools into
the prompt as compact JSON (one per tool in most templates), so the JSON bytes are what counts.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from ollama_agent_ls.agent.prompts import system_prompt
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools.context import ToolContext
from ollama_agent_ls.tools.executor import ToolExecutor
from ollama_agent_ls.workspace.documents import DiskDocuments
from ollama_agent_ls.workspace.staging import StagingArea

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
_PRETOKEN = re.compile(r"'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]+|\s+")
TARGET_TOKENS = 1200


def compact(value: Any, sort_keys: bool = False) -> str:
    """JSON as it goes over the wire: no spaces, raw UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)


def estimate(text: str) -> dict[str, int]:
    """Bytes and two token estimates of ``text``."""
    size = len(text.encode("utf-8"))
    return {
        "bytes": size,
        "tokens_bytes_div_4": round(size / 4),
        "tokens_pretokens": len(_PRETOKEN.findall(text)),
    }


def ours() -> dict[str, Any]:
    """Our system prompt and core tool schemas."""
    root = Path("/bench-workspace")
    docs = DiskDocuments(root)
    ctx = ToolContext(root=root, documents=docs, sink=StagingArea(docs), settings=Settings())
    tools = ToolExecutor(ctx).definitions()
    return _row("ollama-agent-ls", system_prompt(), tools)


ECHO_SERVER = Path(__file__).resolve().parents[1] / "mcp_servers" / "echo_server.py"


async def _with_mcp() -> list[dict[str, Any]]:
    from ollama_agent_ls.mcp_tools.hub import McpHub
    from ollama_agent_ls.mcp_tools.provider import McpToolProvider
    from ollama_agent_ls.settings import McpServerSettings

    root = Path("/bench-workspace")
    docs = DiskDocuments(root)
    ctx = ToolContext(root=root, documents=docs, sink=StagingArea(docs), settings=Settings())
    # The bench workspace does not exist: the server runs in its own folder.
    server = McpServerSettings(
        command=sys.executable, args=[str(ECHO_SERVER)], cwd=str(ECHO_SERVER.parent)
    )
    hub = McpHub()
    try:
        executor = ToolExecutor(ctx, providers=[McpToolProvider(hub, {"echo": server})])
        await executor.prepare()
        return executor.definitions()
    finally:
        await hub.close()


def ours_with_mcp() -> dict[str, Any]:
    """Ours plus one small MCP server (the tests' echo server, 4 tools): what each MCP tool
    adds to every request."""
    tools = asyncio.run(_with_mcp())
    return _row("ollama-agent-ls + MCP echo server (4 tools)", system_prompt(), tools)


def _rust_string(source: str) -> str:
    """The value of a Rust string literal body (escapes and line continuations)."""
    source = re.sub(r"\\\n\s*", "", source)
    return json.loads('"' + source.replace("\\'", "'") + '"')


def mermaid_tools(path: Path | None = None) -> list[dict[str, Any]]:
    """The 16 tools of the mermaid CLI registry, as serde_json would serialise them."""
    raw = (path or SEEDS / "mermaid-cli-tools.rs.txt").read_text(encoding="utf-8")
    code = "\n".join(re.sub(r"^\d+", "", line) for line in raw.splitlines())
    tools = []
    for block in re.split(r"\n\s*fn \w+_tool\(\) -> Tool \{", code)[1:]:
        name = re.search(r'name: "([^"]+)"\.to_string\(\)', block)
        desc = re.search(r'description:\s*"((?:[^"\\]|\\.)*)"\s*\.to_string\(\)', block, re.S)
        params = re.search(r"parameters: json!\((\{.*?\n {16}\})\)", block, re.S)
        if not (name and desc and params):
            raise ValueError(f"could not read a tool definition near: {block[:120]!r}")
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": name.group(1),
                    "description": _rust_string(desc.group(1)),
                    "parameters": json.loads(params.group(1)),
                },
            }
        )
    return tools


def chant_tools(path: Path | None = None) -> list[dict[str, Any]]:
    """The four ``#[function]`` tools of chant's spec, rendered like ollama-rs does."""
    raw = (path or SEEDS / "chant-ollama-agent-spec.md").read_text(encoding="utf-8")
    pattern = re.compile(r"((?:^///.*\n)+)#\[function\]\npub fn (\w+)\(([^)]*)\)", re.M)
    tools = []
    for doc, name, args in pattern.findall(raw):
        description = " ".join(line[3:].strip() for line in doc.strip().splitlines())
        names = [a.split(":")[0].strip() for a in args.split(",") if a.strip()]
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": description,
                    "parameters": {
                        "type": "object",
                        "properties": {n: {"type": "string"} for n in names},
                        "required": names,
                    },
                },
            }
        )
    return tools


def _row(name: str, system: str | None, tools: list[dict[str, Any]], sort: bool = False) -> dict:
    tools_text = "\n".join(compact(tool, sort) for tool in tools)
    row: dict[str, Any] = {
        "name": name,
        "tool_count": len(tools),
        "tools": estimate(tools_text),
        "system": estimate(system) if system is not None else None,
    }
    total = tools_text + ("\n" + system if system else "")
    row["total"] = estimate(total)
    return row


def run_prompt_weight() -> dict[str, Any]:
    """Rows for ours, mermaid's registry and chant's tools, and the target check."""
    mermaid = mermaid_tools()
    if len(mermaid) != 16:
        raise ValueError(f"read {len(mermaid)} mermaid tools, expected 16")
    chant = chant_tools()
    if len(chant) != 4:
        raise ValueError(f"read {len(chant)} chant tools, expected 4")
    rows = [
        ours(),
        ours_with_mcp(),
        _row("mermaid CLI (tools only)", None, mermaid, sort=True),
        _row("chant spec (tools only, lower bound)", None, chant),
    ]
    worst = max(rows[0]["total"]["tokens_bytes_div_4"], rows[0]["total"]["tokens_pretokens"])
    return {"rows": rows, "target_tokens": TARGET_TOKENS, "ours_total_tokens_max": worst}

"""MCP tool definitions and results in the agent's terms, as plain JSON (no SDK types here)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

_NAMED_SCHEMAS = ("properties", "patternProperties", "$defs", "definitions")
"""Keywords whose value maps names to schemas: a key ``title`` there is a property, kept."""


def terse_schema(schema: Any) -> Any:
    """``schema`` without ``title`` annotations and ``$schema``: the model gets nothing from
    them, and every token of a tool schema is paid on every turn."""
    if isinstance(schema, list):
        return [terse_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$schema" or (key == "title" and isinstance(value, str)):
            continue
        if key in _NAMED_SCHEMAS and isinstance(value, dict):
            out[key] = {name: terse_schema(sub) for name, sub in value.items()}
        else:
            out[key] = terse_schema(value)
    return out


def tool_definition(name: str, description: str | None, input_schema: Any) -> dict[str, Any]:
    """The tool in Ollama's (and OpenAI's) format, its parameters the server's input schema."""
    parameters = terse_schema(input_schema) if isinstance(input_schema, dict) else {}
    parameters.setdefault("type", "object")
    if parameters.get("type") == "object":
        parameters.setdefault("properties", {})
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": (description or "").strip(),
            "parameters": parameters,
        },
    }


def _size(data: Any) -> str:
    if not isinstance(data, str):
        return "unknown size"
    try:
        count = len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        count = len(data)
    return f"{count:,} bytes"


def _block_text(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    mime = block.get("mimeType") or "unknown type"
    if kind in ("image", "audio"):
        return f"[{kind} ({mime}, {_size(block.get('data'))}) not shown: text only here]"
    if kind == "resource":
        resource = block.get("resource") or {}
        uri = resource.get("uri", "?")
        mime = resource.get("mimeType") or "unknown type"
        if isinstance(resource.get("text"), str):
            what = f"{len(resource['text']):,} characters of text"
        else:
            what = _size(resource.get("blob"))
        return f"[embedded resource {uri} ({mime}, {what}) not shown]"
    if kind == "resource_link":
        name = block.get("name") or ""
        described = f": {block['description']}" if block.get("description") else ""
        return f"[resource link {block.get('uri', '?')} {name}{described}]".replace(" ]", "]")
    return f"[{kind or 'unknown'} content not shown]"


def result_text(result: dict[str, Any]) -> str:
    """What the model gets of a tools/call result (``CallToolResult`` as JSON): the text
    blocks in order, other blocks as one-line summaries, structured content when there is no
    text."""
    blocks = result.get("content") or []
    parts = [_block_text(b) for b in blocks if isinstance(b, dict)]
    structured = result.get("structuredContent")
    if structured is not None and not any(b.get("type") == "text" for b in blocks):
        parts.append(json.dumps(structured, ensure_ascii=False))
    text = "\n".join(p for p in parts if p)
    return text or "(the tool returned nothing)"

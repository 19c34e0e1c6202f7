"""listSessions and getSession: the conversations a panel, a chat buffer or ACP shows."""

from __future__ import annotations

import logging
from typing import Any

from ollama_agent_ls.lsp import lsp_ext as ext
from ollama_agent_ls.lsp.server import AgentServer

log = logging.getLogger(__name__)


async def list_sessions(ls: AgentServer, *args: Any) -> list[dict[str, Any]]:
    """The workspace's sessions, newest first."""
    from ollama_agent_ls.lsp.command_args import NoArgs, parse_args

    parse_args(ext.LIST_SESSIONS, NoArgs, args)
    await ls.wait_configured()
    root = ls.root_for(ls.root, None, ext.LIST_SESSIONS)
    return [s.summary_json() for s in ls.runs.session_store(root, ls.settings).list()]


async def get_session(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """A session's conversation and runs, for a panel, a chat buffer or ACP's session/load."""
    from ollama_agent_ls.lsp.command_args import GetSessionArgs, parse_args

    a = parse_args(ext.GET_SESSION, GetSessionArgs, args)
    await ls.wait_configured()
    root = ls.root_for(ls.root, None, ext.GET_SESSION)
    session = ls.runs.load_session(root, ls.settings, a.session_id)
    messages = []
    # Each run's instruction opens with its user message (the first as the rendered task):
    # marking it spares a client from guessing which user messages the person wrote.
    pending = list(session.runs)
    for m in session.messages:
        if m.role == "system":
            continue
        entry: dict[str, Any] = {"role": m.role, "text": m.content}
        if m.role == "user" and pending:
            said = pending[0].instruction.strip()
            if said and (m.content.startswith(said) or m.content.startswith(f"Task: {said}")):
                run = pending.pop(0)
                entry["runId"], entry["instruction"] = run.run_id, run.instruction
        if m.thinking:
            entry["thinking"] = m.thinking
        if m.tool_calls:
            entry["toolCalls"] = [
                {"name": c.name, "arguments": c.arguments, "callId": c.id} for c in m.tool_calls
            ]
        if m.tool_name is not None:
            entry["toolName"] = m.tool_name
            entry["callId"] = m.tool_call_id
        messages.append(entry)
    return {
        **session.summary_json(),
        "messages": messages,
        "runs": [
            {
                "runId": r.run_id,
                "instruction": r.instruction,
                "status": r.status,
                "summary": r.summary,
                "changedFiles": [ls.editor.uri_for(c.path) for c in r.changes],
                "undone": r.undone,
            }
            for r in session.runs
        ],
    }


def register(server: AgentServer) -> None:
    """Register listSessions and getSession on ``server``."""
    server.command(ext.LIST_SESSIONS)(list_sessions)
    server.command(ext.GET_SESSION)(get_session)

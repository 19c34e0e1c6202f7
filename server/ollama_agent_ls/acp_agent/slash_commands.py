"""The slash commands the ACP agent offers: ACP's way to ask for what is not a prompt."""

from __future__ import annotations

from acp.schema import AvailableCommandsUpdate

from ollama_agent_ls.acp_agent.spec_prompts import SPEC_COMMAND
from ollama_agent_ls.acp_agent.undo_prompts import UNDO_COMMAND


def available_commands() -> AvailableCommandsUpdate:
    """The slash commands this agent offers (sent after session/new and session/load)."""
    return AvailableCommandsUpdate(
        session_update="available_commands_update",
        available_commands=[SPEC_COMMAND, UNDO_COMMAND],
    )

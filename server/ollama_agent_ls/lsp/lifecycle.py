"""Initialize, configuration, shutdown: the server's life with its client."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from ollama_agent_ls.lsp.server import (
    CONFIG_SECTION,
    SHUTDOWN_WAIT,
    AgentServer,
    as_dict,
)

log = logging.getLogger(__name__)


# spec_runs is not among them: create_server() registers it (the spec lens and commands). yaml is
# what parsing a spec (for its lens) needs.
_LATE_IMPORTS = (
    "ollama_agent_ls.lsp.command_args",
    "ollama_agent_ls.lsp.runs",
    "ollama_agent_ls.ollama.client",
    "ollama_agent_ls.ollama.setup_check",
    "yaml",
)


def initialize(ls: AgentServer, params: types.InitializeParams) -> None:
    """Keep initializationOptions; they are validated once the client is ready for messages."""
    ls.client_name = params.client_info.name if params.client_info else None
    ls._init_options = as_dict(params.initialization_options) or {}
    if isinstance(ls._init_options.get(CONFIG_SECTION), dict):
        # Some clients nest the section; accept both shapes.
        ls._init_options = ls._init_options[CONFIG_SECTION]
    # Not validated here (that loads pydantic, and the client is waiting): a command arriving
    # before initialized gets them anyway, from the settings property, rebuilt with them.
    ls._settings = None


async def initialized(ls: AgentServer, params: types.InitializedParams) -> None:
    """Validate initializationOptions, then pull workspace/configuration."""
    try:
        pulled = await ls.pull_configuration()
        ls.apply_config(ls._init_options, pulled)
    finally:
        ls.configured.set()
    # Warm the late imports off the loop so the first command does not pay for them.
    await asyncio.get_running_loop().run_in_executor(None, _import_late)
    ls.schedule_warm_start()


def _import_late() -> None:
    import importlib

    for name in _LATE_IMPORTS:
        importlib.import_module(name)


async def workspace_did_change_configuration(
    ls: AgentServer, params: types.DidChangeConfigurationParams
) -> None:
    """Re-read the configuration (pushed in the notification, or pulled)."""
    pushed = as_dict(params.settings)
    section = pushed.get(CONFIG_SECTION) if pushed else None
    if not isinstance(section, dict):
        section = await ls.pull_configuration()
    ls.apply_config(ls._init_options, section)
    ls.schedule_warm_start()


async def shutdown(ls: AgentServer, params: Any) -> None:
    """Stop runs, the MCP servers they started, and close HTTP clients."""
    from ollama_agent_ls.mcp_tools.hub import close_hub

    if ls._warm_task is not None:
        ls._warm_task.cancel()
    ls.runs.cancel(None)
    await ls.runs.wait_idle(SHUTDOWN_WAIT)
    ls.cancel_pending_requests()
    await close_hub(ls)
    await ls.close_clients()


def window_work_done_progress_cancel(
    ls: AgentServer, params: types.WorkDoneProgressCancelParams
) -> None:
    """Cancel the run behind a progress token (the token's future also does, as a backup)."""
    for run in list(ls.runs.active.values()):
        if run.progress_token == params.token:
            run.cancel()


def register(server: AgentServer) -> None:
    """Register the lifecycle handlers (initialize to shutdown) on ``server``."""
    server.feature(types.INITIALIZE)(initialize)
    server.feature(types.INITIALIZED)(initialized)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(workspace_did_change_configuration)
    server.feature(types.SHUTDOWN)(shutdown)
    server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)(window_work_done_progress_cancel)

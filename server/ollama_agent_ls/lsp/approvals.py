"""Asks the editor's user whether a command may run (window/showMessageRequest)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from ollama_agent_ls.tools.context import Approval, ApprovalRequest

if TYPE_CHECKING:
    from ollama_agent_ls.lsp.server import AgentServer

log = logging.getLogger(__name__)

ALLOW, ALLOW_RUN, DENY = "Allow", "Allow for this run", "Deny"
OUTSIDE_ONCE, KEEP_BLOCKED = "Run outside the sandbox (once)", "Keep it blocked"


class EditorApprover:
    """Approver that shows the command and its directory with Allow / Allow for this run / Deny."""

    def __init__(self, server: AgentServer, timeout: float) -> None:
        self.server = server
        self.timeout = timeout

    def _client_can_ask(self) -> bool:
        window = self.server.client_capabilities.window
        return bool(window and window.show_message is not None)

    async def ask(self, request: ApprovalRequest) -> Approval:
        """The user's answer; DENY when the client cannot ask; TimeoutError when nobody answers."""
        if not self._client_can_ask():
            log.info("client cannot show message requests; denied: %s", request.command)
            return Approval.DENY
        if request.outside_sandbox:
            params = types.ShowMessageRequestParams(
                type=types.MessageType.Warning,
                message=(
                    f"The sandbox blocked a command of the Ollama agent:\n{request.command}\n"
                    f"in {request.cwd}\n({request.reason})"
                ),
                actions=[
                    types.MessageActionItem(title=OUTSIDE_ONCE),
                    types.MessageActionItem(title=KEEP_BLOCKED),
                ],
            )
        else:
            warning = " DESTRUCTIVE." if request.destructive else ""
            params = types.ShowMessageRequestParams(
                type=types.MessageType.Warning if request.destructive else types.MessageType.Info,
                message=(
                    f"Ollama agent wants to run:{warning}\n{request.command}\nin {request.cwd}\n"
                    f"({request.reason})"
                ),
                actions=[
                    types.MessageActionItem(title=ALLOW),
                    types.MessageActionItem(title=ALLOW_RUN),
                    types.MessageActionItem(title=DENY),
                ],
            )
        try:
            answer = await asyncio.wait_for(
                self.server.window_show_message_request_async(params), self.timeout
            )
        except asyncio.TimeoutError:
            # Re-raised so run_command tells the model nobody answered, rather than that the
            # user said no.
            log.info("no answer within %ss; not run: %s", self.timeout, request.command)
            raise
        title = answer.title if answer is not None else None
        if request.outside_sandbox:
            return Approval.ALLOW if title == OUTSIDE_ONCE else Approval.DENY
        if title == ALLOW:
            return Approval.ALLOW
        if title == ALLOW_RUN:
            return Approval.ALLOW_FOR_RUN
        return Approval.DENY

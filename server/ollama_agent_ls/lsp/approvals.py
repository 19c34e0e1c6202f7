"""Asks the editor's user whether a command may run: ollamaAgent/approveCommand for clients that
declare it (a chat panel answers inline), else window/showMessageRequest."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ollama_agent_ls.lsp.lsp_ext import APPROVE_COMMAND
from ollama_agent_ls.tools.context import Approval, ApprovalRequest

if TYPE_CHECKING:
    from ollama_agent_ls.lsp.server import AgentServer

log = logging.getLogger(__name__)

ALLOW, ALLOW_SESSION, DENY = "Allow", "Allow for this session", "Deny"
OUTSIDE_ONCE, KEEP_BLOCKED = "Run outside the sandbox (once)", "Keep it blocked"

_DECISIONS = {
    "allow": Approval.ALLOW,
    "allowSession": Approval.ALLOW_FOR_SESSION,
    "deny": Approval.DENY,
}
"""approveCommand decisions for a plain question; one the sandbox blocked takes only
"allowOutsideSandbox" (or "deny")."""


class EditorApprover:
    """Approver that shows the command and its directory with Allow / Allow for this session /
    Deny, through whichever request the client handles."""

    def __init__(
        self, server: AgentServer, timeout: float, run_id: str = "", session_id: str = ""
    ) -> None:
        self.server = server
        self.timeout = timeout
        self.run_id = run_id
        self.session_id = session_id

    def _client_can_ask(self) -> bool:
        window = self.server.client_capabilities.window
        return bool(window and window.show_message is not None)

    async def ask(self, request: ApprovalRequest) -> Approval:
        """The user's answer; DENY when the client cannot ask; TimeoutError when nobody answers."""
        if self.server.client_declares("approveCommand"):
            ask = self._ask_approve_command(request)
        elif self._client_can_ask():
            ask = self._ask_message_request(request)
        else:
            log.info("client cannot show message requests; denied: %s", request.command)
            return Approval.DENY
        try:
            return await asyncio.wait_for(ask, self.timeout)
        except asyncio.TimeoutError:
            # Re-raised so run_command tells the model nobody answered, rather than that the
            # user said no.
            log.info("no answer within %ss; not run: %s", self.timeout, request.command)
            raise

    async def _ask_approve_command(self, request: ApprovalRequest) -> Approval:
        params: dict[str, Any] = {
            "runId": self.run_id,
            "sessionId": self.session_id,
            "command": request.command,
            "cwd": str(request.cwd),
            "destructive": request.destructive,
            "reason": request.reason,
            "timeoutSeconds": self.timeout,
            "kind": request.kind,
        }
        if request.outside_sandbox:
            params["outsideSandbox"] = True
        answer = await self.server.protocol.send_request_async(APPROVE_COMMAND, params)
        return decision_of(answer, request)

    async def _ask_message_request(self, request: ApprovalRequest) -> Approval:
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
            if request.kind == "tool":
                asked = f"Ollama agent wants to call an MCP tool:\n{request.command}\n"
            else:
                asked = (
                    f"Ollama agent wants to run:{warning}\n{request.command}\nin {request.cwd}\n"
                )
            params = types.ShowMessageRequestParams(
                type=types.MessageType.Warning if request.destructive else types.MessageType.Info,
                message=f"{asked}({request.reason})",
                actions=[
                    types.MessageActionItem(title=ALLOW),
                    types.MessageActionItem(title=ALLOW_SESSION),
                    types.MessageActionItem(title=DENY),
                ],
            )
        answer = await self.server.window_show_message_request_async(params)
        title = answer.title if answer is not None else None
        if request.outside_sandbox:
            return Approval.ALLOW if title == OUTSIDE_ONCE else Approval.DENY
        if title == ALLOW:
            return Approval.ALLOW
        if title == ALLOW_SESSION:
            return Approval.ALLOW_FOR_SESSION
        return Approval.DENY


def decision_of(answer: Any, request: ApprovalRequest) -> Approval:
    """The Approval an approveCommand answer means; DENY, logged, for one that means nothing."""
    # pygls hands an unknown method's result over as a namedtuple (or a bare value).
    decision = answer.get("decision") if isinstance(answer, dict) else None
    if decision is None and hasattr(answer, "_asdict"):
        decision = answer._asdict().get("decision")
    if request.outside_sandbox:
        if decision == "allowOutsideSandbox":
            return Approval.ALLOW
        if decision != "deny":
            log.warning(
                "%s answered %r for a command the sandbox blocked (only allowOutsideSandbox or "
                "deny fit); kept it blocked: %s",
                APPROVE_COMMAND,
                decision if decision is not None else answer,
                request.command,
            )
        return Approval.DENY
    approval = _DECISIONS.get(decision) if isinstance(decision, str) else None
    if approval is None:
        log.warning(
            "%s answered %r, not one of allow, allowSession, deny; denied: %s",
            APPROVE_COMMAND,
            decision if decision is not None else answer,
            request.command,
        )
        return Approval.DENY
    return approval

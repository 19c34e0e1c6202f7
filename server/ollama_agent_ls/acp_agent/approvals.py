"""Asking the ACP client whether a command may run: ``session/request_permission``.

The same Approver as the other faces, so the policy, the destructive floor and the sandbox
decide exactly as there: this only asks the person. A destructive command and one the sandbox
blocked are offered allow-once and reject-once only, and an allow-always answer to them counts
once: nothing but a person's answer each time lets such a command run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from acp import text_block, tool_content
from acp.schema import (
    AllowedOutcome,
    PermissionOption,
    RequestPermissionResponse,
    ToolCallUpdate,
)

from ollama_agent_ls.tools.context import Approval, ApprovalRequest

log = logging.getLogger(__name__)

ALLOW_ONCE, ALLOW_ALWAYS, REJECT_ONCE = "allow-once", "allow-always", "reject-once"

AskClient = Callable[[ToolCallUpdate, list[PermissionOption]], Awaitable[RequestPermissionResponse]]


def permission_options(request: ApprovalRequest) -> list[PermissionOption]:
    """The choices offered for ``request``: no allow-always past the floor or the sandbox."""
    if request.outside_sandbox:
        return [
            PermissionOption(
                option_id=ALLOW_ONCE, name="Run outside the sandbox (once)", kind="allow_once"
            ),
            PermissionOption(option_id=REJECT_ONCE, name="Keep it blocked", kind="reject_once"),
        ]
    options = [PermissionOption(option_id=ALLOW_ONCE, name="Allow", kind="allow_once")]
    if not request.destructive:
        options.append(
            PermissionOption(
                option_id=ALLOW_ALWAYS, name="Allow for this session", kind="allow_always"
            )
        )
    options.append(PermissionOption(option_id=REJECT_ONCE, name="Deny", kind="reject_once"))
    return options


def approval_of(response: RequestPermissionResponse, request: ApprovalRequest) -> Approval:
    """What the client's answer means; DENY for a cancelled turn or an option not offered."""
    outcome = response.outcome
    if not isinstance(outcome, AllowedOutcome):
        return Approval.DENY
    chosen = outcome.option_id
    if chosen == ALLOW_ONCE:
        return Approval.ALLOW
    if chosen == ALLOW_ALWAYS:
        if request.destructive or request.outside_sandbox:
            # Never a standing allowance past the floor: this once, and ask again next time.
            return Approval.ALLOW
        return Approval.ALLOW_FOR_SESSION
    if chosen != REJECT_ONCE:
        log.warning(
            "session/request_permission answered %r, not one of the options offered; denied: %s",
            chosen,
            request.command,
        )
    return Approval.DENY


class PermissionApprover:
    """Asks through session/request_permission, tied to the tool call that runs the command."""

    def __init__(self, ask_client: AskClient, tool_call_id: Callable[[], str]) -> None:
        self._ask_client = ask_client
        self._tool_call_id = tool_call_id

    async def ask(self, request: ApprovalRequest) -> Approval:
        """The person's decision on ``request``."""
        if request.outside_sandbox:
            title = f"Run outside the sandbox: {request.command}"
        elif request.destructive:
            title = f"Run (destructive): {request.command}"
        elif request.kind == "tool":
            title = f"Call MCP tool: {request.command}"
        else:
            title = f"Run: {request.command}"
        tool_call = ToolCallUpdate(
            tool_call_id=self._tool_call_id(),
            title=title,
            kind="other" if request.kind == "tool" else "execute",
            status="pending",
            content=[tool_content(text_block(f"in {request.cwd}\n({request.reason})"))],
            raw_input={
                "command": request.command,
                "cwd": str(request.cwd),
                "reason": request.reason,
                "destructive": request.destructive,
                "outsideSandbox": request.outside_sandbox,
            },
        )
        response = await self._ask_client(tool_call, permission_options(request))
        return approval_of(response, request)

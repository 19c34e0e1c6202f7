"""The validated shape of each custom command's single object argument.

Apart from the command names (lsp/lsp_ext.py) because pydantic costs ~60 ms to import and a
client waits for the answer to initialize before it sends anything; a command's handler imports
this module, and a thread warms it once the client is initialized.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pygls.exceptions import JsonRpcInvalidParams


class _Args(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Position(_Args):
    """An LSP position (0-based, in the negotiated encoding)."""

    line: int = Field(ge=0)
    character: int = Field(ge=0)


class Range(_Args):
    """An LSP range."""

    start: Position
    end: Position


WAIT_DOC = """False: answer at once with ``{runId, status: "running"}``; the result follows as the
ollamaAgent/runFinished notification (for clients with a short request timeout, such as eglot)."""


class RunSelectionArgs(_Args):
    """Arguments of ollamaAgent.runSelection."""

    uri: str = Field(min_length=1)
    range: Range
    instruction: str = Field(min_length=1)
    model: str | None = None
    wait: bool = Field(default=True, description=WAIT_DOC)


class RunTaskArgs(_Args):
    """Arguments of ollamaAgent.runTask: a new session, with or without a file or selection."""

    instruction: str = Field(min_length=1)
    uri: str | None = None
    range: Range | None = None
    model: str | None = None
    wait: bool = Field(default=True, description=WAIT_DOC)


class FollowUpArgs(RunTaskArgs):
    """Arguments of ollamaAgent.followUp: continue session ``sessionId``'s conversation."""

    session_id: str = Field(min_length=1)


class GetSessionArgs(_Args):
    """Arguments of ollamaAgent.getSession."""

    session_id: str = Field(min_length=1)


class RunSpecArgs(_Args):
    """Arguments of ollamaAgent.runSpec."""

    uri: str = Field(min_length=1)
    model: str | None = None
    rerun: bool = False
    wait: bool = Field(default=True, description=WAIT_DOC)


class VerifySpecArgs(RunSpecArgs):
    """Arguments of ollamaAgent.verifySpec (``model`` and ``rerun`` are accepted and unused)."""


class ImplementTodoArgs(_Args):
    """Arguments of ollamaAgent.implementTodo."""

    uri: str = Field(min_length=1)
    line: int = Field(ge=0)
    model: str | None = None
    wait: bool = Field(default=True, description=WAIT_DOC)


class RunIdArgs(_Args):
    """Arguments of ollamaAgent.cancel and ollamaAgent.undoRun."""

    run_id: str | None = None


class RunChangesArgs(_Args):
    """Arguments of ollamaAgent.runChanges."""

    run_id: str = Field(min_length=1)


class HunkArgs(_Args):
    """Arguments of ollamaAgent.revertHunk and ollamaAgent.keepHunk."""

    run_id: str = Field(min_length=1)
    uri: str = Field(min_length=1)
    hunk_id: str = Field(min_length=1)


class NoArgs(_Args):
    """Commands that take an empty object."""


A = TypeVar("A", bound=_Args)


def parse_args(command: str, model: type[A], arguments: tuple[Any, ...]) -> A:
    """Validate a command's single object argument; InvalidParams with a readable message."""
    if len(arguments) > 1:
        raise JsonRpcInvalidParams(
            f"{command} takes one object argument, got {len(arguments)} arguments."
        )
    raw = arguments[0] if arguments else {}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise JsonRpcInvalidParams(
            f"{command} takes one object argument, got {type(raw).__name__}: {raw!r:.80}"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "argument"
            if err["type"] == "missing":
                problems.append(f"'{where}' is required")
            elif err["type"] == "extra_forbidden":
                problems.append(f"'{where}' is not an argument of {command}")
            else:
                problems.append(f"'{where}': {err['msg']}")
        fields = ", ".join(f.alias or n for n, f in model.model_fields.items())
        raise JsonRpcInvalidParams(
            f"Invalid arguments for {command}: {'; '.join(problems)}. Expected {{{fields}}}."
        ) from None

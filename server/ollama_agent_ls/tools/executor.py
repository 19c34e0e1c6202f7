"""Runs the model's tool calls: validates arguments, dispatches, turns failures into advice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ollama_agent_ls.ollama.models import ToolCall
from ollama_agent_ls.tools import file_tools, shell
from ollama_agent_ls.tools.context import ToolContext, ToolError
from ollama_agent_ls.tools.schemas import (
    ARG_MODELS,
    CORE_TOOLS,
    TOOL_DEFINITIONS,
    ApplyPatchArgs,
    DeleteFileArgs,
    EditFileArgs,
    ListFilesArgs,
    ReadFileArgs,
    RunCommandArgs,
    SearchArgs,
    WriteFileArgs,
)
from ollama_agent_ls.workspace.changes import ChangeRejected
from ollama_agent_ls.workspace.documents import DocumentError
from ollama_agent_ls.workspace.paths import PathRefused

log = logging.getLogger(__name__)

Handler = Callable[[ToolContext, Any], Awaitable[str]]


@dataclass(frozen=True)
class ToolOutcome:
    """What a tool call produced: the text for the model and whether it succeeded."""

    name: str
    arguments: dict[str, Any]
    content: str
    ok: bool


@dataclass(frozen=True)
class ExtraTool:
    """A tool added for one kind of run (check_criterion for specs)."""

    name: str
    handler: Callable[[ToolContext, Any], Awaitable[str]]


async def _read_file(ctx: ToolContext, a: ReadFileArgs) -> str:
    return await file_tools.read_file(ctx, a.path, a.start_line, a.end_line)


async def _list_files(ctx: ToolContext, a: ListFilesArgs) -> str:
    return await file_tools.list_files(ctx, a.glob)


async def _search(ctx: ToolContext, a: SearchArgs) -> str:
    return await file_tools.search(ctx, a.regex, a.glob)


async def _write_file(ctx: ToolContext, a: WriteFileArgs) -> str:
    return await file_tools.write_file(ctx, a.path, a.content)


async def _edit_file(ctx: ToolContext, a: EditFileArgs) -> str:
    return await file_tools.edit_file(ctx, a.path, a.old_string, a.new_string, a.replace_all)


async def _apply_patch(ctx: ToolContext, a: ApplyPatchArgs) -> str:
    return await file_tools.apply_patch(ctx, a.patch)


async def _delete_file(ctx: ToolContext, a: DeleteFileArgs) -> str:
    return await file_tools.delete_file(ctx, a.path)


async def _run_command(ctx: ToolContext, a: RunCommandArgs) -> str:
    return await shell.run_command(ctx, a.command, a.timeout)


_CORE_HANDLERS: dict[str, Handler] = {
    "read_file": _read_file,
    "list_files": _list_files,
    "search": _search,
    "write_file": _write_file,
    "edit_file": _edit_file,
    "apply_patch": _apply_patch,
    "delete_file": _delete_file,
    "run_command": _run_command,
}


@dataclass
class ToolExecutor:
    """Dispatches tool calls for one run."""

    ctx: ToolContext
    extra_tools: Iterable[ExtraTool] = ()
    _handlers: dict[str, Handler] = field(init=False)

    def __post_init__(self) -> None:
        self._handlers = dict(_CORE_HANDLERS)
        for tool in self.extra_tools:
            self._handlers[tool.name] = tool.handler

    @property
    def names(self) -> list[str]:
        """Names of the tools this run offers."""
        return list(self._handlers)

    def definitions(self) -> list[dict[str, Any]]:
        """Tool schemas in Ollama's format, in a stable order."""
        order = [*CORE_TOOLS, *(n for n in self._handlers if n not in CORE_TOOLS)]
        return [TOOL_DEFINITIONS[name] for name in order if name in self._handlers]

    async def execute(self, call: ToolCall) -> ToolOutcome:
        """Run one call; every failure becomes an outcome whose text tells the model the fix."""
        handler = self._handlers.get(call.name)
        if handler is None:
            return self._fail(
                call,
                f"Unknown tool '{call.name}'. Available tools: {', '.join(self.names)}. "
                "Call one of these by its exact name.",
            )
        if call.parse_error is not None:
            return self._fail(call, call.parse_error)
        model = ARG_MODELS[call.name]
        try:
            args: BaseModel = model.model_validate(call.arguments)
        except ValidationError as exc:
            return self._fail(call, _explain_validation(call.name, exc))
        try:
            content = await handler(self.ctx, args)
        except (ToolError, PathRefused, DocumentError, ChangeRejected) as exc:
            return self._fail(call, str(exc))
        return ToolOutcome(call.name, call.arguments, content, ok=True)

    @staticmethod
    def _fail(call: ToolCall, message: str) -> ToolOutcome:
        return ToolOutcome(call.name, call.arguments, f"Error: {message}", ok=False)


def _explain_validation(name: str, exc: ValidationError) -> str:
    definition = TOOL_DEFINITIONS[name]["function"]["parameters"]
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "missing":
            problems.append(f"missing argument '{where}'")
        else:
            problems.append(f"'{where}': {err['msg']}")
    required = ", ".join(definition["required"]) or "none"
    props = ", ".join(f"{k} ({v['type']})" for k, v in definition["properties"].items())
    return (
        f"Invalid arguments for {name}: {'; '.join(problems)}. "
        f"Required: {required}. Arguments: {props}. Call {name} again with a JSON object of these."
    )

"""Runs the model's tool calls: validates arguments, dispatches, turns failures into advice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from ollama_agent_ls.ollama.models import ToolCall
from ollama_agent_ls.tools.context import ToolContext, ToolError
from ollama_agent_ls.tools.records import ToolRecord
from ollama_agent_ls.tools.schemas import TOOLS, TOOLS_BY_NAME
from ollama_agent_ls.workspace.changes import ChangeRejected
from ollama_agent_ls.workspace.documents import DocumentError
from ollama_agent_ls.workspace.paths import PathRefused

log = logging.getLogger(__name__)

# Runs a validated call: a record's handler, or the one an ExtraTool supplies.
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
    """A tool added for one kind of run (check_criterion for specs); its record is in TOOLS.

    The handler is given the validated argument model, as it usually needs the run's own state.
    """

    name: str
    handler: Handler


@dataclass(frozen=True)
class SchemaTool:
    """A tool whose schema comes from elsewhere (an MCP server), not from an argument model.

    ``schema`` is sent as it is; the handler gets the call's arguments unvalidated, since the
    tool's owner validates them against the schema it gave.
    """

    name: str
    schema: dict[str, Any]
    handler: Callable[[ToolContext, dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True)
class ProvidedTools:
    """What a ToolProvider adds to a session: its tools, and warnings for the transcript."""

    tools: Sequence[SchemaTool] = ()
    warnings: Sequence[str] = ()


class ToolProvider(Protocol):
    """Supplies tools that take a while to find (MCP servers start), once per session."""

    async def provide(self, ctx: ToolContext) -> ProvidedTools:
        """The tools to offer for the rest of the session; never raises for a broken source."""
        ...


@dataclass
class ToolExecutor:
    """Dispatches tool calls for one run."""

    ctx: ToolContext
    extra_tools: Iterable[ExtraTool] = ()
    providers: Sequence[ToolProvider] = ()
    """Asked once, by prepare(), before the session's first request: the tool set is fixed from
    then on, so the schemas in the cached prompt prefix never change under it."""
    _handlers: dict[str, Handler] = field(init=False)
    _schema_tools: dict[str, SchemaTool] = field(init=False, default_factory=dict)
    _prepared: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        handlers: dict[str, Handler] = {r.name: r.call for r in TOOLS if r.handler is not None}
        for tool in self.extra_tools:
            if tool.name not in TOOLS_BY_NAME:
                raise ValueError(
                    f"Extra tool {tool.name!r} has no record, so the model would get no schema "
                    "for it; add a ToolRecord for it to TOOLS in tools/schemas.py."
                )
            handlers[tool.name] = tool.handler
        # In the records' order whatever the run's: the tool schemas are part of the prompt
        # prefix the server caches.
        self._handlers = {r.name: handlers[r.name] for r in TOOLS if r.name in handlers}

    async def prepare(self) -> list[str]:
        """Add the providers' tools (once; later calls add nothing); their warnings."""
        if self._prepared:
            return []
        self._prepared = True
        warnings: list[str] = []
        for provider in self.providers:
            provided = await provider.provide(self.ctx)
            warnings.extend(provided.warnings)
            for tool in provided.tools:
                if tool.name in self._handlers or tool.name in self._schema_tools:
                    warnings.append(f"Tool {tool.name!r} is offered twice; the first one is kept.")
                    continue
                self._schema_tools[tool.name] = tool
        return warnings

    @property
    def names(self) -> list[str]:
        """Names of the tools this run offers."""
        return [*self._handlers, *self._schema_tools]

    def definitions(self) -> list[dict[str, Any]]:
        """Tool schemas in Ollama's format, in a stable order: the core tools, then the
        providers' in the order they gave them."""
        core = [TOOLS_BY_NAME[name].schema for name in self._handlers]
        return core + [tool.schema for tool in self._schema_tools.values()]

    async def execute(self, call: ToolCall) -> ToolOutcome:
        """Run one call; every failure becomes an outcome whose text tells the model the fix."""
        provided = self._schema_tools.get(call.name)
        if provided is not None:
            return await self._execute_provided(provided, call)
        handler = self._handlers.get(call.name)
        if handler is None:
            return self._fail(
                call,
                f"Unknown tool '{call.name}'. Available tools: {', '.join(self.names)}. "
                "Call one of these by its exact name.",
            )
        if call.parse_error is not None:
            return self._fail(call, call.parse_error)
        record = TOOLS_BY_NAME[call.name]
        try:
            args: BaseModel = record.args.model_validate(call.arguments)
        except ValidationError as exc:
            return self._fail(call, _explain_validation(record, exc))
        try:
            content = await handler(self.ctx, args)
        except (ToolError, PathRefused, DocumentError, ChangeRejected) as exc:
            return self._fail(call, str(exc))
        return ToolOutcome(call.name, call.arguments, content, ok=True)

    async def _execute_provided(self, tool: SchemaTool, call: ToolCall) -> ToolOutcome:
        if call.parse_error is not None:
            return self._fail(call, call.parse_error)
        try:
            content = await tool.handler(self.ctx, dict(call.arguments))
        except ToolError as exc:
            return self._fail(call, str(exc))
        return ToolOutcome(call.name, call.arguments, content, ok=True)

    @staticmethod
    def _fail(call: ToolCall, message: str) -> ToolOutcome:
        return ToolOutcome(call.name, call.arguments, f"Error: {message}", ok=False)


def _explain_validation(record: ToolRecord, exc: ValidationError) -> str:
    name = record.name
    definition = record.schema["function"]["parameters"]
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

"""One record per tool: its name, description, argument model and handler.

The JSON schema sent to the model is derived from the argument model, so what the model is told
and what a call is validated against cannot drift apart. The handler is called with the
validated fields as keyword arguments; a record checks at import that the two agree.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from ollama_agent_ls.tools.context import ToolContext

# Called as handler(ctx, **fields of the argument model).
ToolHandler = Callable[..., Awaitable[str]]

_JSON_TYPES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_REQUESTED = "requested"


def requested(default: Any, description: str | None = None) -> Any:
    """A field the schema lists as required that a call may still leave out (then ``default``)."""
    return Field(default, description=description, json_schema_extra={_REQUESTED: True})


def _json_type(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        # An optional argument is its type: the schema says what to send, not what to omit.
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        annotation = kinds[0] if len(kinds) == 1 else None
    kind = _JSON_TYPES.get(annotation) if isinstance(annotation, type) else None
    if kind is None:
        raise TypeError(
            f"{model.__name__}.{name} is {info.annotation!r}, which has no JSON schema type here; "
            f"use one of {', '.join(t.__name__ for t in _JSON_TYPES)} (optionally | None)."
        )
    return kind


def _is_required(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return info.is_required() or (isinstance(extra, dict) and extra.get(_REQUESTED) is True)


def tool_schema(name: str, description: str, args: type[BaseModel]) -> dict[str, Any]:
    """The tool's schema in Ollama's (and OpenAI's) format, terse: every token costs each turn."""
    properties: dict[str, dict[str, str]] = {}
    for key, info in args.model_fields.items():
        prop = {"type": _json_type(args, key, info)}
        if info.description:
            prop["description"] = info.description
        properties[key] = prop
    required = [key for key, info in args.model_fields.items() if _is_required(info)]
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "required": required, "properties": properties},
        },
    }


def _check_handler(name: str, args: type[BaseModel], handler: ToolHandler) -> None:
    params = list(inspect.signature(handler).parameters.values())
    taken = [p.name for p in params[1:]]
    fields = list(args.model_fields)
    if not params or sorted(taken) != sorted(fields):
        raise TypeError(
            f"The handler of tool {name!r} takes (ctx, {', '.join(taken)}) but "
            f"{args.__name__} has the fields ({', '.join(fields)}); give the handler a context "
            "parameter and then one parameter per field, named as the fields."
        )


@dataclass(frozen=True)
class ToolRecord:
    """Everything about one tool; its schema is derived from ``args``."""

    name: str
    description: str
    args: type[BaseModel]
    # None: offered only by a run that supplies its own handler (a spec's check_criterion).
    handler: ToolHandler | None = None
    schema: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.handler is not None:
            _check_handler(self.name, self.args, self.handler)
        object.__setattr__(self, "schema", tool_schema(self.name, self.description, self.args))

    async def call(self, ctx: ToolContext, args: BaseModel) -> str:
        """Run the handler with the validated arguments."""
        if self.handler is None:
            raise TypeError(f"Tool {self.name!r} has no handler; the run offering it supplies one.")
        return await self.handler(
            ctx, **{key: getattr(args, key) for key in self.args.model_fields}
        )


def by_name(records: tuple[ToolRecord, ...]) -> dict[str, ToolRecord]:
    """The records keyed by name; a name given twice is a mistake caught at import."""
    table: dict[str, ToolRecord] = {}
    for record in records:
        if record.name in table:
            raise ValueError(f"Tool {record.name!r} is declared twice; keep one record per tool.")
        table[record.name] = record
    return table

"""One record per tool: the schema the model gets is derived from the argument model, every
record's handler is what the executor runs, and a wrong call still gets the same clear advice."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from ollama_agent_ls.ollama.models import ToolCall
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools import executor as executor_module
from ollama_agent_ls.tools.context import ToolContext
from ollama_agent_ls.tools.executor import ExtraTool, ToolExecutor
from ollama_agent_ls.tools.records import ToolRecord, by_name, requested, tool_schema
from ollama_agent_ls.tools.schemas import (
    ARG_MODELS,
    CORE_TOOLS,
    TOOL_DEFINITIONS,
    TOOLS,
    CheckCriterionArgs,
)
from ollama_agent_ls.workspace.disk_sink import DiskSink
from ollama_agent_ls.workspace.documents import DiskDocuments


def _fn(
    name: str, description: str, required: list[str], properties: dict[str, Any]
) -> dict[str, Any]:
    parameters = {"type": "object", "required": required, "properties": properties}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
# What the model was sent before the records existed, key order included: the schemas are part
# of the prompt prefix the server caches, and of the 700-token budget (test_warm_start.py).
# Changing them must be a deliberate edit of this list.
SENT_BEFORE = [
    _fn("read_file", "Read a file; lines are numbered.", ["path"], {
        "path": STR, "start_line": INT, "end_line": INT,
    }),
    _fn("list_files", "List workspace files.", [], {
        "glob": {"type": "string", "description": "e.g. src/**/*.py"},
    }),
    _fn("search", "Regex search in files.", ["regex"], {"regex": STR, "glob": STR}),
    _fn("write_file", "Create a file or replace it with the COMPLETE new content.",
        ["path", "content"], {"path": STR, "content": STR}),
    _fn("edit_file", "Replace old_string (copied exactly from the file, unique) with new_string.",
        ["path", "old_string", "new_string"],
        {"path": STR, "old_string": STR, "new_string": STR, "replace_all": BOOL}),
    _fn("apply_patch", "Apply a unified diff.", ["patch"], {"patch": STR}),
    _fn("delete_file", "Delete a file.", ["path"], {"path": STR}),
    _fn("run_command", "Run a shell command in the workspace root.", ["command"], {
        "command": STR, "timeout": {"type": "number", "description": "seconds"},
    }),
    _fn("check_criterion", "Tick acceptance criterion #index once it is met.",
        ["index", "evidence"], {
            "index": {"type": "integer", "description": "1-based"},
            "evidence": {"type": "string", "description": "how you know"},
        }),
]  # fmt: skip

# A value of each JSON type that every current argument model accepts.
SAMPLE = {"string": "notes.txt", "integer": 1, "number": 5.0, "boolean": False}
EXECUTOR_ERRORS = ("Error: Unknown tool", "Error: Invalid arguments")


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    root = tmp_path.resolve()
    (root / "notes.txt").write_text("notes.txt\n")
    return ToolContext(
        root=root, documents=DiskDocuments(root), sink=DiskSink(root), settings=Settings()
    )


def _schema_call(name: str, only_required: bool = False) -> ToolCall:
    parameters = TOOL_DEFINITIONS[name]["function"]["parameters"]
    keys = parameters["required"] if only_required else list(parameters["properties"])
    props = parameters["properties"]
    return ToolCall(name, {key: SAMPLE[props[key]["type"]] for key in keys})


def test_the_model_gets_exactly_the_schemas_it_got_before() -> None:
    assert json.dumps(list(TOOL_DEFINITIONS.values())) == json.dumps(SENT_BEFORE)


def test_a_run_sends_the_core_schemas_in_the_same_order(ctx: ToolContext) -> None:
    core = [d for d in SENT_BEFORE if d["function"]["name"] != "check_criterion"]
    assert json.dumps(ToolExecutor(ctx).definitions()) == json.dumps(core)


async def _tick(ctx: ToolContext, args: Any) -> str:
    return "ticked"


def test_a_spec_run_adds_check_criterion_last(ctx: ToolContext) -> None:
    executor = ToolExecutor(ctx, [ExtraTool("check_criterion", _tick)])
    assert json.dumps(executor.definitions()) == json.dumps(SENT_BEFORE)
    assert executor.names == [*CORE_TOOLS, "check_criterion"]


def test_run_tools_come_in_the_records_order_whatever_order_the_run_gives(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The schemas are a prefix the server caches: two runs offering the same tools send the
    # same bytes.
    record = ToolRecord("finish_step", "Mark a step done.", CheckCriterionArgs)
    tools = (*TOOLS, record)
    monkeypatch.setattr(executor_module, "TOOLS", tools)
    monkeypatch.setattr(executor_module, "TOOLS_BY_NAME", by_name(tools))
    extras = [ExtraTool("finish_step", _tick), ExtraTool("check_criterion", _tick)]
    executor = ToolExecutor(ctx, extras)
    assert executor.names == [*CORE_TOOLS, "check_criterion", "finish_step"]
    assert [d["function"]["name"] for d in executor.definitions()] == executor.names


@pytest.mark.parametrize("record", TOOLS, ids=lambda r: r.name)
def test_every_schema_is_derived_from_its_argument_model(record: ToolRecord) -> None:
    parameters = record.schema["function"]["parameters"]
    assert list(parameters["properties"]) == list(record.args.model_fields)
    assert set(parameters["required"]) >= {
        k for k, f in record.args.model_fields.items() if f.is_required()
    }
    assert record.schema == tool_schema(record.name, record.description, record.args)
    assert TOOL_DEFINITIONS[record.name] is record.schema
    assert ARG_MODELS[record.name] is record.args


@pytest.mark.parametrize("record", TOOLS, ids=lambda r: r.name)
def test_a_call_that_follows_the_schema_validates(record: ToolRecord) -> None:
    # With only what the schema requires, and with every property it lists.
    for only_required in (True, False):
        record.args.model_validate(_schema_call(record.name, only_required).arguments)


def test_tool_names_are_unique() -> None:
    names = [r.name for r in TOOLS]
    assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="'read_file' is declared twice"):
        by_name((TOOLS[0], TOOLS[0]))


def test_every_tool_with_a_handler_is_a_core_tool_and_the_others_need_a_run() -> None:
    assert tuple(r.name for r in TOOLS if r.handler is not None) == CORE_TOOLS
    assert [r.name for r in TOOLS if r.handler is None] == ["check_criterion"]


async def test_the_executor_runs_each_records_handler_with_the_validated_fields(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def spy(record: ToolRecord) -> ToolRecord:
        assert record.handler is not None

        @functools.wraps(record.handler)
        async def handler(ctx: ToolContext, **fields: Any) -> str:
            seen.append((record.name, fields))
            return f"ran {record.name}"

        return ToolRecord(record.name, record.description, record.args, handler)

    spied = tuple(spy(r) if r.handler is not None else r for r in TOOLS)
    monkeypatch.setattr(executor_module, "TOOLS", spied)
    monkeypatch.setattr(executor_module, "TOOLS_BY_NAME", by_name(spied))
    executor = ToolExecutor(ctx)
    for name in CORE_TOOLS:
        outcome = await executor.execute(_schema_call(name, only_required=True))
        assert (outcome.ok, outcome.content) == (True, f"ran {name}")
    assert [name for name, _ in seen] == list(CORE_TOOLS)
    for name, fields in seen:
        assert list(fields) == list(ARG_MODELS[name].model_fields)  # defaults filled in


@pytest.mark.parametrize("name", CORE_TOOLS)
async def test_a_schema_conforming_call_reaches_the_real_tool(ctx: ToolContext, name: str) -> None:
    # The handler may refuse (a bad diff, a denied command), but in its own words.
    outcome = await ToolExecutor(ctx).execute(_schema_call(name))
    assert not outcome.content.startswith(EXECUTOR_ERRORS), outcome.content


async def test_the_real_tools_act_on_the_workspace(ctx: ToolContext) -> None:
    executor = ToolExecutor(ctx)

    async def call(name: str, **arguments: Any) -> str:
        outcome = await executor.execute(ToolCall(name, arguments))
        assert outcome.ok, outcome.content
        return outcome.content

    await call("write_file", path="app.py", content="x = 1\n")
    await call("edit_file", file_path="app.py", old="x = 1", new="x = 2")  # aliases still work
    assert await call("read_file", path="app.py") == "     1\tx = 2"
    assert "app.py:1: x = 2" in await call("search", query="x = ")
    patch = "--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-x = 2\n+x = 3\n"
    await call("apply_patch", diff=patch)
    assert (ctx.root / "app.py").read_text() == "x = 3\n"
    assert "app.py" in await call("list_files", pattern="*.py")
    await call("delete_file", path="app.py")
    assert not (ctx.root / "app.py").exists()
    denied = await executor.execute(ToolCall("run_command", {"cmd": ["rm", "-rf", "x"]}))
    assert not denied.ok and "rm -rf x" in denied.content  # nobody to approve it in a test


async def test_an_unknown_tool_lists_the_ones_this_run_offers(ctx: ToolContext) -> None:
    outcome = await ToolExecutor(ctx).execute(ToolCall("check_criterion", {"index": 1}))
    assert not outcome.ok
    assert outcome.content == (
        "Error: Unknown tool 'check_criterion'. Available tools: read_file, list_files, search, "
        "write_file, edit_file, apply_patch, delete_file, run_command. "
        "Call one of these by its exact name."
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            ToolCall("edit_file", {"path": "notes.txt"}),
            "Error: Invalid arguments for edit_file: missing argument 'old_string'; missing "
            "argument 'new_string'. Required: path, old_string, new_string. Arguments: path "
            "(string), old_string (string), new_string (string), replace_all (boolean). Call "
            "edit_file again with a JSON object of these.",
        ),
        (
            ToolCall("read_file", {"path": "notes.txt", "start_line": 0}),
            "Error: Invalid arguments for read_file: 'start_line': Input should be greater than "
            "or equal to 1. Required: path. Arguments: path (string), start_line (integer), "
            "end_line (integer). Call read_file again with a JSON object of these.",
        ),
        (
            ToolCall("run_command", {"command": 3}),
            "Error: Invalid arguments for run_command: 'command': Input should be a valid string. "
            "Required: command. Arguments: command (string), timeout (number). Call run_command "
            "again with a JSON object of these.",
        ),
    ],
)
async def test_bad_arguments_get_the_same_advice(
    ctx: ToolContext, call: ToolCall, message: str
) -> None:
    outcome = await ToolExecutor(ctx).execute(call)
    assert (outcome.ok, outcome.content) == (False, message)


async def test_a_spec_tick_without_evidence_is_asked_for_but_still_counts(
    ctx: ToolContext,
) -> None:
    got: list[Any] = []

    async def record_tick(ctx: ToolContext, args: Any) -> str:
        got.append(args)
        return "ticked"

    executor = ToolExecutor(ctx, [ExtraTool("check_criterion", record_tick)])
    outcome = await executor.execute(ToolCall("check_criterion", {"index": 2}))
    assert outcome.ok
    assert got == [CheckCriterionArgs(index=2, evidence="")]
    missing = await executor.execute(ToolCall("check_criterion", {}))
    assert missing.content == (
        "Error: Invalid arguments for check_criterion: missing argument 'index'. Required: "
        "index, evidence. Arguments: index (integer), evidence (string). Call check_criterion "
        "again with a JSON object of these."
    )


def test_an_extra_tool_without_a_record_is_refused_with_the_fix(ctx: ToolContext) -> None:
    async def handler(ctx: ToolContext, args: Any) -> str:
        return ""

    with pytest.raises(ValueError, match="add a ToolRecord for it to TOOLS"):
        ToolExecutor(ctx, [ExtraTool("summarise", handler)])


class _NoteArgs(BaseModel):
    text: str
    pinned: bool = False
    tags: int | None = Field(None, description="how many")
    why: str = requested("", "one line")


async def _note(ctx: ToolContext, text: str, pinned: bool, tags: int | None, why: str) -> str:
    return text


def test_a_new_record_derives_its_schema_from_its_model() -> None:
    record = ToolRecord("note", "Take a note.", _NoteArgs, _note)
    assert record.schema == _fn(
        "note",
        "Take a note.",
        ["text", "why"],
        {
            "text": STR,
            "pinned": BOOL,
            "tags": {"type": "integer", "description": "how many"},
            "why": {"type": "string", "description": "one line"},
        },
    )


def test_a_handler_that_does_not_match_its_model_is_refused_at_declaration() -> None:
    async def wrong(ctx: ToolContext, text: str) -> str:
        return text

    with pytest.raises(TypeError, match=r"takes \(ctx, text\) but _NoteArgs has the fields"):
        ToolRecord("note", "Take a note.", _NoteArgs, wrong)


def test_a_field_type_with_no_json_type_is_refused_at_declaration() -> None:
    class ListArgs(BaseModel):
        paths: list[str]

    with pytest.raises(TypeError, match=r"ListArgs\.paths is list"):
        ToolRecord("many", "Many files.", ListArgs)

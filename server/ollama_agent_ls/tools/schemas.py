"""The agent's tools: an argument model and one record each (tools/records.py derives the schema).

To add a tool, write its argument model and add its record to TOOLS. Schemas are kept terse on
purpose: a small model pays for every token of them on every turn, so a field gets a
description only where its name is not enough.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from ollama_agent_ls.tools import file_tools, shell
from ollama_agent_ls.tools.records import ToolRecord, by_name, requested


class _Args(BaseModel):
    # Small models add stray keys; ignoring them beats failing a call that is otherwise right.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


_PATH = Field(validation_alias=AliasChoices("path", "file_path", "filepath", "file", "filename"))


class ReadFileArgs(_Args):
    """Arguments of read_file."""

    path: str = _PATH
    start_line: int | None = Field(None, ge=1)
    end_line: int | None = Field(None, ge=1)


class ListFilesArgs(_Args):
    """Arguments of list_files."""

    glob: str | None = Field(
        None,
        validation_alias=AliasChoices("glob", "pattern", "path"),
        description="e.g. src/**/*.py",
    )


class SearchArgs(_Args):
    """Arguments of search."""

    regex: str = Field(validation_alias=AliasChoices("regex", "pattern", "query"))
    glob: str | None = None


class WriteFileArgs(_Args):
    """Arguments of write_file."""

    path: str = _PATH
    content: str = Field(validation_alias=AliasChoices("content", "contents", "text"))


class EditFileArgs(_Args):
    """Arguments of edit_file."""

    path: str = _PATH
    old_string: str = Field(
        validation_alias=AliasChoices("old_string", "old_str", "old_text", "old")
    )
    new_string: str = Field(
        validation_alias=AliasChoices("new_string", "new_str", "new_text", "new")
    )
    replace_all: bool = False


class ApplyPatchArgs(_Args):
    """Arguments of apply_patch."""

    patch: str = Field(validation_alias=AliasChoices("patch", "diff"))


class DeleteFileArgs(_Args):
    """Arguments of delete_file."""

    path: str = _PATH


class RunCommandArgs(_Args):
    """Arguments of run_command."""

    command: str = Field(validation_alias=AliasChoices("command", "cmd"))
    timeout: float | None = Field(None, gt=0, description="seconds")

    @field_validator("command", mode="before")
    @classmethod
    def _join_argv(cls, value: Any) -> Any:
        # Some models send argv lists; a shell line is what we run.
        if isinstance(value, list) and all(isinstance(part, str) for part in value):
            return " ".join(value)
        return value


class CheckCriterionArgs(_Args):
    """Arguments of check_criterion (spec runs only)."""

    index: int = Field(ge=1, description="1-based")
    # Asked for (the spec's run report records it), but a tick without it still counts.
    evidence: str = requested("", "how you know")


TOOLS = (
    ToolRecord("read_file", "Read a file; lines are numbered.", ReadFileArgs, file_tools.read_file),
    ToolRecord("list_files", "List workspace files.", ListFilesArgs, file_tools.list_files),
    ToolRecord("search", "Regex search in files.", SearchArgs, file_tools.search),
    ToolRecord(
        "write_file",
        "Create a file or replace it with the COMPLETE new content.",
        WriteFileArgs,
        file_tools.write_file,
    ),
    ToolRecord(
        "edit_file",
        "Replace old_string (copied exactly from the file, unique) with new_string.",
        EditFileArgs,
        file_tools.edit_file,
    ),
    ToolRecord("apply_patch", "Apply a unified diff.", ApplyPatchArgs, file_tools.apply_patch),
    ToolRecord("delete_file", "Delete a file.", DeleteFileArgs, file_tools.delete_file),
    ToolRecord(
        "run_command",
        "Run a shell command in the workspace root.",
        RunCommandArgs,
        shell.run_command,
    ),
    # Its handler needs the spec being run, so a spec run supplies it (an ExtraTool).
    ToolRecord(
        "check_criterion", "Tick acceptance criterion #index once it is met.", CheckCriterionArgs
    ),
)
TOOLS_BY_NAME = by_name(TOOLS)

# The names other modules know, all derived from the records.
ARG_MODELS: dict[str, type[BaseModel]] = {r.name: r.args for r in TOOLS}
TOOL_DEFINITIONS: dict[str, dict[str, Any]] = {r.name: r.schema for r in TOOLS}
# The tools every run offers (the others only the runs that supply their handlers).
CORE_TOOLS = tuple(r.name for r in TOOLS if r.handler is not None)

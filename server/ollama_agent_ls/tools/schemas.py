"""Tool definitions sent to the model, and the argument models that validate its calls.

Schemas are kept terse on purpose: a small model pays for every token of them on every turn.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator


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

    glob: str | None = Field(None, validation_alias=AliasChoices("glob", "pattern", "path"))


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
    timeout: float | None = Field(None, gt=0)

    @field_validator("command", mode="before")
    @classmethod
    def _join_argv(cls, value: Any) -> Any:
        # Some models send argv lists; a shell line is what we run.
        if isinstance(value, list) and all(isinstance(part, str) for part in value):
            return " ".join(value)
        return value


class CheckCriterionArgs(_Args):
    """Arguments of check_criterion (spec runs only)."""

    index: int = Field(ge=1)
    evidence: str = ""


ARG_MODELS: dict[str, type[_Args]] = {
    "read_file": ReadFileArgs,
    "list_files": ListFilesArgs,
    "search": SearchArgs,
    "write_file": WriteFileArgs,
    "edit_file": EditFileArgs,
    "apply_patch": ApplyPatchArgs,
    "delete_file": DeleteFileArgs,
    "run_command": RunCommandArgs,
    "check_criterion": CheckCriterionArgs,
}


def _tool(name: str, description: str, required: list[str], **props: str) -> dict[str, Any]:
    # A property is "type" or "type: description".
    properties: dict[str, dict[str, str]] = {}
    for key, spec in props.items():
        kind, _, about = spec.partition(": ")
        properties[key] = {"type": kind, "description": about} if about else {"type": kind}
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "required": required, "properties": properties},
        },
    }


_DEFINITIONS = [
    _tool(
        "read_file",
        "Read a file; lines are numbered.",
        ["path"],
        path="string",
        start_line="integer",
        end_line="integer",
    ),
    _tool("list_files", "List workspace files.", [], glob="string: e.g. src/**/*.py"),
    _tool("search", "Regex search in files.", ["regex"], regex="string", glob="string"),
    _tool(
        "write_file",
        "Create a file or replace it with the COMPLETE new content.",
        ["path", "content"],
        path="string",
        content="string",
    ),
    _tool(
        "edit_file",
        "Replace old_string (copied exactly from the file, unique) with new_string.",
        ["path", "old_string", "new_string"],
        path="string",
        old_string="string",
        new_string="string",
        replace_all="boolean",
    ),
    _tool("apply_patch", "Apply a unified diff.", ["patch"], patch="string"),
    _tool("delete_file", "Delete a file.", ["path"], path="string"),
    _tool(
        "run_command",
        "Run a shell command in the workspace root.",
        ["command"],
        command="string",
        timeout="number: seconds",
    ),
    _tool(
        "check_criterion",
        "Tick acceptance criterion #index once it is met.",
        ["index", "evidence"],
        index="integer: 1-based",
        evidence="string: how you know",
    ),
]
TOOL_DEFINITIONS: dict[str, dict[str, Any]] = {d["function"]["name"]: d for d in _DEFINITIONS}

CORE_TOOLS = (
    "read_file",
    "list_files",
    "search",
    "write_file",
    "edit_file",
    "apply_patch",
    "delete_file",
    "run_command",
)

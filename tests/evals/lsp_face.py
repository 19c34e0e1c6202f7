"""The language-server face: ``ollama-agent-ls serve`` on stdio, driven the way an editor would.

The client (tests/bench/lsp_client.py, extended here) opens the task's file, runs the command a
user would pick (runSelection, implementTodo or runSpec), applies every workspace/applyEdit to
the files on disk as an editor that saves at once would, and allows every command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from tests.bench.lsp_client import CAPABILITIES, LspClient, _apply
from tests.evals.catalog import Task, check_env
from tests.evals.faces import SAMPLING, Outcome, RunConfig, todo_prompt

EDITOR_CAPABILITIES: dict[str, Any] = {
    **CAPABILITIES,
    "experimental": {"ollamaAgent": {"saveDocuments": True}},
}


def uri_path(uri: str) -> Path:
    """The file a file: URI names."""
    return Path(unquote(urlparse(uri).path))


@dataclass
class EditorClient(LspClient):
    """An LSP client that writes every applied edit to disk and answers approvals with Allow."""

    settings: dict[str, Any] = field(default_factory=dict)
    edits: int = 0
    keep_method: str = "ollamaAgent/transcript"

    async def start(self) -> None:
        """Spawn the server in its own session, so a timeout can kill everything it started."""
        self.proc = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            limit=1 << 24,
            start_new_session=True,
        )
        self._reader = asyncio.create_task(self._read_loop())
        assert self.proc.stderr is not None
        self._stderr = asyncio.create_task(self.proc.stderr.read())

    def kill(self) -> None:
        """SIGKILL the server's whole process group."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def _answer(self, message: dict[str, Any]) -> Any:
        method = message["method"]
        params = message.get("params") or {}
        if method == "workspace/applyEdit":
            return self._apply_to_disk(params.get("edit") or {})
        if method == "workspace/configuration":
            return [
                self.settings if item.get("section") == "ollamaAgent" else None
                for item in params.get("items", [])
            ]
        if method == "window/showMessageRequest":
            titles = [a.get("title") for a in params.get("actions") or []]
            return {"title": "Allow"} if "Allow" in titles else None
        if method == "ollamaAgent/saveDocuments":
            return {"saved": params.get("uris", [])}  # every edit is on disk already
        return None

    def _apply_to_disk(self, edit: dict[str, Any]) -> dict[str, Any]:
        try:
            for change in edit.get("documentChanges") or []:
                self._document_change(change)
            for uri, edits in (edit.get("changes") or {}).items():
                self._text_edits(uri, edits)
        except OSError as exc:
            return {"applied": False, "failureReason": str(exc)}
        self.edits += 1
        return {"applied": True}

    def _document_change(self, change: dict[str, Any]) -> None:
        kind = change.get("kind")
        if kind == "create":
            path = uri_path(change["uri"])
            options = change.get("options") or {}
            if path.exists() and not options.get("overwrite"):
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("", encoding="utf-8")
        elif kind == "delete":
            path = uri_path(change["uri"])
            if path.is_file():
                path.unlink()
            self.documents.pop(change["uri"], None)
        elif kind == "rename":
            uri_path(change["oldUri"]).rename(uri_path(change["newUri"]))
        else:
            self._text_edits(change["textDocument"]["uri"], change["edits"])

    def _text_edits(self, uri: str, edits: list[dict[str, Any]]) -> None:
        path = uri_path(uri)
        doc = self.documents.get(uri)
        before = doc.text if doc is not None else _read(path)
        after = _apply(before, edits)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(after, encoding="utf-8")
        if doc is not None:
            doc.text = after
            doc.version += 1
            self.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": doc.version},
                    "contentChanges": [{"text": after}],
                },
            )
            self.notify("textDocument/didSave", {"textDocument": {"uri": uri}})


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


async def initialize(client: EditorClient, root: Path) -> None:
    """initialize (with our capabilities and settings) + initialized."""
    await client.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "capabilities": EDITOR_CAPABILITIES,
            "initializationOptions": client.settings,
        },
    )
    client.notify("initialized", {})


def editor_settings(cfg: RunConfig) -> dict[str, Any]:
    """initializationOptions: the same model, format, turns and sampling as the CLI face."""
    endpoint = cfg.endpoint
    settings: dict[str, Any] = {
        "backend": endpoint.api,
        "model": endpoint.model,
        "editFormat": cfg.fmt,
        "commandApproval": "always",
        "maxTurns": cfg.max_turns,
        "options": dict(SAMPLING),
    }
    settings["baseUrl" if endpoint.api == "openai" else "ollamaUrl"] = endpoint.url
    return settings


def command_for(task: Task, workspace: Path, uri: str) -> tuple[str, dict[str, Any]]:
    """The executeCommand a user would pick for this task, and its argument."""
    if task.kind == "spec":
        return "ollamaAgent.runSpec", {"uri": uri}
    if task.kind == "todo":
        assert task.line is not None
        todo_prompt(task, workspace)  # the same TODO check the CLI face makes
        return "ollamaAgent.implementTodo", {"uri": uri, "line": task.line - 1}
    if task.kind == "selection" and task.lines:
        start, end = task.lines
        rng = {"start": {"line": start - 1, "character": 0}, "end": {"line": end, "character": 0}}
    elif task.file:
        lines = (workspace / task.file).read_text(encoding="utf-8").count("\n")
        rng = {"start": {"line": 0, "character": 0}, "end": {"line": lines, "character": 0}}
    else:
        # No file of its own (a new module, a rename): the cursor on the first line.
        rng = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
    return "ollamaAgent.runSelection", {"uri": uri, "range": rng, "instruction": task.instruction}


def outcome_of(result: Any) -> Outcome:
    """The command's result (a run result, plus specStatus for specs) as an Outcome."""
    if not isinstance(result, dict):
        return Outcome(status="no result", error=f"unexpected result {result!r:.200}")
    metrics = result.get("metrics") or {}
    extra = {k: result[k] for k in ("specStatus", "ticked", "todoRemoved") if k in result}
    if metrics.get("editFormat"):
        extra["editFormatUsed"] = metrics["editFormat"]
    if "callReplies" in metrics:
        extra["callReplies"] = metrics["callReplies"]  # replies whose calls were read
    return Outcome(
        status=str(result.get("specStatus") or result.get("status")),
        turns=result.get("turns"),
        prompt_tokens=metrics.get("promptTokens"),
        cached_prompt_tokens=metrics.get("cachedPromptTokens"),
        prefill_tokens=metrics.get("prefillTokens"),
        format_errors=metrics.get("formatErrors"),
        extra=extra,
    )


def _transcript(client: EditorClient) -> str:
    lines = []
    for note in client.notifications:
        params = note.params or {}
        kind = params.get("kind")
        if kind == "toolCall":
            args = json.dumps(params.get("arguments"))[:300]
            lines.append(f"\n[tool] {params.get('name')} {args}\n")
        elif kind in ("content", "thinking"):
            lines.append(params.get("text") or "")
        else:
            lines.append(f"\n[{kind}] {params.get('text') or ''}\n")
    return "".join(lines)


async def _drive(client: EditorClient, task: Task, workspace: Path) -> Any:
    await client.start()
    await initialize(client, workspace)
    anchor = workspace / task.anchor_file()
    uri = client.open(anchor, "markdown" if task.kind == "spec" else "python")
    method, argument = command_for(task, workspace, uri)
    return await client.request(
        "workspace/executeCommand", {"command": method, "arguments": [argument]}
    )


async def _run(task: Task, workspace: Path, cfg: RunConfig) -> Outcome:
    log_file = cfg.log_path(task).with_suffix(".server.log")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "ollama_agent_ls",
        "serve",
        "--log-file",
        str(log_file),
        "--log-level",
        "info",
    ]
    client = EditorClient(command=command, env=check_env(), settings=editor_settings(cfg))
    try:
        result = await asyncio.wait_for(_drive(client, task, workspace), cfg.timeout)
        outcome = outcome_of(result)
    except asyncio.TimeoutError:
        outcome = Outcome(status="timeout", timed_out=True)
    except RuntimeError as exc:
        # A JSON-RPC error answer: the harness asked wrongly or the server broke.
        outcome = Outcome(status="error", error=str(exc)[:300])
    if not outcome.timed_out:
        await client.stop()
    # Whatever the server started (a test run, a hung command) goes with it.
    client.kill()
    cfg.log_path(task).write_text(
        f"$ {' '.join(command)}\nedits applied: {client.edits}\n\n--- transcript\n"
        f"{_transcript(client)}\n\n--- server stderr\n{await client.stderr()}\n",
        encoding="utf-8",
    )
    return outcome


def run_lsp_task(task: Task, workspace: Path, cfg: RunConfig) -> Outcome:
    """Run one task through the language server; the server is killed on timeout."""
    return asyncio.run(_run(task, workspace, cfg))

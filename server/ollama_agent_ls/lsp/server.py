"""The pygls language server: configuration, commands, code actions, document sync hooks."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from ollama_agent_ls import __version__
from ollama_agent_ls.agent.prompts import AgentTask, SelectionContext
from ollama_agent_ls.lsp import commands as cmd
from ollama_agent_ls.lsp.editor import (
    ClientEditSupport,
    EditorDocuments,
    EditorState,
    uri_to_path,
)
from ollama_agent_ls.lsp.log_forwarding import setup_logging
from ollama_agent_ls.lsp.protocol import HardenedProtocol, start_io, start_tcp
from ollama_agent_ls.lsp.todo_comments import enclosing_block, find_todo, todo_still_present
from ollama_agent_ls.ollama.errors import OllamaError
from ollama_agent_ls.workspace.documents import DocumentError

if TYPE_CHECKING:
    # Imported when first needed: the agent, tools and HTTP stack add ~70 ms to start-up, and
    # pydantic (settings, command arguments) ~65 ms more; a client waits for initialize before
    # anything else, and answering it needs none of them.
    from ollama_agent_ls.agent.result import RunResult
    from ollama_agent_ls.backend import ChatBackend
    from ollama_agent_ls.lsp.command_args import Range
    from ollama_agent_ls.lsp.runs import Run, RunManager
    from ollama_agent_ls.settings import Settings

# spec_runs is not among them: serve() imports it to register the spec lens and commands. yaml is
# what parsing a spec (for its lens) needs.
_LATE_IMPORTS = (
    "ollama_agent_ls.lsp.command_args",
    "ollama_agent_ls.lsp.runs",
    "ollama_agent_ls.ollama.client",
    "ollama_agent_ls.ollama.setup_check",
    "yaml",
)

log = logging.getLogger(__name__)

CONFIG_SECTION = "ollamaAgent"
CONFIG_WAIT = 15.0
"""Seconds a command waits for the start-up configuration before using what it has."""
SHUTDOWN_WAIT = 5.0
"""Seconds shutdown gives cancelled runs to end."""
MAX_SELECTION_LINES = 3000
MAX_SELECTION_CHARS = 200_000
MAX_URI_CHARS = 16 * 1024
"""Longer than any real file URI (a 4096-byte path, every byte percent-encoded, is ~12 KB)."""
NAME_MAX = 255
"""Bytes in one file name: the limit of ext4, APFS, NTFS and most others."""
PATH_MAX = 4096
NUDGE = "$/ollamaAgent/nudge"
"""A notification with nothing in it (clients may ignore any ``$/`` one), sent while a request
to the client stays unanswered: see AgentProtocol.send_request."""
NUDGES = (0.1, 0.3, 1.0, 3.0, 9.0)
"""Seconds after sending a request to the client at which it is nudged while unanswered."""


def show_uri(uri: str, limit: int = 500) -> str:
    """``uri`` for a message: cut to ``limit`` characters, control characters made visible."""
    cut = uri if len(uri) <= limit else f"{uri[:limit]}... ({len(uri)} characters)"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)


class AgentProtocol(HardenedProtocol):
    """Adds what pygls lacks: $/cancelRequest reaching running commands, and freed futures."""

    _server: AgentServer

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        # pygls answers the request as cancelled but leaves the command task running.
        self._server.runs.cancel_request(msg_id)
        super()._handle_cancel_notification(msg_id)

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        super()._send_response(msg_id, result, error)
        # A run started with wait:false sends nothing before its command's answer is out.
        runs = self._server._runs
        if runs is not None:
            runs.answered(msg_id)

    def send_request(
        self,
        method: str,
        params: Any | None = None,
        callback: Callable[[Any], None] | None = None,
        msg_id: Any = None,
    ) -> Future[Any]:
        """Send a request to the client, nudging it while the request stays unanswered.

        Emacs 28's jsonrpc (eglot) handles the answer to one of its blocking requests by
        throwing out of its process filter, which leaves whatever came in the same read (our
        request right after answering workspace/executeCommand) unprocessed until more output
        arrives: without more, the request waits for its timeout (10 s for progress, 30 s for an
        edit, which Emacs then applies late). The nudges are that output.
        """
        future = super().send_request(method, params, callback, msg_id)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the server's loop (a thread): no timers to set
            return future
        for delay in NUDGES:
            loop.call_later(delay, self._nudge, future)
        return future

    def _nudge(self, future: Future[Any]) -> None:
        if not future.done() and not self._shutdown and self.writer is not None:
            self.notify(NUDGE, {})


class AgentServer(LanguageServer):
    """The language server: holds settings, the Ollama clients, editor state and runs."""

    def __init__(self) -> None:
        super().__init__("ollama-agent-ls", __version__, protocol_cls=AgentProtocol)
        self._settings: Settings | None = None
        self._env_settings: tuple[Settings, list[str]] | None = None
        self._init_options: dict[str, Any] = {}
        self.log_level_flag: str | None = None
        """``serve --log-level``, in effect unless the logLevel setting is given."""
        self._clients: dict[str, ChatBackend] = {}
        self.configured = asyncio.Event()
        """Set once initialized has pulled workspace/configuration (runs wait for it)."""
        self.client_name: str | None = None
        """clientInfo.name from initialize (some editors' quirks go by it)."""
        self.editor = EditorState(self)
        self._runs: RunManager | None = None
        self._warmed: tuple[str, ...] | None = None
        """What the last warm start was for (backend, URL, model, edit format)."""
        self._warm_task: asyncio.Task[None] | None = None

    # -- environment ----------------------------------------------------------------------------

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve on stdio through the hardened reader (lsp/protocol.py)."""
        start_io(self, stdin or sys.stdin.buffer, stdout or sys.stdout.buffer)

    def start_tcp(self, host: str, port: int) -> None:
        """Serve on TCP through the hardened reader (lsp/protocol.py)."""
        start_tcp(self, host, port)

    @property
    def root(self) -> Path:
        """The workspace root (rootUri, else the first folder), else the working directory."""
        if self.protocol._workspace is not None and self.workspace.root_path:
            return Path(os.path.realpath(self.workspace.root_path))
        roots = self.workspace_roots()
        return roots[0] if roots else Path.cwd().resolve()

    def workspace_roots(self) -> list[Path]:
        """Real paths of the workspace folders (else of rootUri): the only places runs work in."""
        if self.protocol._workspace is None:
            return []
        uris = [folder.uri for folder in self.workspace.folders.values()]
        if not uris and self.workspace.root_uri:
            uris = [self.workspace.root_uri]
        roots = []
        for uri in uris:
            # A folder on a virtual file system (vscode-vfs:, ...) has no path to run in.
            fs = to_fs_path(uri) if uri.startswith("file:") else None
            if fs and "\x00" not in fs and os.path.isabs(fs):
                roots.append(Path(os.path.realpath(fs)))
        return roots

    @property
    def position_encoding(self) -> str:
        """The negotiated position encoding as 'utf-8', 'utf-16' or 'utf-32'."""
        enc = self.workspace.position_encoding
        value = getattr(enc, "value", enc) or "utf-16"
        return str(value)

    @property
    def client_can_save_documents(self) -> bool:
        """True when the client declared experimental.ollamaAgent.saveDocuments."""
        return self.client_declares("saveDocuments")

    def client_declares(self, feature: str) -> bool:
        """True when the client declared ``experimental.ollamaAgent.<feature> = true``."""
        experimental = self.client_capabilities.experimental
        if isinstance(experimental, dict):
            section = experimental.get("ollamaAgent")
            return isinstance(section, dict) and section.get(feature) is True
        return False

    def edit_support(self) -> ClientEditSupport:
        """Which workspace-edit features the client handles."""
        return ClientEditSupport.of(self.client_capabilities, self.client_name)

    def root_for(self, path: Path, uri: str | None = None, command: str | None = None) -> Path:
        """The workspace folder holding ``path`` (the innermost); InvalidParams when none does.

        A run's root is where its tools may read, write, delete and run commands, so a file
        outside every folder is refused rather than given its own directory as a root.
        """
        roots = self.workspace_roots()
        holding = [r for r in roots if path == r or r in path.parents]
        if holding:
            return max(holding, key=lambda p: len(p.parts))
        shown = show_uri(uri) if uri is not None else str(path)
        if not roots:
            raise JsonRpcInvalidParams(
                f"{command or 'A run'} needs a workspace folder, and the editor opened none (it "
                "sent no workspaceFolders or rootUri), so there is no project for the agent to "
                f"work in. Open the folder that holds {shown} as a folder or workspace (VS Code: "
                "File > Open Folder; Neovim: a root_dir or root_markers that find it), then run "
                "it again."
            )
        folders = ", ".join(str(r) for r in roots)
        raise JsonRpcInvalidParams(
            f"{shown} is outside the workspace folders ({folders}); the agent works only inside "
            "them. Open the folder that holds it as a workspace folder (VS Code: File > Add "
            "Folder to Workspace; Neovim: a root_dir that contains it), then run it again."
        )

    def command_path(self, uri: str, command: str) -> Path:
        """The real path of a command's document, inside a workspace folder; else InvalidParams."""
        shown = show_uri(uri)
        fix = "pass the URI of a file in a workspace folder."
        if len(uri) > MAX_URI_CHARS:
            raise JsonRpcInvalidParams(
                f"{command}: the URI is {len(uri)} characters long, over the {MAX_URI_CHARS} "
                f"accepted ({shown}); {fix}"
            )
        if "\x00" in uri:
            raise JsonRpcInvalidParams(
                f"{command}: the URI {shown} holds a NUL character, which no file name can; {fix}"
            )
        if not uri.startswith("file:"):
            if uri not in self.workspace.text_documents:
                raise JsonRpcInvalidParams(
                    f"{shown} is neither a file: URI nor a document open in the editor; "
                    "open or save it first."
                )
            path = uri_to_path(uri, self.root)
        else:
            path = _file_uri_path(uri, shown, command, fix)
        self.root_for(path, uri, command)
        return path

    @property
    def runs(self) -> RunManager:
        """Running and finished agent runs (created on first use)."""
        if self._runs is None:
            from ollama_agent_ls.lsp.runs import RunManager

            self._runs = RunManager(self)
        return self._runs

    def ollama_client(self, settings: Settings) -> ChatBackend:
        """A shared client of the configured backend for these connection settings."""
        # Every setting but the model shapes requests (options, keep_alive, think, headers); the
        # dump masks apiKey, so the resolved key is part of the key too (it is never logged).
        key = settings.model_dump_json(exclude={"model"}) + (settings.resolved_api_key() or "")
        client = self._clients.get(key)
        if client is None:
            from ollama_agent_ls.backend import make_backend

            client = self._clients[key] = make_backend(settings)
        return client

    async def close_clients(self) -> None:
        """Close every HTTP client (shutdown)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def forget_finished_requests(self) -> None:
        """Drop futures pygls keeps for finished requests and notifications (memory)."""
        futures = self.protocol._request_futures
        for key in [k for k, f in futures.items() if f.done()]:
            futures.pop(key, None)

    # -- configuration -------------------------------------------------------------------------

    def show(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """window/showMessage."""
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    @property
    def settings(self) -> Settings:
        """The settings in effect (the environment's and initializationOptions until configured)."""
        if self._settings is None:
            # Built on first use, not at start-up: validating them imports pydantic. Problems are
            # shown once, when initialized applies the configuration.
            self.apply_config(self._init_options, show=False)
        assert self._settings is not None
        return self._settings

    def apply_config(self, *layers: dict[str, Any] | None, show: bool = True) -> None:
        """Settings from the environment, then each layer; invalid keys shown, defaults kept."""
        from ollama_agent_ls.settings import load_settings, settings_from_env

        if self._env_settings is None:
            self._env_settings = settings_from_env()
        settings, env_problems = self._env_settings
        problems = list(env_problems)
        for layer in layers:
            if not layer:
                continue
            settings, layer_problems = load_settings(layer, settings)
            problems.extend(layer_problems)
        self._settings = settings
        for problem in problems if show else []:
            self.show(f"Ollama agent: {problem}; using the default.")
        # An explicit logLevel wins; otherwise `serve --log-level` holds (its default is info).
        explicit = any(layer and "logLevel" in layer for layer in layers)
        level = settings.log_level if explicit else (self.log_level_flag or settings.log_level)
        logging.getLogger("ollama_agent_ls").setLevel(level.upper())

    def schedule_warm_start(self) -> None:
        """Warm the model with the static prompt prefix when warmStart allows and what it would
        warm changed (a new model, server or format); in the background, never awaited."""
        settings = self.settings
        if settings.warm_start is False:
            return
        key = (settings.backend, settings.base_url, settings.ollama_url, settings.model,
               settings.edit_format)  # fmt: skip
        if key == self._warmed:
            return
        self._warmed = key
        if self._warm_task is not None and not self._warm_task.done():
            self._warm_task.cancel()
        self._warm_task = asyncio.ensure_future(self._warm(settings))

    async def _warm(self, settings: Settings) -> None:
        from ollama_agent_ls.agent.warm import warm_start

        await warm_start(self.ollama_client(settings), settings, self.root)

    async def pull_configuration(self) -> dict[str, Any] | None:
        """The ``ollamaAgent`` section from workspace/configuration, when the client has it."""
        if not get_capability(self.client_capabilities, "workspace.configuration", False):
            return None
        try:
            result = await asyncio.wait_for(
                self.workspace_configuration_async(
                    types.ConfigurationParams(
                        items=[types.ConfigurationItem(section=CONFIG_SECTION)]
                    )
                ),
                10,
            )
        except Exception as exc:
            log.info("workspace/configuration failed: %s", exc)
            return None
        section = result[0] if result else None
        return _as_dict(section)

    async def wait_configured(self) -> None:
        """Wait (briefly) until the configuration pulled at start-up is in effect."""
        try:
            await asyncio.wait_for(self.configured.wait(), CONFIG_WAIT)
        except asyncio.TimeoutError:
            log.info("configuration not pulled within %s s; using what is known", CONFIG_WAIT)

    def cancel_pending_requests(self) -> None:
        """Cancel unfinished requests except the current one, without upsetting pygls.

        pygls's shutdown cancels them while iterating the dict their callbacks pop from, which
        raises and answers shutdown with an error whenever a command is still running.
        """
        current_id = self.protocol.msg_id
        current_task: object = asyncio.current_task()
        for msg_id, future in list(self.protocol._request_futures.items()):
            if msg_id == current_id or future is current_task or future.done():
                continue
            future.cancel()

    def settings_for(self, model: str | None) -> Settings:
        """The current settings, with a per-run model override."""
        if not model:
            return self.settings
        from ollama_agent_ls.settings import load_settings

        settings, problems = load_settings({"model": model}, self.settings)
        if problems:
            raise JsonRpcInvalidParams("; ".join(problems))
        return settings


def _file_uri_path(uri: str, shown: str, command: str, fix: str) -> Path:
    fs = to_fs_path(uri)
    if fs and "\x00" in fs:
        raise JsonRpcInvalidParams(
            f"{command}: {shown} names a path with a NUL character (%00), which no file name can "
            f"hold; {fix}"
        )
    if not fs or not os.path.isabs(fs):
        raise JsonRpcInvalidParams(
            f"{command}: {shown} names no absolute path (a file URI looks like "
            f"file:///home/me/project/app.py); {fix}"
        )
    encoded = os.fsencode(fs)
    longest = max(len(os.fsencode(part)) for part in Path(fs).parts)
    if longest > NAME_MAX:
        raise JsonRpcInvalidParams(
            f"{command}: {shown} has a file or folder name of {longest} bytes, over the "
            f"{NAME_MAX} file systems allow (no such file can exist); {fix}"
        )
    if len(encoded) > PATH_MAX:
        raise JsonRpcInvalidParams(
            f"{command}: {shown} is a path of {len(encoded)} bytes, over the {PATH_MAX} the "
            f"system allows; {fix}"
        )
    try:
        return Path(os.path.realpath(fs))
    except (OSError, ValueError) as exc:
        raise JsonRpcInvalidParams(f"{command}: cannot resolve {shown} ({exc}); {fix}") from None


def _as_dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    if hasattr(value, "_asdict"):
        return {k: _as_dict(v) if hasattr(v, "_asdict") else v for k, v in value._asdict().items()}
    return None


server = AgentServer()


# -- lifecycle ------------------------------------------------------------------------------------


@server.feature(types.INITIALIZE)
def initialize(ls: AgentServer, params: types.InitializeParams) -> None:
    """Keep initializationOptions; they are validated once the client is ready for messages."""
    ls.client_name = params.client_info.name if params.client_info else None
    ls._init_options = _as_dict(params.initialization_options) or {}
    if isinstance(ls._init_options.get(CONFIG_SECTION), dict):
        # Some clients nest the section; accept both shapes.
        ls._init_options = ls._init_options[CONFIG_SECTION]
    # Not validated here (that loads pydantic, and the client is waiting): a command arriving
    # before initialized gets them anyway, from the settings property, rebuilt with them.
    ls._settings = None


@server.feature(types.INITIALIZED)
async def initialized(ls: AgentServer, params: types.InitializedParams) -> None:
    """Validate initializationOptions, then pull workspace/configuration."""
    try:
        pulled = await ls.pull_configuration()
        ls.apply_config(ls._init_options, pulled)
    finally:
        ls.configured.set()
    # Warm the late imports off the loop so the first command does not pay for them.
    await asyncio.get_running_loop().run_in_executor(None, _import_late)
    ls.schedule_warm_start()


def _import_late() -> None:
    import importlib

    for name in _LATE_IMPORTS:
        importlib.import_module(name)


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(
    ls: AgentServer, params: types.DidChangeConfigurationParams
) -> None:
    """Re-read the configuration (pushed in the notification, or pulled)."""
    pushed = _as_dict(params.settings)
    section = pushed.get(CONFIG_SECTION) if pushed else None
    if not isinstance(section, dict):
        section = await ls.pull_configuration()
    ls.apply_config(ls._init_options, section)
    ls.schedule_warm_start()


@server.feature(types.SHUTDOWN)
async def shutdown(ls: AgentServer, params: Any) -> None:
    """Stop runs and close HTTP clients."""
    if ls._warm_task is not None:
        ls._warm_task.cancel()
    ls.runs.cancel(None)
    await ls.runs.wait_idle(SHUTDOWN_WAIT)
    ls.cancel_pending_requests()
    await ls.close_clients()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: AgentServer, params: types.DidOpenTextDocumentParams) -> None:
    """The store now has the document: forget any text we remembered for it."""
    _forget(ls, params.text_document.uri)
    await ls.editor.notify_changed()


def _forget(ls: AgentServer, uri: str) -> None:
    try:
        ls.editor.pending.pop(ls.editor.forget(uri), None)
    except (OSError, ValueError):
        # A URI no path can have (file:///%00): nothing was remembered for it.
        log.debug("no path for %s", show_uri(uri))


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: AgentServer, params: types.DidChangeTextDocumentParams) -> None:
    """Wake edits waiting to see their text land."""
    await ls.editor.notify_changed()
    ls.forget_finished_requests()


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
async def did_close(ls: AgentServer, params: types.DidCloseTextDocumentParams) -> None:
    """A closed document's truth is the disk again."""
    _forget(ls, params.text_document.uri)
    await ls.editor.notify_changed()


@server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
def work_done_progress_cancel(ls: AgentServer, params: types.WorkDoneProgressCancelParams) -> None:
    """Cancel the run behind a progress token (the token's future also does, as a backup)."""
    for run in list(ls.runs.active.values()):
        if run.progress_token == params.token:
            run.cancel()


# -- code actions ---------------------------------------------------------------------------------


_DISABLED_ACTIONS = "text_document.code_action.disabled_support"


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.Source]
    ),
)
def code_action(ls: AgentServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    """Offer "Implement TODO with Ollama agent" on lines whose comment holds TODO/FIXME/XXX."""
    uri = params.text_document.uri
    if uri not in ls.workspace.text_documents:
        return None
    try:
        ls.command_path(uri, cmd.IMPLEMENT_TODO)
        refusal = None
    except JsonRpcInvalidParams as exc:
        refusal = exc.message
    doc = ls.workspace.get_text_document(uri)
    text = doc.source
    start, end = params.range.start.line, params.range.end.line
    actions: list[types.CodeAction] = []
    for line in range(start, min(end, start + 50) + 1):
        todo = find_todo(text, line, doc.language_id, uri)
        if todo is None:
            continue
        actions.append(
            types.CodeAction(
                title="Implement TODO with Ollama agent",
                kind=types.CodeActionKind.QuickFix,
                command=types.Command(
                    title="Implement TODO with Ollama agent",
                    command=cmd.IMPLEMENT_TODO,
                    # Answered at once, the result comes as ollamaAgent/runFinished: a generic
                    # client (eglot gives up after 10 s) never waits on a run.
                    arguments=[{"uri": uri, "line": line, "wait": False}],
                ),
            )
        )
        break
    from ollama_agent_ls.lsp.spec_runs import spec_code_actions

    if refusal is None:
        actions.extend(spec_code_actions(ls, uri))
    elif get_capability(ls.client_capabilities, _DISABLED_ACTIONS, False):
        # Shown greyed out with the reason (how to open the folder), instead of failing on use.
        for action in actions:
            action.disabled = types.CodeActionDisabled(reason=refusal)
    return actions or None


# -- commands -------------------------------------------------------------------------------------


def _read_for_command(ls: AgentServer, uri: str, command: str) -> tuple[Path, str, str]:
    """(path, relative name, LF text) of a document, or InvalidParams saying what is wrong."""
    # Checked before anything is read: a file outside the workspace is not even looked at.
    path = ls.command_path(uri, command)
    root = ls.root_for(path, uri, command)
    try:
        text = EditorDocuments(ls.editor).read(path).text
    except DocumentError as exc:
        raise JsonRpcInvalidParams(f"Cannot run on {show_uri(uri)}: {exc}") from None
    rel = path.relative_to(root).as_posix()
    return path, rel, text.replace("\r\n", "\n").replace("\r", "\n")


def _lines_of(ls: AgentServer, uri: str, rng: Range, text: str) -> tuple[int, int]:
    start, end = rng.start.line, rng.end.line
    if end < start:
        start, end = end, start
    if end > start and rng.end.character == 0:
        end -= 1  # a selection ending at column 0 does not include that line
    count = text.count("\n") + 1
    if start >= count:
        raise JsonRpcInvalidParams(
            f"The range starts at line {start + 1}, past the end of {uri} ({count} lines)."
        )
    return start + 1, min(end, count - 1) + 1


async def start_run(
    ls: AgentServer, run: Run, wait: bool, work: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """The result of ``work`` when the command waits; else ``{runId, status: "running"}`` at
    once, and the result later as the ollamaAgent/runFinished notification."""
    if wait:
        return await work()
    return ls.runs.start_detached(run, work)


def _run_json(
    ls: AgentServer, run_id: str, result: Any, session_id: str | None = None
) -> dict[str, Any]:
    return {
        "runId": run_id,
        "sessionId": session_id,
        "status": result.status.value,
        "summary": result.summary,
        "changedFiles": [ls.editor.uri_for(c.path) for c in result.changes],
        "notApplied": [
            {"uri": ls.editor.uri_for(Path(n["file"])), "reason": n["reason"]}
            for n in result.not_applied
        ],
        "turns": result.turns,
        "metrics": result.metrics.to_json(),
    }


def _task_for(
    ls: AgentServer, command: str, instruction: str, uri: str | None, rng: Any
) -> tuple[Path, AgentTask, str]:
    """(workspace root, task, label) for runTask/followUp: a file and a selection if given."""
    if uri is None:
        root = ls.root_for(ls.root, None, command)
        return root, AgentTask(instruction, label=instruction[:60]), instruction[:60]
    path, rel, text = _read_for_command(ls, uri, command)
    root = ls.root_for(path)
    if rng is None:
        label = f"{rel}: {instruction[:50]}"
        return root, AgentTask(instruction, label=label, file=rel), label
    start, end = _lines_of(ls, uri, rng, text)
    label = f"{rel}:{start}-{end}: {instruction[:40]}"
    selection = SelectionContext(rel, text, start, end)
    return root, AgentTask(instruction, label=label, selection=selection), label


@server.command(cmd.RUN_TASK)
async def run_task(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Start a new session on an instruction, with or without a file or a selection."""
    from ollama_agent_ls.lsp.command_args import RunTaskArgs, parse_args

    a = parse_args(cmd.RUN_TASK, RunTaskArgs, args)
    await ls.wait_configured()
    root, task, label = _task_for(ls, cmd.RUN_TASK, a.instruction, a.uri, a.range)
    run = ls.runs.build(ls.settings_for(a.model), root, label)
    run.instruction = a.instruction

    async def work() -> dict[str, Any]:
        return _run_json(ls, run.id, await ls.runs.execute(run, task), run.session_id)

    return await start_run(ls, run, a.wait, work)


@server.command(cmd.FOLLOW_UP)
async def follow_up(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Continue a session: the model keeps what it read and did, the request extends it."""
    from ollama_agent_ls.lsp.command_args import FollowUpArgs, parse_args

    a = parse_args(cmd.FOLLOW_UP, FollowUpArgs, args)
    await ls.wait_configured()
    root, task, label = _task_for(ls, cmd.FOLLOW_UP, a.instruction, a.uri, a.range)
    settings = ls.settings_for(a.model)
    session = ls.runs.load_session(root, settings, a.session_id)
    if task.selection is not None:
        sel = task.selection
        picked = "\n".join(sel.text.split("\n")[sel.start_line - 1 : sel.end_line])
        text = (
            f"{a.instruction}\n\nSelected lines {sel.start_line}-{sel.end_line} of {sel.rel}:"
            f"\n```\n{picked}\n```"
        )
    elif task.file is not None:
        text = f"{a.instruction}\n\n(about {task.file})"
    else:
        text = a.instruction
    run = ls.runs.build(settings, root, label, session=session)
    run.instruction = a.instruction

    async def body(run: Run) -> RunResult:
        await run.agent.resume(session.messages, session.edit_format)
        return await run.agent.run(AgentTask(text, label=label), follow_up=True)

    async def work() -> dict[str, Any]:
        result = await ls.runs.execute(run, body=body)
        return _run_json(ls, run.id, result, run.session_id)

    return await start_run(ls, run, a.wait, work)


@server.command(cmd.LIST_SESSIONS)
async def list_sessions(ls: AgentServer, *args: Any) -> list[dict[str, Any]]:
    """The workspace's sessions, newest first."""
    from ollama_agent_ls.lsp.command_args import NoArgs, parse_args

    parse_args(cmd.LIST_SESSIONS, NoArgs, args)
    await ls.wait_configured()
    root = ls.root_for(ls.root, None, cmd.LIST_SESSIONS)
    return [s.summary_json() for s in ls.runs.session_store(root, ls.settings).list()]


@server.command(cmd.GET_SESSION)
async def get_session(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """A session's conversation and runs, for a panel, a chat buffer or ACP's session/load."""
    from ollama_agent_ls.lsp.command_args import GetSessionArgs, parse_args

    a = parse_args(cmd.GET_SESSION, GetSessionArgs, args)
    await ls.wait_configured()
    root = ls.root_for(ls.root, None, cmd.GET_SESSION)
    session = ls.runs.load_session(root, ls.settings, a.session_id)
    messages = []
    for m in session.messages:
        if m.role == "system":
            continue
        entry: dict[str, Any] = {"role": m.role, "text": m.content}
        if m.thinking:
            entry["thinking"] = m.thinking
        if m.tool_calls:
            entry["toolCalls"] = [
                {"name": c.name, "arguments": c.arguments, "callId": c.id} for c in m.tool_calls
            ]
        if m.tool_name is not None:
            entry["toolName"] = m.tool_name
            entry["callId"] = m.tool_call_id
        messages.append(entry)
    return {
        **session.summary_json(),
        "messages": messages,
        "runs": [
            {
                "runId": r.run_id,
                "instruction": r.instruction,
                "status": r.status,
                "summary": r.summary,
                "changedFiles": [ls.editor.uri_for(c.path) for c in r.changes],
                "undone": r.undone,
            }
            for r in session.runs
        ],
    }


@server.command(cmd.RUN_SELECTION)
async def run_selection(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Run the agent on a selection with an instruction."""
    from ollama_agent_ls.lsp.command_args import RunSelectionArgs, parse_args

    a = parse_args(cmd.RUN_SELECTION, RunSelectionArgs, args)
    await ls.wait_configured()
    path, rel, text = _read_for_command(ls, a.uri, cmd.RUN_SELECTION)
    start, end = _lines_of(ls, a.uri, a.range, text)
    lines = text.split("\n")[start - 1 : end]
    if (
        end - start + 1 > MAX_SELECTION_LINES
        or sum(len(x) + 1 for x in lines) > MAX_SELECTION_CHARS
    ):
        raise JsonRpcInvalidParams(
            f"The selection is too large ({end - start + 1} lines); select at most "
            f"{MAX_SELECTION_LINES} lines, or describe the change and let the agent read the file."
        )
    settings = ls.settings_for(a.model)
    label = f"{rel}:{start}-{end}: {a.instruction[:40]}"
    task = AgentTask(a.instruction, label=label, selection=SelectionContext(rel, text, start, end))
    run = ls.runs.build(settings, ls.root_for(path), label)
    run.read[path] = None  # its text is in the prompt

    async def work() -> dict[str, Any]:
        return _run_json(ls, run.id, await ls.runs.execute(run, task), run.session_id)

    return await start_run(ls, run, a.wait, work)


@server.command(cmd.IMPLEMENT_TODO)
async def implement_todo(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Implement the TODO/FIXME/XXX comment on a line."""
    from ollama_agent_ls.lsp.command_args import ImplementTodoArgs, parse_args

    a = parse_args(cmd.IMPLEMENT_TODO, ImplementTodoArgs, args)
    await ls.wait_configured()
    path, rel, text = _read_for_command(ls, a.uri, cmd.IMPLEMENT_TODO)
    language = None
    if a.uri in ls.workspace.text_documents:
        language = ls.workspace.get_text_document(a.uri).language_id
    todo = find_todo(text, a.line, language, a.uri)
    if todo is None:
        raise JsonRpcInvalidParams(
            f"Line {a.line + 1} of {rel} has no TODO, FIXME or XXX comment; put the cursor on one."
        )
    block_start, block_end = enclosing_block(text, a.line)
    instruction = (
        f"Implement the {todo.marker} comment on line {a.line + 1} of {rel}: "
        f'"{todo.text}". Write the code it asks for where it belongs, then remove that '
        f"{todo.marker} comment."
    )
    selection = SelectionContext(rel, text, block_start + 1, block_end + 1)
    settings = ls.settings_for(a.model)
    label = f"{rel}:{a.line + 1}: {todo.marker} {todo.text[:40]}"
    run = ls.runs.build(settings, ls.root_for(path), label)
    run.read[path] = None  # its text is in the prompt
    task = AgentTask(instruction, label=label, selection=selection)

    async def work() -> dict[str, Any]:
        response = _run_json(ls, run.id, await ls.runs.execute(run, task), run.session_id)
        try:
            after = EditorDocuments(ls.editor).read(path).text.replace("\r\n", "\n")
            response["todoRemoved"] = not todo_still_present(after, todo)
        except DocumentError:
            response["todoRemoved"] = False
        return response

    return await start_run(ls, run, a.wait, work)


@server.command(cmd.RUN_SPEC)
async def run_spec(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Run the agent on a spec file."""
    from ollama_agent_ls.lsp.command_args import RunSpecArgs, parse_args

    a = parse_args(cmd.RUN_SPEC, RunSpecArgs, args)
    ls.command_path(a.uri, cmd.RUN_SPEC)
    await ls.wait_configured()
    from ollama_agent_ls.lsp.spec_runs import run_spec_in_editor

    result: dict[str, Any] = await run_spec_in_editor(ls, a)
    return result


@server.command(cmd.CANCEL)
def cancel(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Cancel one run (runId) or all running runs."""
    from ollama_agent_ls.lsp.command_args import RunIdArgs, parse_args

    a = parse_args(cmd.CANCEL, RunIdArgs, args)
    return {"cancelled": ls.runs.cancel(a.run_id)}


@server.command(cmd.UNDO_RUN)
async def undo_run(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Revert a finished run's changes where they are still as the agent left them."""
    from ollama_agent_ls.lsp.command_args import RunIdArgs, parse_args

    a = parse_args(cmd.UNDO_RUN, RunIdArgs, args)
    # Also a run of an earlier server: the workspace's session store keeps its changes.
    return await ls.runs.undo_run(a.run_id)


@server.command(cmd.LIST_MODELS)
async def list_models_command(ls: AgentServer, *args: Any) -> list[dict[str, Any]]:
    """Installed models with context length and capabilities."""
    from ollama_agent_ls.lsp.command_args import NoArgs, parse_args

    parse_args(cmd.LIST_MODELS, NoArgs, args)
    await ls.wait_configured()
    try:
        from ollama_agent_ls.ollama.setup_check import list_models

        models = await list_models(ls.ollama_client(ls.settings))
    except OllamaError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None
    return [
        {
            "name": m.name,
            "contextLength": info.context_length if info else None,
            "capabilities": list(info.capabilities if info else m.capabilities),
        }
        for m, info in models
    ]


@server.command(cmd.CHECK_SETUP)
async def check_setup_command(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Is Ollama reachable, the model installed, with tools and enough context?"""
    from ollama_agent_ls.lsp.command_args import NoArgs, parse_args

    parse_args(cmd.CHECK_SETUP, NoArgs, args)
    await ls.wait_configured()
    from ollama_agent_ls.agent.rules import check_rules
    from ollama_agent_ls.ollama.setup_check import check_setup
    from ollama_agent_ls.tools.sandbox import check_sandbox

    report = await check_setup(ls.ollama_client(ls.settings), ls.settings)
    # The first check probes bubblewrap (a subprocess), the rules read files: off the loop.
    await asyncio.to_thread(check_sandbox, report, ls.settings)
    await asyncio.to_thread(check_rules, report, ls.root, ls.settings)
    return report.to_json()


def serve(
    tcp: str | None = None, log_file: Path | None = None, log_level: str | None = None
) -> int:
    """Run the language server on stdio (or TCP) until the client exits."""
    # Importing registers the spec code lens and commands before capabilities are computed.
    from ollama_agent_ls.lsp import spec_runs  # noqa: F401

    setup_logging(server, log_file, log_level)
    server.log_level_flag = log_level
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io(sys.stdin.buffer, _protocol_stdout())
    return 0


def _protocol_stdout() -> BinaryIO:
    """The stream the protocol is written to; stdout itself then goes to stderr.

    Anything else written to stdout (a stray print, a library, a child process that inherits
    file descriptor 1) would corrupt the framing and lose messages.
    """
    out: BinaryIO = sys.stdout.buffer
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None  # not a real file (a test's wrapper): leave the descriptors alone
    if fd == 1:
        out.flush()
        try:
            protocol_fd = os.dup(1)
            os.dup2(2, 1)
        except OSError as exc:
            log.warning("stdout stays shared with the protocol (%s)", exc)
        else:
            out = os.fdopen(protocol_fd, "wb")
    sys.stdout = sys.stderr
    return out

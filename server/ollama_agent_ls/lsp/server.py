"""The language server object (settings, clients, editor state, runs) and ``create_server``, which
registers each feature module on it: lifecycle, text sync, code actions, commands, spec lenses."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from ollama_agent_ls import __version__
from ollama_agent_ls.lsp.editor import (
    ClientEditSupport,
    EditorState,
    uri_to_path,
)
from ollama_agent_ls.lsp.log_forwarding import setup_logging
from ollama_agent_ls.lsp.lsp_ext import NUDGE
from ollama_agent_ls.lsp.protocol import HardenedProtocol, start_io, start_tcp

if TYPE_CHECKING:
    # Imported when first needed: the agent, tools and HTTP stack add ~70 ms to start-up, and
    # pydantic (settings, command arguments) ~65 ms more; a client waits for initialize before
    # anything else, and answering it needs none of them.
    from ollama_agent_ls.backend import ChatBackend
    from ollama_agent_ls.lsp.runs import RunManager
    from ollama_agent_ls.settings import Settings


log = logging.getLogger(__name__)

CONFIG_SECTION = "ollamaAgent"
CONFIG_WAIT = 15.0
"""Seconds a command waits for the start-up configuration before using what it has."""
SHUTDOWN_WAIT = 5.0
"""Seconds shutdown gives cancelled runs to end."""
MAX_URI_CHARS = 16 * 1024
"""Longer than any real file URI (a 4096-byte path, every byte percent-encoded, is ~12 KB)."""
NAME_MAX = 255
"""Bytes in one file name: the limit of ext4, APFS, NTFS and most others."""
PATH_MAX = 4096
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
               settings.edit_format, repr(settings.mcp_servers))  # fmt: skip
        if key == self._warmed:
            return
        self._warmed = key
        if self._warm_task is not None and not self._warm_task.done():
            self._warm_task.cancel()
        self._warm_task = asyncio.ensure_future(self._warm(settings))

    async def _warm(self, settings: Settings) -> None:
        from ollama_agent_ls.agent.warm import warm_start
        from ollama_agent_ls.mcp_tools.wiring import mcp_providers

        # A run's first request carries the MCP servers' tools too: so must the warmed prefix
        # (which starts the servers now, in the background, rather than at the first run).
        providers = mcp_providers(self, settings)
        await warm_start(self.ollama_client(settings), settings, self.root, providers)

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
        return as_dict(section)

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


def as_dict(value: Any) -> dict[str, Any] | None:
    """``value`` (a dict, or an lsprotocol object with ``_asdict``) as a plain dict; else None."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    if hasattr(value, "_asdict"):
        return {k: as_dict(v) if hasattr(v, "_asdict") else v for k, v in value._asdict().items()}
    return None


def create_server() -> AgentServer:
    """A language server with every feature module registered on it (nothing registers itself
    on import: each module's ``register`` is called here, in one place)."""
    from ollama_agent_ls.lsp import (
        code_actions,
        hunk_commands,
        lifecycle,
        run_commands,
        session_commands,
        setup_commands,
        spec_runs,
        text_sync,
    )

    server = AgentServer()
    for module in (
        lifecycle,
        text_sync,
        code_actions,
        run_commands,
        hunk_commands,
        session_commands,
        setup_commands,
        spec_runs,
    ):
        module.register(server)
    return server


def serve(
    tcp: str | None = None, log_file: Path | None = None, log_level: str | None = None
) -> int:
    """Run the language server on stdio (or TCP) until the client exits."""
    server = create_server()
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

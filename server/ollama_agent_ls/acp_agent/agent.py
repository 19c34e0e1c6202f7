"""The ACP agent: sessions, prompts, cancel, modes and the model over the agent core.

Each ACP session is a session core (sessions/core.py), as the CLI's and the language server's
are; each prompt is one run of it, over the client's buffers (ClientDocuments) and the client's
writes (ClientSink) when the client offers them, else the disk. The first prompt starts the
conversation, later ones continue it, and every prompt's conversation and changes are kept in
the session store, so ``session/load`` and undo work after the agent process restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from acp import PROTOCOL_VERSION, RequestError, update_agent_message_text
from acp.interfaces import Client
from acp.schema import (
    AgentCapabilities,
    ClientCapabilities,
    ConfigOptionUpdate,
    CurrentModeUpdate,
    EmbeddedResourceContentBlock,
    Implementation,
    InitializeResponse,
    ListSessionsResponse,
    LoadSessionResponse,
    McpCapabilities,
    NewSessionResponse,
    PermissionOption,
    PromptCapabilities,
    PromptResponse,
    RequestPermissionResponse,
    ResourceContentBlock,
    SessionCapabilities,
    SessionConfigOptionSelect,
    SessionConfigSelectOption,
    SessionInfo,
    SessionListCapabilities,
    SessionMode,
    SessionModeState,
    SetSessionConfigOptionResponse,
    SetSessionModeResponse,
    StopReason,
    TextContentBlock,
    TextResourceContents,
    ToolCallUpdate,
)

from ollama_agent_ls import __version__
from ollama_agent_ls.acp_agent.approvals import PermissionApprover
from ollama_agent_ls.acp_agent.changes import ClientSink
from ollama_agent_ls.acp_agent.documents import ClientDocuments, rel_path
from ollama_agent_ls.acp_agent.slash_commands import available_commands
from ollama_agent_ls.acp_agent.spec_prompts import (
    SpecPromptError,
    SpecRequest,
    outcome_text,
    plan_follower,
    plan_of,
    spec_request,
)
from ollama_agent_ls.acp_agent.undo_prompts import is_undo, undo_latest
from ollama_agent_ls.acp_agent.updates import EventMapper, Update, drain, named_path, replay
from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.agent.loop import Agent
from ollama_agent_ls.agent.prompts import AgentTask
from ollama_agent_ls.agent.result import RunResult, RunStatus
from ollama_agent_ls.backend import ChatBackend
from ollama_agent_ls.mcp_tools.wiring import acp_servers, mcp_providers
from ollama_agent_ls.ollama.errors import OllamaError
from ollama_agent_ls.ollama.models import ToolCall
from ollama_agent_ls.sessions.core import RunParts, SessionCore, SessionRun
from ollama_agent_ls.sessions.store import SessionError, SessionStore
from ollama_agent_ls.settings import CommandApproval, Settings
from ollama_agent_ls.specs.frontmatter_edit import VerifyReport
from ollama_agent_ls.specs.runner import SpecRunner, shell_verify
from ollama_agent_ls.tools.context import ToolContext
from ollama_agent_ls.tools.executor import ExtraTool, ToolExecutor, ToolOutcome, ToolProvider
from ollama_agent_ls.workspace.changes import ChangeSink
from ollama_agent_ls.workspace.disk_sink import DiskSink
from ollama_agent_ls.workspace.paths import PathRefused, is_inside, resolve_path

log = logging.getLogger(__name__)

MODES: dict[str, tuple[str, str]] = {
    CommandApproval.ASK.value: ("Ask", "Ask before every command the agent wants to run"),
    CommandApproval.ALLOWLIST.value: (
        "Allowlist",
        "Run the commands in allowedCommands without asking; ask for the others",
    ),
    CommandApproval.ALWAYS.value: (
        "Always",
        "Run commands in the sandbox without asking (destructive ones still ask)",
    ),
    CommandApproval.NEVER.value: ("Never", "Run no commands"),
}
"""The session modes: the commandApproval policy. The destructive floor holds in every one."""
MODEL_LIST_SECONDS = 3.0
"""How long session/new waits for the server's model list (the current model is always one)."""
_PATCH_FILE = re.compile(r"^(?:\+\+\+|---) (?:[ab]/)?(\S+)", re.MULTILINE)


def _invalid(message: str, **data: Any) -> RequestError:
    return RequestError(-32602, message, data or None)


@dataclass
class _Prompt:
    """A prompt being worked on: cancel stops its agent, or its task before the run starts."""

    run: SessionRun
    mapper: EventMapper
    sink: ClientSink | None = None
    """Where edits go when the client writes them (None: the disk)."""
    task: asyncio.Task[Any] | None = None
    stop: Callable[[], None] | None = None
    """Stops the prompt's work when it is more than the agent (a spec run's verify commands)."""
    in_run: bool = False
    cancelled: bool = False


@dataclass
class AcpSession:
    """One ACP session: a conversation in a workspace, with its mode, model and allowances."""

    session_id: str
    root: Path
    settings: Settings
    core: SessionCore
    """The stored conversation and runs, and the commands a person allowed for the session
    (those in memory only)."""
    mcp_servers: list[Any] = field(default_factory=list)
    """The client's MCP servers (session/new, session/load): started at the first prompt, as
    the mcpServers setting's are, and their tools offered with the same approvals."""
    written: dict[Path, str] = field(default_factory=dict)
    """Texts written through the client, which the editor may keep unsaved."""
    models: list[str] = field(default_factory=list)
    running: _Prompt | None = None

    @property
    def mode(self) -> str:
        """The current mode id (the commandApproval policy)."""
        return CommandApproval(self.settings.command_approval).value


class _ClientToolExecutor(ToolExecutor):
    """Runs each call with the files it names fetched from the client first."""

    def __init__(
        self,
        ctx: ToolContext,
        documents: ClientDocuments,
        mapper: EventMapper,
        providers: list[ToolProvider],
        extra_tools: Sequence[ExtraTool] = (),
    ) -> None:
        super().__init__(ctx, extra_tools, providers)
        self.documents = documents
        self.mapper = mapper

    async def execute(self, call: ToolCall) -> ToolOutcome:
        """Fetch the call's files from the client, run it, and keep its whole result."""
        await self.documents.prefetch(_call_paths(self.ctx.root, call))
        try:
            outcome = await super().execute(call)
        finally:
            self.documents.forget()
        self.mapper.record_output(outcome.content)
        return outcome


def _call_paths(root: Path, call: ToolCall) -> list[Path]:
    raw = [named_path(call.arguments)]
    patch = call.arguments.get("patch") or call.arguments.get("diff")
    if isinstance(patch, str):
        raw.extend(m for m in _PATCH_FILE.findall(patch) if m != "/dev/null")
    paths = []
    for value in raw:
        if value is None:
            continue
        with contextlib.suppress(PathRefused):
            paths.append(resolve_path(root, value)[0])
    return paths


def _keep(session: AcpSession, run: SessionRun, result: RunResult) -> None:
    """Record the run in the session's store (for the next prompt, session/load and undo)."""
    if not run.agent.messages:
        return
    error = session.core.record(run, result)
    if error is not None:
        log.warning("session %s could not be saved: %s", session.session_id, error)


def prompt_text(blocks: Iterable[Any], root: Path) -> str:
    """The task a prompt asks for: its text, then the files it links and embeds as context."""
    parts: list[str] = []
    linked: list[str] = []
    for block in blocks:
        if isinstance(block, TextContentBlock):
            parts.append(block.text)
        elif isinstance(block, ResourceContentBlock):
            linked.append(_shown_uri(block.uri, root))
        elif isinstance(block, EmbeddedResourceContentBlock):
            resource = block.resource
            if isinstance(resource, TextResourceContents):
                name = _shown_uri(resource.uri, root)
                parts.append(f"{name} (as the user sees it):\n```\n{resource.text}\n```")
            else:
                log.info("a binary embedded resource was left out of the prompt")
        else:
            log.info("a %s block was left out of the prompt", type(block).__name__)
    text = "\n\n".join(p for p in parts if p.strip())
    if linked:
        text += "\n\nFiles the user pointed at: " + ", ".join(linked)
    return text.strip()


def _shown_uri(uri: str, root: Path) -> str:
    """A file URI inside the workspace as its relative path; anything else as it is."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return uri
    path = Path(unquote(parsed.path))
    return rel_path(root, path) if is_inside(path, root) else str(path)


class OllamaAcpAgent:
    """The acp.Agent implementation: one per connection."""

    def __init__(
        self, settings: Settings, backend: ChatBackend, workspace: Path | None = None
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.workspace = workspace.resolve() if workspace is not None else None
        self.conn: Client | None = None
        self.client_capabilities = ClientCapabilities()
        self.sessions: dict[str, AcpSession] = {}
        self._background: set[asyncio.Task[None]] = set()

    def on_connect(self, conn: Client) -> None:
        """Keep the connection: updates, permission requests and fs calls go through it."""
        self.conn = conn

    def _later(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` once the current request is answered; a failure is only logged."""

        async def after() -> None:
            await asyncio.sleep(0)  # the SDK writes the answer when the handler returns
            try:
                await work
            except Exception:
                log.exception("a session update after the answer failed")

        task = asyncio.ensure_future(after())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _client(self) -> Client:
        if self.conn is None:
            raise RuntimeError("the agent is not connected to a client")
        return self.conn

    # -- set-up --------------------------------------------------------------------------------

    async def initialize(
        self,
        protocol_version: int,
        client_capabilities: ClientCapabilities | None = None,
        client_info: Implementation | None = None,
        **kwargs: Any,
    ) -> InitializeResponse:
        """Protocol version 1, what this agent can do, and remember what the client can."""
        self.client_capabilities = client_capabilities or ClientCapabilities()
        fs = self.client_capabilities.fs
        log.info(
            "client %s: fs.readTextFile=%s fs.writeTextFile=%s terminal=%s (commands run here, "
            "in the sandbox, never in a client terminal)",
            client_info.name if client_info else "?",
            bool(fs and fs.read_text_file),
            bool(fs and fs.write_text_file),
            bool(self.client_capabilities.terminal),
        )
        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(
                    image=False, audio=False, embedded_context=True
                ),
                session_capabilities=SessionCapabilities(list=SessionListCapabilities()),
                mcp_capabilities=McpCapabilities(http=True, sse=False),
            ),
            agent_info=Implementation(
                name="ollama-agent-ls", title="Ollama agent", version=__version__
            ),
            auth_methods=[],
        )

    def _root(self, cwd: str | None) -> Path:
        if cwd is None:
            return self.workspace or Path.cwd().resolve()
        path = Path(cwd)
        if not path.is_absolute() or not path.is_dir():
            raise _invalid(
                f"cwd {cwd!r} is not an absolute path to a directory; send the project's "
                "folder as an absolute path",
                cwd=cwd,
            )
        root = path.resolve()
        if self.workspace is not None and not is_inside(root, self.workspace):
            raise _invalid(
                f"cwd {root} is outside the workspace {self.workspace} this agent was started "
                "for (-w); start it without -w or with a folder that holds this one",
                cwd=cwd,
            )
        return root

    def _store(self, root: Path) -> SessionStore:
        return SessionStore.for_settings(root, self.settings)

    async def _models(self, current: str) -> list[str]:
        try:
            tags = await asyncio.wait_for(self.backend.tags(), MODEL_LIST_SECONDS)
        except (OllamaError, asyncio.TimeoutError, OSError) as exc:
            log.info("no model list (%s); offering the current model only", exc)
            tags = []
        names = [t.name for t in tags]
        return names if current in names else [current, *names]

    async def new_session(
        self,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[Any] | None = None,
        **kwargs: Any,
    ) -> NewSessionResponse:
        """A new conversation in the workspace ``cwd``."""
        root = self._root(cwd)
        core = SessionCore(self._store(root))
        session = AcpSession(
            core.session_id, root, self.settings.model_copy(), core, list(mcp_servers or [])
        )
        session.models = await self._models(session.settings.model)
        self.sessions[session.session_id] = session
        # After the answer, which tells the client the session's id (as other agents do).
        self._later(self._client().session_update(session.session_id, available_commands()))
        return NewSessionResponse(
            session_id=session.session_id,
            modes=self._modes(session),
            config_options=self._config_options(session),
        )

    async def load_session(
        self,
        cwd: str,
        session_id: str,
        mcp_servers: list[Any] | None = None,
        additional_directories: list[str] | None = None,
        **kwargs: Any,
    ) -> LoadSessionResponse:
        """Replay a stored conversation as session updates, then go on with it."""
        root = self._root(cwd)
        active = self.sessions.get(session_id)
        if active is not None and active.running is not None:
            raise RequestError(
                -32600,
                f"session {session_id} is answering a prompt; cancel it before loading it again",
            )
        try:
            record = self._store(root).load(session_id)
        except SessionError as exc:
            raise _invalid(f"{exc}", sessionId=session_id) from None
        settings = self.settings.model_copy()
        if active is not None:
            settings = active.settings
        elif record.model:
            settings = settings.model_copy(update={"model": record.model})
        allowed = active.core.allowed if active is not None else None
        core = SessionCore(self._store(root), record, allowed=allowed)
        session = AcpSession(session_id, root, settings, core, list(mcp_servers or []))
        if active is not None:
            session.written = active.written
        session.models = await self._models(session.settings.model)
        client = self._client()
        for update in replay(record.messages, record.runs):
            await client.session_update(session_id, update)
        await client.session_update(session_id, available_commands())
        self.sessions[session_id] = session
        return LoadSessionResponse(
            modes=self._modes(session), config_options=self._config_options(session)
        )

    async def list_sessions(
        self, cwd: str | None = None, cursor: str | None = None, **kwargs: Any
    ) -> ListSessionsResponse:
        """The stored sessions of the workspace, newest first."""
        root = self._root(cwd)
        return ListSessionsResponse(
            sessions=[
                SessionInfo(
                    session_id=s.session_id,
                    cwd=str(root),
                    title=s.title or None,
                    updated_at=s.summary_json()["updatedAt"],
                )
                for s in self._store(root).list()
            ]
        )

    def _session(self, session_id: str) -> AcpSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise _invalid(
                f"unknown session {session_id!r}: start one with session/new, or load a stored "
                "one with session/load",
                sessionId=session_id,
            )
        return session

    # -- mode and model ------------------------------------------------------------------------

    def _modes(self, session: AcpSession) -> SessionModeState:
        return SessionModeState(
            current_mode_id=session.mode,
            available_modes=[
                SessionMode(id=mode, name=name, description=about)
                for mode, (name, about) in MODES.items()
            ],
        )

    def _config_options(self, session: AcpSession) -> list[Any]:
        return [
            SessionConfigOptionSelect(
                id="mode",
                name="Commands",
                description="Whether the agent asks before running a command",
                category="mode",
                type="select",
                current_value=session.mode,
                options=[
                    SessionConfigSelectOption(value=mode, name=name, description=about)
                    for mode, (name, about) in MODES.items()
                ],
            ),
            SessionConfigOptionSelect(
                id="model",
                name="Model",
                description="The model that runs the agent",
                category="model",
                type="select",
                current_value=session.settings.model,
                options=[SessionConfigSelectOption(value=m, name=m) for m in session.models],
            ),
        ]

    def _set_mode(self, session: AcpSession, mode_id: str) -> None:
        if mode_id not in MODES:
            raise _invalid(
                f"unknown mode {mode_id!r}; the modes are {', '.join(MODES)}", modeId=mode_id
            )
        policy = CommandApproval(mode_id)
        session.settings = session.settings.model_copy(update={"command_approval": policy})
        if session.running is not None:
            # The running prompt's next command is decided under the new policy.
            ctx = session.running.run.ctx
            ctx.settings = ctx.settings.model_copy(update={"command_approval": policy})

    async def set_session_mode(
        self, session_id: str, mode_id: str, **kwargs: Any
    ) -> SetSessionModeResponse:
        """Switch the command policy: ask, allowlist, always or never."""
        session = self._session(session_id)
        self._set_mode(session, mode_id)
        await self._client().session_update(
            session_id,
            ConfigOptionUpdate(
                session_update="config_option_update",
                config_options=self._config_options(session),
            ),
        )
        return SetSessionModeResponse()

    async def set_config_option(
        self, config_id: str, session_id: str, value: str | bool, **kwargs: Any
    ) -> SetSessionConfigOptionResponse:
        """Set the session's model or mode (the model applies from the next prompt)."""
        session = self._session(session_id)
        if config_id == "mode" and isinstance(value, str):
            self._set_mode(session, value)
            await self._client().session_update(
                session_id,
                CurrentModeUpdate(session_update="current_mode_update", current_mode_id=value),
            )
        elif config_id == "model" and isinstance(value, str):
            if value not in session.models:
                raise _invalid(
                    f"model {value!r} is not one the server offers: {', '.join(session.models)}",
                    value=value,
                )
            session.settings = session.settings.model_copy(update={"model": value})
        else:
            raise _invalid(
                f"unknown config option {config_id!r} = {value!r}; the options are mode and "
                "model, each set to one of its values",
                configId=config_id,
            )
        return SetSessionConfigOptionResponse(config_options=self._config_options(session))

    # -- prompts -------------------------------------------------------------------------------

    async def prompt(self, session_id: str, prompt: list[Any], **kwargs: Any) -> PromptResponse:
        """Run the prompt as the session's next run; its stop reason when it ends."""
        session = self._session(session_id)
        if session.running is not None:
            raise RequestError(
                -32600,
                f"session {session_id} is already answering a prompt; wait for it or send "
                "session/cancel first",
            )
        client = self._client()
        text = prompt_text(prompt, session.root)
        if not text:
            await client.session_update(
                session_id,
                update_agent_message_text(
                    "The prompt has no text to work on; write what the agent should do."
                ),
            )
            return PromptResponse(stop_reason="refusal")
        if is_undo(prompt):
            documents, sink, _ = self._files(session)
            said = await undo_latest(session.core, documents, sink)
            await client.session_update(session_id, update_agent_message_text(said))
            return PromptResponse(stop_reason="end_turn")
        try:
            spec = spec_request(prompt, session.root)
        except SpecPromptError as exc:
            await client.session_update(session_id, update_agent_message_text(str(exc)))
            return PromptResponse(stop_reason="refusal")
        queue: asyncio.Queue[Update | None] = asyncio.Queue()
        sender = asyncio.ensure_future(
            drain(queue, lambda update: client.session_update(session_id, update))
        )
        try:
            if spec is not None:
                stop = await self._work_spec(session, spec, text, queue.put_nowait)
            else:
                running = self._assemble(session, queue.put_nowait, text)
                session.running = running
                stop = await self._work(session, running, text, queue.put_nowait)
        finally:
            session.running = None
            queue.put_nowait(None)
            # Every update of the turn goes out before its answer (the spec asks for it).
            await sender
        return PromptResponse(stop_reason=stop)

    def _files(self, session: AcpSession) -> tuple[ClientDocuments, ChangeSink, ClientSink | None]:
        """Where the session's reads come from and its writes go: the client's buffers when it
        offers them, else the disk (the ClientSink too, when it is the client)."""
        fs = self.client_capabilities.fs
        client = self._client()
        sid = session.session_id

        async def read_text(path: Path) -> str | None:
            return (await client.read_text_file(session_id=sid, path=str(path))).content

        async def write_text(path: Path, text: str) -> None:
            await client.write_text_file(session_id=sid, path=str(path), content=text)

        documents = ClientDocuments(
            session.root,
            read_text if fs is not None and fs.read_text_file else None,
            session.settings.read_max_bytes,
            session.written,
        )
        if fs is not None and fs.write_text_file:
            client_sink = ClientSink(session.root, documents, write_text, session.written)
            return documents, client_sink, client_sink
        return documents, DiskSink(session.root), None

    def _assemble(
        self, session: AcpSession, send: Any, text: str, extra_tools: Sequence[ExtraTool] = ()
    ) -> _Prompt:
        """One run of the session core over the client's files (the disk where it has none)."""
        client = self._client()
        sid = session.session_id

        async def ask(
            tool_call: ToolCallUpdate, options: list[PermissionOption]
        ) -> RequestPermissionResponse:
            return await client.request_permission(
                session_id=sid, tool_call=tool_call, options=options
            )

        settings = session.settings
        documents, sink, client_sink = self._files(session)
        mappers: list[EventMapper] = []

        def executor(
            ctx: ToolContext, extra: Sequence[ExtraTool], providers: Sequence[ToolProvider]
        ) -> ToolExecutor:
            # The mapper names tool calls for permission requests, so it needs the context.
            mapper = EventMapper(session.root, ctx, send)
            mappers.append(mapper)
            ctx.approver = PermissionApprover(ask, mapper.tool_call_id)
            return _ClientToolExecutor(ctx, documents, mapper, list(providers), extra)

        # The servers belong to this agent (one per connection): its later prompts reuse them.
        servers, notes = acp_servers(session.mcp_servers, settings)
        parts = RunParts(
            documents,
            sink,
            extra_tools=extra_tools,
            providers=mcp_providers(self, settings, servers, notes),
            make_executor=executor,
        )
        run = session.core.assemble(self.backend, settings, parts, text)
        mapper = mappers[0]
        run.agent.on_event = mapper.on_event

        async def before_command() -> str | None:
            mapper.mark_running()
            return client_sink.stale_note() if client_sink is not None else None

        run.ctx.before_command = before_command
        mapper.num_ctx = lambda: run.agent.metrics.num_ctx
        return _Prompt(run, mapper, client_sink)

    async def _work(
        self, session: AcpSession, running: _Prompt, text: str, send: Any
    ) -> StopReason:
        core = session.core
        run = running.run

        async def body() -> RunResult:
            follow_up = await core.continue_conversation(run)
            running.in_run = True
            return await run.agent.run(AgentTask(text, label=text[:60]), follow_up=follow_up)

        running.task = asyncio.ensure_future(body())
        try:
            result = await running.task
        except asyncio.CancelledError:
            if not running.cancelled:
                raise
            return "cancelled"
        except OllamaError as exc:  # from resume: the run never started
            send(update_agent_message_text(f"Error: {exc}"))
            return "refusal"
        if result.setup_problem:
            # The server or model is not usable: nothing of this prompt joins the conversation.
            return "refusal"
        _keep(session, run, result)
        if result.status is RunStatus.CANCELLED or running.cancelled:
            return "cancelled"
        if result.status is RunStatus.MAX_TURNS:
            send(update_agent_message_text(f"\n\n{result.summary}"))
            return "max_turn_requests"
        if result.status is RunStatus.FAILED and result.summary not in running.mapper.errors:
            send(update_agent_message_text(f"\n\n{result.summary}"))
        return "end_turn"

    async def _work_spec(
        self, session: AcpSession, spec: SpecRequest, text: str, send: Any
    ) -> StopReason:
        """Run the spec as runSpec does, with its criteria as the plan."""
        made: list[_Prompt] = []

        def make_agent(tools: Sequence[ExtraTool]) -> Agent:
            made.append(self._assemble(session, send, text, tools))
            return made[-1].run.agent

        async def verify(ctx: ToolContext, command: str) -> VerifyReport:
            # A verify command checks the files on disk: the edits the editor holds unsaved,
            # just as they were written, are saved for it (ACP cannot ask the client to save).
            sink = made[0].sink
            if sink is not None:
                await sink.save_unchanged()
            return await shell_verify(ctx, command)

        runner = SpecRunner(spec.path, make_agent, rerun=spec.rerun, run_verify=verify)
        running = made[0]
        running.stop = runner.cancel
        session.running = running
        plan = plan_of(runner.read_text())
        if plan is not None:
            send(plan)
        agent = running.run.agent
        mapped, follow = agent.on_event, plan_follower(runner.read_text, send)

        def on_event(event: AgentEvent) -> None:
            if mapped is not None:
                mapped(event)
            follow(event)

        agent.on_event = on_event
        running.in_run = True
        running.task = asyncio.ensure_future(runner.run())
        try:
            result = await running.task
        except asyncio.CancelledError:
            if not running.cancelled:
                raise
            return "cancelled"
        if result.run is not None and not result.run.setup_problem:
            _keep(session, running.run, result.run)
        send(update_agent_message_text(outcome_text(result)))
        if result.status == "refused" or result.setup_problem:
            return "refusal"
        if result.cancelled or running.cancelled:
            return "cancelled"
        if result.run is not None and result.run.status is RunStatus.MAX_TURNS:
            return "max_turn_requests"
        return "end_turn"

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        """Stop the session's prompt: the model's stream and any running command."""
        session = self.sessions.get(session_id)
        running = session.running if session is not None else None
        if running is None:
            return
        running.cancelled = True
        if running.stop is not None:
            running.stop()
        elif running.in_run:
            running.run.agent.cancel()
        elif running.task is not None:
            running.task.cancel()

"""The agent loop: ask the model, run its tool calls, feed the results back, until it answers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from ollama_agent_ls.agent.context_budget import ContextBudget, cap_tool_result
from ollama_agent_ls.agent.events import AgentEvent, EventCallback, compact_diff
from ollama_agent_ls.agent.prefix import is_pure_append, prefix_share
from ollama_agent_ls.agent.prompts import AgentTask, render_task, system_prompt, tool_call_summary
from ollama_agent_ls.agent.result import RunMetrics, RunResult, RunStatus
from ollama_agent_ls.agent.rules import (
    NESTED_HEAD,
    NestedRules,
    ProjectRules,
    load_rules,
    nested_files,
)
from ollama_agent_ls.agent.text_formats import (
    MISSING_CALLS,
    READ_ONLY_TOOLS,
    SWITCHED_MARK,
    UNREADABLE_CALLS,
    Format,
    FormatMemory,
    choose_edit_format,
    fenced,
    files_to_show,
    format_rules,
    prefer_whole,
    read_edits,
    render_text_task,
    strip_line_numbers,
    switch_note,
    text_system_prompt,
)
from ollama_agent_ls.agent.text_tool_calls import (
    clean_tool_name,
    scan_text_tool_calls,
    strip_harmony,
)
from ollama_agent_ls.backend import ChatBackend
from ollama_agent_ls.ollama.client import num_ctx_for
from ollama_agent_ls.ollama.errors import TOOL_MODELS, OllamaError
from ollama_agent_ls.ollama.models import (
    ChatDone,
    ContentDelta,
    Message,
    ModelInfo,
    ThinkingDelta,
    ToolCall,
    ToolCallsReceived,
)
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools import shell
from ollama_agent_ls.tools.executor import ToolExecutor, ToolOutcome
from ollama_agent_ls.tools.schemas import CORE_TOOLS
from ollama_agent_ls.workspace.changes import FileChange, net_changes
from ollama_agent_ls.workspace.documents import DocumentError
from ollama_agent_ls.workspace.paths import PathRefused, resolve_path

log = logging.getLogger(__name__)

REPEAT_LIMIT = 3
"""The same call this many times in a row means the model is stuck."""

IDLE_AFTER_CHANGE_LIMIT = 4
"""Turns of only reading after the last change before a run ends as done (not exploring on)."""
STALE_TURN_WEIGHT = 2
"""A turn of only repeated reads counts double: it brings nothing new."""

_CUT_WARNING = (
    "The reply was cut at the output limit (num_predict / max_tokens); what was cut off is lost."
)
_CUT_NOTE = (
    "Your reply was cut off at the output limit. Make smaller edits (SEARCH/REPLACE blocks or "
    "edit_file instead of whole files) and keep the reply short."
)

_THINK_TAGS = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


@dataclass
class _ReadReply:
    """What one reply asks for: calls to run, edits from text blocks, what could not be read."""

    calls: list[ToolCall] = field(default_factory=list)
    edits: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    from_text: bool = False
    prose: str = ""


@dataclass
class _Reply:
    content: str = ""
    thinking: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    done: ChatDone | None = None


class Agent:
    """Runs one task at a time against a model, through a tool executor."""

    def __init__(
        self,
        client: ChatBackend,
        settings: Settings,
        executor: ToolExecutor,
        on_event: EventCallback | None = None,
        format_memory: FormatMemory | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.executor = executor
        self.on_event = on_event
        self._deltas: _DeltaBatch | None = None
        self._inner: asyncio.Task[RunResult] | None = None
        self._cancel_requested = False
        self.messages: list[Message] = []
        self._session: tuple[ContextBudget, list[dict[str, Any]]] | None = None
        """Budget (with its num_ctx) and tools sent of the conversation, kept for follow-ups."""
        self.metrics = RunMetrics()
        self.turns = 0
        self.format_memory = format_memory if format_memory is not None else FormatMemory()
        """What auto learned per model; a language server shares one across its runs."""
        self.edit_format: Format = "tools"
        self._can_switch = False
        self._task: AgentTask | None = None
        self._reads: dict[str, tuple[tuple[int, int], int, int]] = {}
        """read_file calls seen: (changes, commands) epoch, turn, index of the result message."""
        self._read_paths: list[str] = []
        """Files the model has seen: shown in the task or read with read_file."""
        self._project_files: list[str] = []
        self._commands_run = 0
        self._commands_asked: list[str] = []
        self._called: set[str] = set()
        """Names of the tools the model has called in this conversation."""
        executor.ctx.on_change = self._on_change
        executor.ctx.on_warning = lambda text: self._emit("warning", text)
        self._last_wire: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
        """The tools and messages of the previous request, to measure what it shares."""
        self._rules: ProjectRules | None = None
        """The conversation's rules (in its system prompt), read once when it starts."""
        self._nested: NestedRules | None = None

    def _emit(self, kind: str, text: str = "", **data: object) -> None:
        if self._deltas is not None:
            self._deltas.flush()  # deltas first: events keep the order they happened in
        if self.on_event is not None:
            self.on_event(AgentEvent(kind, text, data))  # type: ignore[arg-type]

    def _on_change(self, change: FileChange) -> None:
        diff = compact_diff([change])
        self._emit(
            "edit",
            f"{change.kind} {change.rel}",
            path=change.rel,
            change=change.kind,
            diff=diff.text,
            omittedLines=diff.omitted_lines,
        )

    def forget_conversation(self) -> None:
        """Drop the conversation (every file the model read) once nothing can follow up on it."""
        self.messages = []
        self._last_wire = None

    def cancel(self) -> None:
        """Stop the run: closes the HTTP stream and kills a running command."""
        self._cancel_requested = True
        if self._inner is not None and not self._inner.done():
            self._inner.cancel()

    async def run(self, task: AgentTask, *, follow_up: bool = False) -> RunResult:
        """Run ``task`` to its end; never raises for model, tool or Ollama failures.

        With ``follow_up``, the task's instruction continues the previous run's conversation (the
        model keeps what it read and did) instead of starting a new one.
        """
        continuing = follow_up and self._session is not None and bool(self.messages)
        if not continuing or self._rules is None:
            self._rules = self._load_rules()
        self._emit(
            "started",
            task.label or task.instruction[:80],
            model=self.settings.model,
            rules=list(self._rules.files),
        )
        for problem in self._rules.problems:
            self._emit("warning", problem)
        self._cancel_requested = False
        self._inner = asyncio.ensure_future(self._run(task, follow_up))
        try:
            result = await asyncio.shield(self._inner)
        except asyncio.CancelledError:
            if not self._inner.done():
                # The caller itself was cancelled: stop the work, then let the cancel propagate.
                self._inner.cancel()
                await asyncio.gather(self._inner, return_exceptions=True)
                raise
            if not self._cancel_requested:
                raise
            result = self._result(RunStatus.CANCELLED, "Cancelled.")
        except OllamaError as exc:
            self._emit("error", str(exc))
            result = self._result(RunStatus.FAILED, str(exc))
            result.setup_problem = exc.setup_problem
        except Exception as exc:  # a bug must end the run, not the server
            log.exception("agent run crashed")
            self._emit("error", f"Internal error: {exc!r}")
            result = self._result(RunStatus.FAILED, f"Internal error: {exc!r}")
        result = self._honest(result)
        self._emit(
            "finished",
            result.summary,
            status=result.status.value,
            changedFiles=result.changed_files,
            turns=result.turns,
            promptTokens=self.metrics.prompt_tokens,
            cachedPromptTokens=self.metrics.cached_prompt_tokens,
            prefillTokens=self.metrics.prefill_tokens,
            pureAppends=self.metrics.pure_appends,
            requests=self.metrics.requests,
        )
        return result

    def _load_rules(self) -> ProjectRules:
        """The workspace's AGENTS.md and the rules setting's files; nested ones start unseen."""
        ctx = self.executor.ctx
        limit = self.settings.rules_max_chars
        self._nested = NestedRules(ctx.root, ctx.documents, limit)
        try:
            return load_rules(ctx.root, ctx.documents, self.settings.rules, limit)
        except OSError as exc:  # an unreadable workspace must not stop the run
            return ProjectRules(problems=(f"rules were not read: {exc}",))

    def _add_nested_rules(self, calls: list[ToolCall]) -> None:
        """Append the AGENTS.md of folders the calls first touched below the root, as a message
        the budget keeps (never spliced into earlier ones: the cached prefix stays)."""
        if self._nested is None or self._session is None:
            return
        paths = [c.arguments["path"] for c in calls if isinstance(c.arguments.get("path"), str)]
        text, files = self._nested.for_paths(paths)
        if not text:
            return
        message = Message("user", text)
        self.messages.append(message)
        self._session[0].pin(message)
        self._emit("progress", "rules from " + ", ".join(files), rules=files)

    def _honest(self, result: RunResult) -> RunResult:
        """``completed`` only when every edit landed; and say when every command was denied."""
        not_applied = self.executor.ctx.not_applied
        missing = list(not_applied.values())
        result.not_applied = [
            {"path": rel, "reason": reason, "file": str(path)}
            for path, (rel, reason) in not_applied.items()
        ]
        if missing and result.status is RunStatus.COMPLETED:
            result.status = RunStatus.FAILED
            names = "; ".join(f"{rel} ({reason})" for rel, reason in missing)
            result.summary = f"{result.summary}\n\nThese edits did not land: {names}"
        asked, denied = self._commands_asked, self.executor.ctx.commands_not_run
        if denied and len(denied) == len(asked):
            shown = ", ".join(f"`{c}`" for c in list(dict.fromkeys(denied))[:5])
            result.summary = (
                f"{result.summary}\n\nEvery command it asked to run was not run (denied or "
                f"refused): {shown}."
            )
        return result

    def _result(self, status: RunStatus, summary: str) -> RunResult:
        return RunResult(
            status=status,
            summary=summary,
            changes=list(self.executor.ctx.changes),
            turns=self.turns,
            metrics=self.metrics,
        )

    async def _prepare(self) -> tuple[list[dict[str, Any]], ModelInfo, int]:
        # Tool providers (MCP servers) first: the session's tool schemas are taken once, below.
        for warning in await self.executor.prepare():
            self._emit("warning", warning)
        model = self.settings.model
        info = await self.client.show(model)
        if self.client.kind == "ollama":
            # From this run's settings, not the client's: a shared client may be older than them.
            num_ctx = num_ctx_for(self.settings, info)
        else:
            # numCtx does not apply: the server's own context window is what there is.
            num_ctx = await self.client.resolve_num_ctx(model)
        return self.executor.definitions(), info, num_ctx

    async def _start_session(self, task: AgentTask) -> None:
        tools, info, num_ctx = await self._prepare()
        self.metrics.num_ctx = num_ctx
        setting = self.settings.edit_format
        fmt, why = choose_edit_format(setting, info)
        remembered = self.format_memory.switched.get(self.settings.model)
        if setting == "auto" and remembered is not None:
            fmt, why = remembered, "the model's tool calls were unreadable earlier in this session"
        shown: dict[str, str] = {}
        if fmt != "tools":
            self._project_files = await self._file_list()
            shown = files_to_show(task, self._project_files, self._file_text)
            if setting == "auto":
                fmt = prefer_whole(fmt, shown)
        self.edit_format = fmt
        self._can_switch = setting == "auto" and fmt == "tools"
        no_tools = bool(info.capabilities) and not info.supports_tools
        if no_tools:
            self._emit(
                "warning",
                f"Model '{self.settings.model}' has no tools capability; "
                + (
                    "tools are described in the prompt instead, which works less reliably. "
                    if fmt == "tools"
                    else f"it writes {fmt} edits as text instead. "
                )
                + f"Models with tools: {', '.join(TOOL_MODELS)}.",
            )
        elif fmt != "tools":
            self._emit("progress", f"edit format {fmt} ({why})", editFormat=fmt)
        budget = ContextBudget(num_ctx, self._reply_reserve(num_ctx))
        system, sent_tools = _static_prefix(fmt, tools, no_tools, self._rules_text())
        budget.set_tools(sent_tools)
        if fmt == "tools":
            first = render_task(task)
        else:
            self._read_paths.extend(shown)
            first = render_text_task(task, fmt, shown=shown, files=self._project_files)
        self.messages = [Message("system", system), Message("user", first)]
        self._session = (budget, sent_tools)

    async def resume(self, messages: list[Message], edit_format: Format) -> None:
        """Continue a stored conversation: the next ``run(..., follow_up=True)`` extends
        ``messages`` as they are (the server's cached prefix still matches them)."""
        tools, info, num_ctx = await self._prepare()
        self.metrics.num_ctx = num_ctx
        self.edit_format = edit_format
        no_tools = bool(info.capabilities) and not info.supports_tools
        _, sent_tools = _static_prefix(edit_format, tools, no_tools)
        budget = ContextBudget(num_ctx, self._reply_reserve(num_ctx))
        budget.set_tools(sent_tools)
        self.messages = list(messages)
        self._rules = self._load_rules()
        system = next((m.content for m in messages if m.role == "system"), "")
        # The stored system prompt holds the rules the conversation started with.
        used = tuple(f for f in self._rules.files if f"## {f}\n" in system)
        self._rules = ProjectRules(files=used)
        for message in self.messages:
            if message.role == "user" and SWITCHED_MARK in message.content:
                budget.pin(message)
            if message.role == "user" and message.content.startswith(NESTED_HEAD):
                budget.pin(message)
                if self._nested is not None:
                    self._nested.shown.update(nested_files(message.content))
        self._session = (budget, sent_tools)
        self._can_switch = self.settings.edit_format == "auto" and edit_format == "tools"
        if edit_format != "tools":
            # What the text formats' guards know of: the project's files, and those the
            # conversation has already shown the model.
            self._project_files = await self._file_list()
            text = "\n".join(m.content for m in messages)
            self._read_paths.extend(f for f in self._project_files if f in text)

    async def warm(self) -> RunMetrics:
        """Send the static prefix (system prompt, tool schemas) for a one-token reply, so the
        server has it cached before the first run; the request's counts."""
        tools, info, num_ctx = await self._prepare()
        fmt, _ = choose_edit_format(self.settings.edit_format, info)
        remembered = self.format_memory.switched.get(self.settings.model)
        if self.settings.edit_format == "auto" and remembered is not None:
            fmt = remembered
        no_tools = bool(info.capabilities) and not info.supports_tools
        system, sent_tools = _static_prefix(fmt, tools, no_tools, self._rules_text())
        metrics = RunMetrics(num_ctx=num_ctx, requests=1, edit_format=fmt)
        async for event in self.client.chat_stream(
            model=self.settings.model,
            messages=[Message("system", system)],
            tools=sent_tools,
            num_ctx=num_ctx,
            max_tokens=1,
        ):
            if isinstance(event, ChatDone):
                m = event.metrics
                metrics.prompt_tokens = m.prompt_eval_count
                metrics.cached_prompt_tokens = m.cached_prompt_tokens or 0
                metrics.prefill_tokens = m.prefill_tokens
        return metrics

    def _rules_text(self) -> str:
        if self._rules is None:
            self._rules = self._load_rules()
        return self._rules.text

    def _file_text(self, rel: str | None) -> str | None:
        if rel is None:
            return None
        ctx = self.executor.ctx
        try:
            path, _ = resolve_path(ctx.root, rel)
            return ctx.documents.read(path).text.replace("\r\n", "\n")
        except (PathRefused, DocumentError):
            return None

    async def _file_list(self) -> list[str]:
        outcome = await self.executor.execute(ToolCall("list_files", {}))
        if not outcome.ok:
            return []
        return [line for line in outcome.content.split("\n") if line and not line.startswith("[")]

    async def _run(self, task: AgentTask, follow_up: bool) -> RunResult:
        instruction: Message | None = None
        if follow_up and self._session is not None and self.messages:
            instruction = Message("user", task.instruction)
            self.messages.append(instruction)
        else:
            await self._start_session(task)
        assert self._session is not None
        budget, sent_tools = self._session
        num_ctx = budget.num_ctx
        self._task = task
        recent: list[str] = []
        nudged = False
        idle_after_change = 0
        while self.turns < self.settings.max_turns:
            self.turns += 1
            self.metrics.edit_format = self.edit_format
            report = budget.fit(self.messages, instruction)
            if report.folded is not None:
                self._rebase_reads(*report.folded)
            if report.elided_messages:
                self._emit(
                    "warning",
                    f"Elided {report.elided_messages} old message(s) (~{report.removed_tokens} "
                    f"tokens) in one step to stay within "
                    f"num_ctx={num_ctx}.",
                )
            if report.over_budget:
                self._emit(
                    "warning",
                    f"The prompt (~{report.estimated_tokens} tokens) may not fit "
                    f"num_ctx={num_ctx}.",
                )
            self._emit("progress", f"turn {self.turns}", turn=self.turns)
            reply = await self._ask(sent_tools, num_ctx)
            cut = False
            if reply.done is not None:
                counts = reply.done.metrics
                # A request that only appended may be counted as its new part alone (some
                # Ollama versions report just the uncached tokens): that is no truncation.
                reused = bool(counts.cached_prompt_tokens) or bool(
                    self.metrics.per_request and self.metrics.per_request[-1]["pureAppend"]
                )
                warning = budget.observe(
                    self.messages, counts.prompt_eval_count, maybe_cached=reused
                )
                if warning:
                    self._emit("warning", warning)
                cut = reply.done.metrics.done_reason == "length"
            visible = strip_harmony(_THINK_TAGS.sub("", reply.content))
            read = self._read_reply(reply, visible)
            # Edits from blocks exist only in the text formats, so this is also "edits were read".
            text_turn = self.edit_format != "tools"
            attempted = bool(read.calls or read.edits or read.errors)
            if attempted:
                self.metrics.call_replies += 1
            if read.errors or (read.from_text and self.edit_format == "tools"):
                self.metrics.format_errors += 1
            self.messages.append(
                Message(
                    "assistant",
                    reply.content,
                    reply.thinking,
                    tool_calls=[] if text_turn else list(read.calls),
                )
            )
            if cut:
                self._emit("warning", _CUT_WARNING)
            if not attempted:
                if cut:
                    self.messages.append(Message("user", _CUT_NOTE))
                    continue
                if nudged and not self.executor.ctx.changes:
                    message = (
                        "No change made: asked again for the edit, the model still changed no "
                        "file. Try a larger model or another editFormat."
                    )
                    self._emit("error", message)
                    return self._result(RunStatus.FAILED, message)
                if "```" in visible and not self.executor.ctx.changes and self._can_switch:
                    # Code instead of a call: the model does not use native calls. The switch's
                    # note is the nudge.
                    nudged = True
                    self.metrics.format_errors += 1
                    await self._switch_to_text(sent_tools, MISSING_CALLS)
                    continue
                if "```" in visible and not self.executor.ctx.changes:
                    nudged = True
                    self._emit("warning", "The reply had code but changed nothing; asked again.")
                    self.messages.append(Message("user", self._nudge()))
                    continue
                return self._result(RunStatus.COMPLETED, visible.strip() or "Done.")
            changes_before = len(self.executor.ctx.changes)
            results: list[tuple[ToolCall, ToolOutcome]] = []
            fresh = False
            for call in [*read.edits, *read.calls]:
                signature = call.name + json.dumps(call.arguments, sort_keys=True)
                recent = [*recent[-(REPEAT_LIMIT - 1) :], signature]
                if len(recent) == REPEAT_LIMIT and len(set(recent)) == 1:
                    if self.executor.ctx.changes:
                        return self._done_after_change("kept repeating the same call")
                    message = (
                        f"Stopped: the model made the same call {REPEAT_LIMIT} times in a row "
                        f"({tool_call_summary(call.name, call.arguments)}). Try rephrasing the "
                        "task or a larger model."
                    )
                    self._emit("error", message)
                    return self._result(RunStatus.FAILED, message)
                outcome, new_info = await self._call_tool(call, as_tool_message=not text_turn)
                fresh = fresh or new_info
                results.append((call, outcome))
            self._add_nested_rules([c for c, _ in results])
            feedback = self._feedback(results, read.errors, text_turn, cut)
            if feedback:
                self.messages.append(Message("user", feedback))
            if self._can_switch and (read.from_text or read.errors):
                await self._switch_to_text(sent_tools, UNREADABLE_CALLS)
            edits_ok = all(o.ok for c, o in results if c in read.edits)
            if text_turn and read.edits and edits_ok and not read.calls and not read.errors:
                pending = [n for n in self.executor.names if n not in CORE_TOOLS]
                pending = [n for n in pending if n not in self._called]
                if not pending:
                    return self._result(RunStatus.COMPLETED, self._edit_summary(read.prose))
                # A run with its own tools (a spec's check_criterion) is not done at the edit.
                self.messages.append(Message("user", _edits_applied_note(pending)))
            if len(self.executor.ctx.changes) > changes_before:
                idle_after_change = 0
            elif self.executor.ctx.changes and all(c.name in READ_ONLY_TOOLS for c, _ in results):
                idle_after_change += 1 if fresh else STALE_TURN_WEIGHT
                if idle_after_change >= IDLE_AFTER_CHANGE_LIMIT:
                    return self._done_after_change("kept reading after its edit")
        summary = (
            f"Stopped after {self.settings.max_turns} turns without a final answer "
            "(maxTurns). Raise maxTurns or split the task."
        )
        self._emit("warning", summary)
        return self._result(RunStatus.MAX_TURNS, summary)

    def _read_reply(self, reply: _Reply, visible: str) -> _ReadReply:
        names = self.executor.names
        read = _ReadReply()
        if reply.calls:
            for i, call in enumerate(reply.calls):
                call.name = clean_tool_name(call.name)
                call.id = call.id or f"call_{self.turns}_{i}"
            read.calls = list(reply.calls)
            return read
        if not visible.strip():
            return read
        if self.edit_format != "tools":
            task = self._task or AgentTask("")
            found = read_edits(
                visible,
                self.edit_format,
                task,
                self._known_paths(),
                self.turns,
                self._file_text,
                self._project_files,
            )
            read.edits, read.errors, read.prose = found.calls, list(found.errors), found.prose
        # Edit tools stay callable in the text formats: a readable edit_file call is an edit.
        scan = scan_text_tool_calls(visible, names)
        for i, call in enumerate(scan.calls):
            call.id = call.id or f"call_{self.turns}_{i}"
        read.calls = scan.calls
        read.errors.extend(scan.malformed)
        read.from_text = bool(scan.calls)
        if scan.calls and self.edit_format == "tools":
            self._emit("warning", "Read tool call(s) from the reply text (fallback).")
        return read

    def _known_paths(self) -> list[str]:
        paths = [c.rel for c in self.executor.ctx.changes]
        task = self._task
        if task is not None:
            if task.selection is not None:
                paths.append(task.selection.rel)
            if task.file:
                paths.append(task.file)
        paths.extend(self._read_paths)
        return list(dict.fromkeys(paths))

    def _nudge(self) -> str:
        if self.edit_format == "tools":
            return (
                "No file was changed. If the task needs a change, make it now with edit_file "
                "(or write_file); if nothing needs changing, say so in one line."
            )
        return (
            "No file was changed. If the task needs a change, write it now as described: "
            + format_rules(self.edit_format)
        )

    def _feedback(
        self,
        results: list[tuple[ToolCall, ToolOutcome]],
        errors: list[str],
        text_turn: bool,
        cut: bool,
    ) -> str:
        parts: list[str] = []
        if text_turn:
            for call, outcome in results:
                summary = tool_call_summary(call.name, call.arguments)
                content = outcome.content
                if call.name == "read_file" and outcome.ok:
                    content = fenced(
                        str(call.arguments.get("path", "")), strip_line_numbers(content)
                    )
                parts.append(f"{summary}:\n{content}")
        parts.extend(errors)
        if cut:
            parts.append(_CUT_NOTE)
        if (text_turn and any(not o.ok for _, o in results)) or errors:
            parts.append("Fix what failed and reply again.")
        return "\n\n".join(parts)

    async def _switch_to_text(self, tools: list[dict[str, Any]], why: str) -> None:
        fmt: Format = "search-replace"
        self._project_files = await self._file_list()
        self.edit_format = fmt
        self._can_switch = False
        self.format_memory.switched[self.settings.model] = fmt
        note = switch_note(fmt, tools or self.executor.definitions(), why)
        switched = Message("user", note)
        self.messages.append(switched)
        if self._session is not None:
            # The format's rules live in this message alone: a compaction must keep it.
            self._session[0].pin(switched)
        self._emit(
            "warning",
            "The model's tool calls came as text or not at all, so edits are now asked for as "
            "SEARCH/REPLACE blocks (editFormat auto; set editFormat to choose).",
        )

    def _edit_summary(self, prose: str) -> str:
        text = prose.strip()
        if text and "```" not in text and len(text) <= 400:
            return text
        return "Edited " + ", ".join(self.executor.ctx.changed_paths) + "."

    def _done_after_change(self, why: str) -> RunResult:
        files = ", ".join(self.executor.ctx.changed_paths)
        summary = f"Changed {files}; stopped because the model {why} after the change."
        self._emit("warning", summary)
        return self._result(RunStatus.COMPLETED, summary)

    def _record_prefix(self, tools: list[dict[str, Any]]) -> None:
        """Note how much of this request is an unchanged prefix of the previous one."""
        wire = [m.to_wire() for m in self.messages]
        previous = self._last_wire
        if previous is None:
            share, append = 0.0, False
        else:
            prev_tools, prev_messages = previous
            same_tools = prev_tools == tools
            share = prefix_share(prev_messages, wire) if same_tools else 0.0
            reply = wire[len(prev_messages)] if len(wire) > len(prev_messages) else {}
            append = same_tools and is_pure_append(prev_messages, reply, wire)
        self._last_wire = (tools, wire)
        self.metrics.per_request.append(
            {"turn": self.turns, "prefixShare": round(share, 4), "pureAppend": append}
        )

    def _reply_reserve(self, num_ctx: int) -> int | None:
        predict = self.settings.options.get("num_predict")
        if isinstance(predict, int) and predict > 0:
            return min(predict, num_ctx // 2)
        return None

    async def _ask(self, tools: list[dict[str, Any]], num_ctx: int) -> _Reply:
        reply = _Reply()
        # Pieces are joined once at the end: growing a string attribute per chunk copies it
        # every time, which made long replies quadratic.
        content: list[str] = []
        thinking: list[str] = []
        pieces_of = {ContentDelta: ("content", content), ThinkingDelta: ("thinking", thinking)}
        turn = self.turns
        on_event = self.on_event
        deltas = self._deltas = _DeltaBatch(on_event, turn) if on_event is not None else None
        self.metrics.requests += 1
        self._record_prefix(tools)
        try:
            async for event in self.client.chat_stream(
                model=self.settings.model, messages=self.messages, tools=tools, num_ctx=num_ctx
            ):
                # Once per token: kept to a few list appends (see _DeltaBatch).
                delta = pieces_of.get(type(event))
                if delta is None:
                    self._on_reply_event(event, reply, turn)
                    continue
                kind, pieces = delta
                text: str = event.text  # type: ignore[union-attr]
                pieces.append(text)
                if deltas is not None:
                    if deltas.kind != kind:
                        deltas.start(kind)
                    deltas.parts.append(text)
        finally:
            if deltas is not None:
                deltas.flush()
            self._deltas = None
        reply.content = "".join(content)
        reply.thinking = "".join(thinking)
        return reply

    def _on_reply_event(self, event: object, reply: _Reply, turn: int) -> None:
        if isinstance(event, ToolCallsReceived):
            reply.calls.extend(event.calls)
        elif isinstance(event, ChatDone):
            reply.done = event
            m = event.metrics
            self.metrics.prompt_tokens += m.prompt_eval_count
            self.metrics.eval_tokens += m.eval_count
            self.metrics.eval_seconds += m.eval_duration / 1e9
            self.metrics.cached_prompt_tokens += m.cached_prompt_tokens or 0
            self.metrics.prefill_tokens += m.prefill_tokens
            if self.metrics.per_request:
                self.metrics.per_request[-1].update(
                    promptTokens=m.prompt_eval_count,
                    cachedPromptTokens=m.cached_prompt_tokens,
                    prefillTokens=m.prefill_tokens,
                )
            self._emit(
                "progress",
                f"turn {turn}",
                turn=turn,
                tokensPerSecond=round(m.tokens_per_second, 1),
            )

    async def _call_tool(
        self, call: ToolCall, *, as_tool_message: bool
    ) -> tuple[ToolOutcome, bool]:
        """Run one call and report it; True when it brought something new (not a repeated read)."""
        summary = tool_call_summary(call.name, call.arguments)
        call_id = call.id or f"call_{uuid.uuid4().hex[:8]}"
        self._emit(
            "toolCall",
            summary,
            name=call.name,
            arguments=call.arguments,
            callId=call_id,
            turn=self.turns,
        )
        self._emit("progress", f"turn {self.turns}: {call.name}", turn=self.turns, tool=call.name)
        ctx = self.executor.ctx
        epoch = (len(ctx.changes), self._commands_run)
        read_key = json.dumps([call.name, call.arguments], sort_keys=True)
        earlier = self._reads.get(read_key) if call.name == "read_file" else None
        fresh = True
        result_data: dict[str, object] = {}
        if earlier is not None and earlier[0] == epoch and self._still_shown(earlier[2]):
            fresh = False
            outcome = ToolOutcome(
                call.name,
                call.arguments,
                f"You already read this in turn {earlier[1]} and it has not changed since: use "
                "that result. If the task is done, reply with a short summary and no tool call.",
                ok=True,
            )
        else:
            changed_from = len(ctx.changes)

            def running(command: str, elapsed_ms: int, tail: str) -> None:
                self._emit(
                    "commandRunning",
                    command,
                    callId=call_id,
                    command=command,
                    elapsedMs=elapsed_ms,
                    outputTail=tail,
                )

            with shell.watching(shell.CommandWatch(on_running=running)) as watch:
                outcome = await self.executor.execute(call)
            result_data.update(_result_fields(call.name, ctx.changes[changed_from:], watch))
            # Capped as it arrives, never later: a result changed afterwards would change the
            # prompt prefix the server has cached.
            capped = cap_tool_result(outcome.content, self._result_cap())
            if capped is not outcome.content:
                outcome = dataclasses.replace(outcome, content=capped)
            if call.name == "run_command":
                self._commands_run += 1
                command = str(call.arguments.get("command", ""))
                self._commands_asked.append(command)
            elif call.name == "read_file" and outcome.ok:
                self._reads[read_key] = (epoch, self.turns, len(self.messages))
                self._read_paths.append(str(call.arguments.get("path", "")))
        self._emit(
            "toolResult",
            _preview(outcome.content),
            name=call.name,
            ok=outcome.ok,
            callId=call_id,
            **result_data,
        )
        if as_tool_message:
            self.messages.append(
                Message("tool", outcome.content, tool_name=call.name, tool_call_id=call.id)
            )
        return outcome, fresh

    def _result_cap(self) -> int:
        """Most characters one tool result keeps: the setting, or less when the room after the
        fixed prefix is small (``ContextBudget.result_cap``)."""
        cap = self.settings.tool_result_max_chars
        if self._session is not None:
            cap = min(cap, self._session[0].result_cap(self.messages))
        return cap

    def _rebase_reads(self, start: int, end: int, new_end: int) -> None:
        """Messages [start, end) became a note and the pinned ones, [start, new_end): the reads
        they held are gone, later ones moved."""
        for key, (epoch, turn, index) in list(self._reads.items()):
            if start <= index < end:
                del self._reads[key]
            elif index >= end:
                self._reads[key] = (epoch, turn, index - (end - new_end))

    def _still_shown(self, index: int) -> bool:
        """True when the message holding an earlier result was not elided to fit the context."""
        if index >= len(self.messages):
            return True
        budget = self._session[0] if self._session is not None else None
        return budget is None or not budget.is_compacted(self.messages[index])


def _static_prefix(
    fmt: Format, tools: list[dict[str, Any]], no_tools: bool, rules: str = ""
) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt (with the project's rules) and the tool schemas every request of a
    session starts with."""
    if fmt == "tools":
        return system_prompt(tools if no_tools else None) + rules, (tools if not no_tools else [])
    return text_system_prompt(fmt, tools) + rules, []


def _edits_applied_note(pending: list[str]) -> str:
    return (
        "Your edits were applied. If the task asks for it, now call "
        + ", ".join(pending)
        + " (as <tool_call> JSON); otherwise reply with a one-line summary."
    )


class _DeltaBatch:
    """Streamed text waiting to be reported, sent as one event when the loop next gets control.

    Ollama's lines often arrive many to a network read and are all handled before the run's
    task waits again; one event per read instead of per token keeps the server's cost per token
    to a list append, and delays nothing: the text goes out as soon as the task would wait.
    """

    __slots__ = ("_send", "_turn", "kind", "parts")

    def __init__(self, send: EventCallback, turn: int) -> None:
        self.kind = ""
        """The kind being collected; empty when nothing is (the next delta schedules a send)."""
        self.parts: list[str] = []
        self._turn = turn
        self._send = send

    def start(self, kind: str) -> None:
        """Collect ``kind`` from now on, sending what was collected of another kind first."""
        if self.kind:
            self.flush()
        else:
            asyncio.get_running_loop().call_soon(self.flush)
        self.kind = kind

    def flush(self) -> None:
        """Send what was collected (one event) and stop collecting."""
        if self.parts:
            text = "".join(self.parts)
            self.parts = []
            self._send(AgentEvent(self.kind, text, {"turn": self._turn}))  # type: ignore[arg-type]
        self.kind = ""


def _result_fields(
    name: str, changes: list[FileChange], watch: shell.CommandWatch
) -> dict[str, object]:
    """What a toolResult adds for people: the call's diff, and how its command went."""
    fields: dict[str, object] = {}
    changed = net_changes(changes)
    if changed:
        diff = compact_diff(changed)
        fields.update(diff=diff.text, omittedLines=diff.omitted_lines)
    if name == "run_command" and watch.results:
        command = watch.results[-1]
        fields.update(
            exitCode=command.exit_code,
            durationMs=command.duration_ms,
            outputTail=command.output_tail,
            timedOut=command.timed_out,
        )
    return fields


def _preview(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"

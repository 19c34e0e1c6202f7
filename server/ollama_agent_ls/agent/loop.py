"""The agent loop: ask the model, run its tool calls, feed the results back, until it answers."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from ollama_agent_ls.agent.context_budget import ContextBudget
from ollama_agent_ls.agent.events import AgentEvent, EventCallback
from ollama_agent_ls.agent.prompts import AgentTask, render_task, system_prompt, tool_call_summary
from ollama_agent_ls.agent.result import RunMetrics, RunResult, RunStatus
from ollama_agent_ls.agent.text_tool_calls import extract_text_tool_calls
from ollama_agent_ls.ollama.client import OllamaClient, num_ctx_for
from ollama_agent_ls.ollama.errors import TOOL_MODELS, OllamaError
from ollama_agent_ls.ollama.models import (
    ChatDone,
    ContentDelta,
    Message,
    ThinkingDelta,
    ToolCall,
    ToolCallsReceived,
)
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools.executor import ToolExecutor
from ollama_agent_ls.workspace.changes import FileChange

log = logging.getLogger(__name__)

REPEAT_LIMIT = 3
"""The same call this many times in a row means the model is stuck."""

_THINK_TAGS = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


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
        client: OllamaClient,
        settings: Settings,
        executor: ToolExecutor,
        on_event: EventCallback | None = None,
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
        executor.ctx.on_change = self._on_change

    def _emit(self, kind: str, text: str = "", **data: object) -> None:
        if self._deltas is not None:
            self._deltas.flush()  # deltas first: events keep the order they happened in
        if self.on_event is not None:
            self.on_event(AgentEvent(kind, text, data))  # type: ignore[arg-type]

    def _on_change(self, change: FileChange) -> None:
        self._emit("edit", f"{change.kind} {change.rel}", path=change.rel, change=change.kind)

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
        self._emit("started", task.label or task.instruction[:80], model=self.settings.model)
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
        self._emit(
            "finished",
            result.summary,
            status=result.status.value,
            changedFiles=result.changed_files,
            turns=result.turns,
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

    async def _prepare(self) -> tuple[list[dict[str, Any]], bool, int]:
        model = self.settings.model
        info = await self.client.show(model)
        # From this run's settings, not the client's: a shared client may be older than them.
        num_ctx = num_ctx_for(self.settings, info)
        tools = self.executor.definitions()
        # Models whose template cannot render tools get 400 from Ollama: teach them the text
        # format instead, which our fallback parser reads.
        text_mode = bool(info.capabilities) and not info.supports_tools
        if text_mode:
            self._emit(
                "warning",
                f"Model '{model}' has no tools capability; tools are described in the prompt "
                f"instead, which works less reliably. Models with tools: {', '.join(TOOL_MODELS)}.",
            )
        return tools, text_mode, num_ctx

    async def _run(self, task: AgentTask, follow_up: bool) -> RunResult:
        if follow_up and self._session is not None and self.messages:
            budget, sent_tools = self._session
            self.messages.append(Message("user", task.instruction))
        else:
            tools, text_mode, num_ctx = await self._prepare()
            self.metrics.num_ctx = num_ctx
            budget = ContextBudget(num_ctx, self._reply_reserve(num_ctx))
            sent_tools = [] if text_mode else tools
            budget.set_tools(sent_tools)
            self.messages = [
                Message("system", system_prompt(tools if text_mode else None)),
                Message("user", render_task(task)),
            ]
            self._session = (budget, sent_tools)
        num_ctx = budget.num_ctx
        recent: list[str] = []
        while self.turns < self.settings.max_turns:
            self.turns += 1
            report = budget.fit(self.messages)
            if report.elided_messages:
                self._emit(
                    "warning",
                    f"Elided {report.elided_messages} old tool result(s) to stay within "
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
            if reply.done is not None:
                warning = budget.observe(self.messages, reply.done.metrics.prompt_eval_count)
                if warning:
                    self._emit("warning", warning)
            visible = _THINK_TAGS.sub("", reply.content)
            calls = reply.calls
            if not calls and visible.strip():
                calls = extract_text_tool_calls(visible, self.executor.names)
                if calls:
                    self._emit("warning", "Read tool call(s) from the reply text (fallback).")
            self.messages.append(
                Message("assistant", reply.content, reply.thinking, tool_calls=list(calls))
            )
            if not calls:
                return self._result(RunStatus.COMPLETED, visible.strip() or "Done.")
            for call in calls:
                signature = call.name + json.dumps(call.arguments, sort_keys=True)
                recent = [*recent[-(REPEAT_LIMIT - 1) :], signature]
                if len(recent) == REPEAT_LIMIT and len(set(recent)) == 1:
                    message = (
                        f"Stopped: the model made the same call {REPEAT_LIMIT} times in a row "
                        f"({tool_call_summary(call.name, call.arguments)}). Try rephrasing the "
                        "task or a larger model."
                    )
                    self._emit("error", message)
                    return self._result(RunStatus.FAILED, message)
                await self._call_tool(call)
        summary = (
            f"Stopped after {self.settings.max_turns} turns without a final answer "
            "(maxTurns). Raise maxTurns or split the task."
        )
        self._emit("warning", summary)
        return self._result(RunStatus.MAX_TURNS, summary)

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
            self._emit(
                "progress",
                f"turn {turn}",
                turn=turn,
                tokensPerSecond=round(m.tokens_per_second, 1),
            )

    async def _call_tool(self, call: ToolCall) -> None:
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
        outcome = await self.executor.execute(call)
        self._emit(
            "toolResult", _preview(outcome.content), name=call.name, ok=outcome.ok, callId=call_id
        )
        self.messages.append(
            Message("tool", outcome.content, tool_name=call.name, tool_call_id=call.id)
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


def _preview(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"

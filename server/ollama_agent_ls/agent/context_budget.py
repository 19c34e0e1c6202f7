"""Keeps the prompt inside num_ctx without spoiling the server's prompt cache.

Ollama drops the FRONT of an overflowing prompt (system prompt and tool schemas first) without an
error, so we estimate before every request and compact the conversation ourselves. llama.cpp,
Ollama and vLLM reuse their KV cache only for the longest unchanged prefix of the previous
request, and on a CPU the prompt evaluation is the cost, so the conversation is append-only: while
it fits, nothing changes; when it does not, it is compacted in one large step down to about
``COMPACT_TARGET`` of the budget, and what was compacted never changes again (but for a result
cut as a last resort, which a later compaction may remove). The many turns after a compaction are
pure appends again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ollama_agent_ls.ollama.models import Message, ToolCall

# Code and JSON tokenise at roughly 3-4 characters per token; budgeting with 3 errs on the side
# of compacting a little early rather than overflowing.
BUDGET_CHARS_PER_TOKEN = 3.0
MESSAGE_OVERHEAD_TOKENS = 6

COMPACT_TARGET = 0.5
"""A compaction goes down to this share of the limit: the room it frees is what makes the
following turns pure appends (a compaction re-evaluates everything after its first change)."""

ELIDED_NOTE = "[Output elided to fit the context window; call the tool again if you still need it.]"
"""The note of a removed result when the tool is unknown."""

CAP_NOTE_MAX_CHARS = 260
"""No note ``cap_tool_result`` (or a last-resort cut) inserts is longer than this."""

SHORTENED_KEEP_CHARS = 120
"""What an old assistant or user message keeps of its head when it is shortened: enough to
remember what it was about; the rest of a long run must fit too."""

CUT_KEEP_CHARS = 400
"""A last-resort cut keeps at least this much of a result, or it would tell nothing."""

_CHANGING_TOOLS = frozenset({"write_file", "edit_file", "apply_patch", "delete_file"})
"""Calls whose result must not be fetched again by repeating them: that would repeat the change."""

_READ_LESS = (
    "Read a smaller range instead: read_file with start_line and end_line, "
    "or search or list_files with a narrower glob."
)


@dataclass(frozen=True)
class BudgetReport:
    """What fitting the prompt did."""

    estimated_tokens: int
    elided_messages: int
    """Messages this fit changed (removed results, shortened messages, cut results)."""
    over_budget: bool
    compacted: bool = False
    """True when this fit changed anything; the server's cached prefix ends at the first change
    (``changed[0]``), unless that is a message it has not seen yet."""
    removed_tokens: int = 0
    """Estimated prompt tokens this fit removed."""
    changed: tuple[int, ...] = ()
    """Positions of the messages this fit changed, oldest first."""
    folded: tuple[int, int] | None = None
    """``(start, end)``: messages ``[start, end)`` were folded into one note at ``start``, so
    later positions moved down by ``end - start - 1``."""


def cap_tool_result(text: str, max_chars: int) -> str:
    """``text`` capped to ``max_chars`` on arrival: head, a note on what is left out, tail."""
    if len(text) <= max_chars:
        return text
    return _cut(text, max(0, max_chars), "left out here: the result is too long to show whole")


class ContextBudget:
    """Estimates prompt size for one model run and fits messages into ``num_ctx``."""

    def __init__(self, num_ctx: int, reserve_for_reply: int | None = None) -> None:
        self.num_ctx = num_ctx
        self.reserve = reserve_for_reply or max(512, min(4096, num_ctx // 4))
        self.chars_per_token = BUDGET_CHARS_PER_TOKEN
        self._tools_chars = 0
        # By identity, holding the message so its id is never reused: a compacted message is
        # never changed again, and its content alone cannot tell (a result may quote a note).
        self._compacted: dict[int, Message] = {}
        # Results cut as a last resort: they keep all that fitted, so once they are old they may
        # be removed (once, then final) or they would crowd out every newer result.
        self._cut: dict[int, Message] = {}
        # What folded exchanges did, oldest first: the one note that replaces them lists it.
        self._folded: list[str] = []

    @property
    def limit(self) -> int:
        """Prompt tokens allowed before compacting."""
        return max(256, self.num_ctx - self.reserve)

    def set_tools(self, tools: Sequence[dict[str, Any]]) -> None:
        """Count the tool schemas, which Ollama renders into every prompt."""
        self._tools_chars = len(json.dumps(list(tools), separators=(",", ":"))) if tools else 0

    def estimate(self, messages: Sequence[Message]) -> int:
        """Estimated prompt tokens for ``messages`` plus the tool schemas."""
        return self._tokens(self._prompt_chars(messages), len(messages))

    def is_compacted(self, message: Message) -> bool:
        """True when a fit removed, shortened or cut ``message`` (its content is not all there)."""
        return self._is_final(message) or self._cut.get(id(message)) is message

    def _is_final(self, message: Message) -> bool:
        return self._compacted.get(id(message)) is message

    def _tokens(self, chars: int, count: int) -> int:
        return int(chars / self.chars_per_token) + MESSAGE_OVERHEAD_TOKENS * count

    def _prompt_chars(self, messages: Sequence[Message]) -> int:
        return self._tools_chars + sum(_message_chars(m) for m in messages)

    def fit(self, messages: list[Message], keep_last: int = 2) -> BudgetReport:
        """Leave ``messages`` as they are while they fit; else compact them once, in one step.

        Compaction removes old tool results (oldest first, each replaced by a note naming the
        call), then shortens old assistant and user messages (oldest first), down to
        ``COMPACT_TARGET`` of the limit. The system message, the first user message (the task),
        the last ``keep_last`` exchanges and anything compacted before stay as they are. Only
        when all that still does not fit are the newest results cut, newest first; such a cut
        result is the one thing a later compaction may change again (remove, once).
        """
        chars = self._prompt_chars(messages)
        count = len(messages)
        estimate = self._tokens(chars, count)
        if estimate <= self.limit:
            return BudgetReport(estimate, 0, False)
        start_chars = chars
        target = int(self.limit * COMPACT_TARGET)
        task = _task_index(messages)
        keep = _protected(messages, task, keep_last)
        changed: list[int] = []
        for shrink in (self._remove_result, self._shorten):
            for i, message in enumerate(messages):
                if self._tokens(chars, count) <= target:
                    break
                if i in keep or self._is_final(message):
                    continue
                saved = shrink(messages, i)
                if saved > 0:
                    chars -= saved
                    changed.append(i)
                    self._cut.pop(id(message), None)
                    self._compacted[id(message)] = message
        folded: tuple[int, int] | None = None
        if self._tokens(chars, count) > target:
            # Notes and shortened messages of earlier compactions pile up; folding them (and
            # whatever else is old) into one note frees room for many more appended turns.
            span = self._fold(messages, task, keep)
            if span is not None:
                start, end, saved = span
                chars -= saved
                count -= end - start - 1
                folded = (start, end)
                changed = [i for i in changed if i < start] + [start]
                keep = {
                    i if i < start else i - (end - start - 1) for i in keep if not start <= i < end
                }
        # Last resorts, aiming only at the limit. First the results cut before: the model has
        # seen them, while it has not seen the newest ones.
        for i in sorted(keep):
            if self._tokens(chars, count) <= self.limit:
                break
            message = messages[i]
            if self._cut.get(id(message)) is message:
                saved = self._remove_result(messages, i) or self._shorten(messages, i)
                if saved > 0:
                    chars -= saved
                    changed.append(i)
                    del self._cut[id(message)]
                    self._compacted[id(message)] = message
        # Then the newest results: the model has not seen them yet, so cutting them costs the
        # prompt cache nothing. The newest exchange first, its largest result first.
        newest_first = sorted(
            keep, key=lambda i: (_exchange_of(messages, i), len(messages[i].content)), reverse=True
        )
        for i in newest_first:
            if self._tokens(chars, count) <= self.limit:
                break
            message = messages[i]
            if message.role not in ("tool", "user") or i == task or self.is_compacted(message):
                continue
            allowed = int((self.limit - MESSAGE_OVERHEAD_TOKENS * count) * self.chars_per_token)
            excess = chars - allowed + CAP_NOTE_MAX_CHARS + 8  # +8: rounding of the estimate
            size = len(message.content)
            content = _cut(
                message.content,
                max(CUT_KEEP_CHARS, size - excess),
                "cut here to fit the context window",
            )
            if len(content) >= size:
                continue
            message.content = content
            chars -= size - len(content)
            changed.append(i)
            self._cut[id(message)] = message
        estimate = self._tokens(chars, count)
        return BudgetReport(
            estimate,
            len(changed),
            estimate > self.limit,
            compacted=bool(changed),
            removed_tokens=int((start_chars - chars) / self.chars_per_token),
            changed=tuple(sorted(set(changed))),
            folded=folded,
        )

    def _fold(
        self, messages: list[Message], task: int | None, keep: set[int]
    ) -> tuple[int, int, int] | None:
        """Replace the old messages between the task and the kept tail with one note that
        lists what they did; ``(start, end, characters saved)``, None when there is nothing."""
        start = (task if task is not None else 0) + 1
        tail = min([i for i in keep if i >= start] or [len(messages)])
        if tail - start < 2:
            return None
        block = messages[start:tail]
        for message in block:
            if message.role == "assistant":
                self._folded.extend(_call_summary(call) for call in message.tool_calls)
            elif message.role == "user" and not _is_fold_note(message):
                self._folded.append("user: " + " ".join(message.content.split())[:100])
        note = Message("user", _fold_note(self._folded))
        saved = sum(_message_chars(m) for m in block) - _message_chars(note)
        if saved <= 0:
            return None
        for message in block:
            self._compacted.pop(id(message), None)
            self._cut.pop(id(message), None)
        messages[start:tail] = [note]
        self._compacted[id(note)] = note
        return start, tail, saved

    def _remove_result(self, messages: list[Message], i: int) -> int:
        """Replace tool result ``i`` with a note naming its call; the characters saved."""
        message = messages[i]
        if message.role != "tool":
            return 0
        note = _removed_note(message, _call_of(messages, i))
        saved = len(message.content) - len(note)
        if saved <= 0:
            return 0
        message.content = note
        return saved

    def _shorten(self, messages: list[Message], i: int) -> int:
        """Shorten old assistant or user message ``i`` to its head; the characters saved."""
        message = messages[i]
        if message.role not in ("assistant", "user"):
            return 0
        before = _message_chars(message)
        content = message.content
        if len(content) > SHORTENED_KEEP_CHARS + 80:
            left_out = len(content) - SHORTENED_KEEP_CHARS
            content = (
                content[:SHORTENED_KEEP_CHARS]
                + f"\n[... {left_out} characters of this old message elided to fit the context "
                "window]"
            )
        calls = [_shorten_call(call) for call in message.tool_calls]
        after = len(content) + sum(_call_chars(c) for c in calls)
        if after >= before:
            return 0
        # Old reasoning is the first thing to go: the templates of most models drop it anyway.
        message.content, message.thinking, message.tool_calls = content, "", calls
        return before - after

    def observe(
        self, messages: Sequence[Message], prompt_eval_count: int, *, maybe_cached: bool = False
    ) -> str | None:
        """Compare Ollama's prompt token count with ours; a warning when the prompt was cut.

        With ``maybe_cached`` (the request reused a cached prefix), a low count is not a cut:
        some Ollama versions count only the tokens they evaluated.
        """
        if prompt_eval_count <= 0:
            # Older Ollama omits the count when the prompt was cached: nothing to learn.
            return None
        chars = self._prompt_chars(messages)
        # A generous lower bound of the real size (6 chars per token) so only clear cuts warn.
        lower_bound = chars / 6.0
        too_few = prompt_eval_count < lower_bound * 0.8 and not maybe_cached
        cut = too_few or prompt_eval_count >= self.num_ctx - 8
        if not cut and not maybe_cached and prompt_eval_count >= 64:
            ratio = chars / prompt_eval_count
            if 1.5 <= ratio <= 6.0:
                # Learn this model's tokenizer, but never budget looser than 3.5 chars/token.
                self.chars_per_token = min(ratio, 3.5)
        if not cut:
            return None
        return (
            f"Ollama evaluated only {prompt_eval_count} prompt tokens of about "
            f"{int(chars / self.chars_per_token)}: the prompt was probably cut to fit "
            f"num_ctx={self.num_ctx}, which drops the instructions and tool definitions first. "
            "Raise numCtx (or maxNumCtx) if the model and memory allow it."
        )


FOLD_NOTE_HEAD = "[Earlier steps of this run, folded to fit the context window"
FOLD_NOTE_MAX_ENTRIES = 40


def _is_fold_note(message: Message) -> bool:
    return message.role == "user" and message.content.startswith(FOLD_NOTE_HEAD)


def _call_summary(call: ToolCall) -> str:
    done = " (done: do not repeat)" if call.name in _CHANGING_TOOLS else ""
    return f"{call.name} {_arguments_summary(call.arguments, 60)}".rstrip() + done


def _fold_note(entries: list[str]) -> str:
    shown = entries[-FOLD_NOTE_MAX_ENTRIES:]
    more = len(entries) - len(shown)
    lines = "\n".join(f"- {entry}" for entry in shown)
    earlier = f" ({more} earlier ones not listed)" if more else ""
    return (
        f"{FOLD_NOTE_HEAD}: their outputs are gone{earlier}. Call a read tool again if you "
        f"still need something.]\n{lines}"
    )


def _protected(messages: Sequence[Message], task: int | None, keep_last: int) -> set[int]:
    """Positions a compaction leaves alone: system, task, and the last exchanges and results."""
    keep = {i for i, m in enumerate(messages) if m.role == "system"}
    if task is not None:
        keep.add(task)
    if keep_last > 0:
        starts = [i for i, m in enumerate(messages) if m.role == "assistant"][-keep_last:]
        results = [i for i, m in enumerate(messages) if m.role == "tool"][-keep_last:]
        tail = min([len(messages), *starts[:1], *results[:1]])
        keep.update(range(tail, len(messages)))
    return keep


def _exchange_of(messages: Sequence[Message], i: int) -> int:
    """Position of the assistant message that message ``i`` belongs to (-1: none)."""
    return next((j for j in range(i, -1, -1) if messages[j].role == "assistant"), -1)


def _task_index(messages: Sequence[Message]) -> int | None:
    return next((i for i, m in enumerate(messages) if m.role == "user"), None)


def _call_of(messages: Sequence[Message], i: int) -> ToolCall | None:
    """The call tool result ``i`` answers: by id, else the same-named call of its turn."""
    result = messages[i]
    turn = next((j for j in range(i - 1, -1, -1) if messages[j].role == "assistant"), None)
    if turn is None:
        return None
    calls = messages[turn].tool_calls
    if result.tool_call_id is not None:
        by_id = next((c for c in calls if c.id == result.tool_call_id), None)
        if by_id is not None:
            return by_id
    # Results follow their calls in order; the n-th result of the turn answers the n-th call.
    nth = sum(1 for m in messages[turn + 1 : i] if m.role == "tool")
    if nth < len(calls) and (result.tool_name is None or calls[nth].name == result.tool_name):
        return calls[nth]
    return next((c for c in calls if c.name == result.tool_name), None)


def _removed_note(result: Message, call: ToolCall | None) -> str:
    name = call.name if call is not None else result.tool_name
    if not name:
        return ELIDED_NOTE
    what = name + (f" {_arguments_summary(call.arguments)}" if call is not None else "")
    # Short: a note stays for the rest of the run, and a long run collects one per call.
    if name in _CHANGING_TOOLS:
        advice = "it was done, do not repeat it"
    else:
        advice = "call it again if you still need it"
    return f"[{what.rstrip()}: output elided to fit the context; {advice}.]"


def _arguments_summary(arguments: dict[str, Any], limit: int = 80) -> str:
    """The arguments that say what was asked (path, range, regex, command), short."""
    parts = []
    for key, value in arguments.items():
        if isinstance(value, str) and len(value) > 60:
            if key not in ("path", "regex", "glob", "command"):
                continue  # file contents and patches: the note must stay short
            value = value[:57] + "..."
        parts.append(f"{key}={json.dumps(value, ensure_ascii=False)}")
    summary = " ".join(parts)
    return summary if len(summary) <= limit else summary[: limit - 3] + "..."


def _shorten_call(call: ToolCall) -> ToolCall:
    """``call`` with its long string arguments (file contents, patches) shortened."""
    arguments: dict[str, Any] = {}
    for key, value in call.arguments.items():
        if isinstance(value, str) and len(value) > SHORTENED_KEEP_CHARS + 80:
            # "content omitted" is a placeholder the write tools refuse, should a model copy it.
            value = (
                value[:SHORTENED_KEEP_CHARS]
                + f"\n[... content omitted from this old call: {len(value)} characters]"
            )
        arguments[key] = value
    return ToolCall(call.name, arguments, call.id, call.index, call.parse_error)


def _cut(text: str, max_chars: int, why: str) -> str:
    """Head and a little tail of ``text`` in ``max_chars``, with a note between them."""
    tail_chars = min(max_chars // 8, 2000)
    head_end = max_chars - tail_chars
    # Whole lines read better and keep read_file's line numbers visible; give up a little room.
    newline = text.rfind("\n", 0, head_end)
    if newline >= head_end * 3 // 4:
        head_end = newline + 1
    tail_start = len(text) - tail_chars
    newline = text.find("\n", tail_start)
    if tail_chars and 0 <= newline < len(text) - 1:
        tail_start = newline + 1
    tail_start = max(tail_start, head_end)
    left_out = text[head_end:tail_start]
    note = (
        f"\n[... {len(left_out)} characters ({left_out.count(chr(10))} lines) of {len(text)} "
        f"{why}. {_READ_LESS}]\n"
    )
    return text[:head_end] + note + text[tail_start:]


def _call_chars(call: ToolCall) -> int:
    return len(call.name) + len(json.dumps(call.arguments, ensure_ascii=False))


def _message_chars(message: Message) -> int:
    return len(message.content) + len(message.thinking) + sum(map(_call_chars, message.tool_calls))

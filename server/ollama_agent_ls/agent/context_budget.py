"""Keeps the prompt inside num_ctx without spoiling the server's prompt cache.

Ollama drops the FRONT of an overflowing prompt (system prompt and tool schemas first) without an
error, so we estimate before every request and compact the conversation ourselves. llama.cpp,
Ollama and vLLM reuse their KV cache only for the longest unchanged prefix of the previous
request, and on a CPU the prompt evaluation is the cost, so the conversation is append-only:
while it fits, nothing changes. When it does not, one compaction folds the old steps into a
single note right after the task. Everything after that note is evaluated again, so a compaction
keeps little there (the newest exchange, which the server has not seen yet, and only as many
earlier exchanges as ``REFILL_SHARE`` of the room after the fixed prefix holds): its price
stays small and the room it frees makes the many turns after it pure appends. Results are capped
as they arrive to an eighth of that room (``ContextBudget.result_cap``), so a compaction comes at
most every seven turns or so whatever the context size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ollama_agent_ls.ollama.models import Message, ToolCall

# Code and JSON tokenise at roughly 3-4 characters per token; budgeting with 3 errs on the side
# of compacting a little early rather than overflowing.
BUDGET_CHARS_PER_TOKEN = 3.0
MESSAGE_OVERHEAD_TOKENS = 6

REFILL_SHARE = 0.1
"""Most of the room after the fixed prefix (system prompt, tool schemas, task) that a compaction
keeps of exchanges the server has seen: it evaluates them again after the fold, so this is what
a compaction costs beyond the new messages, against the room it frees for pure appends. Below
``1 / RESULTS_PER_ROOM``, so an exchange whose result was capped is never kept: at 4k keeping one
cost a sixth of the next cycle's turns."""

FOLD_NOTE_SHARE = 0.05
"""Most of the budget the fold note takes; its oldest entries go first."""
FOLD_NOTE_MIN_CHARS = 600

CAP_NOTE_MAX_CHARS = 260
"""No note ``cap_tool_result`` (or a last-resort cut) inserts is longer than this."""

RESULTS_PER_ROOM = 8
"""A result is capped on arrival to this share of the room the fixed prefix (system prompt, tool
schemas, task) leaves, so even when every result is capped, a compaction frees room for about
this many turns of pure appends: at 4k the fixed prefix takes a third of the budget, and a cap
that ignored it let a compaction come every five turns."""
RESULT_CAP_MIN_CHARS = 500
"""The cap never goes below this, however small the room: less would tell the model nothing."""

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
    """Messages this fit folded away or cut."""
    over_budget: bool
    compacted: bool = False
    """True when this fit changed anything; the server's cached prefix ends at the first change
    (``changed[0]``), unless that is a message it has not seen yet."""
    removed_tokens: int = 0
    """Estimated prompt tokens this fit removed."""
    changed: tuple[int, ...] = ()
    """Positions (after the fit) of the messages this fit wrote: the fold note, cut results."""
    folded: tuple[int, int, int] | None = None
    """``(start, end, new_end)``: messages ``[start, end)`` became ``[start, new_end)``, the fold
    note at ``start`` and then the pinned messages of the span, unchanged; later positions
    moved down by ``end - new_end``."""


def cap_tool_result(text: str, max_chars: int) -> str:
    """``text`` capped to ``max_chars`` on arrival, note included: head, what is left out, tail.

    Only a ``max_chars`` below ``CAP_NOTE_MAX_CHARS`` can give a longer result: the note alone.
    """
    if len(text) <= max_chars:
        return text
    why = "left out here: the result is too long to show whole"
    kept = max(0, max_chars - CAP_NOTE_MAX_CHARS)
    capped = _cut(text, kept, why)
    spare = max_chars - len(capped)
    if spare > 0:
        # The note came out shorter than its maximum: the text may have the room it left.
        roomier = _cut(text, kept + spare, why)
        if len(roomier) <= max_chars:
            capped = roomier
    return capped


class ContextBudget:
    """Estimates prompt size for one model run and fits messages into ``num_ctx``."""

    def __init__(self, num_ctx: int, reserve_for_reply: int | None = None) -> None:
        self.num_ctx = num_ctx
        self.reserve = reserve_for_reply or max(512, min(4096, num_ctx // 4))
        self.chars_per_token = BUDGET_CHARS_PER_TOKEN
        self._tools_chars = 0
        # By identity, holding the message so its id is never reused (a result may quote a
        # note, so content cannot tell). Results cut as a last resort, and pinned messages.
        self._cut: dict[int, Message] = {}
        self._pins: dict[int, Message] = {}

    @property
    def limit(self) -> int:
        """Prompt tokens allowed before compacting."""
        return max(256, self.num_ctx - self.reserve)

    def set_tools(self, tools: Sequence[dict[str, Any]]) -> None:
        """Count the tool schemas, which Ollama renders into every prompt."""
        self._tools_chars = len(json.dumps(list(tools), separators=(",", ":"))) if tools else 0

    def result_cap(self, messages: Sequence[Message]) -> int:
        """Most characters a tool result may keep on arrival: an eighth of the room after the
        fixed prefix of ``messages`` (``RESULTS_PER_ROOM``), never under the minimum."""
        start = _history_start(messages)
        fixed = self._tokens(self._prompt_chars(messages[:start]), start)
        room = int((self.limit - fixed) * self.chars_per_token)
        return max(RESULT_CAP_MIN_CHARS, room // RESULTS_PER_ROOM)

    def pin(self, message: Message) -> None:
        """Never fold ``message`` away (instructions the model must keep, e.g. a format switch)."""
        self._pins[id(message)] = message

    def estimate(self, messages: Sequence[Message]) -> int:
        """Estimated prompt tokens for ``messages`` plus the tool schemas."""
        return self._tokens(self._prompt_chars(messages), len(messages))

    def is_compacted(self, message: Message) -> bool:
        """True when a fit cut ``message`` (its content is not all there)."""
        return self._cut.get(id(message)) is message

    def _pinned(self, message: Message, instruction: Message | None) -> bool:
        return message is instruction or self._pins.get(id(message)) is message

    def _tokens(self, chars: int, count: int) -> int:
        return int(chars / self.chars_per_token) + MESSAGE_OVERHEAD_TOKENS * count

    def _prompt_chars(self, messages: Sequence[Message]) -> int:
        return self._tools_chars + sum(_message_chars(m) for m in messages)

    def fit(self, messages: list[Message], instruction: Message | None = None) -> BudgetReport:
        """Leave ``messages`` as they are while they fit; else compact them once, in one step.

        The steps between the task and the kept tail (the newest exchange, and earlier ones
        within ``REFILL_SHARE`` of the room) become one note listing what they did; pinned
        messages and ``instruction`` (the follow-up being worked on) follow it unchanged. The
        system message and the first user message (the task) never change. Only when all that
        still does not fit are the newest results cut, the unseen ones first.
        """
        chars = self._prompt_chars(messages)
        count = len(messages)
        estimate = self._tokens(chars, count)
        if estimate <= self.limit:
            return BudgetReport(estimate, 0, False)
        start_chars = chars
        start = _history_start(messages)
        tail = self._kept_tail(messages, start)
        changed: list[int] = []
        elided = 0
        folded: tuple[int, int, int] | None = None
        if tail > start:
            span = self._fold(messages, start, tail, instruction)
            if span is not None:
                new_end, saved, gone = span
                chars -= saved
                count -= tail - new_end
                folded = (start, tail, new_end)
                changed.append(start)
                elided += gone
                tail = new_end
        # Last resort, aiming only at the limit: cut results, those the server has not seen
        # first (cutting them costs the prompt cache nothing), the largest first.
        unseen = _last_reply(messages, tail) + 1
        candidates = sorted(
            range(tail, len(messages)),
            key=lambda i: (i >= unseen, len(messages[i].content)),
            reverse=True,
        )
        for i in candidates:
            if self._tokens(chars, count) <= self.limit:
                break
            message = messages[i]
            if message.role not in ("tool", "user") or self._pinned(message, instruction):
                continue
            if self.is_compacted(message):
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
            elided += 1
            self._cut[id(message)] = message
        estimate = self._tokens(chars, count)
        return BudgetReport(
            estimate,
            elided,
            estimate > self.limit,
            compacted=bool(changed),
            removed_tokens=int((start_chars - chars) / self.chars_per_token),
            changed=tuple(sorted(changed)),
            folded=folded,
        )

    def _kept_tail(self, messages: Sequence[Message], start: int) -> int:
        """Where the kept tail begins: the newest exchange, then earlier whole exchanges while
        they fit in ``REFILL_SHARE`` of the room after the fixed prefix."""
        replies = [i for i in range(start, len(messages)) if messages[i].role == "assistant"]
        if not replies:
            return start
        tail = replies[-1]
        fixed = self._tokens(self._prompt_chars(messages[:start]), start)
        allowance = (self.limit - fixed) * REFILL_SHARE
        used = 0
        for reply in reversed(replies[:-1]):
            size = self._tokens(sum(_message_chars(m) for m in messages[reply:tail]), tail - reply)
            if used + size > allowance:
                break
            used += size
            tail = reply
        return tail

    def _fold(
        self, messages: list[Message], start: int, end: int, instruction: Message | None
    ) -> tuple[int, int, int] | None:
        """Replace ``messages[start:end]`` with one note listing what they did, then the pinned
        ones; ``(new end, characters saved, messages folded)``, None when it would not save."""
        block = messages[start:end]
        pins = [m for m in block if self._pinned(m, instruction)]
        entries: list[str] = []
        earlier = 0
        for message in block:
            if self._pinned(message, instruction):
                continue
            if _is_fold_note(message):
                more, listed = _note_entries(message.content)
                earlier += more
                entries.extend(listed)
            elif message.role == "assistant":
                entries.extend(_call_summary(call) for call in message.tool_calls)
                said = " ".join(message.content.split())
                if said and not message.tool_calls:
                    entries.append("you said: " + _clip(said, 100))
            elif message.role == "user":
                entries.append("user: " + _clip(" ".join(message.content.split()), 100))
        max_chars = max(
            FOLD_NOTE_MIN_CHARS, int(self.limit * self.chars_per_token * FOLD_NOTE_SHARE)
        )
        note = Message("user", _fold_note(entries, earlier, max_chars))
        saved = sum(_message_chars(m) for m in block) - _message_chars(note)
        saved -= sum(_message_chars(m) for m in pins)
        if saved <= 0:
            return None
        for message in block:
            self._cut.pop(id(message), None)
        messages[start:end] = [note, *pins]
        return start + 1 + len(pins), saved, len(block) - len(pins)

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
_EARLIER = re.compile(r"\((\d+) earlier ones not listed\)")


def _is_fold_note(message: Message) -> bool:
    return message.role == "user" and message.content.startswith(FOLD_NOTE_HEAD)


def _note_entries(note: str) -> tuple[int, list[str]]:
    """What an earlier fold note held: its count of unlisted steps, and its listed ones."""
    head, _, body = note.partition("\n")
    match = _EARLIER.search(head)
    listed = [line[2:] for line in body.splitlines() if line.startswith("- ")]
    return (int(match.group(1)) if match else 0), listed


def _call_summary(call: ToolCall) -> str:
    done = " (done: do not repeat)" if call.name in _CHANGING_TOOLS else ""
    return f"{call.name} {_arguments_summary(call.arguments, 60)}".rstrip() + done


def _fold_note(entries: list[str], earlier: int, max_chars: int) -> str:
    """The note that replaces folded steps: at most ``max_chars``, the oldest entries left out."""
    shown = list(entries)
    while True:
        more = earlier + len(entries) - len(shown)
        lines = "\n".join(f"- {entry}" for entry in shown)
        unlisted = f" ({more} earlier ones not listed)" if more else ""
        note = (
            f"{FOLD_NOTE_HEAD}: their outputs are gone{unlisted}. Call a read tool again if you "
            f"still need something.]\n{lines}"
        )
        if len(note) <= max_chars or not shown:
            return note.rstrip("\n")
        shown.pop(0)


def _history_start(messages: Sequence[Message]) -> int:
    """The first position a compaction may fold: after the system messages and the task."""
    task = next((i for i, m in enumerate(messages) if m.role == "user"), None)
    if task is not None:
        return task + 1
    return next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))


def _last_reply(messages: Sequence[Message], start: int) -> int:
    """Position of the newest assistant message at or after ``start`` (``start - 1``: none)."""
    return next(
        (i for i in range(len(messages) - 1, start - 1, -1) if messages[i].role == "assistant"),
        start - 1,
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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

"""Keeps the prompt inside num_ctx and notices when Ollama cut it anyway.

Ollama drops the FRONT of an overflowing prompt (system prompt and tool schemas first) without an
error, so we estimate before every request and elide old tool results instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ollama_agent_ls.ollama.models import Message

# Code and JSON tokenise at roughly 3-4 characters per token; budgeting with 3 errs on the side
# of eliding a little early rather than overflowing.
BUDGET_CHARS_PER_TOKEN = 3.0
MESSAGE_OVERHEAD_TOKENS = 6
ELIDED_NOTE = "[Output elided to fit the context window; call the tool again if you still need it.]"


@dataclass(frozen=True)
class BudgetReport:
    """What fitting the prompt did."""

    estimated_tokens: int
    elided_messages: int
    over_budget: bool


class ContextBudget:
    """Estimates prompt size for one model run and fits messages into ``num_ctx``."""

    def __init__(self, num_ctx: int, reserve_for_reply: int | None = None) -> None:
        self.num_ctx = num_ctx
        self.reserve = reserve_for_reply or max(512, min(4096, num_ctx // 4))
        self.chars_per_token = BUDGET_CHARS_PER_TOKEN
        self._tools_chars = 0

    @property
    def limit(self) -> int:
        """Prompt tokens allowed before eliding."""
        return max(256, self.num_ctx - self.reserve)

    def set_tools(self, tools: Sequence[dict[str, Any]]) -> None:
        """Count the tool schemas, which Ollama renders into every prompt."""
        self._tools_chars = len(json.dumps(list(tools), separators=(",", ":"))) if tools else 0

    def estimate(self, messages: Sequence[Message]) -> int:
        """Estimated prompt tokens for ``messages`` plus the tool schemas."""
        chars = self._prompt_chars(messages)
        return int(chars / self.chars_per_token) + MESSAGE_OVERHEAD_TOKENS * len(messages)

    def _prompt_chars(self, messages: Sequence[Message]) -> int:
        return self._tools_chars + sum(_message_chars(m) for m in messages)

    def fit(self, messages: list[Message], keep_last: int = 2) -> BudgetReport:
        """Elide old tool results (oldest first) until the estimate fits; edits ``messages``."""
        estimate = self.estimate(messages)
        elided = 0
        if estimate <= self.limit:
            return BudgetReport(estimate, 0, False)
        tool_positions = [i for i, m in enumerate(messages) if m.role == "tool"]
        protected = set(tool_positions[-keep_last:]) if keep_last else set()
        for i in tool_positions:
            if estimate <= self.limit:
                break
            if i in protected or messages[i].content == ELIDED_NOTE:
                continue
            messages[i].content = ELIDED_NOTE
            elided += 1
            estimate = self.estimate(messages)
        # Still too big: shorten the newest results themselves rather than let Ollama cut the
        # system prompt.
        for i in reversed(tool_positions):
            if estimate <= self.limit:
                break
            overflow_chars = int((estimate - self.limit) * self.chars_per_token) + 200
            content = messages[i].content
            if len(content) > overflow_chars + 400:
                keep = len(content) - overflow_chars
                messages[i].content = (
                    content[:keep]
                    + f"\n[... {overflow_chars} characters cut to fit the context window; "
                    "read a smaller range if you need them ...]"
                )
                elided += 1
                estimate = self.estimate(messages)
        return BudgetReport(estimate, elided, estimate > self.limit)

    def observe(self, messages: Sequence[Message], prompt_eval_count: int) -> str | None:
        """Compare Ollama's prompt token count with ours; a warning when the prompt was cut."""
        if prompt_eval_count <= 0:
            # Older Ollama omits the count when the prompt was cached: nothing to learn.
            return None
        chars = self._prompt_chars(messages)
        # A generous lower bound of the real size (6 chars per token) so only clear cuts warn.
        lower_bound = chars / 6.0
        cut = prompt_eval_count < lower_bound * 0.8 or prompt_eval_count >= self.num_ctx - 8
        if not cut and prompt_eval_count >= 64:
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


def _message_chars(message: Message) -> int:
    size = len(message.content) + len(message.thinking)
    for call in message.tool_calls:
        size += len(call.name) + len(json.dumps(call.arguments, ensure_ascii=False))
    return size

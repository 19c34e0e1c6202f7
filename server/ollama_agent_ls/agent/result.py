"""The outcome of one agent run."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ollama_agent_ls.workspace.changes import FileChange


class RunStatus(str, Enum):
    """How a run ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MAX_TURNS = "max_turns"


@dataclass
class RunMetrics:
    """Token counts and speed over a whole run."""

    prompt_tokens: int = 0
    eval_tokens: int = 0
    eval_seconds: float = 0.0
    num_ctx: int = 0
    requests: int = 0
    cached_prompt_tokens: int = 0
    """Prompt tokens the server said it reused from its cache (0 where it does not say)."""
    prefill_tokens: int = 0
    """Prompt tokens the server evaluated: the cost that dominates on a CPU."""
    call_replies: int = 0
    """Replies that asked for a tool call or an edit (the well-formed rate's denominator)."""
    format_errors: int = 0
    """Replies whose tool calls or edit blocks could not be read (malformed or missing)."""
    edit_format: str = ""
    """The edit format the run ended in (tools, search-replace, whole)."""
    per_request: list[dict[str, Any]] = field(default_factory=list)
    """Each request: its share that is an unchanged prefix of the previous request (from what
    we sent), whether it was a pure append, and the server's prompt and cached token counts."""

    @property
    def pure_appends(self) -> int:
        """Requests after the first that only appended to the previous one."""
        return sum(1 for r in self.per_request[1:] if r.get("pureAppend"))

    @property
    def mean_prefix_share(self) -> float | None:
        """Average unchanged-prefix share of the requests after the first (None: only one)."""
        later = [float(r["prefixShare"]) for r in self.per_request[1:]]
        return sum(later) / len(later) if later else None

    @property
    def tokens_per_second(self) -> float:
        """Average generation speed across the run's replies."""
        return self.eval_tokens / self.eval_seconds if self.eval_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON for the LSP result."""
        return {
            "promptTokens": self.prompt_tokens,
            "evalTokens": self.eval_tokens,
            "tokensPerSecond": round(self.tokens_per_second, 2),
            "numCtx": self.num_ctx,
            "requests": self.requests,
            "cachedPromptTokens": self.cached_prompt_tokens,
            "prefillTokens": self.prefill_tokens,
            "callReplies": self.call_replies,
            "formatErrors": self.format_errors,
            "editFormat": self.edit_format,
            "pureAppends": self.pure_appends,
            "perRequest": list(self.per_request),
        }


@dataclass
class RunResult:
    """Status, summary and what changed."""

    status: RunStatus
    summary: str
    changes: list[FileChange] = field(default_factory=list)
    turns: int = 0
    metrics: RunMetrics = field(default_factory=RunMetrics)
    not_applied: list[dict[str, str]] = field(default_factory=list)
    """Edits whose final state did not land: ``{"path", "reason"}`` (relative path)."""
    session_id: str | None = None
    """The session the run belongs to (set by the face that keeps sessions)."""
    run_id: str | None = None
    setup_problem: bool = False
    """True when the run failed because Ollama or the model is not usable (CLI exit 3)."""

    @property
    def changed_files(self) -> list[str]:
        """Relative paths of the files the run changed, without repeats."""
        return list(dict.fromkeys(change.rel for change in self.changes))

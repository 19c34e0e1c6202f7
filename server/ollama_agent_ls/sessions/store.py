"""Sessions on disk: a conversation with its runs, so a follow-up and undo outlive the process.

One JSON file per session under the user's state directory, per workspace (never inside the
repository): ``$XDG_STATE_HOME/ollama-agent-ls/sessions/<workspace key>/<session id>.json``.
A session holds the conversation exactly as it was sent (so a follow-up's request extends it
byte for byte and the server's prompt cache still matches) and each run's change records (so
undo can revert a run, leaving the user's later edits alone). Written atomically; bounded by
``sessionsMaxCount`` and ``sessionsMaxAgeDays``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ollama_agent_ls.ollama.models import Message, ToolCall
from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.checkpoints import BinaryChange, default_store_dir, workspace_key
from ollama_agent_ls.workspace.hunks import HunkStates

if TYPE_CHECKING:
    from ollama_agent_ls.agent.text_formats import Format
    from ollama_agent_ls.settings import Settings

_FORMATS: tuple[Format, ...] = ("tools", "search-replace", "whole")

FORMAT_VERSION = 1


class SessionError(Exception):
    """A session is unknown, expired or unreadable; the message names it and the fix."""


def sessions_dir() -> Path:
    """Where every workspace's sessions live (beside the checkpoint stores)."""
    return default_store_dir().parent / "sessions"


def message_to_json(message: Message) -> dict[str, Any]:
    """A message as stored: what was sent, plus the call ids and indexes."""
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.thinking:
        data["thinking"] = message.thinking
    if message.tool_calls:
        data["tool_calls"] = [
            {"name": c.name, "arguments": c.arguments, "id": c.id, "index": c.index}
            for c in message.tool_calls
        ]
    if message.tool_name is not None:
        data["tool_name"] = message.tool_name
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    return data


def message_from_json(data: dict[str, Any]) -> Message:
    """The message ``message_to_json`` stored."""
    calls = [
        ToolCall(c["name"], dict(c.get("arguments") or {}), c.get("id"), c.get("index"))
        for c in data.get("tool_calls") or []
    ]
    return Message(
        data["role"],
        data.get("content", ""),
        data.get("thinking", ""),
        calls,
        data.get("tool_name"),
        data.get("tool_call_id"),
    )


@dataclass
class RunRecord:
    """One run of a session: what was asked, how it ended, and what it changed."""

    run_id: str
    instruction: str
    status: str
    summary: str
    changes: list[FileChange] = field(default_factory=list)
    binary_changes: list[BinaryChange] = field(default_factory=list)
    undone: bool = False
    finished_at: float = field(default_factory=time.time)
    hunks: dict[Path, HunkStates] = field(default_factory=dict)
    """Per changed file, the hunks kept or reverted one at a time since (runChanges)."""

    @property
    def has_changes(self) -> bool:
        """True when the run changed files (text or not): something for undo."""
        return bool(self.changes or self.binary_changes)

    def to_json(self) -> dict[str, Any]:
        """The run as stored."""
        return {
            "runId": self.run_id,
            "instruction": self.instruction,
            "status": self.status,
            "summary": self.summary,
            "undone": self.undone,
            "finishedAt": self.finished_at,
            "changes": [
                {"path": str(c.path), "rel": c.rel, "before": c.before, "after": c.after}
                for c in self.changes
            ],
            "binaryChanges": [
                {
                    "path": str(b.path),
                    "rel": b.rel,
                    "before": b.before,
                    "after": b.after,
                    "beforeLink": b.before_link,
                    "afterLink": b.after_link,
                }
                for b in self.binary_changes
            ],
            "hunks": {str(path): state.to_json() for path, state in self.hunks.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        """The run ``to_json`` stored."""
        return cls(
            run_id=data["runId"],
            instruction=data.get("instruction", ""),
            status=data.get("status", ""),
            summary=data.get("summary", ""),
            undone=bool(data.get("undone")),
            finished_at=float(data.get("finishedAt") or 0),
            changes=[
                FileChange(Path(c["path"]), c["rel"], c.get("before"), c.get("after"))
                for c in data.get("changes") or []
            ],
            binary_changes=[
                BinaryChange(
                    Path(b["path"]),
                    b["rel"],
                    b.get("before"),
                    b.get("after"),
                    bool(b.get("beforeLink")),
                    bool(b.get("afterLink")),
                )
                for b in data.get("binaryChanges") or []
            ],
            hunks={
                Path(path): HunkStates.from_json(state)
                for path, state in (data.get("hunks") or {}).items()
            },
        )


@dataclass
class Session:
    """A conversation with its runs."""

    session_id: str
    title: str
    model: str
    edit_format: Format = "tools"
    messages: list[Message] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def summary_json(self) -> dict[str, Any]:
        """What listSessions / ``sessions`` shows."""
        return {
            "sessionId": self.session_id,
            "title": self.title,
            "model": self.model,
            "updatedAt": _iso(self.updated_at),
            "runs": len(self.runs),
        }

    def to_json(self) -> dict[str, Any]:
        """The session as stored."""
        return {
            "version": FORMAT_VERSION,
            "sessionId": self.session_id,
            "title": self.title,
            "model": self.model,
            "editFormat": self.edit_format,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "messages": [message_to_json(m) for m in self.messages],
            "runs": [r.to_json() for r in self.runs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        """The session ``to_json`` stored."""
        return cls(
            session_id=data["sessionId"],
            title=data.get("title", ""),
            model=data.get("model", ""),
            edit_format=next((f for f in _FORMATS if f == data.get("editFormat")), "tools"),
            messages=[message_from_json(m) for m in data.get("messages") or []],
            runs=[RunRecord.from_json(r) for r in data.get("runs") or []],
            created_at=float(data.get("createdAt") or 0),
            updated_at=float(data.get("updatedAt") or 0),
        )


def _iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def new_session_id() -> str:
    """A fresh session id."""
    return "s-" + uuid.uuid4().hex[:12]


class SessionStore:
    """The sessions of one workspace."""

    def __init__(
        self,
        root: Path,
        *,
        base: Path | None = None,
        max_count: int = 50,
        max_age_days: float = 30,
    ) -> None:
        self.root = root
        self.dir = (base or sessions_dir()) / workspace_key(root)
        self.max_count = max_count
        self.max_age_days = max_age_days

    @classmethod
    def for_settings(cls, root: Path, settings: Settings) -> SessionStore:
        """The store of ``root`` with the limits ``settings`` give (sessionsMax...)."""
        return cls(
            root,
            max_count=settings.sessions_max_count,
            max_age_days=settings.sessions_max_age_days,
        )

    def _path(self, session_id: str) -> Path:
        if not session_id or "/" in session_id or session_id.startswith("."):
            raise SessionError(f"{session_id!r} is not a session id (they look like s-1a2b3c...)")
        return self.dir / f"{session_id}.json"

    def save(self, session: Session) -> None:
        """Write ``session`` atomically, then drop sessions beyond the count and age limits."""
        session.updated_at = time.time()
        self.dir.mkdir(parents=True, exist_ok=True)
        data = json.dumps(session.to_json(), ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
            os.replace(tmp, self._path(session.session_id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.prune()

    def load(self, session_id: str) -> Session:
        """The stored session; SessionError naming it when unknown, expired or unreadable."""
        path = self._path(session_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SessionError(
                f"no session {session_id} in this workspace (it never existed here or expired "
                f"after {self.max_age_days:g} days or {self.max_count} sessions); list them "
                "with `ollama-agent-ls sessions`"
            ) from None
        except (OSError, ValueError) as exc:
            raise SessionError(f"session {session_id} cannot be read ({exc})") from None
        return Session.from_json(data)

    def list(self) -> list[Session]:
        """The workspace's sessions, most recently updated first (unreadable ones skipped)."""
        sessions = []
        for path in self.dir.glob("s-*.json") if self.dir.is_dir() else []:
            try:
                sessions.append(Session.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError):
                continue
        return sorted(sessions, key=lambda s: s.updated_at, reverse=True)

    def latest(self) -> Session | None:
        """The most recently updated session, if any."""
        sessions = self.list()
        return sessions[0] if sessions else None

    def find_run(
        self, run_id: str | None, *, with_changes: bool = True
    ) -> tuple[Session, RunRecord] | None:
        """The stored run ``run_id`` (the most recent of that id), or with None the most recent
        run that is not undone and (``with_changes``) changed files; None when there is none."""
        best: tuple[Session, RunRecord] | None = None
        for session in self.list():
            for record in session.runs:
                if run_id is None and (record.undone or (with_changes and not record.has_changes)):
                    continue
                if run_id is not None and record.run_id != run_id:
                    continue
                if best is None or record.finished_at > best[1].finished_at:
                    best = (session, record)
        return best

    def mark_undone(self, session_id: str, run_id: str) -> None:
        """Record that run ``run_id`` of ``session_id`` was undone (a second undo says so)."""
        self.update_run(session_id, run_id, lambda record: setattr(record, "undone", True))

    def update_run(self, session_id: str, run_id: str, update: Callable[[RunRecord], None]) -> None:
        """Change the stored record of run ``run_id`` of ``session_id`` with ``update``."""
        session = self.load(session_id)
        for record in session.runs:
            if record.run_id == run_id:
                update(record)
        self.save(session)

    def prune(self) -> None:
        """Drop sessions older than the age limit and beyond the count limit (oldest first)."""
        cutoff = time.time() - self.max_age_days * 86400
        for i, session in enumerate(self.list()):
            if i >= self.max_count or session.updated_at < cutoff:
                self._path(session.session_id).unlink(missing_ok=True)

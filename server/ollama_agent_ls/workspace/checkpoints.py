"""Shadow checkpoints: what a command did to the workspace, recorded so undo can put it back.

The sandbox lets a command change the workspace, so before each command the workspace's files
(tracked, and untracked but not ignored) are snapshotted into a private git object store
outside the workspace and its ``.git`` (as Cline's shadow checkpoints do), and again after it.
The difference becomes ordinary change records, so undo treats a file a command rewrote like
one an edit tool rewrote: reverted region by region, the user's later edits kept. Git's index
remembers file stat data, so a snapshot of an unchanged 10,000-file tree re-hashes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ollama_agent_ls.workspace.changes import FileChange

log = logging.getLogger(__name__)

_GIT_TIMEOUT = 300.0
_REGULAR = ("100644", "100755")
_SYMLINK = "120000"


class CheckpointError(Exception):
    """A snapshot could not be taken; the message says why and what it means for undo."""


@dataclass(frozen=True)
class BinaryChange:
    """A file a command changed that is not text (or too big to hold as text): restored bytewise."""

    path: Path
    rel: str
    before: str | None
    """Blob id in the checkpoint store before the command (None: the file did not exist)."""
    after: str | None
    """Blob id after the command (None: the command deleted it)."""
    before_link: bool = False
    """The blob before is a symlink's target, not a file's content."""
    after_link: bool = False


@dataclass
class CommandChanges:
    """What one command changed in the workspace."""

    text: list[FileChange]
    binary: list[BinaryChange]
    skipped: list[str]
    """Paths changed in ways undo cannot restore (submodules), for the record."""


def workspace_key(root: Path) -> str:
    """A short stable name for the workspace ``root``, for per-workspace state outside it."""
    return hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:20]


def default_store_dir() -> Path:
    """Where checkpoint stores live: the user's state directory, outside every workspace."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "ollama-agent-ls" / "checkpoints"


class CheckpointStore:
    """A private git object store for one workspace; blobs and trees, never commits or refs."""

    def __init__(self, root: Path, store_dir: Path | None = None) -> None:
        self.root = root
        self.git_dir = (store_dir or default_store_dir()) / f"{workspace_key(root)}.git"
        self._lock = asyncio.Lock()

    def _env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k == "GIT_EXEC_PATH"
        }
        env.update(
            GIT_DIR=str(self.git_dir),
            GIT_WORK_TREE=str(self.root),
            GIT_INDEX_FILE=str(self.git_dir / "index"),
            # The user's global and system config could set hooks, fsmonitor commands or
            # filters; none of it belongs in a private store.
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_OPTIONAL_LOCKS="0",
        )
        return env

    def _git(self, *args: str, input: bytes | None = None) -> bytes:
        config = ["-c", "core.autocrlf=false", "-c", "core.safecrlf=false", "-c", "gc.auto=0"]
        exclude = self.root / ".git" / "info" / "exclude"
        if exclude.is_file():
            config += ["-c", f"core.excludesFile={exclude}"]
        try:
            done = subprocess.run(
                ["git", *config, *args],
                env=self._env(),
                cwd=self.root,
                input=input,
                # Never the server's stdin: that is the client's protocol pipe.
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                timeout=_GIT_TIMEOUT,
            )
        except FileNotFoundError as exc:
            raise CheckpointError(
                "git is not installed, so commands are not checkpointed and undo cannot "
                "restore what they change: install git"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise CheckpointError(
                f"a workspace snapshot took over {_GIT_TIMEOUT:g} s (git {args[0]})"
            ) from exc
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip()
            raise CheckpointError(f"git {args[0]} failed in the checkpoint store: {err}")
        return done.stdout

    def _ensure(self) -> None:
        if (self.git_dir / "HEAD").exists():
            return
        self.git_dir.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in self._env().items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
        try:
            done = subprocess.run(
                ["git", "init", "-q", "--bare", str(self.git_dir)],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_GIT_TIMEOUT,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise CheckpointError(
                f"git could not create the checkpoint store {self.git_dir}: {exc} (is git "
                "installed?)"
            ) from exc
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip()
            raise CheckpointError(f"git could not create the checkpoint store: {err}")

    def _snapshot(self) -> str:
        self._ensure()
        # --ignore-errors: an unreadable file is left out rather than failing the snapshot.
        self._git("add", "-A", "--ignore-errors", "--", ".")
        return self._git("write-tree").decode().strip()

    async def snapshot(self) -> str:
        """Record the workspace's files now; the tree id to compare a later snapshot with."""
        async with self._lock:
            return await asyncio.to_thread(self._snapshot)

    def _diff(self, before: str, after: str) -> list[tuple[str, str, str, str, str]]:
        out = self._git("diff-tree", "-r", "-z", "--no-renames", "--raw", before, after)
        fields = out.split(b"\0")
        rows = []
        for i in range(0, len(fields) - 1, 2):
            meta, path = fields[i].decode(), fields[i + 1].decode("utf-8", "surrogateescape")
            old_mode, new_mode, old_id, new_id, _status = meta.lstrip(":").split(" ")
            rows.append((path, old_mode, new_mode, old_id, new_id))
        return rows

    def blob(self, oid: str) -> bytes:
        """The content of blob ``oid``."""
        return self._git("cat-file", "blob", oid)

    def _changes(self, before: str, after: str, max_bytes: int) -> CommandChanges:
        result = CommandChanges([], [], [])
        if before == after:
            return result
        zero = "0" * 40
        for rel, old_mode, new_mode, old_id, new_id in self._diff(before, after):
            kinds = (old_mode if old_id != zero else None, new_mode if new_id != zero else None)
            if any(k is not None and k not in (*_REGULAR, _SYMLINK) for k in kinds):
                result.skipped.append(rel)  # a submodule: its own repository's business
                continue
            old = old_id if kinds[0] is not None else None
            new = new_id if kinds[1] is not None else None
            path = self.root / rel
            if _SYMLINK in kinds:
                result.binary.append(
                    BinaryChange(path, rel, old, new, kinds[0] == _SYMLINK, kinds[1] == _SYMLINK)
                )
                continue
            before_text = self._text(old, max_bytes) if old else None
            after_text = self._text(new, max_bytes) if new else None
            if (old is None or before_text is not None) and (new is None or after_text is not None):
                if before_text != after_text:
                    result.text.append(FileChange(path, rel, before_text, after_text))
                continue
            result.binary.append(BinaryChange(path, rel, old, new))
        return result

    def _text(self, oid: str, max_bytes: int) -> str | None:
        size = int(self._git("cat-file", "-s", oid).decode().strip() or 0)
        if size > max_bytes:
            return None
        data = self.blob(oid)
        if b"\0" in data:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    async def changes(self, before: str, after: str, max_bytes: int) -> CommandChanges:
        """What changed between two snapshots: text changes, binary ones, unrestorable ones."""
        async with self._lock:
            return await asyncio.to_thread(self._changes, before, after, max_bytes)

    def _current_id(self, path: Path) -> tuple[str | None, bool]:
        """The blob id of what is at ``path`` now (a link's target for a symlink), and whether
        it is a symlink; (None, False) when nothing regular is there."""
        if path.is_symlink():
            target = os.fsencode(os.readlink(path))
            return self._git("hash-object", "--stdin", input=target).decode().strip(), True
        if path.is_file():
            return self._git("hash-object", "--", str(path)).decode().strip(), False
        return None, False

    def _restore_binary(self, change: BinaryChange) -> str | None:
        current, is_link = self._current_id(change.path)
        if current != change.after or (current is not None and is_link != change.after_link):
            exists = os.path.lexists(change.path)
            return "changed since the run" if exists else "deleted since the run"
        tmp = change.path.with_name(f".{change.path.name}.undo-tmp")
        if change.before is None:
            change.path.unlink()
            return None
        data = self.blob(change.before)
        change.path.parent.mkdir(parents=True, exist_ok=True)
        if change.before_link:
            os.symlink(os.fsdecode(data), tmp)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, change.path)
        return None

    async def restore_binary(self, change: BinaryChange) -> str | None:
        """Put back a binary file as it was before the command; a reason when left alone."""
        async with self._lock:
            return await asyncio.to_thread(self._restore_binary, change)

"""Applying changes straight to disk, atomically, and only over the text the model last read."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.paths import is_inside

logger = logging.getLogger(__name__)


def _current_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any threads run.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class DiskSink:
    """A ChangeSink that writes files in place (CLI runs, or a server without an editor)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root.resolve() if root is not None else None

    async def apply(self, change: FileChange) -> None:
        """Write, create or delete ``change.path`` if the disk still holds ``change.before``."""
        # Synchronous on purpose: no await between the check and the rename, so a cancelled run
        # cannot stop half-way, and the files an agent writes are small.
        self._check_inside(change)
        current = self._read_current(change)
        if current == change.after:
            return
        if current != change.before:
            raise ChangeRejected(self._conflict_message(change, current))
        if change.after is None:
            try:
                change.path.unlink()
            except FileNotFoundError:
                return
            except OSError as exc:
                raise ChangeRejected(f"Could not delete {change.rel}: {exc}.") from exc
            return
        try:
            write_atomic(change.path, change.after.encode("utf-8"))
        except OSError as exc:
            raise ChangeRejected(
                f"Could not write {change.rel}: {exc.strerror or exc}. The file was left as it "
                "was; check its permissions or choose another path."
            ) from exc

    def _check_inside(self, change: FileChange) -> None:
        if self.root is None:
            return
        if not is_inside(change.path.resolve(strict=False), self.root):
            raise ChangeRejected(
                f"{change.rel} is outside the workspace {self.root}; use a path inside it."
            )

    @staticmethod
    def _read_current(change: FileChange) -> str | None:
        try:
            data = change.path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError as exc:
            raise ChangeRejected(
                f"{change.rel} is a directory; choose a file path instead."
            ) from exc
        except NotADirectoryError as exc:
            raise ChangeRejected(
                f"Cannot write {change.rel}: part of its directory path is a file, not a "
                "directory. Choose another path."
            ) from exc
        except OSError as exc:
            raise ChangeRejected(
                f"Could not read {change.rel} to check it before writing: "
                f"{exc.strerror or exc}. Check that the file is readable."
            ) from exc
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ChangeRejected(
                f"{change.rel} on disk is not valid UTF-8 text, so it was left untouched."
            ) from exc

    @staticmethod
    def _conflict_message(change: FileChange, current: str | None) -> str:
        if current is None:
            return (
                f"{change.rel} no longer exists on disk (it was deleted or moved after it was "
                "read). Check with list_files, then create it again with write_file if needed."
            )
        if change.before is None:
            return (
                f"{change.rel} already exists on disk (it was created after it was checked). "
                "Read it with read_file, then change it with edit_file."
            )
        return (
            f"{change.rel} changed on disk after it was read (another program or the user "
            "edited it), so the change was not applied. Read it again with read_file and redo "
            "the edit against its current text."
        )


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` via a synced temp file, keeping the old file's mode."""
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, mode if mode is not None else 0o666 & ~_UMASK)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform or filesystem allows it.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        logger.debug("cannot fsync directory %s", directory)
    finally:
        os.close(fd)

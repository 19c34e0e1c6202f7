"""Applying changes straight to disk, atomically, and only over the text the model last read.

Every file operation is made relative to a directory file descriptor reached from the workspace
root one component at a time with O_NOFOLLOW, and that chain is checked again right before the
rename. A directory swapped for a symlink after the tools checked the path therefore cannot send
a write (or a delete) outside the workspace: the change is rejected instead.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.documents import special_file_message, special_kind
from ollama_agent_ls.workspace.paths import is_inside

logger = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW_DIR = _DIR_FLAGS | os.O_NOFOLLOW
_TMP_NAME_BYTES = 150
"""Room left in a 255-byte name for the temp file's dot, random part and suffix."""


def _current_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any threads run.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class _Missing(Exception):
    """A directory on the path does not exist (yet)."""


class DiskSink:
    """A ChangeSink that writes files in place (CLI runs, or a server without an editor)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root.resolve() if root is not None else None

    async def apply(self, change: FileChange) -> None:
        """Write, create or delete ``change.path`` if the disk still holds ``change.before``."""
        # Synchronous on purpose: no await between the check and the rename, so a cancelled run
        # cannot stop half-way, and the files an agent writes are small.
        anchor, parts, name = self._locate(change)
        try:
            dir_fd = self._open_parent(change, anchor, parts, create=False)
        except _Missing:
            dir_fd = None
        try:
            current = self._read_current(change, dir_fd, name)
            if current == change.after:
                return
            if current != change.before:
                raise ChangeRejected(
                    self._conflict_message(change, None if current is None else "")
                )
            if change.after is None:
                # current == before, which is not None here: the directory was found.
                if dir_fd is not None:
                    self._delete(change, anchor, parts, dir_fd, name)
                return
            if dir_fd is None:
                dir_fd = self._open_parent(change, anchor, parts, create=True)
            self._write(change, anchor, parts, dir_fd, name, change.after.encode("utf-8"))
        finally:
            if dir_fd is not None:
                os.close(dir_fd)

    # -- where the change goes ----------------------------------------------------------------

    def _locate(self, change: FileChange) -> tuple[Path, tuple[str, ...], str]:
        """(anchor directory, directory names below it, file name) for ``change``."""
        name = change.path.name
        if not name or name in (".", ".."):
            raise ChangeRejected(f"{change.rel} is not a file path; choose a file path instead.")
        if self.root is None:
            return change.path.parent, (), name
        try:
            parent = Path(os.path.realpath(change.path.parent))
        except (OSError, ValueError) as exc:
            raise ChangeRejected(
                f"Could not resolve the directory of {change.rel}: {exc}. Choose another path."
            ) from exc
        if not is_inside(parent, self.root):
            raise ChangeRejected(
                f"{change.rel} is outside the workspace {self.root} (a directory on its path "
                "leads out of it, e.g. through a symbolic link), so nothing was changed; use a "
                "path inside the workspace."
            )
        return self.root, parent.relative_to(self.root).parts, name

    def _open_parent(
        self, change: FileChange, anchor: Path, parts: tuple[str, ...], *, create: bool
    ) -> int:
        """A descriptor of the file's directory, reached without following any symlink."""
        if create and self.root is None:
            try:
                anchor.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._os_rejection(change, "create the directory of", exc) from exc
        try:
            fd = os.open(anchor, _DIR_FLAGS)
        except FileNotFoundError as exc:
            if self.root is None and not create:
                raise _Missing from exc
            raise self._os_rejection(change, "open the directory of", exc) from exc
        except NotADirectoryError as exc:
            raise self._not_a_directory(change, anchor.name) from exc
        except OSError as exc:
            raise self._os_rejection(change, "open the directory of", exc) from exc
        for part in parts:
            try:
                child = self._open_child(change, fd, part, create=create)
            finally:
                os.close(fd)
            fd = child
        return fd

    def _open_child(self, change: FileChange, fd: int, part: str, *, create: bool) -> int:
        """Open directory ``part`` below ``fd``, refusing symlinks and files."""
        try:
            return os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise _Missing from None
        except OSError as exc:
            raise self._component_rejection(change, fd, part, exc) from exc
        try:
            os.mkdir(part, 0o777, dir_fd=fd)
        except FileExistsError:
            pass  # made by someone else meanwhile: the open below checks what it is
        except OSError as exc:
            raise self._os_rejection(change, "create the directory of", exc) from exc
        try:
            return os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
        except OSError as exc:
            raise self._component_rejection(change, fd, part, exc) from exc

    @staticmethod
    def _not_a_directory(change: FileChange, part: str) -> ChangeRejected:
        return ChangeRejected(
            f"Cannot write {change.rel}: part of its directory path ('{part}') is a file, "
            "not a directory. Choose another path."
        )

    def _component_rejection(
        self, change: FileChange, fd: int, part: str, exc: OSError
    ) -> ChangeRejected:
        try:
            mode = os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode) or exc.errno == errno.ELOOP:
            return ChangeRejected(
                f"Refused to change {change.rel}: its directory '{part}' is now a symbolic link "
                "(it was replaced after the path was checked), and the tools never write "
                f"through a link that could lead outside the workspace {self.root}. Nothing was "
                "changed; check the directory with list_files and retry."
            )
        if mode and not stat.S_ISDIR(mode):
            return self._not_a_directory(change, part)
        if exc.errno in (errno.ENOTDIR, errno.ENOENT):
            # The open saw something else than the directory there is now: it is being swapped.
            return self._moved_rejection(change)
        return self._os_rejection(change, "open the directory of", exc)

    @staticmethod
    def _os_rejection(change: FileChange, what: str, exc: OSError) -> ChangeRejected:
        return ChangeRejected(
            f"Could not {what} {change.rel}: {exc.strerror or exc}. Nothing was changed; check "
            "the permissions or choose another path."
        )

    def _same_place(self, anchor: Path, parts: tuple[str, ...], dir_fd: int) -> bool:
        """True when walking from the anchor again still reaches the directory of ``dir_fd``."""
        try:
            fd = os.open(anchor, _DIR_FLAGS)
        except OSError:
            return False
        try:
            for part in parts:
                child = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
                os.close(fd)
                fd = child
            here, there = os.fstat(fd), os.fstat(dir_fd)
        except OSError:
            return False
        finally:
            os.close(fd)
        return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)

    def _moved_rejection(self, change: FileChange) -> ChangeRejected:
        return ChangeRejected(
            f"Refused to change {change.rel}: a directory on its path was moved or replaced "
            "(e.g. by a symbolic link) while the change was being written, so it could have "
            f"landed outside the workspace {self.root}. Nothing was changed; check the "
            "directory with list_files and retry."
        )

    # -- reading, writing, deleting -----------------------------------------------------------

    def _read_current(
        self, change: FileChange, dir_fd: int | None, name: str
    ) -> str | _Unread | None:
        """What is on disk now: the text, a symlink's target (for deletes), or None."""
        if dir_fd is None:
            return None
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._read_rejection(change, exc) from exc
        if stat.S_ISLNK(info.st_mode):
            if change.after is not None:
                raise ChangeRejected(
                    f"Refused to write {change.rel}: it is now a symbolic link (it was replaced "
                    "after it was read), and the tools never write through a link. Nothing was "
                    "changed; read it again with read_file."
                )
            # A link being deleted: its target is its content (as git stores it), never followed.
            try:
                return os.readlink(name, dir_fd=dir_fd)
            except OSError as exc:
                raise self._read_rejection(change, exc) from exc
        if stat.S_ISDIR(info.st_mode):
            raise ChangeRejected(f"{change.rel} is a directory; choose a file path instead.")
        kind = special_kind(info.st_mode)
        if kind is not None:
            raise ChangeRejected(special_file_message(change.rel, kind, "Nothing was changed"))
        # Never read more than the longer side of the change (both are in memory already): a
        # file bigger than that differs from both, whatever it holds.
        sides = (change.before, change.after)
        most = max((len(text.encode("utf-8")) for text in sides if text is not None), default=0)
        return self._read_text(change, dir_fd, name, most)

    def _read_text(self, change: FileChange, dir_fd: int, name: str, most: int) -> str | _Unread:
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
            )
        except OSError as exc:
            raise self._read_rejection(change, exc) from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ChangeRejected(
                    special_file_message(
                        change.rel,
                        special_kind(info.st_mode) or "a special file",
                        "Nothing was changed",
                    )
                )
            data = b"".join(_read_up_to(fd, most + 1))
        except OSError as exc:
            raise self._read_rejection(change, exc) from exc
        finally:
            os.close(fd)
        if len(data) > most:
            return _UNREAD
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ChangeRejected(
                f"{change.rel} on disk is not valid UTF-8 text, so it was left untouched."
            ) from exc

    @staticmethod
    def _read_rejection(change: FileChange, exc: OSError) -> ChangeRejected:
        return ChangeRejected(
            f"Could not read {change.rel} to check it before writing: "
            f"{exc.strerror or exc}. Check that the file is readable."
        )

    def _delete(
        self, change: FileChange, anchor: Path, parts: tuple[str, ...], dir_fd: int, name: str
    ) -> None:
        if self.root is not None and not self._same_place(anchor, parts, dir_fd):
            raise self._moved_rejection(change)
        try:
            # unlink never follows a symlink: deleting a link removes the link, not its target.
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ChangeRejected(
                f"Could not delete {change.rel}: {exc.strerror or exc}. Check its permissions."
            ) from exc
        _sync_fd(dir_fd)

    def _write(
        self,
        change: FileChange,
        anchor: Path,
        parts: tuple[str, ...],
        dir_fd: int,
        name: str,
        data: bytes,
    ) -> None:
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            mode = None if stat.S_ISLNK(info.st_mode) else stat.S_IMODE(info.st_mode)
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            raise self._write_rejection(change, exc) from exc
        try:
            tmp = _write_temp(dir_fd, name, data, mode if mode is not None else 0o666 & ~_UMASK)
        except OSError as exc:
            raise self._write_rejection(change, exc) from exc
        try:
            if self.root is not None and not self._same_place(anchor, parts, dir_fd):
                raise self._moved_rejection(change)
            try:
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as exc:
                raise self._write_rejection(change, exc) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        _sync_fd(dir_fd)

    @staticmethod
    def _write_rejection(change: FileChange, exc: OSError) -> ChangeRejected:
        return ChangeRejected(
            f"Could not write {change.rel}: {exc.strerror or exc}. The file was left as it "
            "was; check its permissions or choose another path."
        )

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


class _Unread:
    """Stands for file text known to differ from both sides of a change (it was not read)."""


_UNREAD = _Unread()


def _read_up_to(fd: int, limit: int) -> Iterator[bytes]:
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def _tmp_name(name: str) -> str:
    stem = os.fsdecode(os.fsencode(name)[:_TMP_NAME_BYTES])
    return f".{stem}.{secrets.token_hex(4)}.tmp"


def _write_temp(dir_fd: int, name: str, data: bytes, mode: int) -> str:
    """Write ``data`` to a new synced temp file beside ``name`` in ``dir_fd``; its name."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = _tmp_name(name)
        try:
            fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary file name", name)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    return tmp


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` via a synced temp file, keeping the old file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dir_fd = os.open(path.parent, _DIR_FLAGS)
    try:
        try:
            mode = stat.S_IMODE(os.stat(path.name, dir_fd=dir_fd).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        tmp = _write_temp(dir_fd, path.name, data, mode)
        try:
            os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        _sync_fd(dir_fd)
    finally:
        os.close(dir_fd)


def _sync_fd(dir_fd: int) -> None:
    # Makes the rename itself durable; not every platform or filesystem allows it.
    try:
        os.fsync(dir_fd)
    except OSError:
        logger.debug("cannot fsync a directory")

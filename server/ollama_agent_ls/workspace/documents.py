"""Reading workspace files: from the editor's buffers when there is an editor, else from disk."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DEFAULT_READ_MAX_BYTES = 4_000_000
"""readMaxBytes' default (a test keeps the two equal): not read from Settings, because the
language server imports this module before answering initialize, and pydantic is heavy."""
"""The default of the readMaxBytes setting, for readers built without the settings."""


class DocumentError(Exception):
    """A file cannot be read as text; the message says why and what to do."""


class FileMissing(DocumentError):
    """The file does not exist (in the editor or on disk)."""


class BinaryFile(DocumentError):
    """The file holds binary data, which the text tools refuse."""


class NotUtf8(DocumentError):
    """The file is not valid UTF-8; it is reported, never rewritten."""


class NotRegularFile(DocumentError):
    """A FIFO, socket or device: opening one can block for ever, so it is never opened."""


class FileTooLarge(DocumentError):
    """The file is bigger than readMaxBytes; it was not read."""

    def __init__(self, rel: str, size: int, limit: int) -> None:
        self.rel = rel
        self.size = size
        self.limit = limit
        super().__init__(
            f"{rel} is {size:,} bytes, more than readMaxBytes ({limit:,} bytes), the largest "
            "file the tools read whole, so it was not read. Read part of it with read_file and "
            "a line range (start_line, end_line), find the lines you need with search, or raise "
            "the readMaxBytes setting."
        )


def special_kind(mode: int) -> str | None:
    """What a non-regular, non-directory file is ('a FIFO (named pipe)', ...); None otherwise."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a special file"


def special_file_message(rel: str, kind: str, untouched: str = "Nothing was read") -> str:
    """The refusal for a FIFO, socket or device, which the tools never open."""
    return (
        f"{rel} is {kind}, not a regular file; the file tools never open such files (reading "
        f"one can block for ever). {untouched}. Choose a regular file (list_files shows them)."
    )


def _os_problem(rel: str, exc: OSError) -> DocumentError:
    return DocumentError(
        f"{rel} cannot be read: {exc.strerror or exc}. Check that the path is right and the "
        "file is readable."
    )


def read_regular_file(path: Path, rel: str, max_bytes: int | None) -> bytes:
    """The bytes of the regular file ``path``, never opening a FIFO/device, at most ``max_bytes``.

    Raises FileMissing, NotRegularFile, FileTooLarge or DocumentError (never a bare OSError).
    """
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise FileMissing(f"{rel} does not exist.") from exc
    except OSError as exc:
        raise _os_problem(rel, exc) from exc
    _check_regular(info, rel, max_bytes)
    try:
        # O_NONBLOCK: if a FIFO was swapped in after the stat, open returns instead of waiting
        # for a writer; fstat below then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise FileMissing(f"{rel} does not exist.") from exc
    except OSError as exc:
        raise _os_problem(rel, exc) from exc
    try:
        info = os.fstat(fd)
        _check_regular(info, rel, max_bytes)
        return _read_fd(fd, rel, info.st_size, max_bytes)
    except OSError as exc:
        raise _os_problem(rel, exc) from exc
    finally:
        os.close(fd)


def _check_regular(info: os.stat_result, rel: str, max_bytes: int | None) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise DocumentError(f"{rel} is a directory, not a file.")
    kind = special_kind(info.st_mode)
    if kind is not None:
        raise NotRegularFile(special_file_message(rel, kind))
    if max_bytes is not None and info.st_size > max_bytes:
        raise FileTooLarge(rel, info.st_size, max_bytes)


def _read_fd(fd: int, rel: str, size: int, max_bytes: int | None) -> bytes:
    # Read to EOF, not just st_size bytes (the file may be growing), but never past the limit.
    cap = None if max_bytes is None else max_bytes + 1
    chunks: list[bytes] = []
    total = 0
    while cap is None or total < cap:
        want = 1 << 20 if cap is None else min(1 << 20, cap - total)
        chunk = os.read(fd, max(want, 1))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if max_bytes is not None and total > max_bytes:
        raise FileTooLarge(rel, max(size, total), max_bytes)
    return b"".join(chunks)


@dataclass(frozen=True)
class TextDocument:
    """The current text of one file, exactly as stored (newlines untouched)."""

    text: str
    version: int | None = None
    """Editor version when the text came from an open buffer; None for disk."""

    @property
    def newline(self) -> str:
        """The file's dominant line ending, so edits keep CRLF files CRLF."""
        crlf = self.text.count("\r\n")
        return "\r\n" if crlf and crlf * 2 >= self.text.count("\n") else "\n"


class DocumentSource(Protocol):
    """Where file text comes from."""

    def read(self, path: Path) -> TextDocument:
        """Text of the file at absolute ``path``; raises FileMissing, BinaryFile or NotUtf8."""
        ...

    def exists(self, path: Path) -> bool:
        """True when the file exists (an open unsaved buffer counts)."""
        ...


def decode_text(data: bytes, rel: str) -> str:
    """Decode file bytes as UTF-8, refusing binary data and reporting bad encodings."""
    if b"\x00" in data[:8192]:
        raise BinaryFile(f"{rel} is a binary file; the text tools cannot read or edit it.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(
            f"{rel} is not valid UTF-8 (byte {exc.start}); it was left untouched. "
            "Convert it to UTF-8 first if it must be edited."
        ) from exc
    return text


class DiskDocuments:
    """Reads regular files from disk, refusing FIFOs and devices and files over ``max_bytes``."""

    def __init__(self, root: Path, max_bytes: int | None = DEFAULT_READ_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def read(self, path: Path) -> TextDocument:
        """Text of ``path`` from disk."""
        rel = _rel(self.root, path)
        return TextDocument(decode_text(read_regular_file(path, rel, self.max_bytes), rel))

    def exists(self, path: Path) -> bool:
        """True when ``path`` is a regular file on disk."""
        try:
            return stat.S_ISREG(os.stat(path).st_mode)
        except (OSError, ValueError):
            return False


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)

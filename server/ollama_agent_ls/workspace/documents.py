"""Reading workspace files: from the editor's buffers when there is an editor, else from disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class DocumentError(Exception):
    """A file cannot be read as text; the message says why and what to do."""


class FileMissing(DocumentError):
    """The file does not exist (in the editor or on disk)."""


class BinaryFile(DocumentError):
    """The file holds binary data, which the text tools refuse."""


class NotUtf8(DocumentError):
    """The file is not valid UTF-8; it is reported, never rewritten."""


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
    """Reads files from disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, path: Path) -> TextDocument:
        """Text of ``path`` from disk."""
        rel = _rel(self.root, path)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise FileMissing(f"{rel} does not exist.") from exc
        except IsADirectoryError as exc:
            raise DocumentError(f"{rel} is a directory, not a file.") from exc
        return TextDocument(decode_text(data, rel))

    def exists(self, path: Path) -> bool:
        """True when ``path`` is a file on disk."""
        return path.is_file()


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)

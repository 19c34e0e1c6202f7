"""Confining tool paths to the workspace, and walking the files the tools may see."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from pathspec import GitIgnoreSpec

logger = logging.getLogger(__name__)

# Directories that are never project source, whatever .gitignore says (or when there is none).
IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".eggs",
        ".ipynb_checkpoints",
    }
)

_QUOTES = "\"'`"
# POSIX limits on Linux and macOS; os.pathconf is not asked because the root may not exist yet.
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 4096


class PathRefused(Exception):
    """A path points outside the workspace (or into .git for a write); the message says why."""


def is_ignored_dir(name: str) -> bool:
    """True for directory names the tools never descend into (VCS, caches, virtualenvs)."""
    return name in IGNORED_DIRS or name.endswith(".egg-info")


def is_virtualenv(path: Path) -> bool:
    """True when ``path`` is a Python virtual environment (any name)."""
    return (path / "pyvenv.cfg").is_file()


def _clean(raw: str) -> str:
    value = raw.strip()
    # Small models wrap paths in quotes or backticks, sometimes twice.
    while len(value) >= 2 and value[0] == value[-1] and value[0] in _QUOTES:
        value = value[1:-1].strip()
    if value.lower().startswith("file://"):
        parsed = urlparse(value)
        value = unquote(parsed.path)
        if parsed.netloc and parsed.netloc != "localhost":
            value = f"//{parsed.netloc}{value}"
    if value.startswith("~"):
        # "~/proj/x.py" means the home directory, never a folder named "~" in the workspace.
        value = os.path.expanduser(value)
    return value


def _refuse(raw: str, root: Path, reason: str) -> PathRefused:
    return PathRefused(
        f"Path {raw!r} is refused: {reason}. The workspace root is {root}; "
        "use a path relative to the workspace root (e.g. 'src/main.py')."
    )


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or below it (both already resolved or normalised)."""
    return path == root or root in path.parents


def _check_length(raw: str, root: Path, value: str) -> None:
    try:
        encoded = os.fsencode(value)
    except UnicodeEncodeError:
        raise _refuse(raw, root, "it contains characters that cannot be in a file name") from None
    for part in Path(value).parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX_BYTES:
            shown = part[:40] + "..." if len(part) > 40 else part
            raise _refuse(
                raw,
                root,
                f"the name {shown!r} is {size} bytes long, more than the {NAME_MAX_BYTES} bytes "
                "a file or directory name may have; use a shorter name",
            )
    if len(encoded) > PATH_MAX_BYTES:
        raise _refuse(
            raw,
            root,
            f"it is {len(encoded)} bytes long, more than the {PATH_MAX_BYTES} bytes a path may "
            "have; use a shorter path",
        )


def resolve_path(
    root: Path, raw: str, *, for_write: bool = False, follow_symlinks: bool = True
) -> tuple[Path, str]:
    """Resolve a model-given path to (absolute resolved path, relative posix path) in ``root``.

    With ``follow_symlinks=False`` a symlink as the last component is kept (its directory is
    still resolved), so that the link itself can be deleted without looking at its target.
    """
    root = root.resolve()
    value = _clean(raw if isinstance(raw, str) else str(raw))
    if not value:
        raise _refuse(raw, root, "the path is empty")
    if "\x00" in value:
        raise _refuse(raw, root, "the path contains a NUL character")
    _check_length(raw, root, value)
    candidate = Path(value)
    joined = candidate if candidate.is_absolute() else root / candidate
    # Lexical check first so that '..' is refused even where no symlink is involved.
    lexical = Path(os.path.normpath(joined))
    if not is_inside(lexical, root):
        if candidate.is_absolute():
            raise _refuse(raw, root, "it is an absolute path outside the workspace")
        raise _refuse(raw, root, "'..' leads outside the workspace")
    _check_length(raw, root, str(lexical))
    try:
        if follow_symlinks or lexical == root:
            resolved = joined.resolve(strict=False)
        else:
            resolved = lexical.parent.resolve(strict=False) / lexical.name
    except RuntimeError:
        # Python 3.11 reports a symlink loop as RuntimeError, later versions as OSError.
        raise _refuse(raw, root, "it goes through a loop of symbolic links") from None
    except OSError as exc:
        raise _refuse(raw, root, f"it cannot be resolved ({exc.strerror or exc})") from None
    if not is_inside(resolved, root):
        raise _refuse(raw, root, "it goes through a symlink that points outside the workspace")
    rel = resolved.relative_to(root).as_posix()
    if for_write:
        if resolved == root:
            raise _refuse(raw, root, "it is the workspace root directory, not a file")
        lexical_parts = lexical.relative_to(root).parts
        for parts in (lexical_parts, resolved.relative_to(root).parts):
            if any(part.lower() == ".git" for part in parts):
                raise _refuse(raw, root, "files inside .git/ must not be changed by the tools")
    return resolved, rel


# A .gitignore bigger than this is not a real one; reading it whole would only waste memory.
_IGNORE_FILE_MAX_BYTES = 1_000_000


def _ignore_file(path: Path) -> GitIgnoreSpec | None:
    """The patterns of a .gitignore-style file; None when it cannot be read."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _IGNORE_FILE_MAX_BYTES:
            # A FIFO named .gitignore would block the walk for ever if it were opened.
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            data = handle.read(_IGNORE_FILE_MAX_BYTES)
    except OSError:
        return None
    text = data.decode("utf-8", errors="replace")
    return GitIgnoreSpec.from_lines(text.splitlines())


def _ignored(specs: list[tuple[str, GitIgnoreSpec]], rel: str, is_dir: bool) -> bool:
    verdict = False
    # Deeper .gitignore files override shallower ones, like git.
    for base, spec in specs:
        if base:
            if not rel.startswith(base + "/"):
                continue
            sub = rel[len(base) + 1 :]
        else:
            sub = rel
        result = spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            verdict = result.include
    return verdict


def iter_workspace_files(root: Path, *, limit: int | None = None) -> Iterator[str]:
    """Relative posix paths of the workspace's files, gitignore-aware, in a stable order."""
    root = root.resolve()
    base_specs: list[tuple[str, GitIgnoreSpec]] = []
    excludes = _ignore_file(root / ".git" / "info" / "exclude")
    if excludes is not None:
        base_specs.append(("", excludes))
    count = 0
    stack: list[tuple[Path, str, list[tuple[str, GitIgnoreSpec]]]] = [(root, "", base_specs)]
    while stack:
        directory, rel_dir, inherited = stack.pop()
        specs = inherited
        spec = _ignore_file(directory / ".gitignore")
        if spec is not None:
            specs = [*inherited, (rel_dir, spec)]
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            logger.debug("cannot list %s: %s", directory, exc)
            continue
        subdirs: list[tuple[Path, str, list[tuple[str, GitIgnoreSpec]]]] = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    path = Path(entry.path)
                    if is_ignored_dir(entry.name) or is_virtualenv(path):
                        continue
                    if not _ignored(specs, rel, True):
                        subdirs.append((path, rel, specs))
                    continue
                if entry.is_symlink():
                    target = Path(entry.path).resolve(strict=False)
                    if not is_inside(target, root) or not target.is_file():
                        continue
                elif not entry.is_file(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if _ignored(specs, rel, False):
                continue
            yield rel
            count += 1
            if limit is not None and count >= limit:
                return
        # Reversed so that popping visits subdirectories in name order.
        stack.extend(reversed(subdirs))

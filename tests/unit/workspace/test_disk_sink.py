"""The disk sink: atomic writes, kept modes, and refusal when the file changed underneath."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.disk_sink import DiskSink


def change(root: Path, rel: str, before: str | None, after: str | None) -> FileChange:
    return FileChange(root / rel, rel, before, after)


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


async def test_modify_keeps_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    target.write_text("echo 1\n")
    target.chmod(0o751)
    await DiskSink(tmp_path).apply(change(tmp_path, "run.sh", "echo 1\n", "echo 2\n"))
    assert target.read_text() == "echo 2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o751
    assert leftovers(tmp_path) == []


async def test_create_makes_parent_directories(tmp_path: Path) -> None:
    await DiskSink(tmp_path).apply(change(tmp_path, "a/b/new.py", None, "x = 1\r\n"))
    assert (tmp_path / "a" / "b" / "new.py").read_bytes() == b"x = 1\r\n"


async def test_delete_removes_the_file(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text("x")
    await DiskSink(tmp_path).apply(change(tmp_path, "old.py", "x", None))
    assert not (tmp_path / "old.py").exists()


async def test_file_changed_on_disk_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("edited by the user\n")
    with pytest.raises(ChangeRejected, match="read_file") as info:
        await DiskSink(tmp_path).apply(change(tmp_path, "f.txt", "what the model read\n", "new\n"))
    assert "f.txt" in str(info.value)
    assert target.read_text() == "edited by the user\n"


async def test_create_over_a_file_that_appeared_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("someone else's\n")
    with pytest.raises(ChangeRejected, match="already exists"):
        await DiskSink(tmp_path).apply(change(tmp_path, "f.txt", None, "mine\n"))


async def test_modify_of_a_vanished_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ChangeRejected, match="no longer exists"):
        await DiskSink(tmp_path).apply(change(tmp_path, "gone.txt", "x", "y"))
    assert not (tmp_path / "gone.txt").exists()


async def test_path_outside_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    with pytest.raises(ChangeRejected, match="outside the workspace"):
        await DiskSink(root).apply(FileChange(tmp_path / "evil.txt", "../evil.txt", None, "x"))
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    ("error", "raised"), [(KeyboardInterrupt, KeyboardInterrupt), (OSError, ChangeRejected)]
)
async def test_interrupted_write_leaves_old_file_and_no_temp(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: type[BaseException],
    raised: type[BaseException],
) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old\n")

    def failing_fsync(fd: int) -> None:
        raise error()

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(raised) as info:
        await DiskSink(tmp_path).apply(change(tmp_path, "f.txt", "old\n", "new\n"))
    if raised is ChangeRejected:
        assert "Could not write f.txt" in str(info.value)
        assert "left as it was" in str(info.value)
    assert target.read_text() == "old\n"
    assert leftovers(tmp_path) == []


async def test_write_failure_is_rejected_with_a_fix(tmp_path: Path) -> None:
    (tmp_path / "notadir").write_text("a file where a directory is needed\n")
    with pytest.raises(ChangeRejected, match=r"notadir/x\.py.*is a file.*another path"):
        await DiskSink(tmp_path).apply(change(tmp_path, "notadir/x.py", None, "x\n"))
    assert (tmp_path / "notadir").read_text() == "a file where a directory is needed\n"


async def test_non_utf8_file_on_disk_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(ChangeRejected, match="UTF-8"):
        await DiskSink(tmp_path).apply(change(tmp_path, "latin.txt", "café\n", "tea\n"))
    assert (tmp_path / "latin.txt").read_bytes() == b"caf\xe9\n"


async def test_change_already_on_disk_is_accepted_without_rewriting(tmp_path: Path) -> None:
    # E.g. the user saved the same text already: no conflict, and no needless write.
    target = tmp_path / "f.txt"
    target.write_text("new\n")
    inode = target.stat().st_ino
    await DiskSink(tmp_path).apply(change(tmp_path, "f.txt", "old\n", "new\n"))
    assert target.stat().st_ino == inode
    assert target.read_text() == "new\n"

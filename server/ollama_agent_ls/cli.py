"""Command line: ``serve`` (default), ``run``, ``spec``, ``doctor``, ``models``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ollama_agent_ls import __version__
from ollama_agent_ls.agent.result import RunResult, RunStatus

if TYPE_CHECKING:
    # Imported by the commands that use them: settings loads pydantic (~65 ms), which the
    # language server must not wait for before it answers initialize.
    from ollama_agent_ls.agent.events import AgentEvent
    from ollama_agent_ls.headless import DiskRun
    from ollama_agent_ls.sessions.store import Session, SessionStore
    from ollama_agent_ls.settings import Settings
    from ollama_agent_ls.tools.shell import TerminalApprover
    from ollama_agent_ls.workspace.changes import FileChange

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SETUP, EXIT_CANCELLED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """A command-line mistake; exit code 2."""


def _parse_lines(value: str) -> tuple[int, int]:
    try:
        start_s, _, end_s = value.partition("-")
        start, end = int(start_s), int(end_s or start_s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a line range; use A-B, e.g. 10-20"
        ) from None
    if start < 1 or end < start:
        raise argparse.ArgumentTypeError(f"'{value}': lines start at 1 and A must be <= B")
    return start, end


def _parse_option(value: str) -> tuple[str, Any]:
    key, sep, raw = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"'{value}' is not KEY=VALUE, e.g. -o maxTurns=40")
    try:
        parsed: Any = json.loads(raw)
    except json.JSONDecodeError:
        parsed = raw
    return key.strip(), parsed


def _add_common(p: argparse.ArgumentParser, *, model: bool = True, sandbox: bool = True) -> None:
    if model:
        p.add_argument("--model", "-m", help="model name (default: qwen3:8b or OLLAMA_AGENT_MODEL)")
    p.add_argument(
        "--backend",
        choices=["ollama", "openai"],
        help="the server's API: ollama (default) or openai (llama.cpp's server, vLLM, SGLang, "
        "LM Studio, LiteLLM; OLLAMA_AGENT_BACKEND)",
    )
    p.add_argument(
        "--ollama-url",
        metavar="URL",
        help="Ollama's address: http://host:port or host:port, as OLLAMA_HOST takes it "
        "(default: OLLAMA_HOST or http://127.0.0.1:11434)",
    )
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="OpenAI-compatible URL with /v1 (default: OLLAMA_AGENT_BASE_URL or "
        "http://127.0.0.1:8080/v1); implies --backend openai",
    )
    if sandbox:
        p.add_argument(
            "--sandbox",
            choices=["workspace-write", "read-only", "off"],
            help="where commands run: workspace-write (default: only the workspace, not .git/, "
            "is writable; no network), read-only, or off (OLLAMA_AGENT_SANDBOX)",
        )
    p.add_argument(
        "-o",
        "--option",
        action="append",
        type=_parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="any setting by its camelCase name, e.g. -o numCtx=16384 -o maxTurns=40",
    )


def _add_workspace(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workspace",
        "-w",
        type=Path,
        default=Path.cwd(),
        metavar="DIR",
        help="workspace root (default: .)",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    _add_workspace(p)
    p.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="run commands in the sandbox without asking (destructive ones still ask, and so "
        "does every command when no sandbox can be set up)",
    )
    p.add_argument("--dry-run", action="store_true", help="print a unified diff instead of writing")
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no transcript on stderr, only the summary"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the run result as JSON on stdout (with --dry-run, the diff is its 'diff')",
    )


_RUN_EXITS = (
    "0 completed, 1 failed or max turns, 2 usage, 3 setup (server unreachable, model missing), "
    "130 cancelled (Ctrl-C)"
)
_HELP: dict[str, tuple[str, str, Sequence[str], str]] = {
    # name: (one line for the command list, description, examples, exit codes)
    "serve": (
        "run the language server on stdio (the default)",
        "Run the language server for an editor: it talks LSP over stdin/stdout (or --tcp). "
        "Started on a terminal it waits for a client; Ctrl-C quits.",
        (
            "ollama-agent-ls serve --log-file /tmp/agent.log",
            "ollama-agent-ls serve --tcp 127.0.0.1:2087",
        ),
        "0 the client disconnected, 2 usage, 130 interrupted (Ctrl-C)",
    ),
    "run": (
        "run the agent on an instruction against files on disk",
        "Run the agent on files on disk: it reads, searches, edits and (when allowed) runs "
        "commands. The transcript goes to stderr; --dry-run prints a diff on stdout instead of "
        "writing, --review shows the diff and asks before writing. A relative --file is taken "
        "from the current directory (from the workspace root when you run from outside it).",
        (
            'ollama-agent-ls run "add type hints" --file app.py --lines 10-30',
            'ollama-agent-ls run "rename Foo to Bar everywhere" --dry-run > change.diff',
        ),
        _RUN_EXITS,
    ),
    "spec": (
        "run the agent on a spec file (chant format)",
        "Run the agent on a spec (a markdown file under .chant/specs/, or with YAML frontmatter "
        "that has status:). The tool keeps the spec's status, ticks its boxes and runs its "
        "verify: commands.",
        (
            "ollama-agent-ls spec .chant/specs/add-slug.md",
            "ollama-agent-ls spec .chant/specs/add-slug.md --dry-run --rerun",
        ),
        "0 completed, 1 not completed (failed, needs attention, max turns), 2 usage or the spec "
        "was refused (completed, unmet depends_on, not approved), 3 setup, 130 cancelled",
    ),
    "sessions": (
        "list the workspace's sessions, newest first",
        "List the workspace's sessions (each run and its follow-ups with run --continue), "
        "newest first. They are kept in ~/.local/state/ollama-agent-ls/sessions/.",
        ("ollama-agent-ls sessions", "ollama-agent-ls sessions -w ~/src/project --json"),
        "0 listed (also when there are none), 2 usage",
    ),
    "undo": (
        "undo the latest run of the latest session (your later edits stay)",
        "Undo the latest run that changed files, its commands' changes included; regions you "
        "edited since stay as you left them, and are listed.",
        ("ollama-agent-ls undo", "ollama-agent-ls undo -w ~/src/project --json"),
        "0 undone, 1 nothing to undo, 2 usage",
    ),
    "doctor": (
        "check Ollama and the model, with fixes",
        "Check the setup: the server reachable, the model installed with tools, the context "
        "window, and whether commands can run in a sandbox; each problem comes with its fix.",
        (
            "ollama-agent-ls doctor -m qwen2.5-coder:7b",
            "ollama-agent-ls doctor --base-url http://127.0.0.1:8080/v1",
        ),
        "0 ready, 3 a problem was found (each printed with its fix), 2 usage",
    ),
    "models": (
        "list installed models",
        "List the installed (or, with --base-url, served) models with their context length "
        "and capabilities.",
        ("ollama-agent-ls models", "ollama-agent-ls models --ollama-url gpu-box:11434 --json"),
        "0 listed, 2 usage, 3 the server is unreachable",
    ),
}


def _subcommand(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str
) -> argparse.ArgumentParser:
    """A subcommand's parser with its description, examples and exit codes in --help."""
    line, description, examples, exits = _HELP[name]
    # Raw formatting keeps the examples' lines as they are, so the prose is wrapped here.
    exit_codes = textwrap.fill(f"exit codes: {exits}", 78, subsequent_indent="  ")
    epilog = "examples:\n" + "".join(f"  {e}\n" for e in examples) + f"\n{exit_codes}\n"
    parser = sub.add_parser(
        name,
        help=line,
        description=textwrap.fill(description, 78),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(command_parser=parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ollama-agent-ls",
        description="A coding agent on a local Ollama model: a language server, and a CLI.",
        epilog="Without a command it runs the language server (serve). "
        "`ollama-agent-ls COMMAND --help` shows a command's options, examples and exit codes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # LSP clients (vscode-languageclient among them) append --stdio; stdio is the default anyway.
    parser.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(command_parser=parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = _subcommand(sub, "serve")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    serve.add_argument("--log-file", type=Path, help="write logs here instead of stderr")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None)

    run = _subcommand(sub, "run")
    run.add_argument("instruction", help="what the agent should do")
    run.add_argument(
        "--file",
        "-f",
        metavar="PATH",
        help="file the instruction is about (from the current directory)",
    )
    run.add_argument(
        "--lines", "-l", type=_parse_lines, metavar="A-B", help="line range in --file, e.g. 10-20"
    )
    run.add_argument(
        "--continue",
        dest="continue_session",
        action="store_true",
        help="continue the workspace's latest session: the model keeps what it read and did",
    )
    run.add_argument(
        "--review",
        action="store_true",
        help="show the whole diff at the end and ask whether to apply it before writing "
        "anything (as -o applyMode=review)",
    )
    _add_run_options(run)

    spec = _subcommand(sub, "spec")
    spec.add_argument("path", type=Path, help="the spec's markdown file")
    spec.add_argument("--rerun", action="store_true", help="run a completed spec again")
    _add_run_options(spec)

    sessions = _subcommand(sub, "sessions")
    _add_workspace(sessions)
    sessions.add_argument("--json", action="store_true", help="print JSON")
    undo = _subcommand(sub, "undo")
    _add_workspace(undo)
    undo.add_argument("--json", action="store_true", help="print JSON")
    doctor = _subcommand(sub, "doctor")
    _add_common(doctor)
    models = _subcommand(sub, "models")
    _add_common(models, model=False, sandbox=False)
    models.add_argument("--json", action="store_true", help="print JSON")
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser of each subcommand of ``parser``, by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def settings_for(args: argparse.Namespace) -> Settings:
    """Defaults, then the environment, then -o options, then the explicit flags."""
    from ollama_agent_ls.settings import (
        SettingsProblem,
        normalise_ollama_host,
        settings_from_env,
        strict_settings,
    )

    base, env_problems = settings_from_env()
    for problem in env_problems:
        sys.stderr.write(f"warning: {problem}; using the default\n")
    raw: dict[str, Any] = dict(getattr(args, "option", []) or [])
    if getattr(args, "model", None):
        raw["model"] = args.model
    if getattr(args, "ollama_url", None):
        raw["ollamaUrl"] = normalise_ollama_host(args.ollama_url)
    if getattr(args, "base_url", None):
        raw["baseUrl"] = args.base_url
        raw.setdefault("backend", "openai")
    if getattr(args, "backend", None):
        raw["backend"] = args.backend
    if getattr(args, "yes", False):
        raw["commandApproval"] = "always"
    if getattr(args, "sandbox", None):
        raw["sandbox"] = args.sandbox
    if getattr(args, "review", False):
        raw["applyMode"] = "review"
    try:
        return strict_settings(raw, base)
    except SettingsProblem as exc:
        raise UsageError(str(exc)) from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ollama-agent-ls`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "serve"
    try:
        if command == "serve":
            return _serve(args)
        logging.basicConfig(
            level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
        )
        settings = settings_for(args)
        if command == "run":
            if args.lines and not args.file:
                raise UsageError("--lines needs --file")
            return asyncio.run(_run(args, settings))
        if command == "spec":
            return asyncio.run(_spec(args, settings))
        if command == "doctor":
            return asyncio.run(_doctor(settings))
        if command == "sessions":
            return _sessions(args, settings)
        if command == "undo":
            return asyncio.run(_undo(args, settings))
        if command == "models":
            return asyncio.run(_models(settings, args.json))
    except UsageError as exc:
        # The usage of the command that was mistyped, as argparse prints for its own errors.
        used: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        used.print_usage(sys.stderr)
        sys.stderr.write(f"{used.prog}: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    parser.error(f"unknown command {command}")
    return EXIT_USAGE  # pragma: no cover - parser.error exits


SERVE_WAITING = "waiting for an LSP client on stdin; see --help (Ctrl-C quits)"


def _serve(args: argparse.Namespace) -> int:
    tcp = getattr(args, "tcp", None)
    # pygls reads stdin in a worker thread that nothing can interrupt and joins it on the way
    # out, so the first Ctrl-C hung and a second one aborted the interpreter mid-read (exit 134).
    # The server keeps nothing half-written of its own (edits are the editor's, commands have
    # their own process groups and sandboxes that die with it), so Ctrl-C ends the process.
    with contextlib.suppress(ValueError):  # not the main thread (an embedding program)
        signal.signal(signal.SIGINT, _exit_on_interrupt)
    if tcp is None and _is_terminal(sys.stdin):
        sys.stderr.write(f"ollama-agent-ls: {SERVE_WAITING}\n")
        sys.stderr.flush()
    from ollama_agent_ls.lsp.server import serve

    return serve(
        tcp=tcp,
        log_file=getattr(args, "log_file", None),
        log_level=getattr(args, "log_level", None),
    )


def _exit_on_interrupt(signum: int, frame: object) -> None:
    """SIGINT in ``serve``: leave at once with the documented status."""
    with contextlib.suppress(Exception):
        sys.stderr.write("\n")
        sys.stderr.flush()
    os._exit(EXIT_CANCELLED)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def use_color(stream: Any, environ: Any = None) -> bool:
    """Colour on a terminal unless NO_COLOR is set to something (no-color.org: an empty value
    does not count)."""
    env = os.environ if environ is None else environ
    return _is_terminal(stream) and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


def _workspace(args: argparse.Namespace) -> Path:
    root = Path(args.workspace).expanduser()
    if not root.is_dir():
        raise UsageError(f"workspace {root} is not a directory")
    return root.resolve()


def exit_code(result: RunResult) -> int:
    """The documented exit code for a run's result."""
    if result.status is RunStatus.COMPLETED:
        return EXIT_OK
    if result.status is RunStatus.CANCELLED:
        return EXIT_CANCELLED
    if result.setup_problem:
        return EXIT_SETUP
    return EXIT_FAILED


def file_argument(file: str | None, root: Path, cwd: Path | None = None) -> str | None:
    """``--file`` as the user typed it: from the current directory, as a shell completes it;
    from the workspace root only when both the directory and that path are outside it."""
    if file is None:
        return None
    here = (cwd or Path.cwd()).resolve()
    path = Path(file).expanduser()
    full = Path(os.path.normpath(here / path))
    if full == root or root in full.parents:
        return full.relative_to(root).as_posix()
    if here == root or root in here.parents or path.is_absolute():
        return str(full)  # refused as outside the workspace, naming the path meant
    return file


class _Transcript:
    """The terminal transcript of a run, remembering what it showed: the summary does not
    repeat an error already printed, and a command the person refused reads as their answer
    instead of the advice meant for the model."""

    def __init__(
        self, printer: Callable[[AgentEvent], None] | None, approver: TerminalApprover
    ) -> None:
        self._printer = printer
        self._approver = approver
        self.errors: list[str] = []
        self.on_event: Callable[[AgentEvent], None] | None = None
        """Also told of every event (the spec command follows its verify phase)."""

    def __call__(self, event: AgentEvent) -> None:
        """Show one event."""
        if self.on_event is not None:
            self.on_event(event)
        refusals = self._approver.refusals
        if event.kind == "toolCall":
            refusals.clear()  # a refusal belongs to the call it was asked for
        elif (
            event.kind == "toolResult"
            and event.data.get("name") in ("run_command", "verify")
            and not event.data.get("ok", True)
            and refusals
        ):
            from ollama_agent_ls.agent.events import AgentEvent

            event = AgentEvent(event.kind, refusals.pop(0), event.data)
        if self._printer is None:
            return
        if event.kind == "error":
            self.errors.append(event.text)
        self._printer(event)


def transcript_for(quiet: bool, approver: TerminalApprover) -> tuple[_Transcript, Any]:
    """The run's event callback and the printer behind it (close it when the run ends)."""
    from ollama_agent_ls.terminal import TranscriptPrinter

    printer = TranscriptPrinter(sys.stderr, color=use_color(sys.stderr))
    return _Transcript(None if quiet else printer, approver), printer


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from ollama_agent_ls.backend import make_backend
    from ollama_agent_ls.headless import build_disk_run, run_task, selection_task
    from ollama_agent_ls.sessions.store import Session, new_session_id
    from ollama_agent_ls.settings import ApplyMode
    from ollama_agent_ls.tools.shell import TerminalApprover

    root = _workspace(args)
    review = ApplyMode(settings.apply_mode) is ApplyMode.REVIEW
    if review and args.dry_run:
        raise UsageError(
            "--dry-run writes nothing and review asks before writing: choose one "
            "(--dry-run > change.diff, or --review)"
        )
    approver = TerminalApprover()
    if review and not approver.can_ask():
        raise UsageError(
            "review mode (--review, applyMode=review) asks on the terminal before writing, and "
            "there is no terminal here, so nothing would be written. Run it in a terminal, or "
            "use --dry-run to get the changes as a diff"
        )
    file = file_argument(args.file, root)
    store = _session_store(root, settings)
    follow_up = bool(getattr(args, "continue_session", False))
    session = store.latest() if follow_up else None
    if follow_up and session is None:
        raise UsageError(
            f"there is no session to continue in {root}: run once without --continue first"
        )
    transcript, printer = transcript_for(args.quiet, approver)
    async with contextlib.aclosing(make_backend(settings)) as client:
        run = build_disk_run(
            client, settings, root, approver, transcript, dry_run=args.dry_run or review
        )
        task = selection_task(root, args.instruction, file, args.lines, run.ctx.documents)
        if session is not None:
            await run.agent.resume(session.messages, session.edit_format)
        elif settings.warm_start:  # off unless asked: the run's first request follows at once
            from ollama_agent_ls.agent.warm import warm_start

            await warm_start(client, settings, root)
        result = await _with_sigint(run.agent.cancel, run_task(run, task, follow_up=follow_up))
    printer.close()
    changes = await _review(run, result, root, approver) if review else None
    if session is None:
        session = Session(new_session_id(), args.instruction[:80], settings.model)
    if not args.dry_run:
        _record_run(store, session, run, args.instruction, result, changes)
    _report(result, args.dry_run, as_json=args.json, shown=transcript.errors)
    return exit_code(result)


async def _review(
    run: Any, result: RunResult, root: Path, approver: TerminalApprover
) -> list[FileChange]:
    """Show the staged changes whole and write them only if the person says so; the run's
    changes as they are on disk now (commands' included, which review cannot hold back)."""
    from ollama_agent_ls.workspace.changes import ChangeRejected, net_changes
    from ollama_agent_ls.workspace.disk_sink import DiskSink

    by_commands = net_changes(run.ctx.command_changes)
    staged = run.staging.net_changes()
    run.staging.discard()
    result.changes = by_commands
    if result.status is RunStatus.CANCELLED or not staged:
        return by_commands
    names = ", ".join(c.rel for c in staged)
    out = sys.stderr
    out.write(f"\nReview: the run's changes to {names}\n")
    out.write(_colored_diff(dry_run_diff(staged), use_color(out)))
    out.flush()
    answer = await approver.choose(
        f"Apply these changes to {len(staged)} file(s)? [a]pply / [D]iscard: "
    )
    if answer is None:
        result.status = RunStatus.FAILED
        result.not_applied += [{"path": c.rel, "reason": "not confirmed at review"} for c in staged]
        result.summary += (
            "\n\nReview: nobody answered, so nothing was written. Run it again in a terminal, "
            "or use --dry-run to keep the changes as a diff."
        )
        return by_commands
    if answer not in ("a", "apply", "y", "yes"):
        result.summary += f"\n\nDiscarded at review: nothing was written to {names}."
        return by_commands
    sink = DiskSink(root)
    applied: list[FileChange] = []
    for change in staged:
        try:
            await sink.apply(change)
        except ChangeRejected as exc:
            result.not_applied.append({"path": change.rel, "reason": str(exc)})
        else:
            applied.append(change)
    if len(applied) < len(staged):
        result.status = RunStatus.FAILED
        missing = "; ".join(f"{n['path']} ({n['reason']})" for n in result.not_applied)
        result.summary += f"\n\nThese changes could not be written: {missing}"
    result.changes = by_commands + applied
    return result.changes


def dry_run_diff(changes: list[FileChange]) -> str:
    """The unified diff of ``changes`` with git's header for each file, so ``git apply`` takes
    it whole, and an empty file created or deleted (which has no hunk) is in it too."""
    from ollama_agent_ls.workspace.staging import unified_diff

    parts: list[str] = []
    for change in changes:
        head = f"diff --git a/{change.rel} b/{change.rel}\n"
        if change.before is None:
            head += "new file mode 100644\n"
        elif change.after is None:
            head += "deleted file mode 100644\n"
        text = unified_diff([change])
        if not text:  # an empty file: difflib writes no hunk and no file lines
            a = "/dev/null" if change.before is None else f"a/{change.rel}"
            b = "/dev/null" if change.after is None else f"b/{change.rel}"
            text = f"--- {a}\n+++ {b}\n"
        parts.append(head + text)
    return "".join(parts)


def _colored_diff(diff: str, color: bool) -> str:
    if not color:
        return diff
    styled = []
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---", "diff --git")):
            styled.append(f"\x1b[1m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("+"):
            styled.append(f"\x1b[32m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("-"):
            styled.append(f"\x1b[31m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("@@"):
            styled.append(f"\x1b[36m{line.rstrip(chr(10))}\x1b[0m\n")
        else:
            styled.append(line)
    return "".join(styled)


def _session_store(root: Path, settings: Settings) -> SessionStore:
    from ollama_agent_ls.sessions.store import SessionStore

    return SessionStore.for_settings(root, settings)


def _record_run(
    store: SessionStore,
    session: Session,
    run: DiskRun,
    instruction: str,
    result: RunResult,
    changes: list[FileChange] | None = None,
) -> None:
    """Keep the conversation and the run's changes (``changes``: those on disk, when the run
    staged them for review), for --continue and undo."""
    from ollama_agent_ls.sessions.store import RunRecord
    from ollama_agent_ls.workspace.changes import net_changes

    session.messages = list(run.agent.messages)
    session.edit_format = run.agent.edit_format
    session.model = run.agent.settings.model
    run_id = f"run-{len(session.runs) + 1}"
    session.runs.append(
        RunRecord(
            run_id,
            instruction,
            result.status.value,
            result.summary,
            net_changes(run.ctx.changes) if changes is None else list(changes),
            list(run.ctx.binary_changes),
        )
    )
    result.session_id, result.run_id = session.session_id, run_id
    try:
        store.save(session)
    except OSError as exc:
        sys.stderr.write(
            f"warning: the session could not be saved ({exc}); --continue and undo will not "
            "know this run\n"
        )


def _sessions(args: argparse.Namespace, settings: Settings) -> int:
    sessions = _session_store(_workspace(args), settings).list()
    if args.json:
        sys.stdout.write(json.dumps([s.summary_json() for s in sessions], indent=2) + "\n")
        return EXIT_OK
    if not sessions:
        sys.stdout.write("No sessions in this workspace yet.\n")
        return EXIT_OK
    for s in sessions:
        info = s.summary_json()
        sys.stdout.write(
            f"{info['sessionId']}  {info['updatedAt']}  {info['runs']} run(s)  "
            f"{info['model']}  {info['title']}\n"
        )
    return EXIT_OK


async def _undo(args: argparse.Namespace, settings: Settings) -> int:
    from ollama_agent_ls.headless import undo_on_disk

    root = _workspace(args)
    store = _session_store(root, settings)
    for session in store.list():
        record = next(
            (r for r in reversed(session.runs) if not r.undone and (r.changes or r.binary_changes)),
            None,
        )
        if record is None:
            continue
        report = await undo_on_disk(root, record.changes, record.binary_changes)
        record.undone = True
        store.save(session)
        if args.json:
            data = {
                "sessionId": session.session_id,
                "runId": record.run_id,
                "reverted": report.reverted,
                "leftAlone": [{"path": p, "reason": r} for p, r in report.left_alone],
            }
            sys.stdout.write(json.dumps(data, indent=2) + "\n")
        else:
            sys.stderr.write(
                f"undid {record.run_id} of {session.session_id} ({record.instruction[:60]}): "
                f"reverted {', '.join(report.reverted) or 'nothing'}\n"
            )
            for path, why in report.left_alone:
                sys.stderr.write(f"  left alone: {path}: {why}\n")
        return EXIT_OK
    sys.stderr.write("Nothing to undo: no run of this workspace's sessions changed files.\n")
    return EXIT_FAILED


async def _with_sigint(cancel: Any, coro: Any) -> RunResult:
    """Await ``coro`` with Ctrl-C mapped to a clean cancel of the run."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows has no handlers
        loop.add_signal_handler(signal.SIGINT, cancel)
    try:
        result: RunResult = await coro
        return result
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


def never_started(result: RunResult) -> bool:
    """True for a run that failed before its first request (a setup problem)."""
    return result.status is RunStatus.FAILED and result.turns == 0 and result.metrics.requests == 0


def _report(
    result: RunResult, dry_run: bool, *, as_json: bool = False, shown: Sequence[str] = ()
) -> None:
    if as_json:
        data = result_json(result)
        if dry_run:
            data["diff"] = dry_run_diff(result.changes) if result.changes else ""
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()
    elif dry_run and result.changes:
        sys.stdout.write(dry_run_diff(result.changes))
        sys.stdout.flush()
    if never_started(result):
        # Nothing ran: no figures to show, and the transcript may have said it already.
        if result.summary not in shown:
            sys.stderr.write(f"error: {result.summary}\n")
        return
    status = result.status.value
    files = ", ".join(result.changed_files) or "none"
    verb = "would change" if dry_run else "changed"
    m = result.metrics
    sys.stderr.write(
        f"\n[{status}] {result.summary}\n{verb}: {files} | turns {result.turns} | "
        f"prompt {m.prompt_tokens} tok, output {m.eval_tokens} tok, "
        f"{m.tokens_per_second:.1f} tok/s, num_ctx {m.num_ctx}{_cache_note(m)}\n"
    )


def _cache_note(m: Any) -> str:
    appends = ""
    if m.requests > 1:
        appends = f", {m.pure_appends}/{m.requests - 1} requests appended to the last"
    if not m.cached_prompt_tokens:
        return appends
    return f", prefill {m.prefill_tokens} tok ({m.cached_prompt_tokens} cached){appends}"


def result_json(result: RunResult) -> dict[str, Any]:
    """The run result as the CLI's --json prints it (the LSP result's fields, relative paths)."""
    return {
        "status": result.status.value,
        "summary": result.summary,
        "sessionId": result.session_id,
        "runId": result.run_id,
        "changedFiles": result.changed_files,
        "notApplied": [{"path": n["path"], "reason": n["reason"]} for n in result.not_applied],
        "turns": result.turns,
        "metrics": result.metrics.to_json(),
    }


async def _spec(args: argparse.Namespace, settings: Settings) -> int:
    from ollama_agent_ls.specs.cli import run_spec_command

    root = _workspace(args)
    code: int = await run_spec_command(args, settings, root)
    return code


async def _doctor(settings: Settings) -> int:
    from ollama_agent_ls.backend import make_backend
    from ollama_agent_ls.ollama.setup_check import check_setup
    from ollama_agent_ls.tools.sandbox import check_sandbox

    async with contextlib.aclosing(make_backend(settings)) as client:
        report = await check_setup(client, settings)
    check_sandbox(report, settings)
    out = sys.stdout

    def line(ok: bool, text: str) -> None:
        out.write(f"{'✓' if ok else '✗'} {text}\n")

    openai = report.backend == "openai"
    line(
        report.reachable,
        ("OpenAI-compatible server" if openai else "Ollama")
        + f" at {report.url}"
        + (f" (version {report.version})" if report.version else ""),
    )
    if report.reachable:
        line(report.model_present, f"model {report.model} " + ("served" if openai else "installed"))
    if report.model_present:
        line(report.supports_tools, "model supports tools")
        ctx = report.context_length
        if openai:
            line(True, f"server context window {report.num_ctx}")
        else:
            line(
                True, f"trained context {ctx if ctx else 'unknown'}; num_ctx used: {report.num_ctx}"
            )
        if report.prefix_cache is not None:
            line(
                report.prefix_cache,
                "prefix caching "
                + ("on: each turn re-evaluates only what is new" if report.prefix_cache else "off"),
            )
    if report.sandbox_active:
        net = "network allowed" if settings.sandbox_network else "no network"
        line(True, f"commands run in a sandbox ({report.sandbox}, {report.sandbox_tool}, {net})")
    elif report.sandbox == "off":
        line(True, "commands run without a sandbox (sandbox=off)")
    else:
        line(False, f"commands cannot run in a sandbox ({report.sandbox_tool})")
    for problem in report.problems:
        out.write(f"  problem: {problem}\n")
    out.write("OK\n" if report.ok else f"{len(report.problems)} problem(s)\n")
    return EXIT_OK if report.ok else EXIT_SETUP


async def _models(settings: Settings, as_json: bool) -> int:
    from ollama_agent_ls.backend import make_backend
    from ollama_agent_ls.ollama.errors import OllamaError
    from ollama_agent_ls.ollama.setup_check import list_models

    try:
        async with contextlib.aclosing(make_backend(settings)) as client:
            models = await list_models(client)
    except OllamaError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_SETUP
    rows = [
        (
            m.name,
            info.context_length if info else None,
            list(info.capabilities) if info else list(m.capabilities),
        )
        for m, info in models
    ]
    if as_json:
        data = [{"name": n, "contextLength": c, "capabilities": caps} for n, c, caps in rows]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return EXIT_OK
    if not rows:
        if settings.backend == "openai":
            sys.stdout.write(f"The server at {settings.base_url} lists no models.\n")
        else:
            sys.stdout.write("No models installed. Pull one with `ollama pull qwen3:8b`.\n")
        return EXIT_OK
    width = max(len(name) for name, _, _ in rows)
    for name, ctx, caps in rows:
        sys.stdout.write(f"{name:<{width}}  ctx {ctx or '?'!s:>7}  {', '.join(caps) or '?'}\n")
    return EXIT_OK

"""Command line: ``serve`` (default), ``run``, ``spec``, ``doctor``, ``models``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ollama_agent_ls import __version__
from ollama_agent_ls.agent.result import RunResult, RunStatus

if TYPE_CHECKING:
    # Imported by the commands that use them: settings loads pydantic (~65 ms), which the
    # language server must not wait for before it answers initialize.
    from ollama_agent_ls.settings import Settings

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


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", help="model name (default: qwen3:8b or OLLAMA_AGENT_MODEL)")
    p.add_argument(
        "--backend",
        choices=["ollama", "openai"],
        help="the server's API: ollama (default) or openai (llama.cpp's server, vLLM, SGLang, "
        "LM Studio, LiteLLM; OLLAMA_AGENT_BACKEND)",
    )
    p.add_argument(
        "--ollama-url", help="Ollama URL (default: OLLAMA_HOST or http://127.0.0.1:11434)"
    )
    p.add_argument(
        "--base-url",
        help="OpenAI-compatible URL with /v1 (default: OLLAMA_AGENT_BASE_URL or "
        "http://127.0.0.1:8080/v1); implies --backend openai",
    )
    p.add_argument(
        "--sandbox",
        choices=["workspace-write", "read-only", "off"],
        help="where commands run: workspace-write (default: only the workspace, not .git/, is "
        "writable; no network), read-only, or off (OLLAMA_AGENT_SANDBOX)",
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


def _add_run_options(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument(
        "--workspace", "-w", type=Path, default=Path.cwd(), help="workspace root (default: .)"
    )
    p.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="run commands in the sandbox without asking (destructive ones still ask, and so "
        "does every command when no sandbox can be set up)",
    )
    p.add_argument("--dry-run", action="store_true", help="print a unified diff instead of writing")
    p.add_argument("--quiet", "-q", action="store_true", help="no transcript, only the summary")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the run result as JSON on stdout (with --dry-run, the diff is its 'diff')",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ollama-agent-ls",
        description="A coding agent on a local Ollama model: a language server, and a CLI.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # LSP clients (vscode-languageclient among them) append --stdio; stdio is the default anyway.
    parser.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the language server on stdio (the default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    serve.add_argument("--log-file", type=Path, help="write logs here instead of stderr")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None)

    run = sub.add_parser("run", help="run the agent on an instruction against files on disk")
    run.add_argument("instruction", help="what the agent should do")
    run.add_argument("--file", "-f", help="file the instruction is about")
    run.add_argument("--lines", "-l", type=_parse_lines, help="line range in --file, e.g. 10-20")
    run.add_argument(
        "--continue",
        dest="continue_session",
        action="store_true",
        help="continue the workspace's latest session: the model keeps what it read and did",
    )
    _add_run_options(run)

    spec = sub.add_parser("spec", help="run the agent on a spec file (chant format)")
    spec.add_argument("path", type=Path, help="the spec's markdown file")
    spec.add_argument("--rerun", action="store_true", help="run a completed spec again")
    _add_run_options(spec)

    sessions = sub.add_parser("sessions", help="list the workspace's sessions, newest first")
    sessions.add_argument("--workspace", "-w", type=Path, default=Path.cwd())
    sessions.add_argument("--json", action="store_true", help="print JSON")
    undo = sub.add_parser(
        "undo", help="undo the latest run of the latest session (your later edits stay)"
    )
    undo.add_argument("--workspace", "-w", type=Path, default=Path.cwd())
    undo.add_argument("--json", action="store_true", help="print JSON")
    doctor = sub.add_parser("doctor", help="check Ollama and the model, with fixes")
    _add_common(doctor)
    models = sub.add_parser("models", help="list installed models")
    _add_common(models)
    models.add_argument("--json", action="store_true", help="print JSON")
    return parser


def settings_for(args: argparse.Namespace) -> Settings:
    """Defaults, then the environment, then -o options, then the explicit flags."""
    from ollama_agent_ls.settings import SettingsProblem, settings_from_env, strict_settings

    base, env_problems = settings_from_env()
    for problem in env_problems:
        sys.stderr.write(f"warning: {problem}; using the default\n")
    raw: dict[str, Any] = dict(getattr(args, "option", []) or [])
    if getattr(args, "model", None):
        raw["model"] = args.model
    if getattr(args, "ollama_url", None):
        raw["ollamaUrl"] = args.ollama_url
    if getattr(args, "base_url", None):
        raw["baseUrl"] = args.base_url
        raw.setdefault("backend", "openai")
    if getattr(args, "backend", None):
        raw["backend"] = args.backend
    if getattr(args, "yes", False):
        raw["commandApproval"] = "always"
    if getattr(args, "sandbox", None):
        raw["sandbox"] = args.sandbox
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
            from ollama_agent_ls.lsp.server import serve

            return serve(
                tcp=getattr(args, "tcp", None),
                log_file=getattr(args, "log_file", None),
                log_level=getattr(args, "log_level", None),
            )
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
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"ollama-agent-ls: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    parser.error(f"unknown command {command}")
    return EXIT_USAGE  # pragma: no cover - parser.error exits


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


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from ollama_agent_ls.backend import make_backend
    from ollama_agent_ls.headless import build_disk_run, run_task, selection_task
    from ollama_agent_ls.sessions.store import Session, new_session_id
    from ollama_agent_ls.terminal import TranscriptPrinter
    from ollama_agent_ls.tools.shell import TerminalApprover

    root = _workspace(args)
    store = _session_store(root, settings)
    follow_up = bool(getattr(args, "continue_session", False))
    session = store.latest() if follow_up else None
    if follow_up and session is None:
        raise UsageError(
            f"there is no session to continue in {root}: run once without --continue first"
        )
    printer = TranscriptPrinter(sys.stderr)
    async with contextlib.aclosing(make_backend(settings)) as client:
        run = build_disk_run(
            client,
            settings,
            root,
            TerminalApprover(),
            None if args.quiet else printer,
            dry_run=args.dry_run,
        )
        task = selection_task(root, args.instruction, args.file, args.lines, run.ctx.documents)
        if session is not None:
            await run.agent.resume(session.messages, session.edit_format)
        elif settings.warm_start:  # off unless asked: the run's first request follows at once
            from ollama_agent_ls.agent.warm import warm_start

            await warm_start(client, settings, root)
        result = await _with_sigint(run.agent.cancel, run_task(run, task, follow_up=follow_up))
    printer.close()
    if session is None:
        session = Session(new_session_id(), args.instruction[:80], settings.model)
    if not args.dry_run:
        _record_run(store, session, run, args.instruction, result)
    _report(result, args.dry_run, as_json=args.json)
    return exit_code(result)


def _session_store(root: Path, settings: Settings) -> Any:
    from ollama_agent_ls.sessions.store import SessionStore

    return SessionStore(
        root, max_count=settings.sessions_max_count, max_age_days=settings.sessions_max_age_days
    )


def _record_run(store: Any, session: Any, run: Any, instruction: str, result: RunResult) -> None:
    """Keep the conversation and the run's changes, for --continue and undo."""
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
            net_changes(run.ctx.changes),
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


def _report(result: RunResult, dry_run: bool, *, as_json: bool = False) -> None:
    from ollama_agent_ls.workspace.staging import unified_diff

    if as_json:
        data = result_json(result)
        if dry_run:
            data["diff"] = unified_diff(result.changes) if result.changes else ""
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()
    elif dry_run and result.changes:
        sys.stdout.write(unified_diff(result.changes))
        sys.stdout.flush()
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
        "notApplied": list(result.not_applied),
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

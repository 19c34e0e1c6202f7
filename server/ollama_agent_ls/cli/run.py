"""``run``: the agent on files on disk, with review and dry-run, and its report."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ollama_agent_ls.agent.result import RunResult, RunStatus
from ollama_agent_ls.cli.exits import exit_code
from ollama_agent_ls.cli.interrupt import cancel_on_sigint
from ollama_agent_ls.cli.parser import workspace_of
from ollama_agent_ls.cli.sessions import record_run, session_store
from ollama_agent_ls.cli.transcript import transcript_for, use_color
from ollama_agent_ls.errors import UsageError

if TYPE_CHECKING:
    # Imported by the commands that use them: settings loads pydantic (~65 ms), which the
    # language server must not wait for before it answers initialize.
    from ollama_agent_ls.cli.approver import TerminalApprover
    from ollama_agent_ls.settings import Settings
    from ollama_agent_ls.workspace.changes import FileChange


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


async def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from ollama_agent_ls.backend import make_backend
    from ollama_agent_ls.cli.approver import TerminalApprover
    from ollama_agent_ls.headless import build_disk_run, run_task, selection_task
    from ollama_agent_ls.sessions.core import SessionCore
    from ollama_agent_ls.settings import ApplyMode

    root = workspace_of(args)
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
    store = session_store(root, settings)
    follow_up = bool(getattr(args, "continue_session", False))
    session = store.latest() if follow_up else None
    if follow_up and session is None:
        raise UsageError(
            f"there is no session to continue in {root}: run once without --continue first"
        )
    transcript, printer = transcript_for(args.quiet, approver)
    core = SessionCore(store, session)
    async with contextlib.aclosing(make_backend(settings)) as client:
        run = build_disk_run(
            client,
            settings,
            root,
            approver,
            transcript,
            dry_run=args.dry_run or review,
            core=core,
            instruction=args.instruction,
        )
        task = selection_task(root, args.instruction, file, args.lines, run.ctx.documents)
        if session is None and settings.warm_start:
            # Off unless asked: the run's first request follows at once.
            from ollama_agent_ls.agent.warm import warm_start
            from ollama_agent_ls.headless import command_owner
            from ollama_agent_ls.mcp_tools.wiring import mcp_providers

            await warm_start(client, settings, root, mcp_providers(command_owner(), settings))
        result = await cancel_on_sigint(run.agent.cancel, run_task(run, task, follow_up=follow_up))
    printer.close()
    changes = await _review(run, result, root, approver) if review else None
    if not args.dry_run:
        record_run(run, result, changes)
    report_run(result, args.dry_run, as_json=args.json, shown=transcript.errors)
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


def never_started(result: RunResult) -> bool:
    """True for a run that failed before its first request (a setup problem)."""
    return result.status is RunStatus.FAILED and result.turns == 0 and result.metrics.requests == 0


def report_run(
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

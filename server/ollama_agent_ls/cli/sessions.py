"""``sessions`` and ``undo``, and keeping a run's conversation and changes for them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ollama_agent_ls.agent.result import RunResult
from ollama_agent_ls.cli.exits import EXIT_FAILED, EXIT_OK
from ollama_agent_ls.cli.parser import workspace_of

if TYPE_CHECKING:
    # Imported by the commands that use them: settings loads pydantic (~65 ms), which the
    # language server must not wait for before it answers initialize.
    from ollama_agent_ls.headless import DiskRun
    from ollama_agent_ls.sessions.store import SessionStore
    from ollama_agent_ls.settings import Settings
    from ollama_agent_ls.workspace.changes import FileChange


def session_store(root: Path, settings: Settings) -> SessionStore:
    from ollama_agent_ls.sessions.store import SessionStore

    return SessionStore.for_settings(root, settings)


def record_run(run: DiskRun, result: RunResult, changes: list[FileChange] | None = None) -> None:
    """Keep the conversation and the run's changes (``changes``: those on disk, when the run
    staged them for review), for --continue and undo."""
    error = run.core.record(run.run, result, changes=changes)
    if error is not None:
        sys.stderr.write(
            f"warning: the session could not be saved ({error}); --continue and undo will not "
            "know this run\n"
        )


def sessions_command(args: argparse.Namespace, settings: Settings) -> int:
    sessions = session_store(workspace_of(args), settings).list()
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


async def undo_command(args: argparse.Namespace, settings: Settings) -> int:
    from ollama_agent_ls.headless import undo_on_disk

    root = workspace_of(args)
    store = session_store(root, settings)
    found = store.find_run(None)
    if found is not None:
        session, record = found
        report = await undo_on_disk(root, record)
        store.mark_undone(session.session_id, record.run_id)
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

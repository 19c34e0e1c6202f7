"""python -m tests.evals: our CLI and language server beside aider on the same real model."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.evals import results as res
from tests.evals.catalog import TaskError, agent_version, load_tasks, snapshot_agent
from tests.evals.endpoint import (
    SIZES,
    Endpoint,
    EndpointError,
    behind_meter,
    openai_url,
    served_model,
    started_server,
)
from tests.evals.faces import AGENT_FORMATS, DEFAULT_AIDER_VENV, FACES
from tests.evals.runner import Plan, run_plan

DEFAULT_RESULTS = Path.home() / ".cache" / "ollama-agent-ls" / "evals" / "results.jsonl"


def _list(value: str, allowed: Sequence[str], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what} {bad}; choose from {', '.join(allowed)}")
    return items


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m tests.evals", description=__doc__)
    p.add_argument(
        "--model",
        default=None,
        help="0.5b or 1.5b: fetch and serve Qwen2.5-Coder (default 1.5b); with --base-url, the "
        "served model's name (default: the first one the server lists)",
    )
    p.add_argument("--base-url", help="use this running server instead of starting one")
    p.add_argument(
        "--api",
        choices=("openai", "ollama"),
        help="the server's API: openai (llama.cpp's server; the default with --base-url) or "
        "ollama (the default with --scripted)",
    )
    p.add_argument(
        "--faces",
        type=lambda v: _list(v, FACES, "face"),
        default=list(FACES),
        help=f"comma-separated, from {','.join(FACES)} (default: all)",
    )
    p.add_argument(
        "--formats",
        type=lambda v: _list(v, AGENT_FORMATS, "format"),
        default=list(AGENT_FORMATS),
        help="editFormat values for the cli and lsp faces (default: all)",
    )
    p.add_argument("--tasks", type=lambda v: v.split(","), help="comma-separated task ids")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="the JSONL results file")
    p.add_argument("--fresh", action="store_true", help="forget earlier results and start over")
    p.add_argument("--timeout", type=float, default=600, help="seconds per task run (default 600)")
    p.add_argument("--max-turns", type=int, default=10, help="maxTurns for our faces")
    p.add_argument("--aider-venv", type=Path, default=DEFAULT_AIDER_VENV)
    p.add_argument("--keep", action="store_true", help="keep each run's workspace")
    p.add_argument(
        "--snapshot",
        action="store_true",
        help="run a copy of the package taken at the start (others may edit the tree meanwhile)",
    )
    p.add_argument(
        "--no-meter",
        action="store_true",
        help="talk to the server directly; token figures are then each face's own",
    )
    p.add_argument("--list", action="store_true", help="list the tasks and exit")
    p.add_argument(
        "--report", action="store_true", help="print the results file's rows and totals and exit"
    )
    p.add_argument(
        "--scripted",
        choices=("solution", "nothing"),
        help="check the harness: a fake model that writes the reference solution (every run "
        "must pass) or nothing (every run must fail); no real model is used. --api picks the "
        "fake: ollama or openai (llama.cpp's dialect, through the meter)",
    )
    return p


@contextlib.contextmanager
def endpoint_for(args: argparse.Namespace, log_dir: Path) -> Iterator[Endpoint]:
    """The model server the arguments ask for (started here when none is given)."""
    if args.scripted:
        from tests.evals.scripted import scripted_endpoint

        with scripted_endpoint(args.scripted, args.api or "ollama") as scripted:
            yield scripted
        return
    if args.base_url:
        if args.api == "ollama":
            model = args.model or "qwen2.5-coder:1.5b"
            yield Endpoint("ollama", args.base_url.rstrip("/"), model, model)
            return
        url = openai_url(args.base_url)
        model = args.model if args.model and args.model not in SIZES else served_model(url)
        with _maybe_metered(Endpoint("openai", url, model, model), args.no_meter) as endpoint:
            yield endpoint
        return
    size = args.model or "1.5b"
    if size not in SIZES:
        raise EndpointError(f"--model {size}: without --base-url use one of {', '.join(SIZES)}")
    with (
        started_server(size, log_dir / "llama-server.log") as served,
        _maybe_metered(served, args.no_meter) as endpoint,
    ):
        yield endpoint


@contextlib.contextmanager
def _maybe_metered(endpoint: Endpoint, off: bool) -> Iterator[Endpoint]:
    if off:
        yield endpoint
        return
    with behind_meter(endpoint) as through_meter:
        yield through_meter


def main(argv: Sequence[str] | None = None) -> int:
    """Run the plan; prints a row per run and the totals; 0 unless the harness failed."""
    args = build_parser().parse_args(argv)
    try:
        tasks = load_tasks(args.tasks)
    except TaskError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if args.list:
        for task in tasks:
            sys.stdout.write(f"{task.id:<26} {task.kind:<9} {task.category}\n")
        return 0
    results = res.ResultsFile(args.results)
    if args.report:
        records = results.records()
        sys.stdout.write(res.HEADER + "\n" + "".join(res.row(r) + "\n" for r in records))
        res.print_totals(records, sys.stdout)
        return 0
    if args.fresh:
        results.clear()
    log_dir = args.results.with_suffix(".logs")
    if args.snapshot:
        copy = snapshot_agent(log_dir / "snapshots")
        sys.stdout.write(f"agent package snapshot: {copy}\n")
    plan = Plan(
        agent=agent_version(),
        tasks=tasks,
        faces=args.faces,
        formats=args.formats,
        timeout=args.timeout,
        max_turns=args.max_turns,
        log_dir=log_dir,
        aider_venv=args.aider_venv,
        keep_workspaces=args.keep,
    )
    try:
        with endpoint_for(args, log_dir) as endpoint:
            sys.stdout.write(f"model {endpoint.label} at {endpoint.url} ({endpoint.api})\n")
            records = run_plan(plan, endpoint, results, sys.stdout)
    except EndpointError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 3
    res.print_totals(records, sys.stdout)
    sys.stdout.write(f"\nresults: {args.results}\nlogs: {log_dir}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

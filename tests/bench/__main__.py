"""Run the benchmark suite: ``python -m tests.bench [--quick] [--only NAMES] [--out FILE]``.

Prints a table of figures against the targets of issue 7 and writes every sample as JSON
(default tests/bench/results/latest.json), after each part as it finishes; a part that fails is
named with its error and the others' figures are kept (exit status 1). Nothing here fails on a
number: the figures are for people, these machines are noisy, and each comparison runs its sides
alternately in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from .stats import table, verdict
from .streamer import StreamerProcess

HERE = Path(__file__).resolve().parent


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("httpx", "ollama", "pygls", "lsprotocol", "jedi-language-server"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


class _Streamer:
    """The benchmark Ollama look-alike, started by the first part that needs it."""

    def __init__(self) -> None:
        self._process: StreamerProcess | None = None

    def url(self) -> str:
        if self._process is None:
            self._process = StreamerProcess().__enter__()
        return self._process.url

    def close(self) -> None:
        if self._process is not None:
            self._process.__exit__(None, None, None)
            self._process = None


async def _ingest(s: _Streamer, quick: bool) -> dict[str, Any]:
    from . import ingest

    return {"ingest": await ingest.run_ingest(s.url(), 50_000, 2_000, 3 if quick else 7)}


async def _lsp(s: _Streamer, quick: bool) -> dict[str, Any]:
    from . import through_lsp

    url = s.url()
    run_time = await through_lsp.run_time(url, 50_000, 3 if quick else 7)
    # 10/s and 20/s: at or below the default cap of 20 notifications/s; 50/s: a fast model,
    # above it (each chunk waits for the next flush), then with the cap raised to 1000/s,
    # which leaves the server's own delay.
    n = 1 if quick else 3
    slow = [(20 * n, 100_000), (30 * n, 50_000), (60 * n, 20_000)]
    latency = {
        **await through_lsp.latency(url, slow),
        **await through_lsp.latency(url, [(60 * n, 20_000)], updates_per_second=1000),
    }
    return {"lsp_run_time": run_time, "lsp_latency": latency}


async def _memory(s: _Streamer, quick: bool) -> dict[str, Any]:
    from . import through_lsp

    return {"memory": await through_lsp.memory(s.url(), 50 if quick else 200)}


async def _edits(s: _Streamer, quick: bool) -> dict[str, Any]:
    from . import edits

    return {"edits": await edits.run_edits(7 if quick else 21)}


async def _startup(s: _Streamer, quick: bool) -> dict[str, Any]:
    from . import startup

    return {"startup": await startup.run_startup(5 if quick else 11)}


async def _prompt(s: _Streamer, quick: bool) -> dict[str, Any]:
    from . import prompt_weight

    return {"prompt": prompt_weight.run_prompt_weight()}


async def _sandbox(s: _Streamer, quick: bool) -> dict[str, Any]:
    from . import sandbox

    return {"sandbox": await sandbox.run_sandbox(3 if quick else 7)}


async def _cache(s: _Streamer, quick: bool) -> dict[str, Any]:
    from . import prompt_cache

    return {"cache": await asyncio.to_thread(prompt_cache.run_prompt_cache)}


Part = Callable[[_Streamer, bool], Awaitable[dict[str, Any]]]
PARTS: dict[str, Part] = {
    "ingest": _ingest,
    "lsp": _lsp,
    "memory": _memory,
    "edits": _edits,
    "startup": _startup,
    "prompt": _prompt,
    "sandbox": _sandbox,
    "cache": _cache,
}


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path`` whole or not at all (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


async def run_parts(names: list[str], quick: bool, out: Path) -> dict[str, Any]:
    """Run each named part; its figures are written to ``out`` as soon as it finishes, and a
    part that fails is recorded under ``failed`` (with why) while the others go on."""
    results: dict[str, Any] = {"machine": machine(), "quick": quick, "failed": {}}
    streamer = _Streamer()
    try:
        for name in names:
            began = time.perf_counter()
            print(f"{name}: running...", flush=True)
            try:
                results.update(await PARTS[name](streamer, quick))
            except Exception as exc:  # one part's failure must not cost the others' figures
                why = f"{type(exc).__name__}: {exc}".strip()
                results["failed"][name] = why
                print(f"{name}: FAILED after {time.perf_counter() - began:.0f} s: {why}")
            else:
                print(f"{name}: done in {time.perf_counter() - began:.0f} s", flush=True)
            write_results(out, results)
    finally:
        streamer.close()
    return results


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def summary_rows(r: dict[str, Any]) -> list[list[str]]:
    """One row per headline figure: what, measured, target, verdict."""
    rows: list[list[str]] = []
    for variant, data in r.get("ingest", {}).items():
        rate = data["chunks_per_s"]
        rows.append(
            [
                f"1 ingest {variant}: chunks/s raw socket; (a) httpx; (b) ollama; (c) ours",
                "; ".join(
                    _fmt(rate[k])
                    for k in ("raw_socket", "a_httpx_floor", "b_ollama_package", "c_ours")
                ),
                "",
                "",
            ]
        )
        ca, cb = data["ratio_c_over_a"], data["ratio_c_over_b"]
        rows.append([f"1 ingest {variant}: (c)/(a)", _fmt(ca, 2), ">= 0.90", verdict(ca >= 0.9)])
        rows.append([f"1 ingest {variant}: (c)/(b)", _fmt(cb, 2), ">= 1.20", verdict(cb >= 1.2)])
    if "lsp_run_time" in r:
        d = r["lsp_run_time"]
        s = d["seconds"]
        rows.append(
            [
                f"2 {d['chunks']:,} chunks: run via server / (c) alone",
                f"{_fmt(d['ratio_server_over_alone'], 2)} "
                f"({s['through_server']['median']:.3f} s / {s['c_alone']['median']:.3f} s)",
                "<= 1.10",
                verdict(d["ratio_server_over_alone"] <= 1.10),
            ]
        )
        rate = d["delta_notifications_per_s"]["median"]
        rows.append(
            [
                "2 content/thinking notifications per second (flood; 1 / median gap)",
                _fmt(rate, 1),
                "<= ~20",
                verdict(rate <= 21),
            ]
        )
    for d in r.get("lsp_latency", {}).values():
        offered = d["chunks_per_s_offered"]
        cap = d.get("transcript_updates_per_second", 20)
        within_cap = offered <= cap
        rows.append(
            [
                f"2 delay chunk -> client, {offered:g} chunks/s, cap {cap:g}/s: median; p90 (ms)",
                f"{d['delay_ms_median']:.2f}; {d['delay_ms_p90']:.2f}",
                "median < 5" if within_cap else f"<= 1/{cap:g} s (held for the cap)",
                verdict(d["delay_ms_median"] < 5)
                if within_cap
                else verdict(d["delay_ms_max"] <= 1000 / cap + 5),
            ]
        )
        most = d.get("most_content_notifications_in_a_second", 0)
        rows.append(
            [
                f"2 content notifications/s at {offered:g} chunks/s, cap {cap:g}/s: "
                "pace; most in any 1 s",
                f"{_fmt(d['content_notifications_per_s'], 1)}; {most}",
                f"<= ~{cap:g}",
                verdict(d["content_notifications_per_s"] <= cap * 1.05 and most <= cap + 1),
            ]
        )
    if "edits" in r:
        d = r["edits"]
        size = f"{d['file_bytes'] / 1e6:.2f} MB"
        rows.append(
            [
                f"3 edit_file -> WorkspaceEdit, {size} (ms)",
                _fmt(d["edit_file_median_ms"], 1),
                "< 20",
                verdict(d["edit_file_median_ms"] < 20),
            ]
        )
        rows.append(
            [
                "3 write_file 10 lines changed -> minimal edits (ms)",
                _fmt(d["write_file_median_ms"], 1),
                "< 100",
                verdict(d["write_file_median_ms"] < 100),
            ]
        )
    if "startup" in r:
        d = r["startup"]
        rows.append(
            [
                "4 spawn -> initialize result, ours; jedi-language-server (ms)",
                f"{d['ours_median_ms']:.0f}; {d['jedi_median_ms']:.0f} "
                f"(x{d['ratio_ours_over_jedi']:.2f})",
                "ours < 400",
                verdict(d["ours_median_ms"] < 400),
            ]
        )
    if "prompt" in r:
        for row in r["prompt"]["rows"]:
            t = row["total"]
            target = row["name"] == "ollama-agent-ls"
            worst = max(t["tokens_bytes_div_4"], t["tokens_pretokens"])
            rows.append(
                [
                    f"5 prompt weight {row['name']} ({row['tool_count']} tools): "
                    "bytes; tokens (bytes/4, pre-tokens)",
                    f"{t['bytes']:,}; {t['tokens_bytes_div_4']:,}, {t['tokens_pretokens']:,}",
                    "<= 1,200 tokens" if target else "",
                    verdict(worst <= 1200) if target else "",
                ]
            )
    if "memory" in r:
        d = r["memory"]
        rss = d["rss_bytes"]
        growth = d["growth_after_10_bytes"] / 1e6
        last = rss[f"after_{d['runs']}_runs"] / 1e6
        rows.append(
            [
                f"6 RSS after 10, {d['runs']} runs (MB); growth",
                f"{rss['after_10_runs'] / 1e6:.1f}, {last:.1f}; {growth:+.2f} MB",
                "growth < 10 MB",
                verdict(growth < 10),
            ]
        )
    if "sandbox" in r:
        d = r["sandbox"]
        c, p = d["command_ms"], d["process_ms"]
        rows.append(
            [
                "7 run_command `true` with checkpoints: off; sandboxed (ms)",
                f"{c['off']:.1f}; {c['sandboxed']:.1f} (+{c['sandboxed'] - c['off']:.1f})",
                "",
                "",
            ]
        )
        rows.append(
            [
                "7 bare start: /bin/sh; bwrap + /bin/sh (ms)",
                f"{p['sh']:.1f}; {p['bwrap']:.1f}",
                "",
                "",
            ]
        )
        k = d["checkpoints"]
        rows.append(
            [
                f"7 checkpoint {k['files']:,} files ({k['bytes'] / 1e6:.1f} MB): first; unchanged; "
                "10 changed + diff (s)",
                f"{k['first_median_s']:.2f}; {k['unchanged_median_s']:.3f}; "
                f"{k['changed_10_median_s']:.3f}",
                "",
                "",
            ]
        )
    for name, d in r.get("cache", {}).items():
        rows.append(
            [
                f"8 {name}: pure appends; compactions; re-evaluated / ideal; / (ideal + refills)",
                f"{d['pure_appends']}/{d['requests'] - 1} ({d['pure_append_share']:.0%}); "
                f"{d['compaction_steps']}; {d['evaluated_over_ideal']:.2f}; "
                f"{d['evaluated_over_ideal_plus_refills']:.2f}",
                ">= 90%; ; <= 1.15",
                verdict(d["pure_append_share"] >= 0.9 and d["evaluated_over_ideal"] <= 1.15),
            ]
        )
    return rows


BENCHMARKS = tuple(PARTS)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated: {','.join(BENCHMARKS)}"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    start = time.perf_counter()
    results = asyncio.run(run_parts(names, args.quick, args.out))
    results["wall_seconds"] = time.perf_counter() - start
    write_results(args.out, results)
    print(table(summary_rows(results), ["benchmark", "measured", "target", ""]))
    for name, why in results["failed"].items():
        print(f"\n{name} FAILED: {why}")
    print(f"\n{results['wall_seconds']:.0f} s; all samples in {args.out}")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

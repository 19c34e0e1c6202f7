"""The results file (one JSON line per task run, appended as each finishes) and the figures."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO


def key_of(record: dict[str, Any]) -> tuple[str, str, str, str]:
    """What makes a run unique: task, face, edit format and model."""
    return (
        str(record.get("task")),
        str(record.get("face")),
        str(record.get("format")),
        str(record.get("model")),
    )


@dataclass
class ResultsFile:
    """A JSONL file of run records; a half-written last line (a killed run) is ignored."""

    path: Path

    def records(self) -> list[dict[str, Any]]:
        """Every complete record, oldest first."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def done(self) -> set[tuple[str, str, str, str]]:
        """Keys of the runs already recorded; a run the harness or setup broke is tried again."""
        return {key_of(r) for r in self.records() if not r.get("error")}

    def append(self, record: dict[str, Any]) -> None:
        """Add one record as one line, flushed at once so a crash keeps it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as out:
            out.seek(0, 2)
            # A run killed mid-write leaves a line without its newline: start a fresh one.
            if out.tell() > 0:
                out.seek(-1, 2)
                if out.read(1) != b"\n":
                    out.write(b"\n")
            out.write((json.dumps(record, sort_keys=True) + "\n").encode())
            out.flush()

    def clear(self) -> None:
        """Forget every record (--fresh)."""
        if self.path.exists():
            self.path.unlink()


def _num(value: Any, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


def cached_share(record: dict[str, Any]) -> float | None:
    """Cached prompt tokens as a share of all prompt tokens, when both are known."""
    prompt, cached = record.get("promptTokens"), record.get("cachedPromptTokens")
    if not prompt or cached is None:
        return None
    return float(cached) / float(prompt)


HEADER = (
    f"{'task':<26} {'face':<11} {'format':<14} {'pass':<4} {'turns':>5} {'wall s':>7} "
    f"{'prompt tok':>10} {'cached':>6} {'fmt err':>7}  note"
)


def row(record: dict[str, Any]) -> str:
    """One printed line for a run."""
    share = cached_share(record)
    note = record.get("error") or ("timed out" if record.get("timedOut") else "")
    if not note and not record.get("passed"):
        note = str(record.get("status") or "")
    return (
        f"{record['task']:<26.26} {record['face']:<11} {record['format']:<14} "
        f"{'yes' if record.get('passed') else 'NO':<4} {_num(record.get('turns')):>5} "
        f"{_num(record.get('wallSeconds'), '{:.0f}'):>7} {_num(record.get('promptTokens')):>10} "
        f"{'-' if share is None else f'{share:.0%}':>6} {_num(record.get('formatErrors')):>7}  "
        f"{note}"
    ).rstrip()


def totals(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, face, format): runs, passed, success rate, wall time and prompt tokens."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((str(r["model"]), str(r["face"]), str(r["format"])), []).append(r)
    out = []
    for (model, face, fmt), rs in sorted(groups.items()):
        passed = sum(1 for r in rs if r.get("passed"))
        prompt = [r["promptTokens"] for r in rs if r.get("promptTokens") is not None]
        known = [r for r in rs if r.get("promptTokens") and r.get("cachedPromptTokens") is not None]
        cached_of = sum(r["promptTokens"] for r in known)
        cached = sum(r["cachedPromptTokens"] for r in known)
        out.append(
            {
                "model": model,
                "face": face,
                "format": fmt,
                "runs": len(rs),
                "passed": passed,
                "successRate": passed / len(rs),
                "wallSeconds": sum(float(r.get("wallSeconds") or 0) for r in rs),
                "promptTokens": sum(prompt) if prompt else None,
                # Over the runs whose face reports its cache use (aider's does not here).
                "cachedShare": cached / cached_of if cached_of else None,
                "formatErrors": sum(int(r.get("formatErrors") or 0) for r in rs),
            }
        )
    return out


def print_totals(records: list[dict[str, Any]], out: TextIO) -> None:
    """The totals table, one line per model/face/format, as a markdown table."""
    out.write(
        "\n| model | face | format | passed | success | wall time | prompt tokens | cached "
        "| format errors |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    for t in totals(records):
        share = t["cachedShare"]
        out.write(
            f"| {t['model']} | {t['face']} | {t['format']} | {t['passed']}/{t['runs']} "
            f"| {t['successRate']:.0%} | {t['wallSeconds'] / 60:.1f} min "
            f"| {_num(t['promptTokens'])} | {'-' if share is None else f'{share:.0%}'} "
            f"| {t['formatErrors']} |\n"
        )

"""Medians, ratios and alternating measurement: every comparison runs its sides interleaved."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Samples:
    """Repeated measurements of one side, in seconds (or any unit the caller keeps)."""

    name: str
    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median of the values; nan when there are none."""
        return statistics.median(self.values) if self.values else float("nan")

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0..1) by nearest rank; nan when there are none."""
        if not self.values:
            return float("nan")
        ordered = sorted(self.values)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index]

    def to_json(self) -> dict[str, Any]:
        """The samples with their summary."""
        return {
            "name": self.name,
            "n": len(self.values),
            "median": self.median,
            "min": min(self.values) if self.values else None,
            "max": max(self.values) if self.values else None,
            "values": self.values,
        }


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, nan when the denominator is zero."""
    return numerator / denominator if denominator else float("nan")


def rotations(names: Sequence[str], rounds: int) -> list[list[str]]:
    """Orders for each round: the sides rotate so none always runs first (warm caches, turbo)."""
    n = len(names)
    return [[names[(r + i) % n] for i in range(n)] for r in range(rounds)]


async def alternate(
    sides: dict[str, Callable[[], Awaitable[float]]], rounds: int, warmup: int = 1
) -> dict[str, Samples]:
    """Run each side ``rounds`` times, interleaved and rotated; each call returns its own time."""
    for _ in range(warmup):
        for run in sides.values():
            await run()
    samples = {name: Samples(name) for name in sides}
    for order in rotations(list(sides), rounds):
        for name in order:
            samples[name].values.append(await sides[name]())
    return samples


def verdict(ok: bool | None) -> str:
    """A table cell for a target: met, missed, or no target."""
    if ok is None:
        return ""
    return "met" if ok else "MISSED"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain-text table (also valid Markdown) for the terminal and the README."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])

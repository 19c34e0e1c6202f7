"""Errors every face reports its own way."""

from __future__ import annotations


class UsageError(Exception):
    """A mistake in what the user asked for (a path, a line range, a setting); the CLI prints
    the command's usage and exits 2."""

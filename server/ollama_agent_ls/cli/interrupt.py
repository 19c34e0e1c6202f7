"""Ctrl-C during a run or a spec: a clean cancel instead of a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def cancel_on_sigint(cancel: Callable[[], object], work: Awaitable[T]) -> T:
    """Await ``work`` with Ctrl-C mapped to ``cancel`` (the run ends cleanly, cancelled)."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows has no handlers
        loop.add_signal_handler(signal.SIGINT, cancel)
    try:
        return await work
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)

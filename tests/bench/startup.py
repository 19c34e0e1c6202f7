"""Item 4: process spawn to the ``initialize`` result, ours next to jedi-language-server.

Both start as ``python -c/-m`` with the same interpreter (no console-script shims in the way), get
the same initialize request, and are shut down cleanly; they alternate round by round.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .lsp_client import LspClient
from .stats import alternate, ratio

OURS = [sys.executable, "-m", "ollama_agent_ls"]
JEDI = [
    sys.executable,
    "-c",
    "import sys; from jedi_language_server.cli import cli; sys.exit(cli())",
]


async def _start_once(command: list[str], root: Path) -> float:
    client = LspClient(command)
    await client.start()
    try:
        await asyncio.wait_for(client.initialize(root), 60)
        elapsed = (time.monotonic_ns() - client.spawned_ns) / 1e9
    finally:
        await client.stop()
    return elapsed


async def run_startup(rounds: int) -> dict[str, Any]:
    """Median seconds from spawn to initialize result for both servers."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        async def ours() -> float:
            return await _start_once(OURS, root)

        async def jedi() -> float:
            return await _start_once(JEDI, root)

        samples = await alternate({"ollama_agent_ls": ours, "jedi_language_server": jedi}, rounds)
    return {
        "seconds": {name: s.to_json() for name, s in samples.items()},
        "ours_median_ms": samples["ollama_agent_ls"].median * 1000,
        "jedi_median_ms": samples["jedi_language_server"].median * 1000,
        "ratio_ours_over_jedi": ratio(
            samples["ollama_agent_ls"].median, samples["jedi_language_server"].median
        ),
    }

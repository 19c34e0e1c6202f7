"""`ollama-agent-ls run` on a real model: small tasks, each judged by running the code it left.

The model is Qwen2.5-Coder (1.5B, or the 0.5B fallback) on llama.cpp's own server, reached
through the OpenAI-compatible backend. Temperature 0, a fixed seed and one thread make the runs
repeatable; the prompts hold only relative paths, so no temporary directory changes them. What
is asserted is the task's own check, never the model's wording.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.realmodel.fixtures import RealModel

REPEATABLE = json.dumps({"temperature": 0, "seed": 42})
# A CPU turn of the 1.5B takes seconds to a minute; this bounds a stuck run, not a slow one.
RUN_LIMIT_SECONDS = 600


def run_agent(model: RealModel, root: Path, *args: str) -> dict[str, Any]:
    """Run the CLI on ``root`` against the real model; the --json result."""
    env = {**os.environ, "NO_COLOR": "1"}
    for var in ("OLLAMA_AGENT_MODEL", "OLLAMA_AGENT_BACKEND", "OLLAMA_AGENT_BASE_URL"):
        env.pop(var, None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ollama_agent_ls",
            "run",
            *args,
            "-w",
            str(root),
            "--base-url",
            model.base_url,
            "-m",
            model.model,
            "--yes",
            "--json",
            "-o",
            f"options={REPEATABLE}",
            "-o",
            "maxTurns=8",
        ],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=RUN_LIMIT_SECONDS,
    )
    assert done.stdout, f"no result (exit {done.returncode}); stderr:\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    result["transcript"] = done.stderr
    return result


def check(root: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run the task's check in ``root``: Python that asserts the code works."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )


def passes(root: Path, code: str, result: dict[str, Any]) -> None:
    outcome = check(root, code)
    files = {p.name: p.read_text() for p in root.glob("*.py")}
    assert outcome.returncode == 0, (
        f"the task's check failed: {outcome.stderr[-800:]}\nfiles: {files}\n"
        f"run: {result['status']} {result['summary']}\n{result['transcript'][-2000:]}"
    )


def test_a_one_line_bug_in_a_selection_is_fixed(real_model: RealModel, tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text(
        "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
    )
    result = run_agent(
        real_model,
        tmp_path,
        "fix the bug: add must return the sum of a and b",
        "--file",
        "calc.py",
        "--lines",
        "1-2",
    )
    passes(
        tmp_path, "from calc import add, mul\nassert add(2, 3) == 5\nassert mul(2, 3) == 6", result
    )
    assert result["status"] == "completed"
    assert result["changedFiles"] == ["calc.py"]


def test_a_todo_is_implemented(real_model: RealModel, tmp_path: Path) -> None:
    (tmp_path / "mathx.py").write_text(
        "def clamp(value, low, high):\n"
        "    # TODO: return value limited to the range [low, high]\n"
        "    pass\n"
    )
    result = run_agent(real_model, tmp_path, "implement the TODO in clamp", "--file", "mathx.py")
    passes(
        tmp_path,
        "from mathx import clamp\n"
        "assert clamp(5, 0, 3) == 3 and clamp(-1, 0, 3) == 0 and clamp(2, 0, 3) == 2",
        result,
    )
    assert result["status"] == "completed"


def test_a_function_is_renamed_across_two_files(real_model: RealModel, tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text(
        'def total_price(items):\n    return sum(i["price"] for i in items)\n'
    )
    (tmp_path / "report.py").write_text(
        "from shop import total_price\n\n\n"
        'def receipt(items):\n    return f"Total: {total_price(items)}"\n'
    )
    result = run_agent(
        real_model,
        tmp_path,
        "rename the function total_price to order_total everywhere (shop.py and report.py)",
    )
    passes(
        tmp_path,
        "import shop, report\n"
        "assert not hasattr(shop, 'total_price')\n"
        "assert shop.order_total([{'price': 2}]) == 2\n"
        "assert report.receipt([{'price': 2}]) == 'Total: 2'",
        result,
    )
    assert sorted(result["changedFiles"]) == ["report.py", "shop.py"]


@pytest.mark.parametrize("fmt", ["whole", "search-replace"])
def test_both_text_formats_reach_the_disk(real_model: RealModel, tmp_path: Path, fmt: str) -> None:
    (tmp_path / "greet.py").write_text('def greet(name):\n    return "Hello " + name\n')
    result = run_agent(
        real_model,
        tmp_path,
        "change greet so that it returns 'Hello, NAME!' (a comma after Hello and a ! at the end)",
        "--file",
        "greet.py",
        "-o",
        f"editFormat={fmt}",
    )
    passes(tmp_path, "from greet import greet\nassert greet('Ann') == 'Hello, Ann!'", result)
    assert result["metrics"]["editFormat"] == fmt

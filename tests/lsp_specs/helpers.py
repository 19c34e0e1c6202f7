"""A spec workspace and an editor session configured for spec runs through the server."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types

from tests.fake_ollama import call
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import Editor

RUN_SPEC = "ollamaAgent.runSpec"
VERIFY_SPEC = "ollamaAgent.verifySpec"
RUN_TITLE = "Run spec with Ollama agent"
VERIFY_TITLE = "Verify spec"
MODEL = "qwen3:8b"
SPEC_ID = "2026-02-03-002-m2x"
SPEC_REL = f".chant/specs/{SPEC_ID}.md"
FIX_GREETING = call(
    "edit_file",
    {"path": "greet.py", "old_string": "GREETING = None", "new_string": 'GREETING = "hello"'},
)
"""The model's edit that does what the spec written by ``write_spec`` asks."""
TICK_BOTH = (
    call("check_criterion", {"index": 1, "evidence": "edited greet.py"}),
    call("check_criterion", {"index": 2, "evidence": "ran check.py"}),
)
"""The model ticking both criteria of that spec, as one reply: ``Reply.calls(*TICK_BOTH)``."""

CHECK = """\
import sys
text = open("greet.py", encoding="utf-8").read()
if 'GREETING = "hello"' not in text:
    print("CHECK-FAILED: greet.py has no GREETING = \\"hello\\"; found: " + text.strip())
    sys.exit(1)
print("check ok")
"""
VERIFY = f"{shlex.quote(sys.executable)} check.py"
"""Quick and portable: this interpreter runs a script reading greet.py from disk."""

FRONTMATTER = """\
---
type: code
# chant keeps the status here; the agent must not touch this comment
status: pending
target_files:
- greet.py
labels: [small, lsp]
{extra}---
"""
BODY = """
# Add a greeting

## Problem

There is no greeting.

## Acceptance Criteria

- [ ] `greet.py` defines `GREETING = "hello"`
- [ ] the check script passes
"""


def write_spec(
    root: Path,
    *,
    extra: str = "",
    verify: str | None = VERIFY,
    rel: str = SPEC_REL,
    body: str = BODY,
) -> Path:
    """greet.py, check.py and a spec at ``rel``; ``extra`` goes at the end of the frontmatter.

    ``verify`` is the spec's one verify command; None leaves the verify key out.
    """
    (root / "greet.py").write_text("GREETING = None\n", encoding="utf-8")
    (root / "check.py").write_text(CHECK, encoding="utf-8")
    if verify is not None:
        # A JSON string is a valid YAML double-quoted scalar, whatever the interpreter path holds.
        extra = f"verify:\n- {json.dumps(verify)}\n{extra}"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FRONTMATTER.format(extra=extra) + body, encoding="utf-8")
    return path


def frontmatter_lines(text: str) -> list[str]:
    """The YAML lines between the two ``---`` lines."""
    return text.split("---\n")[1].splitlines()


SETTINGS: dict[str, Any] = {
    "model": MODEL,
    "commandApproval": "always",
    "approvalTimeout": 5,
    "verifyRounds": 1,
}


async def start_for_specs(
    start_editor: StartEditor, settings: dict[str, Any] | None = None, **kwargs: Any
) -> Editor:
    """An editor session with the spec settings as initializationOptions and configuration.

    The server applies initializationOptions during initialize and every command waits for the
    configuration pull, so nothing more is needed for them to be in force.
    """
    section = {**SETTINGS, **(settings or {})}
    return await start_editor(section, configuration={"ollamaAgent": section}, **kwargs)


def without_code_lens(caps: types.ClientCapabilities) -> types.ClientCapabilities:
    """``caps`` minus textDocument.codeLens: a client that cannot show code lenses."""
    assert caps.text_document is not None
    caps.text_document.code_lens = None
    if caps.workspace is not None:
        caps.workspace.code_lens = None
    return caps

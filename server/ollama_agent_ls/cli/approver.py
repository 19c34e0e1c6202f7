"""The CLI's approver: asks on the terminal (/dev/tty) whether a command may run."""

from __future__ import annotations

import asyncio
import os
import select
import sys
import threading
from typing import TextIO

from ollama_agent_ls.tools.command_policy import normalise_command
from ollama_agent_ls.tools.context import Approval, ApprovalRequest


def _parse_answer(answer: str) -> Approval:
    word = answer.strip().lower()
    if word in ("y", "yes"):
        return Approval.ALLOW
    if word in ("a", "all", "allow", "always"):
        return Approval.ALLOW_FOR_SESSION
    return Approval.DENY


def _read_tty_line(fd: int, stop: threading.Event) -> str | None:
    """One line from ``fd`` (closed afterwards); None at EOF or once ``stop`` is set."""
    buf = b""
    try:
        while not stop.is_set():
            # A short select timeout so a cancelled ask does not leave a thread reading the
            # terminal (it would swallow the answer to the next question).
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            if stop.is_set():
                return None  # the answer belongs to the next question
            chunk = os.read(fd, 1024)
            if not chunk:
                return buf.decode("utf-8", errors="replace") if buf else None
            buf += chunk
            if b"\n" in buf:
                return buf.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        return None
    finally:
        os.close(fd)


class TerminalApprover:
    """The CLI's approver: prompts on stderr and reads the answer from the terminal (/dev/tty)."""

    def __init__(
        self,
        input: TextIO | None = None,
        output: TextIO | None = None,
        tty_path: str = "/dev/tty",
    ) -> None:
        self._input = input
        self._output = output
        self._tty_path = tty_path
        self._lock = asyncio.Lock()
        self.allowed: set[str] = set()
        """The commands (normalised) the person let run, so a later question can tell."""
        self.allowed_for_session: set[str] = set()
        """The commands (normalised) the person allowed for this session: the process's runs
        (a spec's rounds each have their own ToolContext), so they are remembered here."""
        self.refusals: list[str] = []
        """For each command that did not run, what the person saw happen (oldest first): the
        transcript shows this instead of the text meant for the model."""

    def _write(self, text: str) -> None:
        out = self._output if self._output is not None else sys.stderr
        out.write(text)
        out.flush()

    def _open_tty(self) -> int | None:
        try:
            fd = os.open(self._tty_path, os.O_RDONLY | getattr(os, "O_NOCTTY", 0))
        except OSError:
            return None
        if not os.isatty(fd):
            os.close(fd)
            return None
        return fd

    def can_ask(self) -> bool:
        """True when a person can answer: an input was given, or a terminal can be opened."""
        if self._input is not None:
            return True
        fd = self._open_tty()
        if fd is None:
            return False
        os.close(fd)
        return True

    async def _answer(self, prompt: str) -> str | None:
        """Write ``prompt`` and read one line; None when nobody can or did answer."""
        fd = None
        if self._input is None:
            fd = self._open_tty()
            if fd is None:
                return None
        self._write(prompt)
        if fd is not None:
            stop = threading.Event()
            try:
                return await asyncio.to_thread(_read_tty_line, fd, stop)
            finally:
                stop.set()
        assert self._input is not None
        return await asyncio.to_thread(self._input.readline) or None

    async def choose(self, prompt: str) -> str | None:
        """Ask ``prompt`` on the terminal: the answer (stripped, lower case), or None when there
        is no terminal or no answer came."""
        async with self._lock:
            answer = await self._answer(prompt)
        return None if answer is None else answer.strip().lower()

    async def ask(self, request: ApprovalRequest) -> Approval:
        """Prompt for ``request``; y = allow, a = allow for this session, anything else = deny."""
        async with self._lock:  # one question at a time on one terminal
            if self._allowed_before(request):
                self._write(f"`{request.command}` runs: you allowed it for this session\n")
                return Approval.ALLOW_FOR_SESSION
            # An outside-the-sandbox refusal keeps the sandboxed result, which is no refusal.
            refusals = [] if request.outside_sandbox else self.refusals
            if not self.can_ask():
                self._write(self._no_terminal_message(request))
                refusals.append("not run: there was no terminal to ask you (see above)")
                return Approval.DENY
            if request.outside_sandbox:
                prompt = (
                    f"\nRun this command OUTSIDE the sandbox, in {request.cwd}?\n"
                    f"  $ {request.command}\n  [{request.reason}]\n"
                    "Run outside the sandbox (once): [y]es / [N]o: "
                )
            elif request.destructive:
                # The policy's reason starts with "destructive:"; say it once.
                what = request.reason.removeprefix("destructive:").strip()
                prompt = (
                    f"\nRun this command in {request.cwd}?\n  $ {request.command}\n"
                    f"  [DESTRUCTIVE - {what}]\n"
                    "[y]es / [N]o (a destructive command asks every time): "
                )
            elif request.kind == "tool":
                prompt = (
                    f"\nCall this MCP tool?\n  {request.command}\n"
                    f"  [{request.reason}]\n[y]es / [a]llow for this session / [N]o: "
                )
            else:
                prompt = (
                    f"\nRun this command in {request.cwd}?\n  $ {request.command}\n"
                    f"  [{request.reason}]\n[y]es / [a]llow for this session / [N]o: "
                )
            answer = await self._answer(prompt)
            if answer is None:
                self._write("\nNo answer: not run.\n")
                refusals.append("not run: no answer came")
                return Approval.DENY
            parsed = _parse_answer(answer)
            if (request.outside_sandbox or request.destructive) and parsed is not Approval.ALLOW:
                # Only "y" was offered: "all" is no answer where every run asks again.
                parsed = Approval.DENY
            if parsed is Approval.DENY:
                self._write("Not run.\n")
                refusals.append("not run: you answered no")
            else:
                self.allowed.add(normalise_command(request.command))
            if parsed is Approval.ALLOW_FOR_SESSION:
                self.allowed_for_session.add(normalise_command(request.command))
            return parsed

    def _allowed_before(self, request: ApprovalRequest) -> bool:
        """True when the person allowed this command for the session (never a destructive one,
        nor one outside the sandbox: those ask every time)."""
        return (
            not request.destructive
            and not request.outside_sandbox
            and normalise_command(request.command) in self.allowed_for_session
        )

    @staticmethod
    def _no_terminal_message(request: ApprovalRequest) -> str:
        """Why a command was not run when nobody could be asked, and what would let it run."""
        head = f"No terminal to ask whether to run `{request.command}`, so it was not run"
        if request.outside_sandbox:
            return (
                f"{head} outside the sandbox: only a person can allow that. Run ollama-agent-ls "
                "in a terminal to be asked.\n"
            )
        if request.destructive:
            what = request.reason.removeprefix("destructive:").strip()
            return (
                f"{head}: it is destructive ({what}), and a destructive command always asks a "
                "person, even with --yes or commandApproval=always. Run ollama-agent-ls in a "
                "terminal to answer.\n"
            )
        if "sandbox" in request.reason:
            # Asked because no sandbox could be set up: the reason names that fix.
            return f"{head}: {request.reason}.\n"
        return (
            f"{head} ({request.reason}). Run in a terminal to be asked, or let commands run "
            "without asking: --yes (in the sandbox), or -o commandApproval=allowlist with "
            "-o allowedCommands='[\"pytest\"]'.\n"
        )

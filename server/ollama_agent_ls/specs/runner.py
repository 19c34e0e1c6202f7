"""One spec run, for the CLI and the language server alike: the tool owns the spec's lifecycle.

The caller supplies an Agent factory (it receives the ``check_criterion`` tool to add); every
change to the spec file goes through ``apply`` (by default the run's own sink, so on disk it is
written, in a dry run staged, and through the language server it is a workspace edit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.agent.loop import Agent
from ollama_agent_ls.agent.prompts import AgentTask
from ollama_agent_ls.agent.result import RunResult, RunStatus
from ollama_agent_ls.specs.frontmatter_edit import (
    OutputReport,
    VerifyReport,
    render_agent_output,
    set_agent_output,
    set_keys,
    tick_criterion,
)
from ollama_agent_ls.specs.lifecycle import build_spec_prompt, build_verify_feedback, refusal
from ollama_agent_ls.specs.model import Spec, SpecError, parse_spec, scan_body
from ollama_agent_ls.tools import shell
from ollama_agent_ls.tools.context import ToolContext, ToolError
from ollama_agent_ls.tools.executor import ExtraTool
from ollama_agent_ls.tools.schemas import CheckCriterionArgs
from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.documents import DocumentError

log = logging.getLogger(__name__)

SpecOutcome = Literal["completed", "needs_attention", "failed", "refused"]
AgentFactory = Callable[[Sequence[ExtraTool]], Agent]
ChangeApplier = Callable[[FileChange], Awaitable[None]]
VerifyRunner = Callable[[ToolContext, str], Awaitable[VerifyReport]]


def utc_now() -> str:
    """The current time as ISO 8601 UTC with seconds, e.g. 2026-02-03T10:11:12Z."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return now.isoformat().replace("+00:00", "Z")


async def shell_verify(ctx: ToolContext, command: str) -> VerifyReport:
    """Run a verify command through run_command, so the run's approval policy applies."""
    try:
        result = await shell.run_command_result(ctx, command)
    except ToolError as exc:
        return VerifyReport(command, False, str(exc), None, ran=False)
    return VerifyReport(command, result.exit_code == 0, result.text, result.exit_code)


@dataclass
class SpecRunResult:
    """How a spec run ended and what it left behind."""

    status: SpecOutcome
    reason: str
    spec_path: Path
    run: RunResult | None = None
    verify: list[VerifyReport] = field(default_factory=list)
    ticked: dict[int, str] = field(default_factory=dict)
    """Criteria ticked in this run: index -> the agent's evidence."""
    cancelled: bool = False
    rounds: int = 0
    """Agent rounds run (1 + the verify fix-up rounds)."""

    @property
    def setup_problem(self) -> bool:
        """True when Ollama or the model was not usable (CLI exit 3)."""
        return self.run is not None and self.run.setup_problem

    @property
    def changed_files(self) -> list[str]:
        """Files the agent changed (the spec's own bookkeeping is not counted)."""
        if self.run is None:
            return []
        return [rel for rel in self.run.changed_files if rel != self.spec_rel]

    spec_rel: str = ""
    """The spec's path relative to the workspace."""

    def result_json(self, run: RunResult | None, changed_files: list[str]) -> dict[str, Any]:
        """The shape runSpec answers with and ``spec --json`` prints: ``run``'s fields (a
        refused spec has none), then the spec's; each face names the changed files its way."""
        return {
            "status": run.status.value if run else "failed",
            "summary": run.summary if run else self.reason,
            "changedFiles": changed_files,
            "turns": run.turns if run else 0,
            "metrics": run.metrics.to_json() if run else {},
            "specStatus": self.status,
            "reason": self.reason,
            "ticked": sorted(self.ticked),
            "verify": [
                {"command": v.command, "passed": v.passed, "exitCode": v.exit_code}
                for v in self.verify
            ],
        }


class SpecRunner:
    """Runs one spec: refuse or mark in_progress, run the agent, verify, write the outcome."""

    def __init__(
        self,
        spec_path: Path,
        make_agent: AgentFactory,
        *,
        rerun: bool = False,
        apply: ChangeApplier | None = None,
        run_verify: VerifyRunner = shell_verify,
        clock: Callable[[], str] = utc_now,
        dry_run: bool = False,
    ) -> None:
        self.spec_path = spec_path
        self.rerun = rerun
        self.dry_run = dry_run
        self.ticked: dict[int, str] = {}
        self._ticked_before: set[int] = set()
        self._clock = clock
        self._run_verify = run_verify
        self._cancelled = False
        self._verify_task: asyncio.Task[VerifyReport] | None = None
        self._verifies = 0
        self.agent = make_agent([ExtraTool("check_criterion", self._check_criterion)])
        self.ctx = self.agent.executor.ctx
        self._apply: ChangeApplier = apply if apply is not None else self.ctx.apply_change
        try:
            self.rel = spec_path.resolve().relative_to(self.ctx.root).as_posix()
        except ValueError:
            self.rel = str(spec_path)

    # -- the spec file -----------------------------------------------------------------------

    def read_text(self) -> str:
        """The spec's current text (the open buffer, the staged text, or the disk)."""
        return self.ctx.documents.read(self.spec_path).text

    async def _update(self, transform: Callable[[str], str]) -> None:
        text = self.read_text()
        new = transform(text)
        if new != text:
            await self._apply(FileChange(self.spec_path, self.rel, text, new))

    def _emit(self, kind: str, text: str, **data: Any) -> None:
        # Into the agent's own event stream: the transcript shows the spec's steps among its own.
        on_event = self.agent.on_event
        if on_event is not None:
            on_event(AgentEvent(kind, text, {"spec": self.rel, **data}))  # type: ignore[arg-type]

    async def _check_criterion(self, ctx: ToolContext, args: Any) -> str:
        assert isinstance(args, CheckCriterionArgs)
        _, criteria = scan_body(self.read_text())
        if not criteria:
            raise ToolError("This spec has no acceptance criteria to tick; just finish the task.")
        if args.index > len(criteria):
            listing = "; ".join(f"{c.index}. {c.text}" for c in criteria)
            raise ToolError(
                f"There is no criterion #{args.index}; use a number from 1 to {len(criteria)}: "
                f"{listing}"
            )
        criterion = criteria[args.index - 1]
        if not criterion.checked:
            try:
                await self._update(lambda text: tick_criterion(text, args.index))
            except SpecError as exc:
                raise ToolError(str(exc)) from exc
        self.ticked[args.index] = args.evidence
        left = [c.index for c in criteria if not c.checked and c.index != args.index]
        rest = (
            f"Still unticked: {', '.join(f'#{i}' for i in left)}."
            if left
            else "All criteria are ticked."
        )
        return f"Ticked criterion #{args.index}: {criterion.text}. {rest}"

    # -- the run -----------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the run (the agent, or a running verify command); the spec ends ``failed``."""
        self._cancelled = True
        self.agent.cancel()
        if self._verify_task is not None and not self._verify_task.done():
            self._verify_task.cancel()

    def check(self) -> Spec:
        """The parsed spec; SpecError (file unchanged) when it is invalid or must not run."""
        try:
            text = self.read_text()
        except DocumentError as exc:
            raise SpecError(f"{self.rel}: {exc}") from exc
        spec = parse_spec(text, self.spec_path)
        reason = refusal(
            spec, rerun=self.rerun, read_text=lambda path: self.ctx.documents.read(path).text
        )
        if reason is not None:
            raise SpecError(reason)
        return spec

    async def run(self) -> SpecRunResult:
        """Run the spec to its end; refusals and invalid YAML leave the file untouched."""
        try:
            spec = self.check()
        except SpecError as exc:
            # No event: the caller reports the result's reason (once).
            return SpecRunResult("refused", str(exc), self.spec_path, spec_rel=self.rel)
        try:
            await self._update(lambda text: set_keys(text, {"status": "in_progress"}))
        except (SpecError, ChangeRejected) as exc:
            reason = f"Could not mark {self.rel} in_progress: {exc}"
            self._emit("error", reason)
            return SpecRunResult("refused", reason, self.spec_path, spec_rel=self.rel)
        self._ticked_before = {c.index for c in spec.criteria if c.checked}
        self._emit("progress", f"spec {spec.id}: in_progress")
        result = await self._run_rounds(spec)
        await self._finish(result)
        return result

    async def _verify_all(self, commands: Sequence[str]) -> list[VerifyReport]:
        reports = []
        for command in commands:
            self._verifies += 1
            # An id of its own, as the model's calls have: a transcript pairs call and result.
            call_id = f"verify-{self._verifies}"
            self._emit(
                "toolCall",
                f"verify {command}",
                name="verify",
                arguments={"command": command},
                callId=call_id,
            )
            self._verify_task = asyncio.ensure_future(self._run_verify(self.ctx, command))
            try:
                report = await self._verify_task
            except asyncio.CancelledError:
                if not self._cancelled:
                    raise
                report = VerifyReport(command, False, "Cancelled.", None, ran=False)
            finally:
                self._verify_task = None
            self._emit("toolResult", report.output, name="verify", ok=report.passed, callId=call_id)
            reports.append(report)
            if self._cancelled or not report.passed:
                break
        return reports

    async def _run_rounds(self, spec: Spec) -> SpecRunResult:
        prompt = build_spec_prompt(spec, self.ctx.root, self.ctx.documents)
        label = f"spec {spec.id}: {spec.title}"[:80]
        task = AgentTask(prompt, label=label, file=self.rel)
        rounds = self.agent.settings.verify_rounds
        result = SpecRunResult("failed", "", self.spec_path, spec_rel=self.rel)
        result.ticked = self.ticked
        turns = 0
        follow_up = False
        while True:
            result.rounds += 1
            # Each round gets the full maxTurns; the loop counts turns on the agent itself.
            self.agent.turns = 0
            run = await self.agent.run(task, follow_up=follow_up)
            turns += run.turns
            run.turns = turns
            result.run = run
            if self._cancelled or run.status is RunStatus.CANCELLED:
                result.cancelled = True
                result.reason = "The run was cancelled."
                return result
            if run.status is RunStatus.FAILED:
                result.reason = f"The agent run failed: {run.summary}"
                return result
            if not spec.verify:
                break
            if self.dry_run:
                result.reason = "Dry run: the verify commands were not run."
                break
            result.verify = await self._verify_all(spec.verify)
            if self._cancelled:
                result.cancelled = True
                result.reason = "The run was cancelled during verification."
                return result
            failed = [v for v in result.verify if not v.passed]
            if not failed or run.status is RunStatus.MAX_TURNS:
                break
            if any(not v.ran for v in failed) or result.rounds > rounds:
                break
            self._emit(
                "warning",
                f"verify failed; giving its output to the agent (round {result.rounds} of "
                f"{rounds})",
            )
            # Continue the same conversation: the model keeps what it read and changed.
            task = AgentTask(
                build_verify_feedback(
                    [(v.command, v.output) for v in failed], result.rounds, rounds
                ),
                label=label,
                file=self.rel,
            )
            follow_up = True
        self._conclude(result)
        return result

    def _unticked(self) -> tuple[list[int], list[int]]:
        """Criteria not ticked through the tool (nor before the run), and those of them whose
        box was ticked some other way (e.g. the model editing the spec file)."""
        _, criteria = scan_body(self.read_text())
        counted = self._ticked_before | set(self.ticked)
        unticked = [c.index for c in criteria if c.index not in counted]
        by_hand = [c.index for c in criteria if c.checked and c.index not in counted]
        return unticked, by_hand

    def _conclude(self, result: SpecRunResult) -> None:
        run = result.run
        assert run is not None
        unticked, by_hand = self._unticked()
        failed = [v for v in result.verify if not v.passed]
        problems: list[str] = []
        if run.status is RunStatus.MAX_TURNS:
            problems.append(run.summary)
        if failed:
            v = failed[0]
            how = "could not run" if not v.ran else "failed"
            extra = f" after {result.rounds - 1} fix round(s)" if result.rounds > 1 else ""
            problems.append(f"verify `{v.command}` {how}{extra}")
        if result.reason:
            problems.append(result.reason.rstrip("."))
        if unticked:
            problems.append("criteria not ticked: " + ", ".join(f"#{i}" for i in unticked))
        if by_hand:
            problems.append(
                "boxes ticked in the file without check_criterion (not counted): "
                + ", ".join(f"#{i}" for i in by_hand)
            )
        if problems:
            result.status = "needs_attention"
            result.reason = "; ".join(problems) + "."
        else:
            result.status = "completed"
            result.reason = ""

    async def _finish(self, result: SpecRunResult) -> None:
        run = result.run
        status = result.status
        model = self.agent.settings.model
        finished_at = self._clock()
        try:
            unticked, _ = self._unticked()
        except DocumentError:
            unticked = []
        report = OutputReport(
            status=status,
            summary=run.summary if run is not None else "",
            model=model,
            finished_at=finished_at,
            reason=result.reason,
            changed_files=result.changed_files,
            ticked=dict(result.ticked),
            unticked=unticked,
            verify=result.verify,
            dry_run=self.dry_run,
        )
        section = render_agent_output(report)

        def transform(text: str) -> str:
            text = set_keys(text, {"status": status, "completed_at": finished_at, "model": model})
            return set_agent_output(text, section)

        try:
            await self._update(transform)
        except (SpecError, ChangeRejected, DocumentError) as exc:
            note = f"The outcome could not be written to {self.rel}: {exc}"
            log.warning(note)
            self._emit("error", note)
            result.reason = f"{result.reason} {note}".strip()
        self._emit("progress", f"spec {self.rel}: {status}", status=status)


async def verify_spec(
    ctx: ToolContext, spec: Spec, run_verify: VerifyRunner = shell_verify
) -> list[VerifyReport]:
    """Run the spec's ``verify:`` commands (the "Verify spec" lens); the spec is not changed."""
    reports = []
    for command in spec.verify:
        report = await run_verify(ctx, command)
        reports.append(report)
        if not report.passed:
            break
    return reports

"""Specs in the editor: the code lenses, the code actions for clients without lenses, runSpec."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ollama_agent_ls.lsp import lsp_ext as ext
from ollama_agent_ls.lsp.editor import EditorDocuments, EditorSink, rel_name, uri_to_path
from ollama_agent_ls.lsp.run_commands import start_run
from ollama_agent_ls.lsp.server import AgentServer
from ollama_agent_ls.specs.model import Spec, SpecError, is_spec, parse_spec
from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.documents import DocumentError

if TYPE_CHECKING:
    # Running a spec needs the agent and tools; the lenses do not, and start-up stays lean.
    from ollama_agent_ls.agent.loop import Agent
    from ollama_agent_ls.agent.result import RunResult
    from ollama_agent_ls.lsp.command_args import RunSpecArgs
    from ollama_agent_ls.lsp.runs import Run
    from ollama_agent_ls.specs.frontmatter_edit import VerifyReport
    from ollama_agent_ls.specs.runner import SpecRunResult
    from ollama_agent_ls.tools.context import ToolContext
    from ollama_agent_ls.tools.executor import ExtraTool

log = logging.getLogger(__name__)

RUN_TITLE = "Run spec with Ollama agent"
VERIFY_TITLE = "Verify spec"


def _spec_at(ls: AgentServer, uri: str) -> tuple[Path, Spec | None, str | None]:
    """(path, parsed spec or None, problem) for a document that is a spec; raises when it is not."""
    path = uri_to_path(uri, ls.root)
    try:
        text = EditorDocuments(ls.editor).read(path).text
    except DocumentError as exc:
        raise JsonRpcInvalidParams(f"Cannot read {uri}: {exc}") from None
    if not is_spec(path, text):
        raise JsonRpcInvalidParams(
            f"{path.name} is not a spec: put it under .chant/specs/ or give it YAML frontmatter "
            "with a status: line."
        )
    try:
        return path, parse_spec(text, path), None
    except SpecError as exc:
        return path, None, str(exc)


def _spec_commands(uri: str, spec: Spec) -> list[types.Command]:
    # Both answer at once (the result comes as ollamaAgent/runFinished), so a client with a
    # short request timeout never waits on a run or on verify commands.
    run = {"uri": uri, "wait": False}
    commands = [types.Command(title=RUN_TITLE, command=ext.RUN_SPEC, arguments=[run])]
    if spec.verify:
        commands.append(types.Command(title=VERIFY_TITLE, command=ext.VERIFY_SPEC, arguments=[run]))
    return commands


def _open_spec(ls: AgentServer, uri: str) -> Spec | None:
    if uri not in ls.workspace.text_documents:
        return None
    path = uri_to_path(uri, ls.root)
    text = ls.workspace.get_text_document(uri).source
    if not is_spec(path, text):
        return None
    try:
        return parse_spec(text, path)
    except SpecError:
        return None


def text_document_code_lens(
    ls: AgentServer, params: types.CodeLensParams
) -> list[types.CodeLens] | None:
    """ "Run spec with Ollama agent" (and "Verify spec") at the top of a spec file."""
    uri = params.text_document.uri
    spec = _open_spec(ls, uri)
    if spec is None:
        return None
    top = types.Range(types.Position(0, 0), types.Position(0, 0))
    return [types.CodeLens(range=top, command=c) for c in _spec_commands(uri, spec)]


def spec_code_actions(ls: AgentServer, uri: str) -> list[types.CodeAction]:
    """The lenses as code actions, for clients that do not show code lenses (or not by default)."""
    caps = ls.client_capabilities.text_document
    # Neovim declares codeLens but shows lenses only when the user's config refreshes them, so
    # its users would find neither a lens nor an action.
    if caps is not None and caps.code_lens is not None and ls.client_name != "Neovim":
        return []
    spec = _open_spec(ls, uri)
    if spec is None:
        return []
    return [
        types.CodeAction(title=c.title, kind=types.CodeActionKind.Source, command=c)
        for c in _spec_commands(uri, spec)
    ]


def _names(paths: Iterable[Path], root: Path) -> str:
    return ", ".join(rel_name(p, root) for p in paths)


def _open_paths(ls: AgentServer, root: Path, skip: Path) -> list[Path]:
    """Open documents and texts sent to unopened files under ``root``: what the user sees."""
    paths = [
        ls.editor.path_of(uri) for uri in ls.workspace.text_documents if uri.startswith("file:")
    ]
    paths.extend(p for p, text in ls.editor.pending.items() if text is not None)
    return [p for p in paths if p != skip and p.is_relative_to(root)]


def _spec_json(ls: AgentServer, run: Run, spec_result: SpecRunResult) -> dict[str, Any]:
    result = run.result
    changed = [ls.editor.uri_for(c.path) for c in (result.changes if result else [])]
    return {"runId": run.id, **spec_result.result_json(result, changed)}


async def run_spec_in_editor(ls: AgentServer, a: RunSpecArgs) -> dict[str, Any]:
    """Run a spec: refusals and invalid YAML are InvalidParams errors, the file untouched."""
    from ollama_agent_ls.agent.result import RunResult, RunStatus
    from ollama_agent_ls.settings import ApplyMode
    from ollama_agent_ls.specs.frontmatter_edit import VerifyReport
    from ollama_agent_ls.specs.runner import SpecRunner, SpecRunResult, shell_verify

    path, spec, problem = _spec_at(ls, a.uri)
    if spec is None:
        raise JsonRpcInvalidParams(problem or f"{a.uri} is not a valid spec.")
    settings = ls.settings_for(a.model)
    label = f"spec {spec.id}: {spec.title}"[:80]
    runs: list[Run] = []

    def make_agent(tools: Sequence[ExtraTool]) -> Agent:
        run = ls.runs.build(settings, ls.root_for(path), label, extra_tools=tools)
        runs.append(run)
        return run.agent

    async def apply_now(change: FileChange) -> None:
        await EditorSink(ls.editor, runs[0].id, label).apply(change)

    # In review mode the spec's own bookkeeping (status, ticks) must show at once, not wait for
    # the review of the agent's changes.
    review = settings.apply_mode is ApplyMode.REVIEW

    async def verify_in_editor(ctx: ToolContext, command: str) -> VerifyReport:
        # The command reads the disk; a verdict on text the agent's edits never reached would be
        # written into the spec as the truth, and fix rounds could not change it.
        run = runs[0]
        if run.staging is not None:
            staged = [c.path for c in run.staging.net_changes()]
            if staged:
                return VerifyReport(
                    command,
                    False,
                    f"Not run: in review mode the changes to {_names(staged, ctx.root)} reach "
                    "the files only after the run. Review and apply them, then run Verify spec.",
                    ran=False,
                )
        # Like before any command: what the session read or changed is saved; only the agent's
        # own edits left unsaved make the verdict worthless.
        still = await ls.runs.save_session_documents(run, skip=path)
        changed = {c.path for c in ctx.changes if c.after is not None and c.path != path}
        unsaved = [p for p in still if p in changed]
        if unsaved:
            return VerifyReport(
                command,
                False,
                f"Not run: {_names(unsaved, ctx.root)} changed in the editor but not on disk, and "
                "this editor cannot be asked to save (the command would test the old text). "
                "Save them, then run Verify spec.",
                ran=False,
            )
        return await shell_verify(ctx, command)

    runner = SpecRunner(
        path,
        make_agent,
        rerun=a.rerun,
        apply=apply_now if review else None,
        run_verify=verify_in_editor,
    )
    run = runs[0]
    try:
        runner.check()
    except SpecError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None
    # Cancelling must also stop a verify command, which the runner owns.
    run.stop = runner.cancel
    outcome: list[SpecRunResult] = []

    async def body(_: Run) -> RunResult:
        spec_result = await runner.run()
        outcome.append(spec_result)
        if spec_result.run is not None:
            return spec_result.run
        return RunResult(RunStatus.FAILED, spec_result.reason)

    async def work() -> dict[str, Any]:
        await ls.runs.execute(run, body=body)
        if not outcome:
            # Cancelled before the runner started: the spec file was never touched.
            reason = "Cancelled before it started; the spec was not changed."
            return _spec_json(ls, run, SpecRunResult("refused", reason, path, cancelled=True))
        return _spec_json(ls, run, outcome[0])

    return await start_run(ls, run, a.wait, work)


async def verify_spec_command(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Run a spec's verify: commands (under the approval policy); the spec is not changed."""
    from ollama_agent_ls.lsp.command_args import VerifySpecArgs, parse_args
    from ollama_agent_ls.specs.runner import verify_spec

    a = parse_args(ext.VERIFY_SPEC, VerifySpecArgs, args)
    # Its commands run in the spec's workspace folder: refused before anything is read.
    ls.command_path(a.uri, ext.VERIFY_SPEC)
    # Like every command: the approval policy must be the configured one, not the default.
    await ls.wait_configured()
    path, spec, problem = _spec_at(ls, a.uri)
    if spec is None:
        raise JsonRpcInvalidParams(problem or f"{a.uri} is not a valid spec.")
    if not spec.verify:
        raise JsonRpcInvalidParams(f"{path.name} has no verify: command in its frontmatter.")
    run = ls.runs.build(ls.settings, ls.root_for(path), f"verify {spec.id}")

    async def work() -> dict[str, Any]:
        # Like an editor's "save before running a task": the command must see what the user sees.
        unsaved = await ls.editor.save(_open_paths(ls, run.ctx.root, skip=path))
        reports = await verify_spec(run.ctx, spec)
        return _verify_json(ls, run, reports, unsaved)

    if not a.wait:
        # Nothing but the task can stop the commands: a cancel (command or progress) ends it.
        run.stop = lambda: _cancel_current(ls, run)
    return await start_run(ls, run, a.wait, work)


def _cancel_current(ls: AgentServer, run: Run) -> None:
    task = ls.runs.detached_task(run.id)
    if task is not None:
        task.cancel()


def _verify_json(
    ls: AgentServer, run: Run, reports: list[VerifyReport], unsaved: list[Path]
) -> dict[str, Any]:
    note = ""
    if unsaved:
        note = (
            f"[Note: {_names(unsaved, run.ctx.root)} have unsaved changes this editor cannot be "
            "asked to save; the command saw the older text on disk.]\n"
        )
    passed = all(r.passed for r in reports)
    failed = next((r for r in reports if not r.passed), None)
    summary = "Verify passed." if failed is None else f"Verify failed: {failed.command}"
    return {
        # runId, status and summary as in every run result (a wait:false verify is followed by
        # ollamaAgent/runFinished like a run).
        "runId": run.id,
        "status": "completed" if passed else "failed",
        "summary": summary,
        "passed": passed,
        "unsaved": [ls.editor.uri_for(p) for p in unsaved],
        "verify": [
            {
                "command": r.command,
                "passed": r.passed,
                "ran": r.ran,
                "exitCode": r.exit_code,
                "output": note + r.output,
            }
            for r in reports
        ],
    }


def register(server: AgentServer) -> None:
    """Register the spec code lenses and verifySpec on ``server``."""
    server.feature(types.TEXT_DOCUMENT_CODE_LENS)(text_document_code_lens)
    server.command(ext.VERIFY_SPEC)(verify_spec_command)

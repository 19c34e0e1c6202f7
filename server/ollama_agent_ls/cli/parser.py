"""The argument parser: subcommands with help, examples and exit codes; settings from flags."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ollama_agent_ls import __version__
from ollama_agent_ls.errors import UsageError

if TYPE_CHECKING:
    # Imported by the commands that use them: settings loads pydantic (~65 ms), which the
    # language server must not wait for before it answers initialize.
    from ollama_agent_ls.settings import Settings


def _parse_lines(value: str) -> tuple[int, int]:
    try:
        start_s, _, end_s = value.partition("-")
        start, end = int(start_s), int(end_s or start_s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a line range; use A-B, e.g. 10-20"
        ) from None
    if start < 1 or end < start:
        raise argparse.ArgumentTypeError(f"'{value}': lines start at 1 and A must be <= B")
    return start, end


def _parse_option(value: str) -> tuple[str, Any]:
    key, sep, raw = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"'{value}' is not KEY=VALUE, e.g. -o maxTurns=40")
    try:
        parsed: Any = json.loads(raw)
    except json.JSONDecodeError:
        parsed = raw
    return key.strip(), parsed


def add_common(p: argparse.ArgumentParser, *, model: bool = True, sandbox: bool = True) -> None:
    """The settings flags every agent command takes (model, backend, URLs, sandbox, -o)."""
    if model:
        p.add_argument("--model", "-m", help="model name (default: qwen3:8b or OLLAMA_AGENT_MODEL)")
    p.add_argument(
        "--backend",
        choices=["ollama", "openai"],
        help="the server's API: ollama (default) or openai (llama.cpp's server, vLLM, SGLang, "
        "LM Studio, LiteLLM; OLLAMA_AGENT_BACKEND)",
    )
    p.add_argument(
        "--ollama-url",
        metavar="URL",
        help="Ollama's address: http://host:port or host:port, as OLLAMA_HOST takes it "
        "(default: OLLAMA_HOST or http://127.0.0.1:11434)",
    )
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="OpenAI-compatible URL with /v1 (default: OLLAMA_AGENT_BASE_URL or "
        "http://127.0.0.1:8080/v1); implies --backend openai",
    )
    if sandbox:
        p.add_argument(
            "--sandbox",
            choices=["workspace-write", "read-only", "off"],
            help="where commands run: workspace-write (default: only the workspace, not .git/, "
            "is writable; no network), read-only, or off (OLLAMA_AGENT_SANDBOX)",
        )
    p.add_argument(
        "-o",
        "--option",
        action="append",
        type=_parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="any setting by its camelCase name, e.g. -o numCtx=16384 -o maxTurns=40",
    )


def _add_workspace(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workspace",
        "-w",
        type=Path,
        default=Path.cwd(),
        metavar="DIR",
        help="workspace root (default: .)",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    add_common(p)
    _add_workspace(p)
    p.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="run commands in the sandbox without asking (destructive ones still ask, and so "
        "does every command when no sandbox can be set up)",
    )
    p.add_argument("--dry-run", action="store_true", help="print a unified diff instead of writing")
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no transcript on stderr, only the summary"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the run result as JSON on stdout (with --dry-run, the diff is its 'diff')",
    )


_RUN_EXITS = (
    "0 completed, 1 failed or max turns, 2 usage, 3 setup (server unreachable, model missing), "
    "130 cancelled (Ctrl-C)"
)


_HELP: dict[str, tuple[str, str, Sequence[str], str]] = {
    # name: (one line for the command list, description, examples, exit codes)
    "serve": (
        "run the language server on stdio (the default)",
        "Run the language server for an editor: it talks LSP over stdin/stdout (or --tcp). "
        "Started on a terminal it waits for a client; Ctrl-C quits.",
        (
            "ollama-agent-ls serve --log-file /tmp/agent.log",
            "ollama-agent-ls serve --tcp 127.0.0.1:2087",
        ),
        "0 the client disconnected, 2 usage, 130 interrupted (Ctrl-C)",
    ),
    "run": (
        "run the agent on an instruction against files on disk",
        "Run the agent on files on disk: it reads, searches, edits and (when allowed) runs "
        "commands. The transcript goes to stderr; --dry-run prints a diff on stdout instead of "
        "writing, --review shows the diff and asks before writing. A relative --file is taken "
        "from the current directory (from the workspace root when you run from outside it).",
        (
            'ollama-agent-ls run "add type hints" --file app.py --lines 10-30',
            'ollama-agent-ls run "rename Foo to Bar everywhere" --dry-run > change.diff',
        ),
        _RUN_EXITS,
    ),
    "spec": (
        "run the agent on a spec file (chant format)",
        "Run the agent on a spec (a markdown file under .chant/specs/, or with YAML frontmatter "
        "that has status:). The tool keeps the spec's status, ticks its boxes and runs its "
        "verify: commands.",
        (
            "ollama-agent-ls spec .chant/specs/add-slug.md",
            "ollama-agent-ls spec .chant/specs/add-slug.md --dry-run --rerun",
        ),
        "0 completed, 1 not completed (failed, needs attention, max turns), 2 usage or the spec "
        "was refused (completed, unmet depends_on, not approved), 3 setup, 130 cancelled",
    ),
    "sessions": (
        "list the workspace's sessions, newest first",
        "List the workspace's sessions (each run and its follow-ups with run --continue), "
        "newest first. They are kept in ~/.local/state/ollama-agent-ls/sessions/.",
        ("ollama-agent-ls sessions", "ollama-agent-ls sessions -w ~/src/project --json"),
        "0 listed (also when there are none), 2 usage",
    ),
    "undo": (
        "undo the latest run of the latest session (your later edits stay)",
        "Undo the latest run that changed files, its commands' changes included; regions you "
        "edited since stay as you left them, and are listed.",
        ("ollama-agent-ls undo", "ollama-agent-ls undo -w ~/src/project --json"),
        "0 undone, 1 nothing to undo, 2 usage",
    ),
    "doctor": (
        "check Ollama and the model, with fixes",
        "Check the setup: the server reachable, the model installed with tools, the context "
        "window, whether commands can run in a sandbox, and the project's rule files "
        "(AGENTS.md, the rules setting); each problem comes with its fix.",
        (
            "ollama-agent-ls doctor -m qwen2.5-coder:7b",
            "ollama-agent-ls doctor --base-url http://127.0.0.1:8080/v1",
        ),
        "0 ready, 3 a problem was found (each printed with its fix), 2 usage",
    ),
    "acp": (
        "run the agent as an ACP agent on stdio (Zed, JetBrains, Neovim, Emacs)",
        "Run the agent as an ACP agent (Agent Client Protocol) on stdin/stdout, for the agent "
        "panels of Zed, JetBrains IDEs, Neovim (CodeCompanion, avante) and Emacs (agent-shell). "
        "The client starts it; logs go to stderr.",
        ("ollama-agent-ls acp -m qwen2.5-coder:7b", "ollama-agent-ls acp --log-level DEBUG"),
        "0 the client closed stdin, 2 usage",
    ),
    "models": (
        "list installed models",
        "List the installed (or, with --base-url, served) models with their context length "
        "and capabilities.",
        ("ollama-agent-ls models", "ollama-agent-ls models --ollama-url gpu-box:11434 --json"),
        "0 listed, 2 usage, 3 the server is unreachable",
    ),
}


def _subcommand(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str
) -> argparse.ArgumentParser:
    """A subcommand's parser with its description, examples and exit codes in --help."""
    line, description, examples, exits = _HELP[name]
    # Raw formatting keeps the examples' lines as they are, so the prose is wrapped here.
    exit_codes = textwrap.fill(f"exit codes: {exits}", 78, subsequent_indent="  ")
    epilog = "examples:\n" + "".join(f"  {e}\n" for e in examples) + f"\n{exit_codes}\n"
    parser = sub.add_parser(
        name,
        help=line,
        description=textwrap.fill(description, 78),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(command_parser=parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ollama-agent-ls",
        description="A coding agent on a local Ollama model: a language server, and a CLI.",
        epilog="Without a command it runs the language server (serve). "
        "`ollama-agent-ls COMMAND --help` shows a command's options, examples and exit codes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # LSP clients (vscode-languageclient among them) append --stdio; stdio is the default anyway.
    parser.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(command_parser=parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = _subcommand(sub, "serve")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    serve.add_argument("--log-file", type=Path, help="write logs here instead of stderr")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None)

    run = _subcommand(sub, "run")
    run.add_argument("instruction", help="what the agent should do")
    run.add_argument(
        "--file",
        "-f",
        metavar="PATH",
        help="file the instruction is about (from the current directory)",
    )
    run.add_argument(
        "--lines", "-l", type=_parse_lines, metavar="A-B", help="line range in --file, e.g. 10-20"
    )
    run.add_argument(
        "--continue",
        dest="continue_session",
        action="store_true",
        help="continue the workspace's latest session: the model keeps what it read and did",
    )
    run.add_argument(
        "--review",
        action="store_true",
        help="show the whole diff at the end and ask whether to apply it before writing "
        "anything (as -o applyMode=review)",
    )
    _add_run_options(run)

    spec = _subcommand(sub, "spec")
    spec.add_argument("path", type=Path, help="the spec's markdown file")
    spec.add_argument("--rerun", action="store_true", help="run a completed spec again")
    _add_run_options(spec)

    sessions = _subcommand(sub, "sessions")
    _add_workspace(sessions)
    sessions.add_argument("--json", action="store_true", help="print JSON")
    undo = _subcommand(sub, "undo")
    _add_workspace(undo)
    undo.add_argument("--json", action="store_true", help="print JSON")
    doctor = _subcommand(sub, "doctor")
    add_common(doctor)
    _add_workspace(doctor)
    acp = _subcommand(sub, "acp")
    from ollama_agent_ls.acp_agent.main import add_arguments as add_acp_arguments

    add_acp_arguments(acp)
    models = _subcommand(sub, "models")
    add_common(models, model=False, sandbox=False)
    models.add_argument("--json", action="store_true", help="print JSON")
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser of each subcommand of ``parser``, by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def settings_for(args: argparse.Namespace) -> Settings:
    """Defaults, then the environment, then -o options, then the explicit flags."""
    from ollama_agent_ls.settings import (
        SettingsProblem,
        normalise_ollama_host,
        settings_from_env,
        strict_settings,
    )

    base, env_problems = settings_from_env()
    for problem in env_problems:
        sys.stderr.write(f"warning: {problem}; using the default\n")
    raw: dict[str, Any] = dict(getattr(args, "option", []) or [])
    if getattr(args, "model", None):
        raw["model"] = args.model
    if getattr(args, "ollama_url", None):
        raw["ollamaUrl"] = normalise_ollama_host(args.ollama_url)
    if getattr(args, "base_url", None):
        raw["baseUrl"] = args.base_url
        raw.setdefault("backend", "openai")
    if getattr(args, "backend", None):
        raw["backend"] = args.backend
    if getattr(args, "yes", False):
        raw["commandApproval"] = "always"
    if getattr(args, "sandbox", None):
        raw["sandbox"] = args.sandbox
    if getattr(args, "review", False):
        raw["applyMode"] = "review"
    try:
        return strict_settings(raw, base)
    except SettingsProblem as exc:
        raise UsageError(str(exc)) from exc


def workspace_of(args: argparse.Namespace) -> Path:
    root = Path(args.workspace).expanduser()
    if not root.is_dir():
        raise UsageError(f"workspace {root} is not a directory")
    return root.resolve()

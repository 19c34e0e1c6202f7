"""The exit codes every command documents, and a run result's."""

from __future__ import annotations

from ollama_agent_ls.agent.result import RunResult, RunStatus

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SETUP, EXIT_CANCELLED = 0, 1, 2, 3, 130


def exit_code(result: RunResult) -> int:
    """The documented exit code for a run's result."""
    if result.status is RunStatus.COMPLETED:
        return EXIT_OK
    if result.status is RunStatus.CANCELLED:
        return EXIT_CANCELLED
    if result.setup_problem:
        return EXIT_SETUP
    return EXIT_FAILED

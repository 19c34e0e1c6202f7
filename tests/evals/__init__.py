"""Evals: the agent and aider side by side on tiny real tasks (python -m tests.evals)."""

"""Shared fixtures: the fake Ollama server for every test that talks to a model."""

import os
import tempfile

from hypothesis import settings

from tests.sandbox_tool import ensure_bubblewrap

# Property tests never fail on time: the shared 2-core machines are slow and noisy.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

# Commands' checkpoint stores go to the state directory; a test run keeps its own, so the
# suite leaves nothing in the home directory (servers started by tests inherit this).
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="ollama-agent-ls-test-state-")
# Before any test: every command a test runs goes through the sandbox.
ensure_bubblewrap()

pytest_plugins = [
    "tests.fake_ollama.fixtures",
    "tests.fake_openai.fixtures",
    "tests.realmodel.fixtures",
]

"""Shared fixtures: the fake Ollama server for every test that talks to a model."""

pytest_plugins = [
    "tests.fake_ollama.fixtures",
    "tests.fake_openai.fixtures",
    "tests.realmodel.fixtures",
]

"""ollama-agent-ls: a coding agent on a local Ollama model, as a language server and a CLI."""

__version__ = "0.1.0"

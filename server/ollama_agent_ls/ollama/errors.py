"""Exceptions for everything that can go wrong talking to Ollama, each with a fix in its message."""

from __future__ import annotations

# Models known to render tools in their Ollama templates; named when a model lacks the capability.
TOOL_MODELS = ("qwen3", "qwen3-coder", "qwen2.5-coder", "llama3.1", "mistral-small", "devstral")


class OllamaError(Exception):
    """Base class: something went wrong talking to Ollama."""

    #: True when the problem is the setup (server, model) rather than one request.
    setup_problem: bool = False


class OllamaUnreachable(OllamaError):
    """Nothing answers at the configured URL."""

    setup_problem = True

    def __init__(self, url: str, detail: str = "") -> None:
        self.url = url
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Ollama is not reachable at {url}{extra}. Start it with `ollama serve` "
            "(or the Ollama app), or point ollamaUrl / OLLAMA_HOST at the right address."
        )


class ModelNotFound(OllamaError):
    """The model is not installed on that Ollama server."""

    setup_problem = True

    def __init__(self, model: str, url: str = "") -> None:
        self.model = model
        where = f" on {url}" if url else ""
        super().__init__(
            f"Model '{model}' is not installed{where}. Run `ollama pull {model}`, "
            "or choose an installed model (`ollama-agent-ls models`)."
        )


class ModelLacksTools(OllamaError):
    """The model's template cannot render tools, so it cannot act as an agent."""

    setup_problem = True

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"Model '{model}' does not support tools, so it cannot edit files. "
            f"Use a model with the tools capability, e.g. {', '.join(TOOL_MODELS)} "
            "(`ollama show MODEL` lists capabilities)."
        )


class OllamaHTTPError(OllamaError):
    """Ollama answered with an HTTP error status."""

    def __init__(self, status: int, message: str, url: str = "") -> None:
        self.status = status
        self.detail = message
        where = f" from {url}" if url else ""
        hint = ""
        if status == 503:
            hint = " Ollama is busy with other requests; try again shortly."
        elif status >= 500:
            hint = " Check the Ollama server log (`journalctl -u ollama` or ~/.ollama/logs)."
        super().__init__(f"Ollama returned HTTP {status}{where}: {message}.{hint}")


class OllamaStreamError(OllamaError):
    """An ``{"error": ...}`` line arrived in the middle of a streamed reply."""

    def __init__(self, message: str) -> None:
        self.detail = message
        super().__init__(f"Ollama reported an error mid-reply: {message}")


class OllamaStreamDropped(OllamaError):
    """The connection closed before the ``done:true`` line."""

    def __init__(self, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"The connection to Ollama closed in the middle of a reply{extra}. "
            "The server may have restarted or run out of memory; try again."
        )


class OllamaTimeout(OllamaError):
    """No data within the configured read timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"Ollama sent nothing for {seconds:g} s. Raise readTimeout (or unset it) if the model "
            "is slow to load."
        )


class OllamaProtocolError(OllamaError):
    """Ollama sent something that is not the NDJSON it should."""

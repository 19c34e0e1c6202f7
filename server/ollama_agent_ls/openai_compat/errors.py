"""What can go wrong talking to an OpenAI-compatible server, each message naming the fix.

Every class derives from the Ollama client's error of the same meaning, so code that handles
``OllamaError`` (the agent loop, the CLI's exit codes, doctor) handles these unchanged. None of
the messages ever carries the API key.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ollama.errors import (
    ModelLacksTools,
    ModelNotFound,
    OllamaError,
    OllamaHTTPError,
    OllamaProtocolError,
    OllamaStreamDropped,
    OllamaStreamError,
    OllamaTimeout,
    OllamaUnreachable,
)

BASE_URL_SETTING = "baseUrl (--base-url, OLLAMA_AGENT_BASE_URL)"
API_KEY_SETTING = "apiKey (OLLAMA_AGENT_API_KEY) or apiKeyEnv (the name of a variable holding it)"
EXAMPLE_BASE_URL = "http://127.0.0.1:8080/v1"
CONTEXT_FIX = (
    "Raise the server's context (llama-server -c 16384, vllm serve --max-model-len 16384) "
    "or give the task less to read."
)


class ServerUnreachable(OllamaUnreachable):
    """Nothing answers at baseUrl."""

    def __init__(self, url: str, detail: str = "") -> None:
        self.url = url
        extra = f" ({detail})" if detail else ""
        OllamaError.__init__(
            self,
            f"The model server is not reachable at {url}{extra}. Start it (e.g. `llama-server -m "
            "MODEL.gguf --jinja` or `vllm serve MODEL`), or point "
            f"{BASE_URL_SETTING} at the right address.",
        )


class ServerHTTPError(OllamaHTTPError):
    """The server answered with an HTTP error status."""

    def __init__(self, status: int, message: str, url: str = "", hint: str = "") -> None:
        self.status = status
        self.detail = message
        where = f" from {url}" if url else ""
        if not hint and status == 503:
            hint = "The server is busy or still loading the model; try again shortly."
        elif not hint and status >= 500:
            hint = "Check the server's own log (the llama-server or vllm serve output)."
        tail = f" {hint}" if hint else ""
        OllamaError.__init__(self, f"The server returned HTTP {status}{where}: {message}.{tail}")


class AuthenticationFailed(ServerHTTPError):
    """401/403: the server wants an API key, or a different one."""

    setup_problem = True

    def __init__(self, status: int, message: str, url: str, *, key_sent: bool) -> None:
        if key_sent:
            hint = f"The API key was refused: set the right one in {API_KEY_SETTING}."
        else:
            hint = f"No API key was sent: set {API_KEY_SETTING}."
        super().__init__(status, message, url, hint)


class ServedModelNotFound(ModelNotFound):
    """The server does not serve a model of that name."""

    def __init__(self, model: str, url: str = "", served: Sequence[str] = ()) -> None:
        self.model = model
        self.served = tuple(served)
        where = f" at {url}" if url else ""
        listing = f" It serves: {', '.join(self.served[:10])}." if self.served else ""
        OllamaError.__init__(
            self,
            f"Model '{model}' is not served{where}.{listing} Set model to a served name "
            "(`ollama-agent-ls models` lists them) or start the server with that model.",
        )


class ToolsNotEnabled(ModelLacksTools):
    """llama-server refuses ``tools`` because it was started without ``--jinja``."""

    def __init__(self, model: str, detail: str) -> None:
        self.model = model
        OllamaError.__init__(
            self,
            f"The server refused tool definitions for '{model}' ({detail}). Restart llama-server "
            "with --jinja so the model's chat template renders tools.",
        )


class EndpointNotFound(ServerHTTPError):
    """404 for the path itself: baseUrl does not point at the OpenAI-compatible API."""

    setup_problem = True

    def __init__(self, url: str, path: str, detail: str) -> None:
        if url.rstrip("/").endswith("/v1"):
            hint = (
                f"{path} does not exist there: check that {BASE_URL_SETTING} is the server's "
                f"OpenAI-compatible API root, e.g. {EXAMPLE_BASE_URL}."
            )
        else:
            hint = (
                f"{BASE_URL_SETTING} must include /v1, e.g. {EXAMPLE_BASE_URL} "
                f"(try {url.rstrip('/')}/v1)."
            )
        super().__init__(404, detail, url, hint)


class ContextOverflow(ServerHTTPError):
    """The prompt did not fit the context the server was started with."""

    setup_problem = True

    def __init__(self, message: str, url: str = "", status: int = 400) -> None:
        super().__init__(
            status,
            message,
            url,
            f"The prompt did not fit the server's context window. {CONTEXT_FIX}",
        )


class NotOpenAICompatible(OllamaProtocolError):
    """The answer is not the JSON / event stream of an OpenAI-compatible API (e.g. a web page)."""

    setup_problem = True

    def __init__(self, url: str, what: str) -> None:
        self.url = url
        super().__init__(
            f"{url} answered with {what}, which is not an OpenAI-compatible API. Point "
            f"{BASE_URL_SETTING} at the server's API root, e.g. {EXAMPLE_BASE_URL} "
            "(not a web UI, a login page or an Ollama URL without /v1)."
        )


class ServerProtocolError(OllamaProtocolError):
    """The server sent a malformed event in an otherwise OpenAI-shaped stream."""


class ServerStreamError(OllamaStreamError):
    """An ``{"error": ...}`` event arrived in the middle of a streamed reply."""

    def __init__(self, message: str) -> None:
        self.detail = message
        hint = ""
        if is_context_overflow(message):
            hint = f" The prompt did not fit the server's context window. {CONTEXT_FIX}"
        OllamaError.__init__(self, f"The server reported an error mid-reply: {message}.{hint}")


class ServerStreamDropped(OllamaStreamDropped):
    """The stream ended before the reply was finished."""

    def __init__(self, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        OllamaError.__init__(
            self,
            f"The server closed the connection in the middle of a reply{extra}. It may have "
            "restarted or run out of memory (see its log); try again.",
        )


class ServerTimeout(OllamaTimeout):
    """No data within the configured read timeout."""

    def __init__(self, seconds: float) -> None:
        OllamaError.__init__(
            self,
            f"The model server sent nothing for {seconds:g} s. Raise readTimeout (or unset it): "
            "loading a model or reading a long prompt can take minutes on a CPU.",
        )


_OVERFLOW_MARKERS = (
    "exceeds the available context size",
    "exceed_context_size",
    "maximum context length",
    "maximum model length",
    "context_length_exceeded",
    "context length exceeded",
    "prompt is too long",
    "longer than the maximum model length",
)


def is_context_overflow(message: str) -> bool:
    """True when a server's error text says the prompt did not fit its context."""
    lowered = message.lower()
    return any(marker in lowered for marker in _OVERFLOW_MARKERS)

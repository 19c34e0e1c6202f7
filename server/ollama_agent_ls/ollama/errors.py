"""Exceptions for everything that can go wrong talking to Ollama, each with a fix in its message."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

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

    def __init__(self, model: str, url: str = "", installed: Sequence[str] = ()) -> None:
        self.model = model
        self.installed = tuple(installed)
        where = f" on {url}" if url else ""
        close = close_model_names(model, self.installed)
        if close:
            names = " or ".join(close)
            latest = "" if ":" in model else f" (a name without a tag means {model}:latest)"
            message = (
                f"Model '{model}' is not installed{where}{latest}. Did you mean {names}? Set "
                f"model to it (-m {close[0]}), or run `ollama pull {model}` to get that one."
            )
        else:
            message = (
                f"Model '{model}' is not installed{where}. Run `ollama pull {model}`, "
                "or choose an installed model (`ollama-agent-ls models`)."
            )
        super().__init__(message)


def close_model_names(model: str, installed: Sequence[str]) -> list[str]:
    """Installed names the user probably meant: the same model with another tag, or a near
    spelling (at most three)."""
    base = model.split(":", 1)[0].lower()
    same = [name for name in installed if name.split(":", 1)[0].lower() == base]
    if same:
        return same[:3]
    lowered = {name.lower(): name for name in installed}
    return [lowered[n] for n in difflib.get_close_matches(model.lower(), lowered, n=3)]


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


class WrongOllamaUrl(OllamaHTTPError):
    """A 404 for the path itself: ollamaUrl is not Ollama's base URL (``/v1``, ``/api``...)."""

    setup_problem = True

    def __init__(self, url: str, status: int, message: str, request_url: str) -> None:
        self.status = status
        self.detail = message
        path = _url_path(url)
        head = f"{url} answered HTTP {status} ('{message}') for {request_url}"
        if path.endswith("/v1"):
            root = url.rstrip("/")[: -len("/v1")]
            fix = (
                "/v1 is Ollama's OpenAI-compatible API, not its own: ollamaUrl must be Ollama's "
                f"base URL, without /v1 or /api. Use --ollama-url {root}, or keep /v1 and use "
                f"the OpenAI-compatible backend: --base-url {url}"
            )
        else:
            fix = (
                "no such endpoint: ollamaUrl must be Ollama's base URL, e.g. "
                "http://127.0.0.1:11434, without /v1 or /api"
            )
        OllamaError.__init__(self, f"{head}: {fix}.")


class NotOllama(OllamaHTTPError):
    """Something answers at ollamaUrl, but it is not Ollama (a web page, another program)."""

    setup_problem = True

    def __init__(self, url: str, status: int, what: str) -> None:
        self.status = status
        self.detail = what
        OllamaError.__init__(
            self,
            f"{url} answered HTTP {status} with {what}, which is not Ollama's API: another "
            "program is listening there, or a proxy in front of Ollama could not reach it. "
            "Point ollamaUrl (--ollama-url, OLLAMA_HOST) at Ollama, e.g. http://127.0.0.1:11434.",
        )


def _url_path(url: str) -> str:
    """The path of ``url`` without a trailing slash ("" for none)."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1].rstrip("/") if "/" in rest else ""


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

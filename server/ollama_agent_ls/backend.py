"""What the agent needs from a model server, whichever API it speaks (Ollama's or OpenAI's)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ollama_agent_ls.ollama.models import ChatEvent, InstalledModel, Message, ModelInfo
    from ollama_agent_ls.settings import Settings


class ChatBackend(Protocol):
    """One connection pool to one model server; errors are ``OllamaError`` subclasses."""

    @property
    def url(self) -> str:
        """The base URL requests go to (shown by doctor and checkSetup)."""
        ...

    @property
    def kind(self) -> str:
        """``"ollama"`` or ``"openai"``: the API this backend speaks."""
        ...

    async def aclose(self) -> None:
        """Close the connection pool."""
        ...

    async def version(self) -> str:
        """The server's version string ('' when it does not say); raises when unreachable."""
        ...

    async def tags(self) -> list[InstalledModel]:
        """The models the server offers."""
        ...

    async def show(self, model: str) -> ModelInfo:
        """Capabilities and context window of ``model``; ``ModelNotFound`` when absent."""
        ...

    async def resolve_num_ctx(self, model: str) -> int:
        """The context window a run of ``model`` gets."""
        ...

    async def prefix_cache(self) -> bool | None:
        """Whether the server says it reuses the cached prompt prefix; None when it does not say."""
        ...

    def chat_stream(
        self,
        *,
        model: str,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        num_ctx: int,
        max_tokens: int | None = None,
    ) -> AsyncIterator[ChatEvent]:
        """Stream one reply as events, ending with exactly one ``ChatDone``; ``max_tokens``
        caps the reply (a warm-up asks for one token)."""
        ...


def make_backend(settings: Settings) -> ChatBackend:
    """The backend ``settings.backend`` names, configured from ``settings``."""
    if settings.backend == "openai":
        from ollama_agent_ls.openai_compat.client import OpenAIClient

        return OpenAIClient(settings)
    from ollama_agent_ls.ollama.client import OllamaClient

    return OllamaClient(settings)

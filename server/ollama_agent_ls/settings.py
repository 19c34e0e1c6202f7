"""Every option of the agent in one validated model, shared by the CLI and the language server."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic.alias_generators import to_camel

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
DEFAULT_OPENAI_BASE_URL = "http://127.0.0.1:8080/v1"
"""llama.cpp's server default; vLLM listens on :8000, LM Studio on :1234, LiteLLM on :4000."""


class ApplyMode(str, Enum):
    """How the language server hands a run's changes to the editor."""

    LIVE = "live"
    REVIEW = "review"


class CommandApproval(str, Enum):
    """Who decides whether ``run_command`` may run a command."""

    ASK = "ask"
    ALLOWLIST = "allowlist"
    NEVER = "never"
    ALWAYS = "always"


class SandboxMode(str, Enum):
    """What a command the agent runs may touch (run_command and a spec's verify commands)."""

    WORKSPACE_WRITE = "workspace-write"
    READ_ONLY = "read-only"
    OFF = "off"


DEFAULT_DENY_READ = [
    "~/.ssh",
    "~/.gnupg",
    "~/.aws",
    "~/.azure",
    "~/.config/gcloud",
    "~/.config/gh",
    "~/.docker",
    "~/.kube",
    "~/.netrc",
    "~/.git-credentials",
    "~/.pypirc",
    "~/.npmrc",
    "~/.password-store",
]
"""Secrets a sandboxed command cannot read unless the user lists otherwise."""

Backend = Literal["ollama", "openai"]
EditFormat = Literal["auto", "tools", "search-replace", "whole"]

ThinkSetting = bool | Literal["low", "medium", "high", "max"] | None


class McpServerSettings(BaseModel):
    """One MCP server: a command to start (stdio) or a URL (streamable HTTP), and its tools."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    command: str | None = Field(None, min_length=1, description="Program to start (stdio).")
    args: list[str] = Field(default_factory=list, description="Its arguments.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for it; never logged."
    )
    cwd: str | None = Field(None, description="Its working directory; unset: the workspace.")
    url: str | None = Field(None, min_length=1, description="Streamable HTTP endpoint.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="HTTP headers for the URL (a token); never logged."
    )
    tools: list[str] | None = Field(
        None, description="The server's tools offered to the model; unset: all of them."
    )
    auto_approve: list[str] = Field(
        default_factory=list, description="Tools that run without asking; the others ask."
    )
    disabled: bool = Field(False, description="Keep the entry but do not start the server.")
    timeout: float = Field(
        30.0, gt=0, le=600, description="Seconds to start and list tools before giving up."
    )

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError(
                "give either command (a program started over stdio) or url (a streamable HTTP "
                "endpoint), not both and not neither"
            )
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("args, env and cwd belong to a command; a url server takes headers")
        if self.command is not None and self.headers:
            raise ValueError("headers belong to a url server; a command takes env instead")
        return self


class Settings(BaseModel):
    """Options of the agent; keys are camelCase on the wire (initializationOptions, env, files)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
        frozen=False,
    )

    backend: Backend = Field(
        "ollama",
        description="The API of the model server: ollama (native /api/chat) or openai "
        "(chat completions: llama.cpp's server, vLLM, SGLang, LM Studio, LiteLLM).",
    )
    base_url: str = Field(
        DEFAULT_OPENAI_BASE_URL,
        description="The OpenAI-compatible server's URL including /v1 (backend openai).",
    )
    api_key: SecretStr | None = Field(
        None, description="Bearer token for the OpenAI-compatible server; never logged."
    )
    api_key_env: str | None = Field(
        None, description="Name of an environment variable holding the API key (backend openai)."
    )
    context_length: int | None = Field(
        None,
        ge=512,
        description="Context window of an OpenAI-compatible server that does not report one.",
    )
    edit_format: EditFormat = Field(
        "auto",
        description="How the model writes edits: tools (native tool calls), search-replace or "
        "whole (text blocks in one reply, for small models), or auto (chosen per model).",
    )
    ollama_url: str = Field(
        DEFAULT_OLLAMA_URL,
        description="Base URL of the Ollama server (OLLAMA_HOST is honoured when unset).",
    )
    model: str = Field("qwen3:8b", min_length=1, description="Ollama model that runs the agent.")
    num_ctx: int | None = Field(
        None,
        ge=512,
        description="Context window sent as options.num_ctx. Unset: min(model's trained context, "
        "maxNumCtx).",
    )
    max_num_ctx: int = Field(
        32768, ge=512, description="Upper bound for the automatic num_ctx (VRAM grows with it)."
    )
    keep_alive: str | int = Field(
        "30m", description="How long Ollama keeps the model loaded after a request."
    )
    think: ThinkSetting = Field(
        None, description="Ask thinking models to think (true/false or low|medium|high|max)."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra Ollama options passed through (temperature, top_p, ...).",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra HTTP headers for every Ollama request (a token for a proxy).",
    )
    max_turns: int = Field(25, ge=1, le=500, description="Model replies allowed in one run.")
    apply_mode: ApplyMode = Field(
        ApplyMode.LIVE,
        description="live: each edit is applied at once; review: one edit at the end to confirm.",
    )
    command_approval: CommandApproval = Field(
        CommandApproval.ASK, description="Policy for run_command: ask, allowlist, never, always."
    )
    allowed_commands: list[str] = Field(
        default_factory=list,
        description="Command prefixes allowed without asking under the allowlist policy.",
    )
    sandbox: SandboxMode = Field(
        SandboxMode.WORKSPACE_WRITE,
        description="Where commands run: workspace-write (only the workspace, not .git/, and a "
        "private TMPDIR are writable), read-only, or off (no OS sandbox).",
    )
    sandbox_network: bool = Field(
        False,
        description="Let sandboxed commands reach the network (the host's loopback included); "
        "off: only a private loopback inside the sandbox.",
    )
    sandbox_deny_read: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DENY_READ),
        description="Paths a sandboxed command cannot read (~ is the home directory).",
    )
    command_timeout: float = Field(
        120.0, gt=0, le=3600, description="Seconds before run_command kills the command."
    )
    approval_timeout: float = Field(
        120.0, gt=0, le=3600, description="Seconds to wait for an approval answer (then: deny)."
    )
    connect_timeout: float = Field(5.0, gt=0, le=300, description="Seconds to connect to Ollama.")
    read_timeout: float | None = Field(
        None,
        gt=0,
        description="Seconds to wait for each streamed line; unset waits for ever "
        "(models load slowly).",
    )
    tool_result_max_chars: int = Field(
        20000,
        ge=1000,
        le=1_000_000,
        description="Most characters of one tool result the model gets (cut when it arrives, "
        "with a note on how to read less; at most an eighth of the room the system prompt, "
        "tools and task leave in the context window either way).",
    )
    rules: list[str] = Field(
        default_factory=list,
        description="Extra rule files (workspace-relative) for the system prompt, after the "
        "workspace's AGENTS.md.",
    )
    rules_max_chars: int = Field(
        8000,
        ge=200,
        le=200_000,
        description="Most characters of rules the system prompt carries (and of each nested "
        "AGENTS.md); longer ones are cut with a note.",
    )
    read_max_bytes: int = Field(
        4_000_000,
        ge=1000,
        le=1_000_000_000,
        description="Largest file the file tools read or edit, in bytes (bigger: a clear error).",
    )
    stream_line_max_bytes: int = Field(
        8_000_000,
        ge=10_000,
        le=1_000_000_000,
        description="Longest line or event the model server may stream, in bytes (longer: a "
        "clear error, not unbounded memory).",
    )
    warm_start: bool | None = Field(
        None,
        description="Send the static prompt prefix (system prompt, tool schemas) for a one-token "
        "reply when the language server starts and when the model changes, so the first run's "
        "prefill of it is cached. Unset: on in the language server, off in the CLI.",
    )
    sessions_max_count: int = Field(
        50, ge=1, le=10000, description="Most sessions kept per workspace (oldest dropped first)."
    )
    sessions_max_age_days: float = Field(
        30, gt=0, le=3650, description="Days a session is kept after its last run."
    )
    verify_rounds: int = Field(
        2, ge=0, le=10, description="Extra agent rounds when a spec's verify command fails."
    )
    transcript_updates_per_second: float = Field(
        20.0,
        ge=1,
        le=1000,
        description="Most transcript notifications a run sends per second; streamed tokens "
        "that come faster are merged (more: smoother text, more work for the editor).",
    )
    mcp_servers: dict[str, McpServerSettings] = Field(
        default_factory=dict,
        description="MCP servers whose tools the agent may call, by name: {command, args?, env?, "
        "cwd?} or {url, headers?}, with tools? (those offered), autoApprove? (those that do not "
        "ask), disabled?, timeout?. They run outside the sandbox and undo does not cover them.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of the server (stderr, --log-file, window/logMessage)."
    )

    def resolved_api_key(self) -> str | None:
        """The API key: ``apiKey``, else the variable ``apiKeyEnv`` names, else None."""
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        return None


class SettingsProblem(ValueError):
    """One option had an invalid value; the message names it and what is allowed."""


def describe_error(err: dict[str, Any]) -> str:
    """Turn one pydantic error into a sentence that names the option and the allowed values."""
    loc = ".".join(str(part) for part in err.get("loc", ())) or "settings"
    msg = str(err.get("msg", "invalid value"))
    if err.get("type") == "extra_forbidden":
        known = ", ".join(
            sorted(field.alias or name for name, field in Settings.model_fields.items())
        )
        return f"unknown option '{loc}' (known options: {known})"
    # mcpServers' env and headers hold tokens as often as apiKey does.
    secret = loc.split(".")[0] in ("apiKey", "api_key", "mcpServers", "mcp_servers")
    shown = "(hidden)" if secret else repr(err.get("input"))
    return f"invalid value {shown} for '{loc}': {msg}"


def load_settings(
    raw: Mapping[str, Any] | None, base: Settings | None = None
) -> tuple[Settings, list[str]]:
    """Validate ``raw`` key by key over ``base``; invalid keys are reported, defaults kept."""
    settings = (base or Settings()).model_copy()
    problems: list[str] = []
    if not raw:
        return settings, problems
    for key, value in raw.items():
        try:
            candidate = Settings.model_validate({**_as_aliases(settings), key: value})
        except ValidationError as exc:
            problems.extend(describe_error(dict(e)) for e in exc.errors())
            continue
        settings = candidate
    return settings, problems


def strict_settings(raw: Mapping[str, Any], base: Settings | None = None) -> Settings:
    """Validate ``raw`` all at once; raise SettingsProblem naming every invalid option."""
    settings, problems = load_settings(raw, base)
    if problems:
        raise SettingsProblem("; ".join(problems))
    return settings


def _as_aliases(settings: Settings) -> dict[str, Any]:
    return settings.model_dump(by_alias=True, exclude_unset=False)


# Environment variables: OLLAMA_HOST as Ollama's own tools read it, the rest prefixed.
_ENV_KEYS: dict[str, str] = {
    "OLLAMA_AGENT_MODEL": "model",
    "OLLAMA_AGENT_NUM_CTX": "numCtx",
    "OLLAMA_AGENT_MAX_NUM_CTX": "maxNumCtx",
    "OLLAMA_AGENT_KEEP_ALIVE": "keepAlive",
    "OLLAMA_AGENT_MAX_TURNS": "maxTurns",
    "OLLAMA_AGENT_COMMAND_APPROVAL": "commandApproval",
    "OLLAMA_AGENT_COMMAND_TIMEOUT": "commandTimeout",
    "OLLAMA_AGENT_BACKEND": "backend",
    "OLLAMA_AGENT_BASE_URL": "baseUrl",
    "OLLAMA_AGENT_API_KEY": "apiKey",
    "OLLAMA_AGENT_SANDBOX": "sandbox",
}


def normalise_ollama_host(value: str) -> str:
    """Accept OLLAMA_HOST forms like ``0.0.0.0``, ``host:port``, ``:port`` or a full URL."""
    value = value.strip().rstrip("/")
    if not value:
        return DEFAULT_OLLAMA_URL
    if "://" not in value:
        value = "http://" + value
    scheme, rest = value.split("://", 1)
    scheme = scheme.lower()
    host_port, slash, path = rest.partition("/")
    if host_port.startswith(":"):
        host_port = "127.0.0.1" + host_port  # ":11434" is how Ollama says "this machine"
    if ":" not in host_port.rsplit("]", 1)[-1]:
        host_port += ":443" if scheme == "https" else ":11434"
    value = f"{scheme}://{host_port}{slash}{path}"
    return value.replace("://0.0.0.0:", "://127.0.0.1:")


def settings_from_env(environ: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    """Settings from defaults plus the environment (``OLLAMA_HOST``, ``OLLAMA_AGENT_*``)."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if env.get("OLLAMA_HOST"):
        raw["ollamaUrl"] = normalise_ollama_host(env["OLLAMA_HOST"])
    for var, key in _ENV_KEYS.items():
        if env.get(var):
            raw[key] = env[var]
    settings, problems = load_settings(raw)
    return settings, [f"{p} (from the environment)" for p in problems]

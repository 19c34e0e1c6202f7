"""MCP tools against real MCP servers written with the SDK (tests/mcp_servers/echo_server.py):
tools/list, tools/call, errors, a hung start, a crash mid-run, streamable HTTP, the allowlist,
approvals, names and result summaries."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ollama_agent_ls.mcp_tools.hub import McpHub, close_hub
from ollama_agent_ls.mcp_tools.names import SAFE_NAME, tool_name, unique_names
from ollama_agent_ls.mcp_tools.provider import (
    MAX_SCHEMA_TOKENS,
    MAX_TOOLS,
    SESSION_KEY,
    McpToolProvider,
)
from ollama_agent_ls.mcp_tools.report import check_mcp
from ollama_agent_ls.mcp_tools.schema import result_text, terse_schema
from ollama_agent_ls.mcp_tools.wiring import mcp_providers
from ollama_agent_ls.ollama.models import ToolCall
from ollama_agent_ls.ollama.setup_check import SetupReport
from ollama_agent_ls.settings import McpServerSettings, Settings, load_settings
from ollama_agent_ls.tools.context import Approval, ApprovalRequest, ToolContext
from ollama_agent_ls.tools.executor import ToolExecutor
from ollama_agent_ls.tools.schemas import CORE_TOOLS, TOOL_DEFINITIONS
from ollama_agent_ls.workspace.documents import DiskDocuments
from ollama_agent_ls.workspace.staging import StagingArea
from tests.mcp_servers.loopback_http import http_echo_server

SERVER = str(Path(__file__).resolve().parents[2] / "mcp_servers" / "echo_server.py")


def echo(*extra: str, **fields: object) -> McpServerSettings:
    return McpServerSettings.model_validate(
        {"command": sys.executable, "args": [SERVER, *extra], **fields}
    )


class Answers:
    """An approver that answers from a list and records what it was asked."""

    def __init__(self, *answers: Approval) -> None:
        self.answers = list(answers)
        self.asked: list[ApprovalRequest] = []

    async def ask(self, request: ApprovalRequest) -> Approval:
        self.asked.append(request)
        return self.answers.pop(0) if self.answers else Approval.DENY


def context(root: Path, approver: Answers, **settings: object) -> ToolContext:
    docs = DiskDocuments(root)
    return ToolContext(
        root=root,
        documents=docs,
        sink=StagingArea(docs),
        settings=Settings.model_validate(settings),
        approver=approver,
    )


@pytest.fixture
async def hub() -> AsyncIterator[McpHub]:
    hub = McpHub()
    yield hub
    await hub.close()


async def executor_with(
    hub: McpHub, ctx: ToolContext, servers: dict[str, McpServerSettings]
) -> tuple[ToolExecutor, list[str]]:
    executor = ToolExecutor(ctx, providers=[McpToolProvider(hub, servers)])
    warnings = await executor.prepare()
    return executor, warnings


async def test_tools_are_listed_with_their_schemas_after_the_core_ones(hub, tmp_path) -> None:
    ctx = context(tmp_path, Answers())
    executor, warnings = await executor_with(hub, ctx, {"echo": echo()})
    definitions = executor.definitions()
    core = [TOOL_DEFINITIONS[n] for n in CORE_TOOLS]
    assert definitions[: len(core)] == core
    assert executor.names[len(core) :] == ["echo__echo", "echo__fail", "echo__picture", "echo__die"]
    assert definitions[len(core)] == {
        "type": "function",
        "function": {
            "name": "echo__echo",
            "description": "Echo the text back.",
            "parameters": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        },
    }
    assert warnings == []
    # Fixed for the session: asking again adds nothing and changes no byte.
    assert await executor.prepare() == []
    assert executor.definitions() == definitions


async def test_a_call_asks_by_default_and_returns_the_text(hub, tmp_path) -> None:
    approver = Answers(Approval.ALLOW)
    ctx = context(tmp_path, approver)
    executor, _ = await executor_with(hub, ctx, {"echo": echo()})
    outcome = await executor.execute(ToolCall("echo__echo", {"text": "hi"}))
    assert outcome.ok, outcome.content
    assert outcome.content == "echo: hi"
    [request] = approver.asked
    assert request.command == 'echo__echo {"text": "hi"}'
    assert "outside the sandbox" in request.reason
    assert "autoApprove" in request.reason


async def test_a_denied_call_does_not_reach_the_server(hub, tmp_path) -> None:
    calls = tmp_path / "calls.txt"
    ctx = context(tmp_path, Answers(Approval.DENY))
    server = echo(env={"ECHO_CALLS": str(calls)})
    executor, _ = await executor_with(hub, ctx, {"echo": server})
    outcome = await executor.execute(ToolCall("echo__echo", {"text": "hi"}))
    assert not outcome.ok
    assert "The user denied calling echo__echo" in outcome.content
    assert not calls.exists()


async def test_auto_approved_tools_and_session_allowances_do_not_ask(hub, tmp_path) -> None:
    approver = Answers(Approval.ALLOW_FOR_SESSION)
    ctx = context(tmp_path, approver)
    executor, _ = await executor_with(hub, ctx, {"echo": echo(autoApprove=["picture"])})
    assert (await executor.execute(ToolCall("echo__picture", {}))).ok
    assert approver.asked == []
    assert (await executor.execute(ToolCall("echo__echo", {"text": "a"}))).ok
    assert (await executor.execute(ToolCall("echo__echo", {"text": "b"}))).ok
    assert len(approver.asked) == 1
    assert SESSION_KEY + "echo__echo" in ctx.allowed_for_session


async def test_command_approval_never_refuses_without_asking(hub, tmp_path) -> None:
    approver = Answers(Approval.ALLOW)
    ctx = context(tmp_path, approver, commandApproval="never")
    executor, _ = await executor_with(hub, ctx, {"echo": echo(autoApprove=["picture"])})
    refused = await executor.execute(ToolCall("echo__echo", {"text": "a"}))
    assert not refused.ok and "commandApproval=never" in refused.content
    assert (await executor.execute(ToolCall("echo__picture", {}))).ok
    assert approver.asked == []


async def test_an_error_result_fails_the_call_with_the_servers_text(hub, tmp_path) -> None:
    ctx = context(tmp_path, Answers())
    executor, _ = await executor_with(hub, ctx, {"echo": echo(autoApprove=["fail"])})
    outcome = await executor.execute(ToolCall("echo__fail", {"why": "x"}))
    assert not outcome.ok
    assert outcome.content.startswith("Error: echo__fail failed: ")


async def test_images_and_resources_are_summarised(hub, tmp_path) -> None:
    ctx = context(tmp_path, Answers())
    executor, _ = await executor_with(hub, ctx, {"echo": echo(autoApprove=["picture"])})
    outcome = await executor.execute(ToolCall("echo__picture", {}))
    assert outcome.content.split("\n") == [
        "a caption",
        "[image (image/png, 100 bytes) not shown: text only here]",
        "[embedded resource file:///notes.txt (text/plain, 50 characters of text) not shown]",
    ]


async def test_the_allowlist_offers_only_the_listed_tools(hub, tmp_path) -> None:
    ctx = context(tmp_path, Answers())
    servers = {"echo": echo(tools=["echo", "nope"])}
    executor, warnings = await executor_with(hub, ctx, servers)
    assert [n for n in executor.names if "__" in n] == ["echo__echo"]
    assert warnings == [
        "MCP server 'echo' has no tool nope (mcpServers.echo.tools); it has: echo, fail, "
        "picture, die."
    ]
    unlisted = await executor.execute(ToolCall("echo__fail", {"why": "x"}))
    assert not unlisted.ok and "Unknown tool 'echo__fail'" in unlisted.content


async def test_a_hung_server_times_out_and_the_others_still_work(hub, tmp_path) -> None:
    pid_file = tmp_path / "hung.pid"
    servers = {
        "hung": echo("--hang", "--pid-file", str(pid_file), timeout=2),
        "echo": echo(autoApprove=["echo"]),
        "missing": McpServerSettings(command=str(tmp_path / "no-such-server")),
        "off": echo(disabled=True),
    }
    ctx = context(tmp_path, Answers())
    executor, warnings = await executor_with(hub, ctx, servers)
    assert [n for n in executor.names if "__" in n][:1] == ["echo__echo"]
    assert not any(n.startswith(("hung__", "missing__", "off__")) for n in executor.names)
    hung, missing = warnings
    assert hung.startswith("MCP server 'hung' is not available, so this run goes on without")
    assert "did not answer initialize and tools/list within 2 s" in hung
    assert "echo server starting" in hung  # its stderr, quoted
    assert "mcpServers.hung.timeout" in hung
    assert "its command was not found" in missing
    assert (await executor.execute(ToolCall("echo__echo", {"text": "x"}))).ok
    # The hung process was stopped, not left behind.
    pid = int(pid_file.read_text())
    assert not _alive(pid)


async def test_a_server_that_exits_mid_run_stays_listed_and_answers_errors(hub, tmp_path) -> None:
    ctx = context(tmp_path, Answers())
    shown: list[str] = []
    ctx.on_warning = shown.append
    servers = {"echo": echo(autoApprove=["die", "echo"])}
    executor, _ = await executor_with(hub, ctx, servers)
    died = await executor.execute(ToolCall("echo__die", {}))
    assert not died.ok
    assert "MCP server 'echo' is not available (it exited" in died.content
    # The person is told too, in the transcript, with what to check.
    [warning] = shown
    assert "MCP server 'echo' stopped answering (it exited" in warning
    assert "ollama-agent-ls doctor" in warning
    after = await executor.execute(ToolCall("echo__echo", {"text": "x"}))
    assert not after.ok and "Do not call its tools again" in after.content
    assert "echo__echo" in executor.names
    # The next session starts it again.
    again, warnings = await executor_with(hub, context(tmp_path, Answers()), servers)
    assert warnings == []
    assert (await again.execute(ToolCall("echo__echo", {"text": "y"}))).content == "echo: y"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.fixture
def http_server() -> Iterator[str]:
    with http_echo_server() as url:
        yield url


async def test_streamable_http_on_loopback(hub, tmp_path, http_server) -> None:
    ctx = context(tmp_path, Answers(Approval.ALLOW))
    server = McpServerSettings(url=http_server, headers={"X-Token": "t"})
    executor, warnings = await executor_with(hub, ctx, {"web": server})
    assert warnings == []
    assert "web__echo" in executor.names
    assert (await executor.execute(ToolCall("web__echo", {"text": "over http"}))).content == (
        "echo: over http"
    )


def test_names_are_safe_and_distinct() -> None:
    assert tool_name("git", "status") == "git__status"
    assert tool_name("my server", "read.file") == "my_server__read_file"
    long = tool_name("s" * 40, "t" * 40)
    assert len(long) == 64 and SAFE_NAME.match(long)
    assert tool_name("s" * 40, "t" * 40 + "x") != long
    a, b = unique_names([("a.b", "c"), ("a_b", "c")])
    assert a == "a_b__c" and a != b and SAFE_NAME.match(b)


def test_terse_schema_drops_titles_but_keeps_a_property_named_title() -> None:
    schema = {
        "title": "Args",
        "$schema": "x",
        "type": "object",
        "properties": {"title": {"title": "Title", "type": "string"}},
    }
    assert terse_schema(schema) == {"type": "object", "properties": {"title": {"type": "string"}}}


def test_structured_content_is_sent_when_there_is_no_text() -> None:
    result = {"content": [], "structuredContent": {"n": 1}}
    assert result_text(result) == '{"n": 1}'
    assert result_text({"content": []}) == "(the tool returned nothing)"
    link = {"type": "resource_link", "uri": "file:///a", "name": "a"}
    assert result_text({"content": [link]}) == "[resource link file:///a a]"


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({"x": {}}, "give either command"),
        ({"x": {"command": "a", "url": "http://b"}}, "not both"),
        ({"x": {"url": "http://b", "env": {"K": "secret-value"}}}, "a url server takes headers"),
        ({"x": {"command": "a", "headers": {"K": "v"}}}, "headers belong to a url server"),
        ({"x": {"command": "a", "autoaprove": []}}, "autoaprove"),
    ],
)
def test_invalid_servers_are_reported_by_name_without_their_secrets(value, needle) -> None:
    settings, problems = load_settings({"mcpServers": value})
    assert settings.mcp_servers == {}
    assert any(needle in p and "mcpServers.x" in p for p in problems), problems
    assert not any("secret-value" in p for p in problems)


def test_a_setup_without_servers_never_imports_the_sdk() -> None:
    code = (
        "import asyncio, json, sys\n"
        "from ollama_agent_ls.headless import build_disk_run\n"
        "from ollama_agent_ls.mcp_tools.report import check_mcp\n"
        "from ollama_agent_ls.ollama.setup_check import SetupReport\n"
        "from ollama_agent_ls.settings import Settings\n"
        "from pathlib import Path\n"
        "r = SetupReport('u', 'm')\n"
        "asyncio.run(check_mcp(r, Settings(), Path('.')))\n"
        "print(json.dumps([r.tool_count, 'mcp' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [len(CORE_TOOLS), False]


async def test_cancelling_while_servers_start_leaves_no_process(hub, tmp_path) -> None:
    pid_file = tmp_path / "hung.pid"
    os.mkfifo(pid_file)  # read below: returns once the server has started and written its pid
    ctx = context(tmp_path, Answers())
    provider = McpToolProvider(hub, {"hung": echo("--hang", "--pid-file", str(pid_file))})
    task = asyncio.ensure_future(provider.provide(ctx))
    pid = int(await asyncio.to_thread(pid_file.read_text))
    assert _alive(pid)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await hub.close()
    assert not _alive(pid)


async def test_a_missing_working_directory_is_named(hub, tmp_path) -> None:
    ctx = context(tmp_path, Answers())
    _, [warning] = await executor_with(hub, ctx, {"echo": echo(cwd="gone")})
    assert f"its working directory {tmp_path / 'gone'} does not exist" in warning


async def test_many_tools_are_a_warning_in_the_run_and_in_doctor(hub, tmp_path) -> None:
    many = {"echo": echo("--extra-tools", "6")}
    _, warnings = await executor_with(hub, context(tmp_path, Answers()), many)
    [heavy] = warnings
    count = len(CORE_TOOLS) + 4 + 6
    assert heavy.startswith(f"The model is offered {count} tools (about ")
    assert f"beyond about {MAX_TOOLS} tools or {MAX_SCHEMA_TOKENS} tokens" in heavy
    assert "List only the tools you need in mcpServers.NAME.tools." in heavy

    # doctor and checkSetup: the same count and warning, gone once the allowlist trims it.
    report = SetupReport("u", "m")
    await check_mcp(report, Settings.model_validate({"mcpServers": many}), tmp_path)
    assert report.tool_count == count
    assert report.tool_schema_tokens > 0
    assert heavy in report.warnings
    trimmed = SetupReport("u", "m")
    few = {"echo": echo("--extra-tools", "6", tools=["echo", "extra_0"])}
    await check_mcp(trimmed, Settings.model_validate({"mcpServers": few}), tmp_path)
    assert trimmed.tool_count == len(CORE_TOOLS) + 2
    assert not any("tools (about" in w for w in trimmed.warnings), trimmed.warnings


class Face:
    """What owns a hub: a language server, an ACP agent."""


async def test_servers_start_at_the_first_run_needing_them_and_later_runs_share_them(
    tmp_path,
) -> None:
    pid_file = tmp_path / "echo.pid"
    settings = Settings.model_validate(
        {"mcpServers": {"echo": echo("--pid-file", str(pid_file), autoApprove=["echo"])}}
    )
    owner = Face()
    try:
        [first_run] = mcp_providers(owner, settings)
        assert not pid_file.exists()  # wiring a run starts nothing
        first = ToolExecutor(context(tmp_path, Answers()), providers=[first_run])
        await first.prepare()
        pid = int(pid_file.read_text())
        assert (await first.execute(ToolCall("echo__echo", {"text": "a"}))).ok

        second = ToolExecutor(
            context(tmp_path, Answers()), providers=mcp_providers(owner, settings)
        )
        await second.prepare()
        assert (await second.execute(ToolCall("echo__echo", {"text": "b"}))).content == "echo: b"
        assert int(pid_file.read_text()) == pid and _alive(pid)  # the same process
    finally:
        await close_hub(owner)
    assert not _alive(pid)

"""The reference server: profiles, ``--tools``, transport settings, logs and the ``serve`` CLI."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.request_state import RequestStateBoundary

from mcp_tasks_server import Settings
from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.server import build_server, load_tools, transport_security
from mcp_tasks_server.server.cli import build_parser, main
from mcp_tasks_server.server.logs import JsonLogFormatter

REPO = Path(__file__).resolve().parents[1]
SETTINGS = Settings(shutdown_grace_seconds=0)

USER_SERVER = """
from mcp.server.mcpserver import MCPServer

server = MCPServer("user-tools", log_level="WARNING")

@server.tool()
def add(a: int, b: int) -> int:
    return a + b
"""

USER_REGISTER = """
def register(tasks, server):
    @tasks.tool(task_support="required")
    async def shout(word: str) -> str:
        return word.upper()
"""

USER_FACTORY = """
from mcp.server.mcpserver import MCPServer

def make():
    made = MCPServer("made", log_level="WARNING")

    @made.tool()
    def ping() -> str:
        return "pong"

    return made
"""

USER_INSTALLED = """
from mcp.server.mcpserver import MCPServer
from mcp_tasks_server import Settings
from mcp_tasks_server.protocol import Tasks

tasks = Tasks(Settings())
mcp = MCPServer("already", log_level="WARNING")

@tasks.tool(task_support="optional")
async def slow() -> str:
    return "slow"

tasks.install(mcp)
"""


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


async def tool_names(server: MCPServer[Any]) -> set[str]:
    """The server's own tools (not the ``tasks_*`` tools every tasks server adds)."""
    with anyio.fail_after(10):
        async with Client(server, mode="2026-07-28") as client:
            tools = (await client.list_tools()).tools
    return {tool.name for tool in tools if not tool.name.startswith("tasks_")}


# ---------------------------------------------------------------------- --tools


@pytest.mark.anyio
async def test_a_user_mcpserver_is_served_with_tasks_installed(tmp_path: Path) -> None:
    path = write(tmp_path, "user_server.py", USER_SERVER)
    server = build_server(SETTINGS, tools=f"{path}:server")
    assert server.name == "user-tools"
    assert await tool_names(server) == {"add"}
    assert any(e.identifier == "io.modelcontextprotocol/tasks" for e in server._extensions)


@pytest.mark.anyio
async def test_a_register_function_adds_tools_to_the_reference_server(tmp_path: Path) -> None:
    write(tmp_path, "user_register_mod.py", USER_REGISTER)
    sys.path.insert(0, str(tmp_path))
    try:
        server = build_server(SETTINGS, tools="user_register_mod")
    finally:
        sys.path.remove(str(tmp_path))
    assert server.name == "mcp-tasks-server"
    assert await tool_names(server) == {"shout"}  # no example tools next to yours


@pytest.mark.anyio
async def test_a_factory_is_called_for_its_server(tmp_path: Path) -> None:
    path = write(tmp_path, "user_factory.py", USER_FACTORY)
    server = build_server(SETTINGS, tools=f"{path}:make")
    assert await tool_names(server) == {"ping"}


@pytest.mark.anyio
async def test_a_server_that_installs_tasks_itself_is_served_as_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, "user_installed.py", USER_INSTALLED)
    server = build_server(SETTINGS, tools=str(path))
    assert server.name == "already"
    assert await tool_names(server) == {"slow"}
    with pytest.raises(ConfigError, match="serve it without --profile"):
        build_server(SETTINGS, profile="conformance", tools=str(path))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_anywhere:server", "no module named 'no_such_module_anywhere'"),
        ("missing/file.py:server", "no such file"),
        ("json:no_such_attribute", "json has no attribute 'no_such_attribute'"),
        ("json:__name__", "expected an MCPServer or a register"),
        ("json", "found no MCPServer named mcp, server or app"),
    ],
)
def test_a_bad_tools_spec_is_a_config_error_that_says_the_fix(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_tools(spec)


def test_a_module_that_fails_to_import_is_reported_with_its_error(tmp_path: Path) -> None:
    path = write(tmp_path, "broken_tools.py", "raise RuntimeError('boom at import')\n")
    with pytest.raises(ConfigError, match="RuntimeError: boom at import"):
        load_tools(f"{path}:server")


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        build_server(SETTINGS, profile="nope")


def test_the_request_state_key_reaches_a_user_server(tmp_path: Path) -> None:
    path = write(tmp_path, "keyed_server.py", USER_SERVER)
    server = build_server(Settings(request_state_key="s" * 32), tools=f"{path}:server")
    boundaries = [m for m in server.middleware if isinstance(m, RequestStateBoundary)]
    assert len(boundaries) == 1
    assert boundaries[0]._security.codec.seal(b"x").startswith("v1.")  # the configured ring
    assert boundaries[0]._audience == "user-tools"


# ---------------------------------------------------------------------- HTTP settings


def test_loopback_binding_gets_dns_rebinding_protection_by_default() -> None:
    security = transport_security(Settings(transport="http"))
    assert security.enable_dns_rebinding_protection
    assert "127.0.0.1:*" in security.allowed_hosts


def test_a_public_binding_needs_its_allowed_hosts() -> None:
    with pytest.raises(ConfigError, match="set MCP_TASKS_ALLOWED_HOSTS"):
        transport_security(Settings(transport="http", host="0.0.0.0"))
    listed = transport_security(
        Settings(host="0.0.0.0", allowed_hosts=["tasks.example.com:*"])  # type: ignore[arg-type]
    )
    assert listed.enable_dns_rebinding_protection
    assert "tasks.example.com:*" in listed.allowed_hosts
    star = transport_security(Settings(host="0.0.0.0", allowed_hosts=["*"]))  # type: ignore[arg-type]
    assert not star.enable_dns_rebinding_protection


def test_allowed_hosts_are_comma_separated_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_TASKS_ALLOWED_HOSTS", "a.example.com, b.example.com:*")
    assert Settings().allowed_hosts == ["a.example.com", "b.example.com:*"]


def test_a_short_request_state_key_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mcp_tasks_server.settings import load_settings

    monkeypatch.setenv("MCP_TASKS_REQUEST_STATE_KEY", "too-short-secret")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "at least 32 bytes" in str(caught.value)
    assert "too-short-secret" not in str(caught.value)


# ---------------------------------------------------------------------- logs and CLI


def test_log_lines_are_json_objects() -> None:
    record = logging.LogRecord("mcp_tasks_server", logging.INFO, __file__, 1, "hi %s", ("x",), None)
    line = json.loads(JsonLogFormatter().format(record))
    assert line["message"] == "hi x"
    assert line["level"] == "INFO"
    assert line["logger"] == "mcp_tasks_server"


def test_serve_is_the_default_command() -> None:
    from mcp_tasks_server.server.cli import _with_default_command

    parser = build_parser()
    assert _with_default_command(parser, []) == ["serve"]
    assert _with_default_command(parser, ["--port", "9000"]) == ["serve", "--port", "9000"]
    assert _with_default_command(parser, ["dynamodb", "check"]) == ["dynamodb", "check"]
    assert _with_default_command(parser, ["--version"]) == ["--version"]


def test_serve_errors_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "mcp_tasks_server.server.build.configure_logging", lambda level, key=None: None
    )
    assert main(["--tools", "no_such_module_anywhere:server"]) == 2
    assert main(["serve", "--transport", "http", "--host", "0.0.0.0"]) == 2
    monkeypatch.setenv("MCP_TASKS_PORT", "not-a-port")
    assert main(["serve"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("mcp-tasks-server: --tools no_such_module_anywhere:server")
    assert "MCP_TASKS_ALLOWED_HOSTS" in lines[1]
    assert "MCP_TASKS_PORT='not-a-port'" in lines[2]


def test_the_console_entry_point_reports_an_unknown_tools_module() -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "mcp_tasks_server", "--tools", "no_such_module_anywhere"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("mcp-tasks-server: --tools no_such_module_anywhere: no module named")
    )


@pytest.mark.anyio
async def test_a_registered_task_tool_is_a_task_for_an_opted_in_client(tmp_path: Path) -> None:
    from tests.protocol.modern_client import TasksClient

    path = write(tmp_path, "register_file.py", USER_REGISTER)
    tasks_client = TasksClient()
    with anyio.fail_after(10):
        async with Client(
            build_server(SETTINGS, tools=f"{path}:register"),
            mode="2026-07-28",
            extensions=[tasks_client],
        ) as client:
            result = await client.call_tool("shout", {"word": "hey"})
    assert result.content[0].text == "HEY"  # type: ignore[union-attr]
    assert len(tasks_client.created) == 1


def test_tasks_is_importable_for_register_functions() -> None:
    assert Tasks.__name__ == "Tasks"

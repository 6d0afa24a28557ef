"""A server at its global cap (``MCP_TASKS_MAX_ACTIVE_TASKS``), over real HTTP: every
kind of client gets the same JSON-RPC error as at its own quota, and nothing is stored.

Two 2025-11-25 sessions are two owners; with one unfinished task each they fill a
cap of two. A third owner, under its own quota, is then refused in each era and
on the tasks-as-tools path.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server import MemoryBackend, Settings
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.runtime.context import TaskContext
from tests.protocol.harness import RawHttp, serve_http

pytestmark = pytest.mark.anyio

SERVER_BUSY = -32000
AT_CAP = "The server holds its limit of 2 unfinished tasks; try again later"
HOLD: dict[str, Any] = {"name": "hold", "arguments": {}}


def build(backend: MemoryBackend, release: anyio.Event) -> MCPServer[Any]:
    settings = Settings(
        max_active_tasks=2,
        max_active_tasks_per_owner=1,
        heartbeat_interval_seconds=0.1,
        shutdown_grace_seconds=0,
        inline_budget_seconds=0.2,
    )
    tasks = Tasks(settings, backend=backend)
    server: MCPServer[Any] = MCPServer("global-cap-test", log_level="WARNING")

    @tasks.tool(task_support="optional")
    async def hold(ctx: TaskContext) -> str:
        """Run until the test lets go."""
        await release.wait()
        return "released"

    tasks.install(server)
    return server


async def test_a_server_at_its_global_cap_refuses_tasks_in_every_era_and_stores_nothing() -> None:
    backend, release = MemoryBackend(), anyio.Event()
    async with (
        serve_http(build(backend, release)) as url,
        RawHttp.legacy_session(url) as alice,
        RawHttp.legacy_session(url) as bob,
        RawHttp.legacy_session(url) as carol,
        RawHttp.modern(url) as modern,
    ):
        for owner in (alice, bob):
            created = await owner.request("tools/call", {**HOLD, "task": {}})
            assert created.result["task"]["status"] == "working"
        over_quota = await alice.request("tools/call", {**HOLD, "task": {}})
        refusals = {
            "2025-11-25 task": await carol.request("tools/call", {**HOLD, "task": {}}),
            "tasks as tools": await carol.request("tools/call", HOLD),
            "2026-07-28 task": await modern.request("tools/call", HOLD),
        }
        assert len(backend) == 2
        release.set()
    # Alice's own quota comes first, and its refusal is of the same kind.
    assert over_quota.error["code"] == SERVER_BUSY
    assert "per owner" in over_quota.error["message"]
    for path, refused in refusals.items():
        assert refused.error == {"code": SERVER_BUSY, "message": AT_CAP}, path

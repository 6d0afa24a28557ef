"""The protocol adapters see only a ``TaskHost``: a small fake one is enough to drive them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest
from mcp.server.context import HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError

from mcp_tasks_server import Settings
from mcp_tasks_server.backends import MemoryBackend
from mcp_tasks_server.core.model import TaskRecord, TaskStatus, ToolRequest
from mcp_tasks_server.core.owner import Owner, bind_owner
from mcp_tasks_server.protocol.host import TaskHost, TaskSupport
from mcp_tasks_server.protocol.v2025_11_25 import methods as v2025_11_25
from mcp_tasks_server.protocol.v2025_11_25.channel import LegacyChannels
from mcp_tasks_server.protocol.v2026_07_28 import methods as v2026_07_28
from mcp_tasks_server.runtime.runner import Runner
from mcp_tasks_server.runtime.service import TaskService
from mcp_tasks_server.store.store import TaskStore

pytestmark = pytest.mark.anyio


def _service(backend: MemoryBackend) -> TaskService:
    store = TaskStore(backend)
    return TaskService(store, Runner(store, Settings()))


def _owner(principal: str) -> Owner:
    return bind_owner(principal=principal, session_id=None, local=False)


@dataclass
class FakeHost:
    """A host with a real service over memory, one fixed caller and fixed tool support."""

    caller: Owner
    service: TaskService = field(default_factory=lambda: _service(MemoryBackend()))
    support: Mapping[str, TaskSupport] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)

    @property
    def server(self) -> MCPServer[Any]:
        raise AssertionError("these adapters must not reach the server")

    def owner(self, ctx: Any) -> Owner:
        return self.caller

    def support_of(self, tool_name: str) -> TaskSupport:
        return self.support.get(tool_name, TaskSupport.FORBIDDEN)

    async def start_task(
        self,
        owner: Owner,
        tool_name: str,
        arguments: Mapping[str, Any] | None,
        *,
        ttl_ms: int | None = None,
        tool_error_status: TaskStatus = TaskStatus.FAILED,
        context: Context[Any, Any] | None = None,
    ) -> TaskRecord:
        raise AssertionError("no task is started here")


def _context(**fields: Any) -> ServerRequestContext[Any, Any]:
    return cast("ServerRequestContext[Any, Any]", SimpleNamespace(request=None, **fields))


async def test_2026_tasks_get_answers_only_the_hosts_caller() -> None:
    alice = FakeHost(_owner("alice"))
    record = await alice.service.store.create(alice.caller.key, ToolRequest(name="slow"))
    host: TaskHost = alice

    answer = await v2026_07_28.get(host, _context(), SimpleNamespace(taskId=record.task_id))
    assert isinstance(answer, dict)
    assert answer["taskId"] == record.task_id
    assert answer["status"] == "working"

    mallory: TaskHost = FakeHost(_owner("mallory"), alice.service)  # same storage, other caller
    with pytest.raises(MCPError) as caught:
        await v2026_07_28.get(mallory, _context(), SimpleNamespace(taskId=record.task_id))
    assert caught.value.error.code == -32602


async def test_2025_tools_list_shows_the_task_support_the_host_reports() -> None:
    host = FakeHost(
        _owner("alice"), support={"render": TaskSupport.OPTIONAL, "fly": TaskSupport.REQUIRED}
    )
    middleware = v2025_11_25.LegacyTasksMiddleware(host, LegacyChannels())
    listed = {"tools": [{"name": "render"}, {"name": "fly"}, {"name": "plain"}]}

    async def call_next(ctx: ServerRequestContext[Any, Any]) -> HandlerResult:
        return listed

    ctx = _context(method="tools/list", protocol_version="2025-11-25", params={})
    answer = await middleware(ctx, call_next)
    assert answer == {
        "tools": [
            {"name": "render", "execution": {"taskSupport": "optional"}},
            {"name": "fly", "execution": {"taskSupport": "required"}},
            {"name": "plain"},
        ]
    }

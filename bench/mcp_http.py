"""A lean raw JSON-RPC client over streamable HTTP, in either task era, for load.

A :class:`Caller` is one logical client: a 2025-11-25 session
(``initialize``, then its ``Mcp-Session-Id``) or a 2026-07-28 client (no
handshake; every request carries its own ``_meta`` and opts in to the tasks
extension). Each sends through an ``httpx.AsyncClient`` of its own (HTTP/1.1,
keep-alive, a pool of one connection). Bodies are built by hand and
responses parsed minimally, so the client spends as little of the shared
CPU as it can.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.support.wire import LEGACY, MODERN, TASKS_EXTENSION
from tests.support.wire import TERMINAL as TERMINAL

ERAS = (LEGACY, MODERN)

_MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXTENSION: {}}},
    "io.modelcontextprotocol/clientInfo": {"name": "mcp-tasks-bench", "version": "0"},
}
_MODERN_META_NO_TASKS = {
    **_MODERN_META,
    "io.modelcontextprotocol/clientCapabilities": {"extensions": {}},
}


class RpcError(Exception):
    """A JSON-RPC error, or an HTTP answer that is not a JSON-RPC result."""


def pooled_client(connections: int) -> httpx.AsyncClient:
    """HTTP/1.1 with keep-alive, at most ``connections`` sockets, bounded timeouts."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(15.0),
    )


@dataclass
class Caller:
    """One logical MCP client in one era, sharing the pooled HTTP client."""

    http: httpx.AsyncClient
    url: str
    era: str
    headers: dict[str, str] = field(default_factory=dict)
    opt_in: bool = True
    _next_id: int = 0

    @classmethod
    async def connect(
        cls, http: httpx.AsyncClient, url: str, era: str, *, opt_in: bool = True
    ) -> Caller:
        """A ready caller: a 2025-11-25 one has done its handshake.

        ``opt_in=False`` makes a 2026-07-28 caller that does not declare the
        tasks extension (a client without task support).
        """
        caller = cls(
            http,
            url,
            era,
            {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"},
            opt_in,
        )
        if era == LEGACY:
            response = await http.post(
                url,
                content=json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 0,
                        "method": "initialize",
                        "params": {
                            "protocolVersion": LEGACY,
                            "capabilities": {},
                            "clientInfo": {"name": "mcp-tasks-bench", "version": "0"},
                        },
                    }
                ),
                headers=caller.headers,
            )
            _parse(response)
            session = response.headers.get("mcp-session-id")
            if session:
                caller.headers["Mcp-Session-Id"] = session
            caller.headers["MCP-Protocol-Version"] = LEGACY
            await http.post(
                url,
                content=b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
                headers=caller.headers,
            )
        else:
            caller.headers["MCP-Protocol-Version"] = MODERN
        return caller

    async def request(
        self, method: str, params: Mapping[str, Any], name: str | None = None
    ) -> dict[str, Any]:
        """One request; its ``result``, or ``RpcError``."""
        self._next_id += 1
        headers = self.headers
        if self.era == MODERN:
            params = {**params, "_meta": _MODERN_META if self.opt_in else _MODERN_META_NO_TASKS}
            headers = {**headers, "Mcp-Method": method}
            if name is not None:
                headers["Mcp-Name"] = name
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params},
            separators=(",", ":"),
        )
        response = await self.http.post(self.url, content=body, headers=headers)
        return _parse(response)

    # -------------------------------------------------------------- the calls measured

    async def call_plain(self, tool: str = "plain") -> dict[str, Any]:
        """An ordinary ``tools/call``."""
        return await self.request("tools/call", {"name": tool, "arguments": {}}, tool)

    async def create_task(self, tool: str = "zero_task", **arguments: Any) -> str:
        """A ``tools/call`` answered with a task (2025: ``task`` param; 2026: opted in)."""
        params: dict[str, Any] = {"name": tool, "arguments": arguments}
        if self.era == LEGACY:
            params["task"] = {"ttl": 600_000}
        result = await self.request("tools/call", params, tool)
        task = result.get("task", result) if self.era == LEGACY else result
        task_id = task.get("taskId")
        if not isinstance(task_id, str):
            raise RpcError(f"tools/call did not create a task: {str(result)[:200]}")
        return task_id

    async def get_task(self, task_id: str) -> str:
        """``tasks/get``; the task's status."""
        result = await self.request("tasks/get", {"taskId": task_id}, task_id)
        return str(result.get("status"))

    async def cancel_task(self, task_id: str) -> dict[str, Any]:
        return await self.request("tasks/cancel", {"taskId": task_id}, task_id)


def _parse(response: httpx.Response) -> dict[str, Any]:
    """The ``result`` of a JSON or SSE-framed JSON-RPC answer; ``RpcError`` otherwise."""
    if response.status_code != 200:
        raise RpcError(f"HTTP {response.status_code}: {response.text[:200]}")
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:] for line in text.splitlines() if line.startswith("data:")]
        message = next(
            (m for m in map(json.loads, reversed(data)) if "result" in m or "error" in m), {}
        )
    else:
        message = json.loads(text) if text else {}
    if "result" not in message:
        raise RpcError(str(message.get("error", message))[:300])
    result: dict[str, Any] = message["result"]
    return result

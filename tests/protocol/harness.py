"""Real transports for protocol tests: HTTP on a free loopback port, stdio subprocesses.

* :func:`serve_http` runs an ``MCPServer`` under uvicorn on 127.0.0.1 inside
  the test's event loop and yields its URL. The server must be fresh for
  each run (the SDK's session manager runs once per app). The listening
  socket is bound before uvicorn starts, so no other process can take the
  port in between.
* :func:`stdio_server` gives ``StdioServerParameters`` that start
  ``python -m <module>`` in a subprocess, with the repository on the path.
* :class:`RawHttp` speaks raw JSON-RPC over HTTP in either era, for
  byte-exact assertions on what goes over the wire.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import uvicorn
from mcp import StdioServerParameters
from mcp.server.mcpserver import MCPServer

# Re-exported for the tests that import them from here.
from tests.support.processes import free_port as free_port
from tests.support.wire import LEGACY as LEGACY
from tests.support.wire import MODERN as MODERN
from tests.support.wire import TASKS_EXTENSION as TASKS_EXTENSION

REPO = Path(__file__).resolve().parents[2]


STARTUP_SECONDS = 60
"""How long a server may take to start: generous, for a loaded machine."""


def listening_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound to 127.0.0.1:``port`` (0: a port the system picks), for uvicorn.

    Handing uvicorn a socket that is already bound leaves no moment in which
    the port is free for another process to take.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


@asynccontextmanager
async def serve_asgi(
    app: Any, port: int = 0, *, config: uvicorn.Config | None = None
) -> AsyncIterator[int]:
    """Run an ASGI ``app`` under uvicorn on 127.0.0.1 until the block ends; yield its port.

    ``port`` 0 (the default) binds a port the system picks. ``config`` replaces
    the plain uvicorn configuration (e.g. the reference server's own,
    ``mcp_tasks_server.server.http.uvicorn_config``); its host and port are
    ignored.
    """
    if config is None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"
        )
    runner = uvicorn.Server(config)
    with listening_socket(port) as sock:
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(runner.serve, sockets=[sock]))
            with anyio.fail_after(STARTUP_SECONDS):
                while not runner.started:  # noqa: ASYNC110 - uvicorn exposes no event
                    await anyio.sleep(0.01)
            try:
                yield int(sock.getsockname()[1])
            finally:
                runner.should_exit = True


@asynccontextmanager
async def serve_http(server: MCPServer[Any], *, stateless: bool = False) -> AsyncIterator[str]:
    """Run ``server`` over streamable HTTP on 127.0.0.1; yield its MCP URL."""
    app = server.streamable_http_app(stateless_http=stateless, host="127.0.0.1")
    async with serve_asgi(app) as port:
        yield f"http://127.0.0.1:{port}/mcp"


def stdio_server(
    module: str, *args: str, env: Mapping[str, str] | None = None
) -> StdioServerParameters:
    """Parameters that start ``python -m module *args`` as a stdio MCP server."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
        **(env or {}),
    }
    return StdioServerParameters(
        command=sys.executable, args=["-m", module, *args], env=environment, cwd=str(REPO)
    )


def modern_meta(*, opt_in: bool = True) -> dict[str, Any]:
    """The ``_meta`` envelope every 2026-07-28 request carries."""
    extensions: dict[str, Any] = {TASKS_EXTENSION: {}} if opt_in else {}
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {"extensions": extensions},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "0"},
    }


@dataclass
class RawResponse:
    status: int
    headers: httpx.Headers
    body: dict[str, Any]

    @property
    def result(self) -> dict[str, Any]:
        assert "result" in self.body, self.body
        return dict(self.body["result"])

    @property
    def error(self) -> dict[str, Any]:
        assert "error" in self.body, self.body
        return dict(self.body["error"])


@dataclass
class RawHttp:
    """Raw JSON-RPC over streamable HTTP. Use :meth:`legacy_session` or :meth:`modern`."""

    client: httpx.AsyncClient
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    era: str = LEGACY
    opt_in: bool = True
    _next_id: int = 0

    @classmethod
    @asynccontextmanager
    async def legacy_session(
        cls, url: str, *, stateless: bool = False, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[RawHttp]:
        """A 2025-11-25 connection; stateful servers hand out a session id on initialize."""
        async with httpx.AsyncClient(timeout=30, headers=headers) as client:
            raw = cls(client, url, {"MCP-Protocol-Version": LEGACY}, LEGACY)
            if not stateless:
                raw.headers.pop("MCP-Protocol-Version")
                answer = await raw.request(
                    "initialize",
                    {
                        "protocolVersion": LEGACY,
                        "capabilities": {},
                        "clientInfo": {"name": "raw-test", "version": "0"},
                    },
                )
                raw.initialize_result = answer.result
                raw.headers["Mcp-Session-Id"] = answer.headers["mcp-session-id"]
                raw.headers["MCP-Protocol-Version"] = LEGACY
                await raw.notify("notifications/initialized")
            yield raw

    @classmethod
    @asynccontextmanager
    async def modern(
        cls, url: str, *, opt_in: bool = True, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[RawHttp]:
        """A 2026-07-28 client: no handshake, every request self-describing."""
        async with httpx.AsyncClient(timeout=30, headers=headers) as client:
            yield cls(client, url, {"MCP-Protocol-Version": MODERN}, MODERN, opt_in)

    initialize_result: dict[str, Any] = field(default_factory=dict)

    def _envelope(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        body = dict(params or {})
        if self.era == MODERN:
            body["_meta"] = {**modern_meta(opt_in=self.opt_in), **body.get("_meta", {})}
        return body

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> RawResponse:
        """POST one request. At 2026, ``Mcp-Method`` is set, and ``Mcp-Name`` from ``name``
        (or from ``taskId``/``name`` in params)."""
        self._next_id += 1
        body = {
            "jsonrpc": "2.0",
            "id": self._next_id,
            "method": method,
            "params": self._envelope(method, params),
        }
        sent = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            **self.headers,
        }
        if self.era == MODERN:
            sent["Mcp-Method"] = method
            implied = (params or {}).get("taskId") or (params or {}).get("name")
            if name is not None or implied is not None:
                sent["Mcp-Name"] = str(name if name is not None else implied)
        sent.update(headers or {})
        response = await self.client.post(self.url, json=body, headers=sent)
        return RawResponse(response.status_code, response.headers, _parse(response))

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        body = {"jsonrpc": "2.0", "method": method, "params": dict(params or {})}
        sent = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            **self.headers,
        }
        await self.client.post(self.url, json=body, headers=sent)


def _parse(response: httpx.Response) -> dict[str, Any]:
    """A JSON body, or the last JSON-RPC message of an SSE stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [
            json.loads(line[len("data:") :])
            for line in response.text.splitlines()
            if line.startswith("data:") and line[len("data:") :].strip()
        ]
        replies = [m for m in messages if "id" in m and ("result" in m or "error" in m)]
        return dict(replies[-1]) if replies else {}
    if not response.content:
        return {}
    return dict(response.json())

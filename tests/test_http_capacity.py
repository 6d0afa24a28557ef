"""HTTP capacity settings reach the transport: the session limit refuses, never hangs."""

from __future__ import annotations

import httpx
import pytest

from mcp_tasks_server import Settings
from mcp_tasks_server.server.build import build_server
from mcp_tasks_server.server.http import http_app
from tests.protocol.harness import serve_asgi

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "capacity-test", "version": "1"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_a_session_beyond_the_session_limit_is_refused_with_503() -> None:
    settings = Settings(transport="http", http_max_sessions=1)
    app = http_app(build_server(settings), settings)
    async with serve_asgi(app) as port, httpx.AsyncClient(timeout=10) as client:
        url = f"http://127.0.0.1:{port}/mcp"
        first = await client.post(url, json=INITIALIZE, headers=HEADERS)
        assert first.status_code == 200
        assert first.headers.get("mcp-session-id")
        second = await client.post(url, json=INITIALIZE, headers=HEADERS)
        assert second.status_code == 503
        assert second.json()["error"]["message"] == "Too many open sessions"


def test_http_limits_have_finite_defaults() -> None:
    settings = Settings()
    assert settings.http_limit_concurrency > 0
    assert settings.http_max_sessions > 0
    assert settings.http_session_idle_timeout_seconds > 0

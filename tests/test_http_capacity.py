"""HTTP capacity settings reach the transport: every limit refuses at once, never hangs.

``MCP_TASKS_HTTP_MAX_SESSIONS`` is checked on the reference server's app in
process; ``MCP_TASKS_HTTP_LIMIT_CONCURRENCY`` and
``MCP_TASKS_HTTP_SESSION_IDLE_TIMEOUT_SECONDS`` on a real
``mcp-tasks-server serve --transport http`` process, configured only by its
environment, as an operator would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import httpx
import pytest

from mcp_tasks_server import Settings
from mcp_tasks_server.observability import LogIds
from mcp_tasks_server.server.build import build_server
from mcp_tasks_server.server.http import http_app
from tests.dynamodb_servers import UVICORN_LISTENING, reported_port
from tests.protocol.harness import serve_asgi
from tests.support.polling import poll_until
from tests.support.processes import stop_process
from tests.support.wire import LEGACY

pytestmark = pytest.mark.anyio

SERVER = str(Path(sys.executable).with_name("mcp-tasks-server"))
HASH_KEY = "a log hash key the test knows"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": LEGACY,
        "capabilities": {},
        "clientInfo": {"name": "capacity-test", "version": "1"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LIMIT_SECONDS = 60  # a bound on each test, generous for a loaded 2-core machine
AT_ONCE_SECONDS = 5  # "at once": a refusal, not a request left waiting for a free slot


@contextmanager
def server_process(tmp_path: Path, **settings: str) -> Iterator[tuple[str, Path]]:
    """``mcp-tasks-server serve --transport http`` on a free port; its MCP URL and log file."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MCP_TASKS_")}
    environment.update({"MCP_TASKS_PORT": "0", "MCP_TASKS_LOG_HASH_KEY": HASH_KEY, **settings})
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SERVER, "serve", "--transport", "http"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        port = reported_port("server", log_path, UVICORN_LISTENING, process.poll)
        yield f"http://127.0.0.1:{port}/mcp", log_path
    finally:
        stop_process(process)


@asynccontextmanager
async def open_get_stream(url: str) -> AsyncIterator[None]:
    """A session with its GET stream open: one connection, a request in flight until exit."""
    async with AsyncExitStack() as stack:
        # One connection per client, so each stream holds exactly one.
        limits = httpx.Limits(max_connections=1)
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=30, limits=limits))
        opened = await client.post(url, json=INITIALIZE, headers=HEADERS)
        assert opened.status_code == 200, opened.text
        session = {
            "Mcp-Session-Id": opened.headers["mcp-session-id"],
            "MCP-Protocol-Version": LEGACY,
        }
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await client.post(url, json=initialized, headers={**HEADERS, **session})
        stream = await stack.enter_async_context(
            client.stream("GET", url, headers={"Accept": "text/event-stream", **session})
        )
        assert stream.status_code == 200
        yield


async def fresh_initialize(url: str) -> int:
    """The status of an initialize sent on a new connection (closed again afterwards)."""
    async with httpx.AsyncClient(timeout=30) as client:
        return (await client.post(url, json=INITIALIZE, headers=HEADERS)).status_code


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


async def test_a_request_beyond_the_concurrency_limit_is_refused_with_503_at_once(
    tmp_path: Path,
) -> None:
    # uvicorn refuses a request once `limit` connections are open, its own
    # included: with a limit of 3, two open streams leave no room for a third.
    with (
        anyio.fail_after(LIMIT_SECONDS),
        server_process(tmp_path, MCP_TASKS_HTTP_LIMIT_CONCURRENCY="3") as (url, _),
    ):
        async with open_get_stream(url), AsyncExitStack() as second:
            await second.enter_async_context(open_get_stream(url))
            with anyio.fail_after(AT_ONCE_SECONDS):
                assert await fresh_initialize(url) == 503
            await second.aclose()  # one stream ends: its connection frees a slot
            await poll_until(lambda: fresh_initialize(url), lambda status: status == 200)


async def test_an_idle_session_is_closed_and_its_id_then_gets_404(tmp_path: Path) -> None:
    settings = {
        "MCP_TASKS_HTTP_SESSION_IDLE_TIMEOUT_SECONDS": "0.5",
        "MCP_TASKS_LOG_LEVEL": "DEBUG",
    }
    with (
        anyio.fail_after(LIMIT_SECONDS),
        server_process(tmp_path, **settings) as (url, log_path),
    ):
        async with httpx.AsyncClient(timeout=30) as client:
            opened = await client.post(url, json=INITIALIZE, headers=HEADERS)
            session_id = opened.headers["mcp-session-id"]
            # Any request to the session would keep it alive, so its end is read from
            # the server's log: each session's end is logged (DEBUG), by its hash.
            ended = f"session {LogIds(HASH_KEY.encode()).session(session_id)} ended"

            async def log_text() -> str:
                return log_path.read_text(errors="replace")

            await poll_until(log_text, lambda text: ended in text, within=20, every=0.05)
            session = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": LEGACY}
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            gone = await client.post(url, json=ping, headers={**HEADERS, **session})
            assert gone.status_code == 404


def test_http_limits_have_finite_defaults() -> None:
    settings = Settings()
    assert settings.http_limit_concurrency > 0
    assert settings.http_max_sessions > 0
    assert settings.http_session_idle_timeout_seconds > 0

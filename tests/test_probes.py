"""Liveness and readiness probes over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from mcp_tasks_server.server.probes import probe_routes, serve_probes
from tests.protocol.harness import serve_asgi

pytestmark = pytest.mark.anyio

DEADLINE = 30.0
"""Generous bound for anything that waits on a condition, for a loaded machine."""


class Backend:
    """A readiness function whose answer the test sets, counting the checks it answers."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.calls = 0
        self.cancelled = 0
        self.gate: anyio.Event | None = None
        self.hang = False
        self.error: Exception | None = None

    async def __call__(self) -> bool:
        self.calls += 1
        try:
            if self.hang:
                await anyio.sleep_forever()
            if self.gate is not None:
                await self.gate.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return self.answer


class CountArrivals:
    """ASGI wrapper that sets ``arrived`` once ``expected`` HTTP requests reached the app."""

    def __init__(self, app: Any, expected: int) -> None:
        self.app = app
        self.expected = expected
        self.count = 0
        self.arrived = anyio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.count += 1
            if self.count == self.expected:
                self.arrived.set()
        await self.app(scope, receive, send)


@asynccontextmanager
async def probes(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_asgi(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=DEADLINE) as client,
    ):
        yield client


def probe_app(backend: Backend, **options: Any) -> Starlette:
    return Starlette(routes=probe_routes(backend, **options))


async def test_healthz_answers_ok_even_when_the_backend_is_down() -> None:
    backend = Backend(answer=False)
    async with probes(probe_app(backend)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"
    assert backend.calls == 0


async def test_readyz_follows_the_readiness_function() -> None:
    backend = Backend(answer=True)
    async with probes(probe_app(backend, cache_seconds=0)) as client:
        ready = await client.get("/readyz")
        backend.answer = False
        down = await client.get("/readyz")
        backend.answer = True
        back = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert (down.status_code, down.json()) == (
        503,
        {"status": "not ready", "reason": "backend unreachable"},
    )
    assert (back.status_code, back.json()) == (200, {"status": "ready"})


async def test_readiness_check_that_raises_is_not_ready() -> None:
    backend = Backend()
    backend.error = RuntimeError("table tasks-prod: AccessDenied")
    async with probes(probe_app(backend)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "reason": "backend unreachable"}


async def test_draining_process_is_not_ready_without_asking_the_backend() -> None:
    backend = Backend(answer=True)
    draining = False
    app = probe_app(backend, draining=lambda: draining)
    async with probes(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        draining = True
        response = await client.get("/readyz")
        health = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "reason": "draining"}
    assert health.status_code == 200
    assert backend.calls == 1


async def test_fifty_concurrent_probes_share_one_readiness_check() -> None:
    backend = Backend(answer=True)
    backend.gate = anyio.Event()
    app = CountArrivals(probe_app(backend, cache_seconds=60), expected=50)
    statuses: list[int] = []

    async def probe(client: httpx.AsyncClient) -> None:
        statuses.append((await client.get("/readyz")).status_code)

    async with probes(app) as client:
        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(probe, client)
            # The server runs in this event loop: a counted request has already
            # reached the readiness check and is waiting on it, uncached.
            with anyio.fail_after(DEADLINE):
                await app.arrived.wait()
            backend.gate.set()
        assert statuses == [200] * 50
        assert backend.calls == 1

        backend.answer = False
        cached = await client.get("/readyz")
    assert cached.status_code == 200
    assert backend.calls == 1


async def test_readiness_is_checked_again_once_the_cache_window_ends() -> None:
    backend = Backend(answer=True)
    async with probes(probe_app(backend, cache_seconds=0.2)) as client:
        assert (await client.get("/readyz")).status_code == 200
        backend.answer = False
        with anyio.fail_after(DEADLINE):
            # The window ends with time alone: there is no event to wait on.
            while (await client.get("/readyz")).status_code != 503:  # noqa: ASYNC110
                await anyio.sleep(0.05)
    assert backend.calls >= 2


async def test_hung_readiness_check_answers_503_within_its_timeout() -> None:
    backend = Backend()
    backend.hang = True
    async with probes(probe_app(backend, timeout_seconds=0.3)) as client:
        started = anyio.current_time()
        response = await client.get("/readyz")
        elapsed = anyio.current_time() - started
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "reason": "backend unreachable"}
    # Far below any client or probe timeout, with room for a loaded machine.
    assert elapsed < 5
    assert backend.cancelled == 1


async def test_worker_probe_port_serves_both_probes_and_closes_on_exit() -> None:
    backend = Backend(answer=False)
    async with serve_probes("127.0.0.1", 0, backend) as port:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=DEADLINE) as client:
            health = await client.get("/healthz")
            ready = await client.get("/readyz")
            unknown = await client.get("/mcp")
    assert health.status_code == 200
    assert ready.status_code == 503
    assert unknown.status_code == 404
    async with httpx.AsyncClient(timeout=DEADLINE) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{base}/healthz")

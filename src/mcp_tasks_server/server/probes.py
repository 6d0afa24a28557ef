"""Liveness and readiness probes for load balancers and orchestrators.

* ``GET /healthz`` answers ``200 {"status": "ok"}`` whenever the process can
  answer at all: it checks nothing else, so a slow backend never gets a live
  process restarted.
* ``GET /readyz`` answers ``200 {"status": "ready"}`` when the process should
  get traffic, else ``503 {"status": "not ready", "reason": ...}``: the reason
  is ``draining`` once shutdown has begun (decided at once, without asking the
  backend) or ``backend unreachable`` when the readiness check fails, raises or
  does not answer within its timeout.

Probes come often and from many places (every load balancer node, every
kubelet), so the readiness check's answer is kept for ``cache_seconds`` and
concurrent probes share the one check in flight: a flood of probes costs at
most one backend request per window. The probes need no authentication and
say nothing beyond their status.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["ReadinessCheck", "probe_routes", "serve_probes"]

logger = logging.getLogger(__name__)

DRAINING = "draining"
UNREACHABLE = "backend unreachable"
_NO_STORE = {"Cache-Control": "no-store"}
_STARTUP_SECONDS = 30


def _never_draining() -> bool:
    return False


class _Flight:
    """One readiness check in progress, and what it found."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: bool | None = None


class ReadinessCheck:
    """A readiness callable behind a short cache, one check in flight at a time, and a timeout."""

    def __init__(
        self,
        ready: Callable[[], Awaitable[bool]],
        *,
        cache_seconds: float = 1.5,
        timeout_seconds: float = 0.8,
    ) -> None:
        self._ready = ready
        self._cache_seconds = cache_seconds
        self._timeout_seconds = timeout_seconds
        self._cached: bool | None = None
        self._cached_until = 0.0
        self._flight: _Flight | None = None
        self._last: bool | None = None

    async def __call__(self) -> bool:
        """Whether the backend is ready, from the cache or from one shared check."""
        while True:
            if self._cached is not None and anyio.current_time() < self._cached_until:
                return self._cached
            flight = self._flight
            if flight is None:
                return await self._check()
            await flight.done.wait()
            if flight.result is not None:
                return flight.result
            # The probe that ran the check was cancelled before it finished:
            # go round again, and run it ourselves if nobody else has.

    async def _check(self) -> bool:
        flight = self._flight = _Flight()
        try:
            result = await self._ask()
            flight.result = result
            self._cached = result
            self._cached_until = anyio.current_time() + self._cache_seconds
            return result
        finally:
            self._flight = None
            flight.done.set()

    async def _ask(self) -> bool:
        failure: str | None = None
        result = False
        with anyio.move_on_after(self._timeout_seconds) as scope:
            try:
                result = bool(await self._ready())
            except Exception as exc:
                # The type only: a backend error's text may name tables or keys.
                failure = type(exc).__qualname__
        if scope.cancelled_caught:
            failure = f"no answer within {self._timeout_seconds:g} s"
        self._report(result, failure)
        return result

    def _report(self, result: bool, failure: str | None) -> None:
        """Log changes of readiness, not every probe."""
        if result == self._last:
            return
        self._last = result
        if result:
            logger.info("ready: the backend answers")
        else:
            logger.warning("not ready: the backend %s", failure or "is not ready")


def probe_routes(
    ready: Callable[[], Awaitable[bool]],
    *,
    draining: Callable[[], bool] = _never_draining,
    cache_seconds: float = 1.5,
    timeout_seconds: float = 0.8,
) -> list[Route]:
    """``/healthz`` and ``/readyz``, to add to a Starlette app.

    ``ready`` asks the backend (one cheap request); ``draining`` says whether
    shutdown has begun. ``timeout_seconds`` stays below Kubernetes' default
    probe timeout (1 s), so a hung backend is reported as such rather than as
    a probe timeout.
    """
    check = ReadinessCheck(ready, cache_seconds=cache_seconds, timeout_seconds=timeout_seconds)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    async def readyz(request: Request) -> JSONResponse:
        if draining():
            reason: str | None = DRAINING
        else:
            reason = None if await check() else UNREACHABLE
        if reason is None:
            return JSONResponse({"status": "ready"}, headers=_NO_STORE)
        return JSONResponse({"status": "not ready", "reason": reason}, 503, headers=_NO_STORE)

    return [
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
        Route("/readyz", readyz, methods=["GET"], name="readyz"),
    ]


class _ProbeServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host process owns SIGTERM and SIGINT."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def serve_probes(
    host: str,
    port: int,
    ready: Callable[[], Awaitable[bool]],
    *,
    draining: Callable[[], bool] = _never_draining,
    cache_seconds: float = 1.5,
    timeout_seconds: float = 0.8,
) -> AsyncIterator[int]:
    """Serve the probes alone on ``host:port`` while the block runs; yield the bound port.

    For processes that serve no HTTP otherwise (the queue ``worker``). ``port``
    0 binds a free port.
    """
    app = Starlette(
        routes=probe_routes(
            ready, draining=draining, cache_seconds=cache_seconds, timeout_seconds=timeout_seconds
        )
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=2,
    )
    server = _ProbeServer(config)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, port), family=family) as sock:
        async with anyio.create_task_group() as group:
            group.start_soon(_serve, server, sock)
            with anyio.fail_after(_STARTUP_SECONDS):
                while not server.started:  # noqa: ASYNC110 - uvicorn exposes no event
                    await anyio.sleep(0.01)
            try:
                yield int(sock.getsockname()[1])
            finally:
                server.should_exit = True


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except anyio.get_cancelled_exc_class():
        # Cancelled mid-loop, uvicorn skips its shutdown: close the listener anyway.
        if server.started:
            with anyio.CancelScope(shield=True):
                await server.shutdown(sockets=[sock])
        raise

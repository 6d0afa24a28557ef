"""The streamable HTTP transport: the app, its Host checks, and uvicorn.

Streamable HTTP is served stateful (sessions) or ``stateless``, with the
SDK's DNS-rebinding protection on: loopback hosts are always accepted,
anything else must be listed in ``MCP_TASKS_ALLOWED_HOSTS`` (``*`` turns the
check off, for a server behind a proxy that already checks ``Host``). A
non-loopback bind address with no allowed hosts is refused before the
server is built, because every request would otherwise be rejected.

**Probes.** ``GET /healthz`` and ``GET /readyz`` (:mod:`.probes`) sit beside
the MCP endpoint, outside it: no Host check, no authentication, nothing in
the answer beyond a status. ``/readyz`` is 200 while the replica accepts
tasks and its backend answers one cheap read (cached for 1.5 s), 503 while
the backend is unreachable and from the moment a SIGTERM arrives.

**Sessions.** A stateful session that ends (DELETE, idle timeout, crash)
takes its unfinished tasks with it: without authentication they belong to
the session, and nobody can reach them afterwards
(:mod:`mcp_tasks_server.protocol.sessions`).

**Draining.** uvicorn stops accepting connections as soon as it gets a
signal, so a load balancer would only learn of the shutdown from refused
connections. With ``MCP_TASKS_DRAIN_SECONDS``, the first SIGTERM (or
SIGINT) only marks the replica as draining: it keeps serving, ``/readyz``
answers 503 so the load balancer takes it out of rotation, and the
graceful shutdown starts once the drain period is over (a second signal
starts it at once).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from types import FrameType
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.protocol.installed import installed_tasks
from mcp_tasks_server.server.poll_responses import JsonPolls
from mcp_tasks_server.server.probes import probe_routes
from mcp_tasks_server.settings import Settings
from mcp_tasks_server.store.readiness import ping

__all__ = ["http_app", "is_loopback", "serve_http", "transport_security", "uvicorn_config"]

# One logger for the whole reference server, so operators filter on one name.
logger = logging.getLogger("mcp_tasks_server.server")

_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: loopback always, other hosts only when listed."""
    hosts = list(settings.allowed_hosts)
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if not hosts and not is_loopback(settings.host):
        raise ConfigError(
            f"MCP_TASKS_HOST={settings.host} is not a loopback address, so set "
            "MCP_TASKS_ALLOWED_HOSTS to the Host values clients use (e.g. "
            "tasks.example.com,tasks.example.com:*), or to * to leave Host checks to your proxy"
        )
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*_LOOPBACK_HOSTS, *hosts],
        allowed_origins=[*_LOOPBACK_ORIGINS, *settings.allowed_origins],
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Drain:
    """Whether shutdown has begun; the HTTP server sets it, ``/readyz`` reads it."""

    __slots__ = ("draining",)

    def __init__(self) -> None:
        self.draining = False

    def __call__(self) -> bool:
        return self.draining


def http_app(
    server: MCPServer[Any], settings: Settings, *, drain: Drain | None = None
) -> Starlette:
    """The streamable HTTP app for ``server`` (a fresh one each call: each runs once).

    Task polls are answered as JSON (:mod:`mcp_tasks_server.server.poll_responses`).
    When ``server`` has tasks installed, the probes join it, and (stateful)
    each session's unfinished tasks are cancelled when the session ends.
    """
    app = server.streamable_http_app(
        streamable_http_path=settings.http_path,
        stateless_http=settings.stateless,
        json_response=settings.json_response,
        transport_security=transport_security(settings),
        host=settings.host,
        max_sessions=settings.http_max_sessions,
        session_idle_timeout=settings.http_session_idle_timeout_seconds,
    )
    tasks = installed_tasks(server)
    if tasks is not None:
        if not settings.stateless:
            # A session's tasks end with it: nobody could reach them afterwards.
            tasks.follow_sessions(server.session_manager)

        async def ready() -> bool:
            return tasks.runner.accepting and await ping(tasks.backend)

        app.router.routes.extend(probe_routes(ready, draining=drain or Drain()))
    app.add_middleware(JsonPolls)
    return app


class _DrainingServer(uvicorn.Server):
    """uvicorn that keeps serving for ``drain_seconds`` after the first signal."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self._drain = drain
        self._drain_seconds = drain_seconds
        self._pending: tuple[int, float] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self._drain.draining:
            self._drain.draining = True
            if self._drain_seconds > 0:
                logger.info("draining for %g s: /readyz answers 503", self._drain_seconds)
                self._pending = (sig, time.monotonic() + self._drain_seconds)
                return
        super().handle_exit(sig, frame)  # no drain period, or a second signal: stop now

    async def on_tick(self, counter: int) -> bool:
        pending = self._pending
        if pending is not None and time.monotonic() >= pending[1]:
            self._pending = None
            super().handle_exit(pending[0], None)
        return await super().on_tick(counter)


def uvicorn_config(app: Starlette, settings: Settings) -> uvicorn.Config:
    """How the reference server runs ``app`` under uvicorn: its logging, limits and shutdown."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,  # uvicorn logs through the root logger, as JSON on stderr
        access_log=settings.log_level == "DEBUG",
        timeout_graceful_shutdown=5,
        # uvicorn answers 503 at once, never a hang, to a request that arrives
        # when this many connections are open (its own included) or this many
        # requests are in flight.
        limit_concurrency=settings.http_limit_concurrency,
    )


async def serve_http(server: MCPServer[Any], settings: Settings) -> None:
    """Serve ``server`` over streamable HTTP with uvicorn until interrupted."""
    drain = Drain()
    app = http_app(server, settings, drain=drain)
    config = uvicorn_config(app, settings)
    logger.info(
        "serving streamable HTTP on %s:%s%s (%s)",
        settings.host,
        settings.port,
        settings.http_path,
        "stateless" if settings.stateless else "stateful",
    )
    await _DrainingServer(config, drain, settings.drain_seconds).serve()

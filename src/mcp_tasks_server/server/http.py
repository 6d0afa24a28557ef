"""The streamable HTTP transport: the app, its Host checks, and uvicorn.

Streamable HTTP is served stateful (sessions) or ``stateless``, with the
SDK's DNS-rebinding protection on: loopback hosts are always accepted,
anything else must be listed in ``MCP_TASKS_ALLOWED_HOSTS`` (``*`` turns the
check off, for a server behind a proxy that already checks ``Host``). A
non-loopback bind address with no allowed hosts is refused before the
server is built, because every request would otherwise be rejected.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.server.poll_responses import JsonPolls
from mcp_tasks_server.settings import Settings

__all__ = ["http_app", "serve_http", "transport_security"]

# Logged under the reference server's name, as before this module was split out.
logger = logging.getLogger("mcp_tasks_server.server")

_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: loopback always, other hosts only when listed."""
    hosts = list(settings.allowed_hosts)
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if not hosts and not _is_loopback(settings.host):
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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_app(server: MCPServer[Any], settings: Settings) -> Starlette:
    """The streamable HTTP app for ``server`` (a fresh one each call: each runs once).

    Task polls are answered as JSON (:mod:`mcp_tasks_server.server.poll_responses`).
    """
    app = server.streamable_http_app(
        streamable_http_path=settings.http_path,
        stateless_http=settings.stateless,
        transport_security=transport_security(settings),
        host=settings.host,
        max_sessions=settings.http_max_sessions,
        session_idle_timeout=settings.http_session_idle_timeout_seconds,
    )
    app.add_middleware(JsonPolls)
    return app


async def serve_http(server: MCPServer[Any], settings: Settings) -> None:
    """Serve ``server`` over streamable HTTP with uvicorn until interrupted."""
    app = http_app(server, settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,  # uvicorn logs through the root logger, as JSON on stderr
        access_log=settings.log_level == "DEBUG",
        timeout_graceful_shutdown=5,
        limit_concurrency=settings.http_limit_concurrency,  # beyond it: 503, never a hang
    )
    logger.info(
        "serving streamable HTTP on %s:%s%s (%s)",
        settings.host,
        settings.port,
        settings.http_path,
        "stateless" if settings.stateless else "stateful",
    )
    await uvicorn.Server(config).serve()

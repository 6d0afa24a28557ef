"""The reference server: building it, its transports (stdio, HTTP), the CLI, demo, profiles.

``build_server``, ``http_app`` and ``serve`` are re-exported here, imported on
first use so the CLI's light commands (``--version``, ``dynamodb``) stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_tasks_server.server.build import (
        PROFILES,
        SERVER_NAME,
        Profile,
        Register,
        build_server,
        http_app,
        load_tools,
        serve,
        serve_http,
        serve_stdio,
        transport_security,
    )

__all__ = [
    "PROFILES",
    "SERVER_NAME",
    "Profile",
    "Register",
    "build_server",
    "http_app",
    "load_tools",
    "serve",
    "serve_http",
    "serve_stdio",
    "transport_security",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("mcp_tasks_server.server.build"), name)

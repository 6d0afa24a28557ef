"""The reference server: an ``MCPServer`` with tasks, built from ``Settings``.

:func:`build_server` assembles it, :func:`serve` runs it; the CLI's ``serve``
command is a thin shell around the two.

What it serves is a **profile** plus, optionally, **your tools**:

* ``default``: the example task tools (``mcp_tasks_server.server.profiles.examples``),
  unless ``tools`` brings your own;
* ``conformance``: the fixture tools of the official conformance suite.

``tools`` is ``module:object`` or ``path/to/file.py:object``, where the
object is one of

* an ``MCPServer``: it is served with tasks installed into it (an
  ``MCPServer`` that already installed tasks itself is served as it is);
* a ``register(tasks, server)`` function, which adds tools to the
  reference server through ``tasks.tool`` and ``server.tool``;
* a function of no arguments that returns an ``MCPServer``.

Without ``:object``, the first of ``mcp``, ``server``, ``app`` that is an
``MCPServer`` is taken (the names the ``mcp`` CLI looks for), else
``register``.

**Transports.** ``stdio`` serves the one client that started the process,
and stdout carries the protocol only (:mod:`.stdio`). ``http``
serves streamable HTTP with uvicorn, stateful (sessions) or ``stateless``,
with DNS-rebinding protection on (:mod:`.http`). Both are
re-exported here.

**Authentication** (``MCP_TASKS_AUTH``) is the SDK's own bearer-token
support, configured by :mod:`.security`, which also refuses to serve HTTP
beyond loopback unprotected or with only the example tools.

**Logs** are JSON lines on stderr, at ``MCP_TASKS_LOG_LEVEL``. At INFO they
say what starts and stops and never carry payloads or secrets.

**Several replicas** behind a load balancer need a shared backend
(``MCP_TASKS_BACKEND=dynamodb``) and one ``MCP_TASKS_REQUEST_STATE_KEY``:
the SDK seals the ``requestState`` of multi-round calls, by default with a
key of each process's own, which another replica cannot open.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeAlias

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity

from mcp_tasks_server import __version__
from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.observability import (
    AuditLog,
    LogIds,
    Observers,
    configure_telemetry,
    quiet_sdk_session_logs,
)
from mcp_tasks_server.protocol import Tasks, sdk
from mcp_tasks_server.protocol.shapes import TASKS_EXTENSION
from mcp_tasks_server.server.http import http_app, serve_http, transport_security
from mcp_tasks_server.server.logs import configure_logging
from mcp_tasks_server.server.security import auth_options, check_exposure, server_auth_kwargs
from mcp_tasks_server.server.stdio import serve_stdio, take_stdout
from mcp_tasks_server.settings import Settings

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

logger = logging.getLogger("mcp_tasks_server.server")  # one logger for the whole server

SERVER_NAME = "mcp-tasks-server"
Profile: TypeAlias = Literal["default", "conformance"]
PROFILES: tuple[Profile, ...] = ("default", "conformance")
Register: TypeAlias = Callable[[Tasks, MCPServer[Any]], None]
"""Adds tools to a server: ``register(tasks, server)``."""

INSTRUCTIONS = (
    "Long-running tools run as tasks: a call may return a task handle at once while the "
    "work goes on. Poll the task for its status and result, answer its questions, or "
    "cancel it."
)
_SERVER_NAMES = ("mcp", "server", "app")


# ---------------------------------------------------------------------- build


def build_server(
    settings: Settings,
    *,
    profile: Profile | str = "default",
    tools: str | None = None,
    observers: Observers | None = None,
) -> MCPServer[Any]:
    """The reference server for ``profile`` (and your ``tools``), with tasks installed.

    ``observers`` (audit trail and telemetry) come from the entry point; by
    default, audit events on their logger and no telemetry.
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    loaded = load_tools(tools) if tools else None
    if isinstance(loaded, MCPServer):
        server = loaded
        _use_request_state_keys(server, settings)
        _use_auth(server, settings)
        if sdk.has_extension(server, TASKS_EXTENSION):
            if profile != "default":
                raise ConfigError(
                    f"--tools {tools}: that server installs tasks itself, so the "
                    f"{profile} profile cannot add its tools to it; serve it without --profile"
                )
            logger.info("serving %s as it is: it installs tasks itself", tools)
            return server
    else:
        server = MCPServer(
            SERVER_NAME,
            version=__version__,
            instructions=INSTRUCTIONS,
            log_level=settings.log_level,
            request_state_security=_request_state_security(settings),
            **server_auth_kwargs(settings),
        )
    tasks = Tasks(settings, observers=observers)
    if profile == "conformance":
        from mcp_tasks_server.server.profiles import conformance

        conformance.register(tasks, server)
    elif loaded is None:
        _register_examples(tasks, server)
    if loaded is not None and not isinstance(loaded, MCPServer):
        loaded(tasks, server)
    tasks.install(server)
    return server


def _register_examples(tasks: Tasks, server: MCPServer[Any]) -> None:
    """The default profile's example tools, from their own module when it is present."""
    name = "mcp_tasks_server.server.profiles.examples"
    if importlib.util.find_spec(name) is None:
        logger.warning("the example tools (%s) are not installed; serving no example tools", name)
        return
    register: Register = importlib.import_module(name).register
    register(tasks, server)


def _request_state_security(settings: Settings) -> RequestStateSecurity | None:
    keys = settings.request_state_keys
    return RequestStateSecurity(keys=keys) if keys else None


def _use_request_state_keys(server: MCPServer[Any], settings: Settings) -> None:
    """Seal ``requestState`` with the configured keys on a server built elsewhere.

    ``MCPServer`` fixes its request-state policy at construction, as the
    first of its middleware; swapping that one entry is the only way to
    apply the setting to a server the user constructed.
    """
    security = _request_state_security(settings)
    if security is None:
        return
    if server.name == sdk.UNNAMED_SERVER:
        raise ConfigError(
            "MCP_TASKS_REQUEST_STATE_KEY is set, but the server given to --tools has no name, "
            "and sealed requestState is bound to the server's name: name it "
            '(MCPServer("my-service", ...)) so no other unnamed service shares its audience'
        )
    boundary = RequestStateBoundary(security, default_audience=server.name)
    if sdk.replace_middleware(server, RequestStateBoundary, boundary):
        return
    raise ConfigError(
        "MCP_TASKS_REQUEST_STATE_KEY is set, but the server given to --tools has no "
        "requestState boundary to apply it to"
    )


def _use_auth(server: MCPServer[Any], settings: Settings) -> None:
    """Apply ``MCP_TASKS_AUTH`` to a server built elsewhere, unless it brings its own."""
    options = auth_options(settings)
    if options is None or sdk.has_auth(server):
        return
    sdk.set_auth(server, *options)


# ---------------------------------------------------------------------- --tools


def load_tools(spec: str) -> MCPServer[Any] | Register:
    """Import what ``--tools`` names: an ``MCPServer`` or a ``register(tasks, server)``."""
    target, attribute = _split_spec(spec)
    module = _import(spec, target)
    if attribute:
        obj: Any = module
        for part in attribute.split("."):
            if not hasattr(obj, part):
                raise ConfigError(f"--tools {spec}: {target} has no attribute {attribute!r}")
            obj = getattr(obj, part)
    else:
        obj = next(
            (
                getattr(module, name)
                for name in _SERVER_NAMES
                if isinstance(getattr(module, name, None), MCPServer)
            ),
            getattr(module, "register", None),
        )
        if obj is None:
            raise ConfigError(
                f"--tools {spec}: found no MCPServer named mcp, server or app, and no "
                f"register function; name the object: {target}:OBJECT"
            )
    return _as_tools(spec, obj)


def _split_spec(spec: str) -> tuple[str, str]:
    target, separator, attribute = spec.rpartition(":")
    if not separator or not attribute.replace(".", "_").isidentifier() or not target:
        return spec, ""  # no object named (a bare "C:\\path" keeps its drive letter)
    return target, attribute


def _import(spec: str, target: str) -> ModuleType:
    looks_like_file = target.endswith(".py") or os.sep in target or "/" in target
    try:
        if looks_like_file:
            return _import_file(spec, Path(target))
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # as `python -m` would, for a console script
        return importlib.import_module(target)
    except ConfigError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name and target.split(".")[0] == exc.name.split(".")[0]:
            raise ConfigError(
                f"--tools {spec}: no module named {target!r}; give an importable module "
                "(package.module:object) or a file (path/to/tools.py:object)"
            ) from None
        raise ConfigError(f"--tools {spec}: importing {target} failed: {exc}") from None
    except Exception as exc:
        raise ConfigError(
            f"--tools {spec}: importing {target} failed: {type(exc).__name__}: {exc}"
        ) from None


def _import_file(spec: str, path: Path) -> ModuleType:
    if not path.is_file():
        raise ConfigError(f"--tools {spec}: no such file {str(path)!r}")
    path = path.resolve()
    name = f"mcp_tasks_user_tools_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"--tools {spec}: {str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    # Registered before it runs, so pydantic models defined in it resolve their module.
    sys.modules[name] = module
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    module_spec.loader.exec_module(module)
    return module


def _as_tools(spec: str, obj: Any) -> MCPServer[Any] | Register:
    if isinstance(obj, MCPServer):
        return obj
    if not callable(obj):
        raise ConfigError(
            f"--tools {spec}: expected an MCPServer or a register(tasks, server) function, "
            f"got {type(obj).__name__}"
        )
    try:
        arity = len(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        arity = 2
    if arity != 0:
        register: Register = obj
        return register
    made = obj()
    if not isinstance(made, MCPServer):
        raise ConfigError(
            f"--tools {spec}: the factory returned {type(made).__name__}, not an MCPServer"
        )
    return made


# ---------------------------------------------------------------------- serve


def serve(
    settings: Settings, *, profile: Profile | str = "default", tools: str | None = None
) -> None:
    """Build the server and run it on the configured transport until it is stopped."""
    ids = configure_logging(settings.log_level, settings.log_hash_key_bytes)
    observers = entry_observers(settings, ids)
    if settings.transport == "http":
        transport_security(settings)  # a bad host setting fails before anything is imported
        check_exposure(settings, profile=profile, tools=tools)
        server = build_server(settings, profile=profile, tools=tools, observers=observers)
        _log_start(settings, profile, tools)
        anyio.run(serve_http, server, settings)
        return
    wire = take_stdout()
    server = build_server(settings, profile=profile, tools=tools, observers=observers)
    _log_start(settings, profile, tools)
    anyio.run(serve_stdio, server, wire)


def entry_observers(settings: Settings, ids: LogIds | None = None) -> Observers:
    """The audit log and telemetry of a process, built once at its entry point.

    Telemetry is configured from the standard ``OTEL_*`` variables (a no-op
    without the ``otel`` extra); ids in logs are hashed with
    ``MCP_TASKS_LOG_HASH_KEY``, and the SDK's session ids are hashed too.
    """
    if ids is None:
        ids = LogIds(settings.log_hash_key_bytes)
        quiet_sdk_session_logs(ids)
    audit = AuditLog(ids, replica=settings.replica)
    return Observers(ids, configure_telemetry(), audit)


def _log_start(settings: Settings, profile: str, tools: str | None) -> None:
    logger.info(
        "%s %s: profile %s%s, %s backend, %s transport",
        SERVER_NAME,
        __version__,
        profile,
        f" with {tools}" if tools else "",
        settings.backend,
        settings.transport,
    )

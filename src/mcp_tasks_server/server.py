"""The reference server: an ``MCPServer`` with tasks, built from ``Settings``.

:func:`build_server` assembles it, :func:`serve` runs it; the CLI's ``serve``
command is a thin shell around the two.

What it serves is a **profile** plus, optionally, **your tools**:

* ``default``: the example task tools (``mcp_tasks_server.profiles.examples``),
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
and stdout carries the protocol only: before anything is imported, the
server keeps a private copy of stdout for the protocol and points file
descriptor 1 at stderr, so logs, prints (at import, in a tool, at exit)
and child processes all write to stderr.
``http`` serves streamable HTTP with uvicorn, stateful (sessions) or
``stateless``, with the SDK's DNS-rebinding protection on: loopback hosts
are always accepted, anything else must be listed in
``MCP_TASKS_ALLOWED_HOSTS`` (``*`` turns the check off, for a server behind
a proxy that already checks ``Host``).

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
import io
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO, Literal, TypeAlias, cast

import anyio
import anyio.from_thread
import anyio.lowlevel
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

from mcp_tasks_server import __version__
from mcp_tasks_server.errors import ConfigError
from mcp_tasks_server.logs import configure_logging
from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.protocol.wire import TASKS_EXTENSION
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

logger = logging.getLogger(__name__)

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
_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


# ---------------------------------------------------------------------- build


def build_server(
    settings: Settings, *, profile: Profile | str = "default", tools: str | None = None
) -> MCPServer[Any]:
    """The reference server for ``profile`` (and your ``tools``), with tasks installed."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    loaded = load_tools(tools) if tools else None
    if isinstance(loaded, MCPServer):
        server = loaded
        _use_request_state_keys(server, settings)
        if _has_tasks(server):
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
        )
    tasks = Tasks(settings)
    if profile == "conformance":
        from mcp_tasks_server.profiles import conformance

        conformance.register(tasks, server)
    elif loaded is None:
        _register_examples(tasks, server)
    if loaded is not None and not isinstance(loaded, MCPServer):
        loaded(tasks, server)
    tasks.install(server)
    return server


def _register_examples(tasks: Tasks, server: MCPServer[Any]) -> None:
    """The default profile's example tools, from their own module when it is present."""
    name = "mcp_tasks_server.profiles.examples"
    if importlib.util.find_spec(name) is None:
        logger.warning("the example tools (%s) are not installed; serving no example tools", name)
        return
    register: Register = importlib.import_module(name).register
    register(tasks, server)


def _has_tasks(server: MCPServer[Any]) -> bool:
    extensions = getattr(server, "_extensions", ())
    return any(getattr(e, "identifier", None) == TASKS_EXTENSION for e in extensions)


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
    for index, middleware in enumerate(server.middleware):
        if isinstance(middleware, RequestStateBoundary):
            server.middleware[index] = RequestStateBoundary(security, default_audience=server.name)
            return
    raise ConfigError(
        "MCP_TASKS_REQUEST_STATE_KEY is set, but the server given to --tools has no "
        "requestState boundary to apply it to"
    )


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


# ---------------------------------------------------------------------- transports


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
    """The streamable HTTP app for ``server`` (a fresh one each call: each runs once)."""
    return server.streamable_http_app(
        streamable_http_path=settings.http_path,
        stateless_http=settings.stateless,
        transport_security=transport_security(settings),
        host=settings.host,
    )


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
    )
    logger.info(
        "serving streamable HTTP on %s:%s%s (%s)",
        settings.host,
        settings.port,
        settings.http_path,
        "stateless" if settings.stateless else "stateful",
    )
    await uvicorn.Server(config).serve()


def serve(
    settings: Settings, *, profile: Profile | str = "default", tools: str | None = None
) -> None:
    """Build the server and run it on the configured transport until it is stopped."""
    configure_logging(settings.log_level)
    if settings.transport == "http":
        transport_security(settings)  # a bad host setting fails before anything is imported
        server = build_server(settings, profile=profile, tools=tools)
        _log_start(settings, profile, tools)
        anyio.run(serve_http, server, settings)
        return
    wire = _take_stdout()
    server = build_server(settings, profile=profile, tools=tools)
    _log_start(settings, profile, tools)
    anyio.run(serve_stdio, server, wire)


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


async def serve_stdio(server: MCPServer[Any], wire: BinaryIO | None = None) -> None:
    """Serve ``server`` to the client at the other end of stdin and ``wire`` (stdout).

    Returns when stdin closes, or on SIGTERM or SIGINT. Either way the
    server's lifespan exits normally, so running tasks get their shutdown
    grace period and none is left ``working``.
    """
    async with anyio.create_task_group() as group:
        group.start_soon(_stop_on_signal, group.cancel_scope)
        await _serve_stdio(server, wire)
        logger.info("stdin closed; shutting down")
        group.cancel_scope.cancel()


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    try:
        receiver = anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT)
    except NotImplementedError:  # pragma: no cover - platforms without signal handlers
        return
    with receiver as signals:
        async for received in signals:
            logger.info("received %s; shutting down", signal.Signals(received).name)
            scope.cancel()
            return


async def _serve_stdio(server: MCPServer[Any], wire: BinaryIO | None) -> None:
    if wire is None:
        await server.run_stdio_async()
        return
    stdout = anyio.wrap_file(io.TextIOWrapper(wire, encoding="utf-8"))
    stdin = cast("anyio.AsyncFile[str]", _StdinLines(sys.stdin.buffer))
    lowlevel = server._lowlevel_server
    async with stdio_server(stdin=stdin, stdout=stdout) as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


class _StdinLines:
    """stdin, line by line, read on a daemon thread so a shutdown never waits for it.

    The SDK's own reader blocks a non-daemon worker thread in ``readline``;
    the process could then not exit on a signal until the client wrote
    something or closed the pipe.
    """

    def __init__(self, buffer: BinaryIO) -> None:
        self._buffer = buffer
        self._send, self._receive = anyio.create_memory_object_stream[bytes](16)
        self._started = False

    def __aiter__(self) -> _StdinLines:
        return self

    async def __anext__(self) -> str:
        if not self._started:
            self._started = True
            token = anyio.lowlevel.current_token()
            threading.Thread(target=self._pump, args=(token,), daemon=True).start()
        try:
            line = await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
        return line.decode("utf-8", errors="replace")

    def _pump(self, token: anyio.lowlevel.EventLoopToken) -> None:
        # Raw reads of a private descriptor: a buffered file's lock, held by a
        # daemon thread at exit, would abort the interpreter's finalization.
        fd = os.dup(self._buffer.fileno())
        pending = b""
        try:
            while chunk := os.read(fd, 65_536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    anyio.from_thread.run(self._send.send, line + b"\n", token=token)
            if pending:
                anyio.from_thread.run(self._send.send, pending, token=token)
            anyio.from_thread.run_sync(self._send.close, token=token)
        except (OSError, RuntimeError, anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the server stopped first
        finally:
            os.close(fd)


def _take_stdout() -> BinaryIO | None:
    """Keep the real stdout for the protocol alone, and point file descriptor 1 at stderr.

    Everything else that writes to stdout -- logging set up by a library,
    ``print`` in a tools module at import or in a tool, a child process, text
    still buffered when the process exits -- then lands on stderr, for the
    whole life of the process.
    """
    try:
        stdout_fd, stderr_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None  # not real descriptors (embedded, or under a test runner)
    sys.stdout.flush()
    wire = os.fdopen(os.dup(stdout_fd), "wb")
    os.dup2(stderr_fd, stdout_fd)
    return wire

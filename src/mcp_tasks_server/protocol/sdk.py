"""Every place this package reaches into the ``mcp`` SDK's private surface, once.

``mcp`` 2.3 fixes a server's extensions, middleware and lifespan at
construction and has no public way to add tasks afterwards, nor to ask a
tool whether it has resolver parameters, a request which connection it
came on, or the streamable HTTP session manager when a session ended. Each
such seam is a function here, with the SDK version it was checked against.
The SDK is pinned ``<2.4``; on an upgrade, this module is the list to
re-check (``tests/protocol`` fails loudly if a seam moves).
Nothing else in the package touches an SDK attribute that starts with ``_``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import Context, Extension, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolRequestParams
from starlette.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from mcp.server.connection import Connection
    from mcp.server.streamable_http import StreamableHTTPServerTransport
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

__all__ = [
    "CHECKED_AGAINST",
    "UNNAMED_SERVER",
    "SessionEnd",
    "answered_context",
    "connection_of",
    "find_tool",
    "has_auth",
    "has_extension",
    "install_extension",
    "lowlevel_server",
    "on_session_end",
    "replace_middleware",
    "resolves_before_running",
    "server_lifespan",
    "set_auth",
    "wrap_lifespan",
    "wrap_request_handler",
]

#: The ``mcp`` version every seam below was checked against.
CHECKED_AGAINST = "2.3.0"

logger = logging.getLogger(__name__)


def lowlevel_server(server: MCPServer[Any]) -> Server[Any]:
    """The low-level server under an ``MCPServer`` (``_lowlevel_server``, mcp 2.3.0)."""
    return server._lowlevel_server


def wrap_lifespan(
    server: MCPServer[Any], outer: Callable[[], AbstractAsyncContextManager[Any]]
) -> None:
    """Run ``outer`` around the server's own lifespan (``lowlevel.lifespan``, mcp 2.3.0)."""
    lowlevel = lowlevel_server(server)
    inner_lifespan = lowlevel.lifespan

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with outer(), inner_lifespan(app) as state:
            yield state

    lowlevel.lifespan = lifespan


def server_lifespan(server: MCPServer[Any]) -> AbstractAsyncContextManager[Any]:
    """The server's lifespan, entered without serving (``lowlevel.lifespan``, mcp 2.3.0).

    A worker runs the server's tools without a transport; it still needs
    what the lifespan opens (the tasks machinery, the tools' own resources).
    """
    lowlevel = lowlevel_server(server)
    return lowlevel.lifespan(lowlevel)


def install_extension(server: MCPServer[Any], extension: Extension) -> None:
    """Add an extension after construction, then recompose the ``tools/call`` interceptor.

    ``_apply_extension`` and ``_install_extension_interceptor``, mcp 2.3.0.
    Anything that wraps the ``tools/call`` handler must be installed after
    this: recomposing the interceptor later would drop it.
    """
    server._apply_extension(extension)
    server._install_extension_interceptor()


def has_extension(server: MCPServer[Any], identifier: str) -> bool:
    """Whether an extension with ``identifier`` is applied (``_extensions``, mcp 2.3.0)."""
    extensions = getattr(server, "_extensions", ())
    return any(getattr(e, "identifier", None) == identifier for e in extensions)


def replace_middleware(server: MCPServer[Any], kind: type[Any], replacement: Any) -> bool:
    """Swap the first middleware of type ``kind``; False if there is none.

    ``MCPServer.middleware`` is a plain list the SDK reads per request (mcp 2.3.0).
    """
    for index, middleware in enumerate(server.middleware):
        if isinstance(middleware, kind):
            server.middleware[index] = replacement
            return True
    return False


def find_tool(server: MCPServer[Any], name: str) -> Tool | None:
    """The registered tool called ``name`` (``_tool_manager.get_tool``, mcp 2.3.0)."""
    return server._tool_manager.get_tool(name)


def resolves_before_running(server: MCPServer[Any], name: str) -> bool:
    """Whether the tool has ``Resolve(...)`` parameters (``Tool.resolved_params``, mcp 2.3.0)."""
    tool = find_tool(server, name)
    return tool is not None and bool(tool.resolved_params)


class _AnsweredRound(Context[Any, Any]):
    """A tool ``Context`` outside any request that reads as a round of ``protocol_version``.

    The SDK's resolvers take answers from ``inputResponses`` and
    ``requestState`` only when ``Context.protocol_version`` is 2026-07-28 or
    later (``resolve._uses_input_required``, mcp 2.3.0), and a ``Context``
    without a request reports no version. This one reports the version of
    the round the answers came in.
    """

    _answered_version: str

    def __init__(self, *, protocol_version: str, **fields: Any) -> None:
        super().__init__(**fields)
        self._answered_version = protocol_version

    @property
    def protocol_version(self) -> str | None:
        return self._answered_version


def answered_context(
    server: MCPServer[Any], params: CallToolRequestParams, protocol_version: str
) -> Context[Any, Any]:
    """The ``Context`` that re-runs a tool's resolvers on answers given in an earlier request.

    ``params`` carry the stored ``inputResponses`` and opened ``requestState``
    of the round that created the task; the resolvers resolve to the same
    values without asking again, wherever the task runs.
    """
    return _AnsweredRound(protocol_version=protocol_version, mcp_server=server, input_params=params)


def wrap_request_handler(server: MCPServer[Any], method: str, wrap: Callable[[Any], Any]) -> None:
    """Replace the handler of ``method`` with ``wrap(handler)``, keeping its params model.

    ``get_request_handler``/``add_request_handler`` on the low-level server, mcp 2.3.0.
    """
    lowlevel = lowlevel_server(server)
    entry = lowlevel.get_request_handler(method)
    if entry is None:  # pragma: no cover - MCPServer always registers tools/call and tools/list
        raise RuntimeError(f"the server has no {method} handler to wrap")
    lowlevel.add_request_handler(method, entry.params_type, wrap(entry.handler))


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Connection | None:
    """The connection a request came on (``session._connection``, mcp 2.3.0).

    The SDK exposes it on the tool-level ``Context`` only.
    """
    return getattr(ctx.session, "_connection", None)


UNNAMED_SERVER = "mcp-server"
"""The name ``MCPServer`` takes when it is given none."""


def has_auth(server: MCPServer[Any]) -> bool:
    return server.settings.auth is not None


def set_auth(server: MCPServer[Any], verifier: Any, auth: Any) -> None:
    """Give a server built without authentication a token verifier and ``AuthSettings``.

    ``MCPServer`` takes both only at construction and reads them when its
    HTTP app is built, so setting them before that is equivalent.
    """
    server.settings.auth = auth
    server._token_verifier = verifier  # pyright: ignore[reportPrivateUsage]


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """A stateful streamable HTTP session that ended, as :func:`on_session_end` reports it."""

    session_id: str
    authenticated: bool
    """The session was opened with a credential (its requests must present the same one)."""
    server_stopping: bool
    """The session ended because the session manager itself is shutting down."""


def on_session_end(
    manager: StreamableHTTPSessionManager, ended: Callable[[SessionEnd], None]
) -> None:
    """Call ``ended`` once for each established session of ``manager``, when it ends.

    mcp 2.3.0 has no session-end hook. ``_discard_session`` is called however
    a session ends (client DELETE, idle timeout, crash, the manager's
    shutdown), sometimes twice for one session, and also for a session whose
    opening request was refused. A session counts as established when that
    request is answered below 400, as ``_serve_opening_request`` itself
    decides; ``_session_owners`` holds the credential of an authenticated
    one, and ``_task_group`` is None once the manager is shutting down. Both
    methods are wrapped on this instance only.

    ``ended`` runs synchronously inside the SDK's teardown, just before the
    session is forgotten (so once the manager answers its id with "Session
    not found", ``ended`` has run): it must only schedule work, never wait.
    An error it raises is logged and swallowed, so the teardown always
    completes.
    """
    established: dict[str, bool] = {}  # session id -> authenticated, until it ends
    serve_opening_request = manager._serve_opening_request
    discard_session = manager._discard_session

    async def serve_opening(
        http_transport: StreamableHTTPServerTransport, scope: Scope, receive: Receive, send: Send
    ) -> None:
        session_id = http_transport.mcp_session_id
        authenticated = session_id in manager._session_owners

        async def watch_status(message: Message) -> None:
            opened = message["type"] == "http.response.start" and message["status"] < 400
            if opened and session_id is not None:
                established[session_id] = authenticated
            await send(message)

        await serve_opening_request(http_transport, scope, receive, watch_status)

    async def discard(session_id: str, transport: StreamableHTTPServerTransport) -> None:
        authenticated = established.pop(session_id, None)
        if authenticated is not None:
            stopping = manager._task_group is None
            try:
                ended(SessionEnd(session_id, authenticated, stopping))
            except Exception:
                logger.exception("the session-end callback failed")
        await discard_session(session_id, transport)

    manager._serve_opening_request = serve_opening  # type: ignore[method-assign]
    manager._discard_session = discard  # type: ignore[method-assign]

"""The stdio transport: stdout for the protocol alone, stdin that never blocks exit.

``stdio`` serves the one client that started the process, and stdout must
carry the protocol only. So before anything is imported, :func:`take_stdout`
keeps a private copy of stdout for the protocol and points file descriptor 1
at stderr: logs, prints (at import, in a tool, at exit) and child processes
all write to stderr.

stdin is read on a daemon thread (:class:`_StdinLines`), and SIGTERM or
SIGINT end the server like a closed stdin does, so a shutdown always runs the
server's lifespan to the end: running tasks get their grace period, and
none is left ``working``.

Every line the client writes gets its answer: lines the SDK would drop
unanswered (``params`` that are not an object, an ``id`` of the wrong type,
text that is not JSON) are answered with JSON-RPC errors by
:class:`~mcp_tasks_server.server.stdio_lines.CheckedLines` before they reach it.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import threading
from typing import Any, BinaryIO, cast

import anyio
import anyio.from_thread
import anyio.lowlevel
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

from mcp_tasks_server.protocol import sdk
from mcp_tasks_server.server.stdio_lines import CheckedLines, SharedWire

__all__ = ["serve_stdio", "take_stdout"]

# One logger for the whole reference server, so operators filter on one name.
logger = logging.getLogger("mcp_tasks_server.server")


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
    # The SDK's reader and writer, with every line it would leave unanswered
    # answered on the way in (see :mod:`.stdio_lines`).
    shared = SharedWire(anyio.wrap_file(io.TextIOWrapper(wire, encoding="utf-8")))
    stdout = cast("anyio.AsyncFile[str]", shared)
    stdin = cast("anyio.AsyncFile[str]", CheckedLines(_StdinLines(sys.stdin.buffer), shared))
    lowlevel = sdk.lowlevel_server(server)
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


def take_stdout() -> BinaryIO | None:
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

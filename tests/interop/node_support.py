"""What the Node clients' interop tests share: the server they drive, and their installs.

The server is the real ``mcp-tasks-server`` console script of this
environment, serving ``tests/interop/ts_tools.py``; over HTTP it runs as a
subprocess on a free 127.0.0.1 port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.protocol.harness import free_port

__all__ = ["REPO", "SERVER", "SERVER_ENV", "TOOLS", "http_server", "require_installed"]

REPO = Path(__file__).resolve().parents[2]
SERVER = Path(sys.executable).with_name("mcp-tasks-server")
TOOLS = f"{REPO / 'tests' / 'interop' / 'ts_tools.py'}:register"
SERVER_ENV = {
    "MCP_TASKS_LOG_LEVEL": "WARNING",
    "MCP_TASKS_POLL_INTERVAL_MS": "200",  # clients wait this long between two tasks/get
    "MCP_TASKS_SHUTDOWN_GRACE_SECONDS": "0",
}
#: How long a server may take to listen on a loaded 2-core machine.
STARTUP_SECONDS = 60


def require_installed(*paths: Path, how: str) -> None:
    """Skip when a client is not installed; in CI (``CI=true``) fail instead."""
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        reason = f"not installed: {', '.join(missing)} ({how})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@contextmanager
def http_server(directory: Path, *flags: str) -> Iterator[str]:
    """``mcp-tasks-server serve --transport http *flags``; yields its MCP URL once it listens."""
    port = free_port()
    log = directory / "server.log"
    command = [str(SERVER), "serve", "--transport", "http", "--port", str(port), *flags]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--tools", TOOLS],
            env={**os.environ, **SERVER_ENV},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_listening(process, port, log)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited at startup:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"the server did not listen on {port} in {STARTUP_SECONDS} s:\n{log.read_text()}")

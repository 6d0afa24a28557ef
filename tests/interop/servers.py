"""What the interop tests share: the server they drive, and their clients' installs.

The server is the real ``mcp-tasks-server`` console script of this
environment, serving ``tests/interop/ts_tools.py``; over HTTP it runs as a
subprocess on a free 127.0.0.1 port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from mcp_tasks_server.server.auth.api_keys import hash_entry, new_api_key
from tests.dynamodb_servers import UVICORN_LISTENING, ServerUnavailable, reported_port
from tests.support.processes import stop_process

__all__ = [
    "REPO",
    "SERVER",
    "SERVER_ENV",
    "TOOLS",
    "api_key_server_env",
    "http_server",
    "require_installed",
]

REPO = Path(__file__).resolve().parents[2]
SERVER = Path(sys.executable).with_name("mcp-tasks-server")
TOOLS = f"{REPO / 'tests' / 'interop' / 'ts_tools.py'}:register"
SERVER_ENV = {
    "MCP_TASKS_LOG_LEVEL": "WARNING",
    "MCP_TASKS_POLL_INTERVAL_MS": "200",  # clients wait this long between two tasks/get
    "MCP_TASKS_SHUTDOWN_GRACE_SECONDS": "0",
}


def require_installed(*paths: Path, how: str) -> None:
    """Skip when a client is not installed; in CI (``CI=true``) fail instead."""
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        reason = f"not installed: {', '.join(missing)} ({how})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@contextmanager
def http_server(
    directory: Path, *flags: str, tools: str = TOOLS, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """``mcp-tasks-server serve --transport http *flags``; yields its MCP URL once it listens.

    The server binds port 0 and the port it got is read from its log, so no
    other process can take the port between choosing and binding it.
    """
    log = directory / "server.log"
    command = [str(SERVER), "serve", "--transport", "http", "--port", "0", *flags]
    # uvicorn names the port it bound at INFO.
    environment = {**os.environ, **SERVER_ENV, **(env or {}), "MCP_TASKS_LOG_LEVEL": "INFO"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--tools", tools],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            port = reported_port("mcp-tasks-server", log, UVICORN_LISTENING, process.poll)
        except ServerUnavailable as exc:
            pytest.fail(f"the server did not start: {exc}\n{log.read_text(errors='replace')}")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_process(process, timeout=30)


def api_key_server_env(directory: Path, subject: str = "interop") -> tuple[dict[str, str], str]:
    """Settings for a server behind one API key (``MCP_TASKS_AUTH=api-keys``), and the key."""
    key = new_api_key()
    keys = directory / "api-keys.txt"
    keys.write_text(hash_entry(subject, key) + "\n")
    return {"MCP_TASKS_AUTH": "api-keys", "MCP_TASKS_AUTH_API_KEYS_FILE": str(keys)}, key

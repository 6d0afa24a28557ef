"""Child processes of the tests and benchmarks: ports, readiness, stopping, skipping.

The emulators (DynamoDB Local, moto, local-aws-sqs) and the reference server
run as child processes on 127.0.0.1. They are stopped by their own PID only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

__all__ = [
    "STARTUP_DEADLINE_SECONDS",
    "ServerUnavailable",
    "free_port",
    "moto_command",
    "serve_or_skip",
    "stop_process",
    "unavailable",
    "wait_until_ready",
]

STARTUP_DEADLINE_SECONDS = 60.0

T = TypeVar("T")


class ServerUnavailable(Exception):
    """A server cannot be started on this machine; the message says what is missing."""


def unavailable(reason: str, required: str) -> NoReturn:
    """Skip a test whose server is missing here, but fail it under ``CI=true``.

    ``required`` names what CI must have, e.g. ``"a DynamoDB server"``.
    """
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: {required} is required)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago.

    Racy: another process may take it before the caller binds it. Servers in
    this process bind with ``tests.protocol.harness.listening_socket`` instead.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGCONT (in case it is paused), SIGTERM, then SIGKILL: by this process's PID only."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def moto_command(port: int) -> list[str]:
    """moto's server (every AWS service it emulates) on 127.0.0.1:``port``."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        raise ServerUnavailable(
            "moto's server is not installed: pip install 'moto[server]'"
        ) from None
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def wait_until_ready(
    name: str,
    process: subprocess.Popen[bytes],
    log: Path,
    probe: Callable[[], object],
    exited: Callable[[str], type[ServerUnavailable]] = lambda tail: ServerUnavailable,
) -> None:
    """Call ``probe`` until it stops raising; raise ``ServerUnavailable`` if it never does.

    ``exited`` picks the error for a process that ended at startup, from the
    tail of its ``log``.
    """
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            failure = exited(tail)
            raise failure(f"{name} exited with code {process.returncode} at startup:\n{tail}")
        try:
            probe()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise ServerUnavailable(
                    f"{name} did not answer within {STARTUP_DEADLINE_SECONDS:.0f} s"
                ) from None
            time.sleep(0.05)


def serve_or_skip(start: AbstractContextManager[T], required: str) -> Iterator[T]:
    """For a session fixture: the started server, or skip (under CI, fail) its tests."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(start)
        except ServerUnavailable as exc:
            unavailable(str(exc), required)
        yield server

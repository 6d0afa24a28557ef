"""The README's run command: the demo drives a real server subprocess to every outcome."""

from __future__ import annotations

import io

import anyio
import pytest
from rich.console import Console

from mcp_tasks_server.server.demo import run_demo

pytestmark = pytest.mark.anyio


async def test_demo_completes_cancels_answers_and_fails_tasks_as_announced() -> None:
    output = io.StringIO()
    with anyio.fail_after(120):
        exit_code = await run_demo(Console(file=output, width=200))
    text = output.getvalue()
    assert exit_code == 0, text
    assert "cancelling: A long count" in text
    assert "Deploy checkout 2.4.1 to staging?" in text
    assert "primes=1270607" in text
    assert "deployed=True" in text
    assert "error -32001: The upstream service is unavailable" in text

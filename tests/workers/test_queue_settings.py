"""Queue-mode settings: unworkable combinations are refused with the fix named."""

from __future__ import annotations

import pytest

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.server.cli import main
from mcp_tasks_server.settings import load_settings

QUEUE_URL = "http://127.0.0.1:1/000000000000/q"


def test_queue_mode_on_dynamodb_without_a_queue_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="MCP_TASKS_QUEUE_URL"):
        load_settings(execution="queue", backend="dynamodb")


def test_a_queue_url_with_the_memory_backend_is_refused() -> None:
    with pytest.raises(ConfigError, match="MCP_TASKS_BACKEND=dynamodb"):
        load_settings(execution="queue", queue_url=QUEUE_URL)


def test_a_lease_sweep_interval_of_zero_turns_the_sweep_off() -> None:
    assert load_settings(lease_sweep_interval_seconds=0).lease_sweep_interval_seconds == 0


def test_the_worker_command_without_a_queue_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MCP_TASKS_QUEUE_URL", raising=False)
    monkeypatch.delenv("MCP_TASKS_BACKEND", raising=False)
    assert main(["worker"]) == 2
    assert "MCP_TASKS_QUEUE_URL" in capsys.readouterr().err


def test_serve_in_queue_mode_without_workers_to_reach_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MCP_TASKS_EXECUTION", "queue")
    monkeypatch.delenv("MCP_TASKS_BACKEND", raising=False)
    monkeypatch.delenv("MCP_TASKS_QUEUE_URL", raising=False)
    assert main(["serve"]) == 2
    assert "MCP_TASKS_QUEUE_URL" in capsys.readouterr().err

"""Settings: read from MCP_TASKS_* variables, with startup errors that say the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcp_tasks_server import ConfigError, Settings, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.backend == "memory"
    assert settings.default_ttl_ms is not None
    assert settings.max_ttl_ms is not None
    assert settings.default_ttl_ms <= settings.max_ttl_ms


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TASKS_POLL_INTERVAL_MS", "2500")
    monkeypatch.setenv("MCP_TASKS_MAX_TTL_MS", "unlimited")
    settings = load_settings()
    assert settings.poll_interval_ms == 2500
    assert settings.max_ttl_ms is None


def test_unknown_backend_names_the_variable_and_the_accepted_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_TASKS_BACKEND", "postgres")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "MCP_TASKS_BACKEND='postgres'" in message
    assert "memory, dynamodb" in message


def test_non_numeric_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER", "lots")
    with pytest.raises(ConfigError, match="MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER='lots'"):
        load_settings()


def test_default_ttl_above_the_maximum_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TASKS_DEFAULT_TTL_MS", "7200000")
    monkeypatch.setenv("MCP_TASKS_MAX_TTL_MS", "3600000")
    with pytest.raises(ConfigError, match="must not exceed MCP_TASKS_MAX_TTL_MS"):
        load_settings()


def test_unlimited_default_ttl_needs_an_unlimited_maximum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_TASKS_DEFAULT_TTL_MS", "unlimited")
    with pytest.raises(ConfigError, match="only when MCP_TASKS_MAX_TTL_MS is unlimited"):
        load_settings()


def test_keyword_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TASKS_LIST_PAGE_SIZE", "7")
    assert load_settings(list_page_size=9).list_page_size == 9


def test_every_setting_is_documented_in_the_readme_configuration_table() -> None:
    table_rows = set(re.findall(r"^\| `(MCP_TASKS_[A-Z0-9_]+)` \|", README.read_text(), re.M))
    expected = {"MCP_TASKS_" + name.upper() for name in Settings.model_fields}
    assert expected - table_rows == set(), "settings missing from the README table"
    assert table_rows - expected == set(), "README documents settings that do not exist"


def test_every_setting_has_a_description() -> None:
    undocumented = [name for name, f in Settings.model_fields.items() if not f.description]
    assert undocumented == []

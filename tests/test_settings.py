"""Settings: read from MCP_TASKS_* variables, with startup errors that say the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcp_tasks_server import ConfigError, Settings, build_backend, load_settings

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


def test_the_global_cap_is_finite_by_default_and_reaches_the_store() -> None:
    settings = load_settings()
    assert settings.max_active_tasks == 10_000
    assert settings.store_policy().max_active_tasks == 10_000
    assert load_settings(max_active_tasks=0).store_policy().max_active_tasks == 0


def test_global_cap_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TASKS_MAX_ACTIVE_TASKS", "250")
    assert load_settings().max_active_tasks == 250


@pytest.mark.parametrize("value", ["-1", "many"])
def test_a_global_cap_that_is_not_a_count_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MCP_TASKS_MAX_ACTIVE_TASKS", value)
    with pytest.raises(ConfigError, match=f"MCP_TASKS_MAX_ACTIVE_TASKS='{value}' is invalid"):
        load_settings()


def test_a_global_cap_beyond_what_dynamodb_enforces_names_the_fix() -> None:
    pytest.importorskip("aioboto3")
    settings = load_settings(backend="dynamodb", max_active_tasks=2_000_000)
    with pytest.raises(ConfigError) as caught:
        build_backend(settings)
    message = str(caught.value)
    assert "MCP_TASKS_MAX_ACTIVE_TASKS=2000000 is too large for the DynamoDB backend" in message
    assert "at most 1000000; lower it, or set 0 for no global cap" in message


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

"""``server.json`` (the MCP Registry entry) is valid, current and consistent.

The schema is ``schemas/server.schema.2025-12-11.json``, a byte-for-byte copy of
https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json
(© the Model Context Protocol authors, from ``modelcontextprotocol/registry``).
It was obtained offline from a third party's vendored copy, and its SHA-256
matches the one other projects pin for that URL (``SCHEMA_SHA256`` below).
Moving to a newer schema is deliberate: replace the file and the pin together.

``scripts/server_json.py`` writes ``server.json``; run it after changing
``pyproject.toml`` or ``Settings``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft7Validator

from mcp_tasks_server.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "schemas" / "server.schema.2025-12-11.json"
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
SCHEMA_SHA256 = "3fba09590c99f61735d234822279f4223fab9e300c0a81e81c91ab62a4114de0"
SERVER_JSON = ROOT / "server.json"
REGISTRY_NAME = "io.github.mcp-tasks-server/mcp-tasks-server"


def _load_generator() -> ModuleType:
    path = ROOT / "scripts" / "server_json.py"
    spec = importlib.util.spec_from_file_location("server_json_script", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _load_generator()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_bytes())
    return loaded


@pytest.fixture(scope="module")
def server() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft7Validator:
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def _project() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        project: dict[str, Any] = tomllib.load(file)["project"]
    return project


def _errors(validator: Draft7Validator, document: object) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '/'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_vendored_schema_is_the_pinned_file(schema: dict[str, Any]) -> None:
    assert hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert schema["$id"] == SCHEMA_URL
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_format_checking_covers_the_schema_formats() -> None:
    # Without rfc3986-validator (jsonschema[format-nongpl]) "uri" is silently unchecked.
    assert "uri" in Draft7Validator.FORMAT_CHECKER.checkers


def test_server_json_validates_against_the_schema(
    validator: Draft7Validator, server: dict[str, Any]
) -> None:
    assert _errors(validator, server) == []


def test_the_validator_catches_mistakes(validator: Draft7Validator, server: dict[str, Any]) -> None:
    too_long = {**server, "description": "x" * 101}
    bad_url = {**server, "websiteUrl": "not a uri"}
    no_name = {key: value for key, value in server.items() if key != "name"}
    for broken in (too_long, bad_url, no_name):
        assert _errors(validator, broken)


def test_identity_and_version(server: dict[str, Any]) -> None:
    project = _project()
    assert server["$schema"] == SCHEMA_URL
    assert server["name"] == REGISTRY_NAME
    assert server["version"] == project["version"]
    (package,) = server["packages"]
    assert package["registryType"] == "pypi"
    assert package["identifier"] == project["name"]
    assert package["version"] == project["version"]
    assert package["runtimeHint"] == "uvx"
    assert package["transport"] == {"type": "stdio"}


def test_description_fits_the_registry(server: dict[str, Any]) -> None:
    assert 1 <= len(server["description"]) <= 100


def test_every_setting_is_an_environment_variable(server: dict[str, Any]) -> None:
    (package,) = server["packages"]
    variables = {variable["name"]: variable for variable in package["environmentVariables"]}
    for name, field in Settings.model_fields.items():
        variable = variables.get(ENV_PREFIX + name.upper())
        assert variable is not None, f"{ENV_PREFIX}{name.upper()} is missing from server.json"
        assert variable["isRequired"] is False
        assert variable["description"]
        default = field.get_default(call_default_factory=True)
        assert ("default" in variable) == (default is not None)
    for aws in ("AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert aws in variables
    assert variables["AWS_SECRET_ACCESS_KEY"]["isSecret"] is True
    assert variables["MCP_TASKS_BACKEND"]["choices"] == ["memory", "dynamodb"]


def test_remote_is_a_streamable_http_template(server: dict[str, Any]) -> None:
    (remote,) = server["remotes"]
    assert remote["type"] == "streamable-http"
    assert "{host}" in remote["url"]
    assert "host" in remote["variables"]
    (authorization,) = (h for h in remote["headers"] if h["name"] == "Authorization")
    assert authorization["isSecret"] is True


def test_server_json_is_what_the_script_generates(
    generator: ModuleType, server: dict[str, Any]
) -> None:
    assert server == generator.build_server_json(), (
        "server.json is out of date: run python scripts/server_json.py"
    )
    assert SERVER_JSON.read_text(encoding="utf-8") == generator.render()


def test_readme_carries_the_mcp_name_marker() -> None:
    # PyPI ownership check of the registry: the published README must name the server.
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert any(f"mcp-name: {REGISTRY_NAME}" in line for line in lines)


def test_check_mode_reports_a_stale_file(
    generator: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stale = tmp_path / "server.json"
    stale.write_text(generator.render().replace('"version": "', '"version": "0', 1))
    monkeypatch.setattr(generator, "SERVER_JSON", stale)
    assert generator.main(["--check"]) == 1
    assert '"version"' in capsys.readouterr().out
    stale.write_text(generator.render())
    assert generator.main(["--check"]) == 0

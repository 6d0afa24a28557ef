"""Write ``server.json``, the MCP Registry entry, from the project's own metadata.

``python scripts/server_json.py`` rewrites ``server.json`` at the repository
root; ``--check`` writes nothing and exits 1, showing the difference, when the
file is out of date. ``tests/test_server_json.py`` validates the file against
the vendored registry schema and fails while it and this script disagree.

Sources:

- name, version and description: ``pyproject.toml``;
- one environment variable per ``Settings`` field (``MCP_TASKS_<FIELD>``),
  described by the field's docstring, with its default, its choices (for
  ``Literal`` fields) and its format;
- the standard AWS variables the DynamoDB backend reads.
"""

from __future__ import annotations

import difflib
import json
import sys
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic.fields import FieldInfo

from mcp_tasks_server.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
SERVER_JSON = ROOT / "server.json"

SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
REGISTRY_NAME = "io.github.mcp-tasks-server/mcp-tasks-server"
REPOSITORY_URL = "https://github.com/mcp-tasks-server/mcp-tasks-server"
TITLE = "MCP Tasks Server"

MAX_DESCRIPTION = 100
"""The registry rejects a longer description (422)."""

SECRET_WORDS = ("key", "secret", "token", "password")

_DYNAMODB_ONLY = "DynamoDB backend only (install the `dynamodb` extra). "
AWS_VARIABLES: tuple[tuple[str, str, bool], ...] = (
    (
        "AWS_REGION",
        _DYNAMODB_ONLY + "AWS region of the table, e.g. `us-east-1`.",
        False,
    ),
    (
        "AWS_ENDPOINT_URL_DYNAMODB",
        _DYNAMODB_ONLY + "DynamoDB endpoint URL, e.g. DynamoDB Local; "
        "`MCP_TASKS_DYNAMODB_ENDPOINT` overrides it.",
        False,
    ),
    (
        "AWS_ENDPOINT_URL",
        _DYNAMODB_ONLY + "Endpoint URL for every AWS service; "
        "`AWS_ENDPOINT_URL_DYNAMODB` overrides it.",
        False,
    ),
    (
        "AWS_ACCESS_KEY_ID",
        _DYNAMODB_ONLY + "Access key id, when neither a profile nor an IAM role supplies one.",
        True,
    ),
    (
        "AWS_SECRET_ACCESS_KEY",
        _DYNAMODB_ONLY + "Secret access key that goes with `AWS_ACCESS_KEY_ID`.",
        True,
    ),
    (
        "AWS_SESSION_TOKEN",
        _DYNAMODB_ONLY + "Session token, for temporary credentials.",
        True,
    ),
    (
        "AWS_PROFILE",
        _DYNAMODB_ONLY + "Named profile from the AWS config and credentials files.",
        False,
    ),
)


def project_metadata() -> dict[str, Any]:
    """The ``[project]`` table of ``pyproject.toml``."""
    with PYPROJECT.open("rb") as file:
        project: dict[str, Any] = tomllib.load(file)["project"]
    return project


def registry_description(summary: str) -> str:
    """PyPI's summary, which doubles as the registry description, so they never disagree."""
    if not 1 <= len(summary) <= MAX_DESCRIPTION:
        raise ValueError(
            f"pyproject's description must be 1-{MAX_DESCRIPTION} characters for the registry, "
            f"not {len(summary)}: {summary!r}"
        )
    return summary


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _as_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _choices(annotation: Any) -> list[str] | None:
    if typing.get_origin(annotation) is Literal:
        return [_as_string(choice) for choice in typing.get_args(annotation)]
    return None


def _format(annotation: Any) -> str | None:
    """``boolean`` or ``number`` for plain bool/int/float fields.

    Optional numbers stay strings: their ``None`` is spelled as a word
    (``unlimited``), which a ``number`` input would not allow.
    """
    if annotation is bool:
        return "boolean"
    if annotation in (int, float):
        return "number"
    return None


def _describe(name: str, field: FieldInfo) -> str:
    if not field.description:
        raise ValueError(f"Settings.{name} has no docstring to describe {ENV_PREFIX}{name.upper()}")
    return " ".join(field.description.replace("``", "`").split())


def settings_variable(name: str, field: FieldInfo) -> dict[str, Any]:
    """The ``environmentVariables`` entry of one ``Settings`` field."""
    variable_name = ENV_PREFIX + name.upper()
    entry: dict[str, Any] = {
        "name": variable_name,
        "description": _describe(name, field),
        "isRequired": False,
        "isSecret": is_secret(name),
    }
    annotation = field.annotation
    fmt = _format(annotation)
    if fmt is not None:
        entry["format"] = fmt
    default = field.get_default(call_default_factory=True)
    if default is not None:
        entry["default"] = _as_string(default)
    choices = _choices(annotation)
    if choices is not None:
        entry["choices"] = choices
    return entry


def environment_variables() -> list[dict[str, Any]]:
    variables = [settings_variable(name, field) for name, field in Settings.model_fields.items()]
    for name, description, secret in AWS_VARIABLES:
        variables.append(
            {"name": name, "description": description, "isRequired": False, "isSecret": secret}
        )
    return variables


def build_server_json() -> dict[str, Any]:
    """The ``server.json`` document, as the registry's 2025-12-11 schema describes it."""
    project = project_metadata()
    version = str(project["version"])
    return {
        "$schema": SCHEMA_URL,
        "name": REGISTRY_NAME,
        "title": TITLE,
        "description": registry_description(str(project["description"])),
        "version": version,
        "repository": {"url": REPOSITORY_URL, "source": "github"},
        "websiteUrl": str(project.get("urls", {}).get("Homepage", REPOSITORY_URL)),
        "packages": [
            {
                "registryType": "pypi",
                "identifier": str(project["name"]),
                "version": version,
                "runtimeHint": "uvx",
                "transport": {"type": "stdio"},
                "environmentVariables": environment_variables(),
            }
        ],
        "remotes": [
            {
                "type": "streamable-http",
                "url": "https://{host}/mcp",
                "headers": [
                    {
                        "name": "Authorization",
                        "description": "Credentials, e.g. `Bearer <token>`, when the deployment "
                        "puts authentication in front of the server.",
                        "isRequired": False,
                        "isSecret": True,
                    }
                ],
                "variables": {
                    "host": {
                        "description": "Host name (and port) of your deployment of "
                        "`mcp-tasks-server --transport http`.",
                        "isRequired": True,
                        "placeholder": "tasks.example.com",
                    }
                },
            }
        ],
    }


def render() -> str:
    return json.dumps(build_server_json(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    expected = render()
    if "--check" in args:
        current = SERVER_JSON.read_text(encoding="utf-8") if SERVER_JSON.exists() else ""
        if current == expected:
            print("server.json is up to date")
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            fromfile="server.json (on disk)",
            tofile="server.json (generated)",
        )
        sys.stdout.writelines(diff)
        print("server.json is out of date: run python scripts/server_json.py", file=sys.stderr)
        return 1
    SERVER_JSON.write_text(expected, encoding="utf-8")
    print(f"wrote {SERVER_JSON.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Safe by default: incomplete auth settings, unprotected exposure and shared audiences refused.

Each refusal is a one-line ``ConfigError`` (exit 2 from the CLI) that
names the variable to set; each escape hatch lets the start through.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from mcp_tasks_server import Settings
from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.core.owner import bind_owner
from mcp_tasks_server.protocol.storage import owner_digest
from mcp_tasks_server.server import build_server, http_app
from mcp_tasks_server.server.auth.api_keys import hash_entry, new_api_key
from mcp_tasks_server.server.cli import main
from mcp_tasks_server.server.security import check_exposure
from tests.auth.test_owner_isolation import ASK, FAST, assert_same_as_missing
from tests.protocol.harness import RawHttp, serve_asgi

PUBLIC = {"transport": "http", "host": "0.0.0.0", "allowed_hosts": ["tasks.example"]}


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"auth": "jwt"}, "MCP_TASKS_AUTH_JWKS_URL"),
        ({"auth": "jwt", "auth_jwks_url": "https://idp.example/jwks"}, "MCP_TASKS_AUTH_ISSUER"),
        (
            {"auth": "jwt", "auth_jwks_url": "https://i.example/j", "auth_issuer": "https://i"},
            "MCP_TASKS_AUTH_AUDIENCE or MCP_TASKS_AUTH_CLIENT_IDS",
        ),
        ({"auth": "api-keys"}, "MCP_TASKS_AUTH_API_KEYS_FILE"),
        ({"encryption": "local"}, "MCP_TASKS_ENCRYPTION_KEYS"),
        ({"encryption": "kms"}, "MCP_TASKS_ENCRYPTION_KMS_KEY_ID"),
    ],
)
def test_incomplete_security_settings_name_the_missing_variable(
    settings: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        build_server(Settings(**settings))


def test_http_beyond_loopback_without_auth_is_refused_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "mcp_tasks_server.server.build.configure_logging", lambda level, hash_key=None: None
    )
    monkeypatch.setenv("MCP_TASKS_ALLOWED_HOSTS", "tasks.example")
    assert main(["serve", "--transport", "http", "--host", "0.0.0.0"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "MCP_TASKS_AUTH" in line
    assert "MCP_TASKS_ALLOW_ANONYMOUS=true" in line


def test_the_escape_hatches_let_an_anonymous_public_server_start() -> None:
    with pytest.raises(ConfigError, match="MCP_TASKS_ALLOW_ANONYMOUS"):
        check_exposure(Settings(**PUBLIC), profile="default", tools="tools.py")
    anonymous = Settings(**PUBLIC, allow_anonymous=True)
    check_exposure(anonymous, profile="default", tools="tools.py")
    check_exposure(anonymous, profile="conformance", tools=None)
    # Loopback and stdio need neither hatch.
    check_exposure(Settings(transport="http"), profile="default", tools=None)
    check_exposure(Settings(host="0.0.0.0"), profile="default", tools=None)


def test_the_example_tools_stay_on_loopback_unless_allowed() -> None:
    anonymous = Settings(**PUBLIC, allow_anonymous=True)
    with pytest.raises(ConfigError, match="MCP_TASKS_ALLOW_EXAMPLE_TOOLS=true"):
        check_exposure(anonymous, profile="default", tools=None)
    check_exposure(
        Settings(**PUBLIC, allow_anonymous=True, allow_example_tools=True),
        profile="default",
        tools=None,
    )


def test_an_unnamed_user_server_with_a_request_state_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "unnamed_server.py"
    path.write_text("from mcp.server.mcpserver import MCPServer\n\nserver = MCPServer()\n")
    with pytest.raises(ConfigError, match="no name"):
        build_server(Settings(request_state_key="s" * 32), tools=f"{path}:server")
    build_server(Settings(), tools=f"{path}:server")  # without a key there is no audience


def test_a_secret_keys_owner_digests() -> None:
    plain = bind_owner(principal="alice", digest=owner_digest(Settings()))
    keyed = owner_digest(Settings(owner_key_secret="k" * 32))
    other = owner_digest(Settings(owner_key_secret="o" * 32))
    assert bind_owner(principal="alice", digest=keyed).key != plain.key
    assert keyed("alice") != other("alice")
    assert bind_owner(principal="alice", digest=keyed).key == f"principal:{keyed('alice')}"
    with pytest.raises(ConfigError, match="MCP_TASKS_OWNER_KEY_SECRET"):
        owner_digest(Settings(owner_key_secret="short"))


@pytest.mark.anyio
@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_api_key_holders_see_only_their_own_tasks(tmp_path: Path, stateless: bool) -> None:
    alice_key, bob_key = new_api_key(), new_api_key()
    keys = tmp_path / "api-keys.txt"
    keys.write_text(f"{hash_entry('alice', alice_key)}\n{hash_entry('bob', bob_key)}\n")
    settings = Settings(
        **FAST,
        transport="http",
        stateless=stateless,
        auth="api-keys",
        auth_api_keys_file=str(keys),
        owner_key_secret="k" * 32,
    )
    alice_h = {"Authorization": f"Bearer {alice_key}"}
    bob_h = {"Authorization": f"Bearer {bob_key}"}
    with anyio.fail_after(60):
        app = http_app(build_server(settings, profile="conformance"), settings)
        async with serve_asgi(app) as port:
            url = f"http://127.0.0.1:{port}/mcp"
            async with RawHttp.legacy_session(url, stateless=stateless, headers=alice_h) as alice:
                task_id = (await alice.request("tools/call", {**ASK, "task": {}})).result["task"][
                    "taskId"
                ]
            async with RawHttp.modern(url, headers=bob_h) as bob:
                for method in ("tasks/get", "tasks/cancel"):
                    await assert_same_as_missing(bob, method, {}, task_id)
            async with RawHttp.legacy_session(url, stateless=stateless, headers=bob_h) as bob:
                await assert_same_as_missing(bob, "tasks/get", {}, task_id)
                assert (await bob.request("tasks/list", {})).result["tasks"] == []
            async with RawHttp.modern(url, headers=alice_h) as alice:
                got = await alice.request("tasks/get", {"taskId": task_id})
                assert got.result["taskId"] == task_id


@pytest.mark.anyio
async def test_auth_settings_protect_a_user_server_given_to_tools(tmp_path: Path) -> None:
    key = new_api_key()
    keys = tmp_path / "api-keys.txt"
    keys.write_text(hash_entry("ci-bot", key) + "\n")
    path = tmp_path / "user_server.py"
    path.write_text("from mcp.server.mcpserver import MCPServer\n\nserver = MCPServer('user')\n")
    settings = Settings(transport="http", auth="api-keys", auth_api_keys_file=str(keys))
    app = http_app(build_server(settings, tools=f"{path}:server"), settings)
    with anyio.fail_after(60):
        async with serve_asgi(app) as port:
            url = f"http://127.0.0.1:{port}/mcp"
            async with RawHttp.modern(url) as anonymous:
                assert (await anonymous.request("tools/list", {})).status == 401
            async with RawHttp.modern(url, headers={"Authorization": f"Bearer {key}"}) as bot:
                listed = await bot.request("tools/list", {})
                assert listed.status == 200
                assert "tasks_get" in {tool["name"] for tool in listed.result["tools"]}

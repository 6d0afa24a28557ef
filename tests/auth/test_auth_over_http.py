"""The verifiers inside the SDK's own bearer authentication, over streamable HTTP on 127.0.0.1.

An ``MCPServer`` built with ``token_verifier=`` and ``AuthSettings`` is
served by uvicorn; a raw HTTP client checks the 401 answers and the RFC
9728 metadata, and the SDK's client calls a tool with a valid credential.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import TokenVerifier, principal_components
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp_types import TextContent

from mcp_tasks_server.server.auth import API_KEY_ISSUER, ApiKeyVerifier, JwtVerifier
from mcp_tasks_server.server.auth.api_keys import hash_entry, new_api_key
from tests.auth.idp import AUDIENCE, ISSUER, claims, rsa_key, serve_idp, sign
from tests.protocol.harness import serve_http

pytestmark = pytest.mark.anyio

METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "auth-test", "version": "0"},
    },
}


def server(verifier: TokenVerifier, auth: AuthSettings) -> MCPServer[Any]:
    app: MCPServer[Any] = MCPServer("auth-test", token_verifier=verifier, auth=auth)

    @app.tool()
    def whoami() -> str:
        """The principal the SDK sees for this request."""
        token = get_access_token()
        assert token is not None
        return json.dumps(principal_components(token))

    return app


def jwt_auth() -> AuthSettings:
    return AuthSettings(
        issuer_url=ISSUER,  # type: ignore[arg-type]  # pydantic parses the URL
        resource_server_url=AUDIENCE,  # type: ignore[arg-type]
        required_scopes=["tasks"],
        validate_token_resource=True,
    )


async def post_initialize(url: str, token: str | None = None) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, json=INITIALIZE, headers=headers)


@asynccontextmanager
async def client(url: str, token: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with http, Client(streamable_http_client(url, http_client=http)) as connected:
        yield connected


async def whoami(connected: Client) -> list[str]:
    result = await connected.call_tool("whoami", {})
    assert not result.is_error, result
    content = result.content[0]
    assert isinstance(content, TextContent)
    return list(json.loads(content.text))


async def test_jwt_protected_server_refuses_missing_and_bad_tokens_and_serves_good_ones() -> None:
    key = rsa_key("k1")
    with anyio.fail_after(60):
        async with serve_idp(key) as idp:
            verifier = JwtVerifier(idp.url, ISSUER, AUDIENCE, required_scopes=["tasks"])
            async with serve_http(server(verifier, jwt_auth())) as url:
                base = url.removesuffix("/mcp")
                for token in (None, "garbage", sign(key, claims(scope="openid"))):
                    refused = await post_initialize(url, token)
                    assert refused.status_code == 401, token
                    challenge = refused.headers["www-authenticate"]
                    assert challenge.startswith("Bearer ")
                    expected = f'resource_metadata="https://tasks.example{METADATA_PATH}"'
                    assert expected in challenge

                async with httpx.AsyncClient(timeout=30) as http:
                    metadata = (await http.get(base + METADATA_PATH)).json()
                assert metadata["resource"] == AUDIENCE
                assert metadata["authorization_servers"] == [ISSUER]
                assert metadata["scopes_supported"] == ["tasks"]

                async with client(url, sign(key, claims())) as alice:
                    assert await whoami(alice) == ["tasks-app", ISSUER, "alice"]
                async with client(url, sign(key, claims(sub="bob"))) as bob:
                    assert await whoami(bob) == ["tasks-app", ISSUER, "bob"]


async def test_token_for_another_resource_is_refused_by_the_sdk_resource_check() -> None:
    key = rsa_key("k1")
    other = "https://other-service.example/mcp"
    with anyio.fail_after(60):
        async with serve_idp(key) as idp:
            # The verifier accepts both audiences; the SDK still insists on its own.
            verifier = JwtVerifier(idp.url, ISSUER, [AUDIENCE, other], required_scopes=["tasks"])
            async with serve_http(server(verifier, jwt_auth())) as url:
                assert (await post_initialize(url, sign(key, claims(aud=other)))).status_code == 401
                assert (await post_initialize(url, sign(key, claims()))).status_code == 200


async def test_api_key_protected_server_knows_its_keys_by_subject(tmp_path: Path) -> None:
    key = new_api_key()
    keys = tmp_path / "api-keys.txt"
    keys.write_text(f"# operators\n{hash_entry('ci-bot', key)}\n")
    auth = AuthSettings(
        issuer_url="https://tasks.example",  # type: ignore[arg-type]
        resource_server_url=None,
    )
    with anyio.fail_after(60):
        async with serve_http(server(ApiKeyVerifier.from_file(keys), auth)) as url:
            assert (await post_initialize(url)).status_code == 401
            assert (await post_initialize(url, new_api_key())).status_code == 401
            async with client(url, key) as bot:
                assert await whoami(bot) == ["ci-bot", API_KEY_ISSUER, "ci-bot"]

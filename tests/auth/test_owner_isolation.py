"""With authentication on, a task belongs to the principal, in every era and on every path.

Alice and Bob hold access tokens signed by a test identity provider whose
JWKS is served on 127.0.0.1; the reference server (conformance profile,
``MCP_TASKS_AUTH=jwt``) runs under uvicorn, stateful and stateless. Bob
tries every operation on Alice's task (get, result, cancel, answer, list,
the task tools and the ``task://`` resource): each answer must be the
answer for a task that does not exist, with only the id told apart.
Alice, meanwhile, reaches her task from a new connection, which only the
principal (not a session) can explain.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from mcp_tasks_server import Settings
from mcp_tasks_server.core.model import new_task_id
from mcp_tasks_server.server import build_server, http_app
from tests.auth.idp import AUDIENCE, ISSUER, KeyPair, claims, rsa_key, serve_idp, sign
from tests.protocol.harness import LEGACY, RawHttp, RawResponse, serve_asgi

pytestmark = pytest.mark.anyio

FAST = {"poll_interval_ms": 100, "heartbeat_interval_seconds": 0.1, "shutdown_grace_seconds": 0}
ASK = {"name": "confirm_delete", "arguments": {"filename": "secret.txt"}}


@asynccontextmanager
async def protected_server(
    key: KeyPair, *, stateless: bool
) -> AsyncIterator[tuple[str, dict[str, str], dict[str, str]]]:
    """The reference server behind JWT auth; yields its URL and Alice's and Bob's headers."""
    async with serve_idp(key) as idp:
        settings = Settings(
            **FAST,
            transport="http",
            stateless=stateless,
            auth="jwt",
            auth_jwks_url=idp.url,
            auth_issuer=ISSUER,
            auth_audience=[AUDIENCE],
            auth_resource_url=AUDIENCE,
        )
        app = http_app(build_server(settings, profile="conformance"), settings)
        async with serve_asgi(app) as port:
            alice = {"Authorization": f"Bearer {sign(key, claims(sub='alice'))}"}
            bob = {"Authorization": f"Bearer {sign(key, claims(sub='bob'))}"}
            yield f"http://127.0.0.1:{port}/mcp", alice, bob


def anonymised(answer: RawResponse, *task_ids: str) -> str:
    """An answer with task ids blanked out, so a foreign and a missing task compare equal."""
    text = json.dumps(answer.body.get("error") or answer.body.get("result"), sort_keys=True)
    for task_id in task_ids:
        text = text.replace(task_id, "<id>")
    return text


async def until_input_required(raw: RawHttp, task_id: str) -> dict[str, Any]:
    with anyio.fail_after(20):
        while True:
            got = await raw.request("tasks/get", {"taskId": task_id})
            if got.result["status"] == "input_required":
                return got.result
            await anyio.sleep(0.02)


async def assert_same_as_missing(
    bob: RawHttp, method: str, params: dict[str, Any], task_id: str
) -> None:
    missing = new_task_id()
    foreign = await bob.request(method, {**params, "taskId": task_id})
    absent = await bob.request(method, {**params, "taskId": missing})
    assert "error" in foreign.body or foreign.body["result"].get("isError"), foreign.body
    assert anonymised(foreign, task_id) == anonymised(absent, missing), method


async def assert_task_tools_see_nothing(bob: RawHttp, task_id: str) -> None:
    missing = new_task_id()
    for tool, extra in [
        ("tasks_get", {}),
        ("tasks_result", {}),
        ("tasks_cancel", {}),
        ("tasks_respond", {"content": {"confirm": True}}),
    ]:
        calls = [
            await bob.request("tools/call", {"name": tool, "arguments": {"task_id": i, **extra}})
            for i in (task_id, missing)
        ]
        assert calls[0].body["result"]["isError"] is True, (tool, calls[0].body)
        assert anonymised(calls[0], task_id) == anonymised(calls[1], missing), tool
    listing = await bob.request("tools/call", {"name": "tasks_list", "arguments": {}})
    assert task_id not in json.dumps(listing.body)
    resources = [
        await bob.request("resources/read", {"uri": f"task://{i}"}) for i in (task_id, missing)
    ]
    assert "error" in resources[0].body
    assert anonymised(resources[0], task_id) == anonymised(resources[1], missing)


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_2025_tasks_belong_to_the_principal_not_the_connection(stateless: bool) -> None:
    with anyio.fail_after(90):
        async with protected_server(rsa_key("k1"), stateless=stateless) as (url, alice_h, bob_h):
            async with RawHttp.legacy_session(url, stateless=stateless, headers=alice_h) as alice:
                created = await alice.request("tools/call", {**ASK, "task": {"ttl": 60_000}})
                task_id = created.result["task"]["taskId"]
            # A new connection (a new session, when stateful): the principal still owns it.
            async with RawHttp.legacy_session(url, stateless=stateless, headers=alice_h) as alice:
                await until_input_required(alice, task_id)
                listed = await alice.request("tasks/list", {})
                assert [t["taskId"] for t in listed.result["tasks"]] == [task_id]
            async with RawHttp.legacy_session(url, stateless=stateless, headers=bob_h) as bob:
                hello = await bob.request(
                    "initialize",
                    {
                        "protocolVersion": LEGACY,
                        "capabilities": {},
                        "clientInfo": {"name": "bob", "version": "0"},
                    },
                )
                assert hello.result["capabilities"]["tasks"]["list"] == {}
                for method in ("tasks/get", "tasks/result", "tasks/cancel"):
                    await assert_same_as_missing(bob, method, {}, task_id)
                assert (await bob.request("tasks/list", {})).result["tasks"] == []
                await assert_task_tools_see_nothing(bob, task_id)
            async with RawHttp.legacy_session(url, stateless=stateless, headers=alice_h) as alice:
                cancelled = await alice.request("tasks/cancel", {"taskId": task_id})
                assert cancelled.result["status"] == "cancelled"


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_2026_tasks_belong_to_the_principal(stateless: bool) -> None:
    with anyio.fail_after(90):
        async with protected_server(rsa_key("k1"), stateless=stateless) as (url, alice_h, bob_h):
            async with RawHttp.modern(url, headers=alice_h) as alice:
                task_id = (await alice.request("tools/call", ASK)).result["taskId"]
                asked = await until_input_required(alice, task_id)
            (key,) = asked["inputRequests"]
            answer = {"inputResponses": {key: {"action": "accept", "content": {"confirm": True}}}}
            async with RawHttp.modern(url, headers=bob_h) as bob:
                await assert_same_as_missing(bob, "tasks/get", {}, task_id)
                await assert_same_as_missing(bob, "tasks/update", answer, task_id)
                await assert_same_as_missing(bob, "tasks/cancel", {}, task_id)
                await assert_task_tools_see_nothing(bob, task_id)
            async with RawHttp.modern(url, headers=alice_h) as alice:
                still = await alice.request("tasks/get", {"taskId": task_id})
                assert still.result["status"] == "input_required"  # Bob changed nothing
                await alice.request("tasks/update", {"taskId": task_id, **answer})
                with anyio.fail_after(20):
                    while (
                        status := (await alice.request("tasks/get", {"taskId": task_id})).result[
                            "status"
                        ]
                    ) != "completed":
                        assert status in ("working", "input_required")
                        await anyio.sleep(0.02)


async def test_requests_without_a_valid_token_are_refused_in_both_eras() -> None:
    key = rsa_key("k1")
    with anyio.fail_after(60):
        async with protected_server(key, stateless=True) as (url, _, _):
            metadata_url = url.removesuffix("/mcp") + "/.well-known/oauth-protected-resource/mcp"
            async with httpx.AsyncClient(timeout=30) as http:
                metadata = (await http.get(metadata_url)).json()
            assert metadata["resource"] == AUDIENCE
            assert metadata["authorization_servers"] == [ISSUER]
            forged = {"Authorization": f"Bearer {sign(rsa_key('k1'), claims())}"}
            for headers in ({}, forged):
                async with RawHttp.modern(url, headers=headers) as anonymous:
                    refused = await anonymous.request("tools/call", ASK)
                    assert refused.status == 401
                    challenge = refused.headers["www-authenticate"]
                    assert challenge.startswith("Bearer ")
                    assert "resource_metadata=" in challenge
                async with RawHttp.legacy_session(url, stateless=True, headers=headers) as legacy:
                    assert (await legacy.request("tools/call", ASK)).status == 401

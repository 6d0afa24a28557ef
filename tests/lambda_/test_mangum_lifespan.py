"""The trap the front end's handler avoids: Mangum runs the app's lifespan on every call.

The SDK's streamable HTTP session manager can be started once per instance,
so a Lambda container that serves a second (warm) invocation through
``Mangum(app, lifespan="auto")`` fails it. These tests pin that behaviour of
the libraries we depend on (should Mangum or the SDK change, they fail and
the workaround can go), and that the workaround, the lifespan entered once on
the container's loop with Mangum's own lifespan off, answers every call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer

pytest.importorskip("mangum", reason="the Lambda handlers need the 'lambda' extra")

from mangum import Mangum
from mangum.exceptions import LifespanFailure

from mcp_tasks_server.server.aws_lambda import ContainerLoop
from tests.support.lambda_events import LambdaContext, decode_response, function_url_event

LEGACY = "2025-11-25"
CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "echo", "arguments": {"text": "hi"}},
}


def _app() -> Any:
    server = MCPServer("trap")

    @server.tool()
    def echo(text: str) -> str:
        return text

    return server.streamable_http_app(stateless_http=True, json_response=True)


def _event() -> dict[str, Any]:
    headers = {"mcp-protocol-version": LEGACY, "host": "127.0.0.1:443"}
    return function_url_event(CALL, headers=headers)


@pytest.fixture
def fresh_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.mark.usefixtures("fresh_loop")
def test_mangum_with_its_own_lifespan_fails_the_second_warm_invocation() -> None:
    handler = Mangum(_app(), lifespan="auto")
    first = handler(_event(), LambdaContext())
    assert first["statusCode"] == 200
    assert decode_response(first)["result"]["content"][0]["text"] == "hi"
    with pytest.raises(LifespanFailure, match="can only be called once"):
        handler(_event(), LambdaContext())


@pytest.mark.usefixtures("fresh_loop")
def test_mangum_without_a_lifespan_cannot_serve_the_sdk_app() -> None:
    response = Mangum(_app(), lifespan="off")(_event(), LambdaContext())
    assert response["statusCode"] == 500


def test_a_lifespan_entered_once_on_the_container_loop_serves_every_warm_invocation() -> None:
    from mangum.protocols import LifespanCycle

    container = ContainerLoop()
    app = _app()
    container.activate()
    LifespanCycle(app, "on").__enter__()
    handler = Mangum(app, lifespan="off")
    try:
        for _ in range(4):
            container.activate()
            response = handler(_event(), LambdaContext())
            assert response["statusCode"] == 200, response
            assert decode_response(response)["result"]["content"][0]["text"] == "hi"
    finally:
        asyncio.set_event_loop(None)

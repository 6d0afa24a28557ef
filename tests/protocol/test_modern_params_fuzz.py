"""Generated bad params on every 2026-07-28 ``tasks/*`` method: always -32602, never -32603.

The server runs over real HTTP in a thread of its own; after every example a
valid request must still be served, so no input can wedge it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.shared.inbound import encode_header_value

from mcp_tasks_server import Settings
from mcp_tasks_server.server import build_server, http_app
from tests.protocol.harness import MODERN, STARTUP_SECONDS, listening_socket, modern_meta

MISSING = object()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
bad_task_ids = st.one_of(
    st.just(MISSING),
    json_values.filter(lambda value: not isinstance(value, str)),
    st.just(""),
    st.text(min_size=257, max_size=300),
    st.text(min_size=1, max_size=256),  # well-formed, but no such task
)
extras = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda key: key not in {"taskId", "_meta"}),
    json_values,
    max_size=3,
)


class Server:
    def __init__(self, url: str, client: httpx.Client) -> None:
        self.url = url
        self.client = client
        self.next_id = 0

    def post(self, method: str, params: dict[str, Any], name: str | None) -> httpx.Response:
        self.next_id += 1
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": MODERN,
            "Mcp-Method": method,
        }
        if name is not None:
            headers["Mcp-Name"] = encode_header_value(name)
        body = {
            "jsonrpc": "2.0",
            "id": self.next_id,
            "method": method,
            "params": {**params, "_meta": modern_meta()},
        }
        return self.client.post(self.url, json=body, headers=headers)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    config = Settings(transport="http", poll_interval_ms=100, shutdown_grace_seconds=0)
    app = http_app(build_server(config, profile="conformance"), config)
    with listening_socket() as sock:  # bound here: no other process can take the port
        port = sock.getsockname()[1]
        runner = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
        )
        thread = threading.Thread(
            target=runner.run, kwargs={"sockets": [sock]}, name="fuzzed server", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not runner.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        try:
            with httpx.Client(timeout=30) as client:
                yield Server(f"http://127.0.0.1:{port}/mcp", client)
        finally:
            runner.should_exit = True
            thread.join(30)


@pytest.fixture(scope="module")
def live_task(server: Server) -> str:
    call = {"name": "slow_compute", "arguments": {"seconds": 3600, "label": "alive"}}
    created = server.post("tools/call", call, "slow_compute").json()
    return str(created["result"]["taskId"])


def still_serving(server: Server, task_id: str) -> None:
    answer = server.post("tasks/get", {"taskId": task_id}, task_id)
    assert answer.status_code == 200
    assert answer.json()["result"]["status"] == "working"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["tasks/get", "tasks/update", "tasks/cancel"]),
    task_id=bad_task_ids,
    responses=st.one_of(st.just(MISSING), json_values),
    extra=extras,
)
def test_bad_params_are_invalid_params_and_the_server_keeps_serving(
    server: Server,
    live_task: str,
    method: str,
    task_id: Any,
    responses: Any,
    extra: dict[str, Any],
) -> None:
    params = dict(extra)
    if task_id is not MISSING:
        params["taskId"] = task_id
    if method == "tasks/update" and responses is not MISSING:
        params["inputResponses"] = responses
    name = task_id if isinstance(task_id, str) else "not-a-task"
    answer = server.post(method, params, name)
    error = answer.json().get("error")
    assert error is not None, answer.text
    assert error["code"] == -32602, error
    assert answer.status_code == 400
    still_serving(server, live_task)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(["tasks/list", "tasks/result"]), params=extras)
def test_removed_methods_are_method_not_found_whatever_the_params(
    server: Server, live_task: str, method: str, params: dict[str, Any]
) -> None:
    answer = server.post(method, params, None)
    assert answer.json()["error"]["code"] == -32601
    assert answer.status_code == 404
    still_serving(server, live_task)

"""Arbitrary params on every 2025-11-25 task method: -32602, never -32603, never a crash.

Hypothesis generates the params (missing, ill-typed and huge ``taskId``
values, nested junk, junk ``_meta``, forged cursors, junk ``task``
metadata); each example is sent to one long-running server, and after all
of them the same connection must still serve an ordinary task round trip.

The server and its client live in an event loop on a blocking portal's
thread, so hypothesis (which drives examples synchronously) can reuse
one connection instead of starting a server per example.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import anyio.from_thread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.shared.exceptions import MCPError

from tests.protocol import sample_server
from tests.protocol.harness import RawHttp, _parse, serve_http
from tests.protocol.legacy_client import LegacyTasks, connect, fast_settings

TASK_METHODS = ["tasks/get", "tasks/result", "tasks/cancel", "tasks/list"]
EXAMPLE_SECONDS = 10

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
huge_strings = st.integers(min_value=257, max_value=200_000).map(lambda n: "\U0001f600x" * (n // 2))
id_like = st.text(alphabet="0123456789abcdefghjkmnpqrstvwxyz", min_size=30, max_size=40)
field_values = json_values | huge_strings | id_like
junk_params = st.dictionaries(
    st.sampled_from(["taskId", "cursor", "_meta", "task", "inputResponses"]) | st.text(max_size=8),
    field_values,
    max_size=5,
)
# The SDK's client merges its own ``_meta`` into whatever it sends, so the
# in-process client can only carry an object there; raw HTTP sends anything.
client_params = st.tuples(
    st.dictionaries(
        st.sampled_from(["taskId", "cursor", "task", "inputResponses"])
        | st.text(max_size=8).filter(lambda key: key != "_meta"),
        field_values,
        max_size=5,
    ),
    st.none() | st.dictionaries(st.text(max_size=12), json_values, max_size=3),
).map(lambda pair: pair[0] if pair[1] is None else {**pair[0], "_meta": pair[1]})
ttl_values = json_values | st.integers(min_value=-(10**20), max_value=10**20) | huge_strings
task_metadata = json_values | st.dictionaries(
    st.just("ttl") | st.text(max_size=5), ttl_values, max_size=3
)


def outcome_code(outcome: dict[str, Any]) -> int | None:
    return outcome["error"]["code"] if "error" in outcome else None


@contextmanager
def portal_for(factory: Any) -> Iterator[tuple[anyio.from_thread.BlockingPortal, Any]]:
    """Enter the async context ``factory()`` on a portal thread; yield (portal, value)."""
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(factory()) as value,
    ):
        yield portal, value


# ---------------------------------------------------------------------- in process


async def _send(tasks: LegacyTasks, method: str, params: dict[str, Any]) -> dict[str, Any]:
    with anyio.fail_after(EXAMPLE_SECONDS):
        try:
            return {"result": await tasks.raw(method, params)}
        except MCPError as exc:
            return {"error": exc.error.model_dump(mode="json", exclude_none=True)}


async def _round_trip(tasks: LegacyTasks) -> str:
    with anyio.fail_after(EXAMPLE_SECONDS):
        task = await tasks.call_as_task("compute", {"seconds": 0})
        result = await tasks.result(task["taskId"])
        assert (await tasks.get(task["taskId"]))["status"] == "completed"
        return str(result["content"][0]["text"])


def test_arbitrary_params_on_task_methods_get_invalid_params_and_the_server_keeps_serving() -> None:
    with portal_for(lambda: connect(sample_server.build(fast_settings()))) as (portal, tasks):

        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        @given(method=st.sampled_from(TASK_METHODS), params=client_params)
        def probe(method: str, params: dict[str, Any]) -> None:
            outcome = portal.call(_send, tasks, method, params)
            if method == "tasks/list" and params.get("cursor") is None and "error" not in outcome:
                return  # no cursor: a valid first page, whatever else was sent
            assert outcome_code(outcome) == -32602, (method, params, outcome)

        probe()
        assert portal.call(_round_trip, tasks) == "computed for 0.0s"


def test_arbitrary_task_metadata_creates_a_task_or_gets_invalid_params() -> None:
    with portal_for(lambda: connect(sample_server.build(fast_settings()))) as (portal, tasks):

        @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
        @given(task=task_metadata)
        def probe(task: Any) -> None:
            params = {"name": "compute", "arguments": {"seconds": 0}, "task": task}
            outcome = portal.call(_send, tasks, "tools/call", params)
            if "error" in outcome:
                assert outcome_code(outcome) == -32602, (task, outcome)
            elif task is None:
                assert outcome["result"]["content"][0]["text"] == "computed for 0.0s"
            else:
                created = outcome["result"]["task"]
                assert created["status"] == "working"
                assert isinstance(created["ttl"], int)

        probe()
        assert portal.call(_round_trip, tasks) == "computed for 0.0s"


# ---------------------------------------------------------------------- raw HTTP


async def _post(raw: RawHttp, method: str, params: Any) -> dict[str, Any]:
    """POST a request whose ``params`` may be any JSON value at all."""
    with anyio.fail_after(EXAMPLE_SECONDS):
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            **raw.headers,
        }
        response = await raw.client.post(raw.url, json=body, headers=headers)
        return _parse(response)


async def _http_round_trip(raw: RawHttp) -> str:
    with anyio.fail_after(EXAMPLE_SECONDS):
        created = await raw.request(
            "tools/call", {"name": "compute", "arguments": {"seconds": 0}, "task": {}}
        )
        task_id = created.result["task"]["taskId"]
        result = await raw.request("tasks/result", {"taskId": task_id})
        return str(result.result["content"][0]["text"])


@asynccontextmanager
async def _http_session() -> AsyncIterator[RawHttp]:
    async with (
        serve_http(sample_server.build(fast_settings())) as url,
        RawHttp.legacy_session(url) as raw,
    ):
        yield raw


def test_arbitrary_json_params_over_stateful_http_get_invalid_params() -> None:
    with portal_for(_http_session) as (portal, raw):

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(method=st.sampled_from(TASK_METHODS), params=junk_params | json_values)
        def probe(method: str, params: Any) -> None:
            outcome = portal.call(_post, raw, method, params)
            if (
                method == "tasks/list"
                and (params is None or (isinstance(params, dict) and params.get("cursor") is None))
                and "error" not in outcome
            ):
                return
            assert outcome_code(outcome) == -32602, (method, params, outcome)

        probe()
        assert portal.call(_http_round_trip, raw) == "computed for 0.0s"

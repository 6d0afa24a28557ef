"""Faults with real processes: the DynamoDB emulator goes away, and many racing clients.

The outage test runs its own DynamoDB Local on a data directory (not
``-inMemory``), so killing and restarting it on the same port is an outage
rather than a loss of every table: what the test checks is that requests
fail clearly while it is down and that everything recovers, with no
acknowledged task lost. The emulator is stopped with SIGTERM: its own store
may drop its latest writes on SIGKILL, and its durability is not under test.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.distributed.cluster import (
    PersistentDynamoDb,
    Replica,
    RpcError,
    client,
    persistent_dynamodb_local,
    run_replica,
    stored_tasks,
    wait_until_serving,
)
from tests.dynamodb_servers import (
    DynamoDbServer,
    ServerUnavailable,
    create_table,
    unavailable,
)
from tests.support.wire import TERMINAL

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.dynamodb]


@pytest.fixture
def emulator() -> Iterator[PersistentDynamoDb]:
    try:
        with persistent_dynamodb_local() as server:
            yield server
    except ServerUnavailable as exc:
        unavailable(str(exc))


async def test_emulator_outage_gives_clear_errors_then_everything_recovers(
    emulator: PersistentDynamoDb, tmp_path: Path
) -> None:
    table = create_table(emulator.endpoint)
    # A lease longer than the outage: running work must survive it.
    with run_replica("a", emulator.endpoint, table, tmp_path, MCP_TASKS_LEASE_SECONDS="30") as a:
        wait_until_serving(a)
        async with client(a.url) as on_a:
            acknowledged = [await on_a.start("count_primes", {"limit": 2, "seconds": 0})]
            running = await on_a.start("count_primes", {"limit": 2, "seconds": 6})
            acknowledged.append(running)

            # Stopped, not killed: DynamoDB Local's own store may drop its last
            # writes on SIGKILL, and the emulator's durability is not under test.
            await anyio.to_thread.run_sync(emulator.stop)
            errors: list[tuple[float, RpcError]] = []
            for _ in range(3):
                started = time.monotonic()
                with pytest.raises(RpcError) as failure:
                    await on_a.get(acknowledged[0])
                errors.append((time.monotonic() - started, failure.value))
                with pytest.raises(RpcError):
                    await on_a.start("count_primes", {"limit": 2, "seconds": 0})
            slowest = max(elapsed for elapsed, _ in errors)
            print(f"request during the outage failed in at most {slowest * 1000:.0f} ms")
            assert slowest < 5  # 2 attempts x 1 s timeouts, plus backoff
            assert all("DynamoDB" in error.message for _, error in errors), errors

            await anyio.to_thread.run_sync(emulator.start)  # same port, same data
            recovered = await on_a.wait_for(acknowledged[0], TERMINAL)
            assert recovered["status"] == "completed"
            done = await on_a.wait_for(running, TERMINAL, within=30)
            assert done["status"] == "completed", a.log  # the work outlived the outage
            after = await on_a.start("count_primes", {"limit": 2, "seconds": 0})
            assert (await on_a.wait_for(after, TERMINAL))["status"] == "completed"
    ids = {task["task_id"] for task in stored_tasks(emulator.endpoint, table)}
    assert ids == {*acknowledged, after}


@pytest.fixture
def replicas(dynamodb_local: DynamoDbServer, tmp_path: Path) -> Iterator[tuple[str, list[Replica]]]:
    table = create_table(dynamodb_local.endpoint)
    with ExitStack() as stack:
        started = [
            stack.enter_context(
                run_replica(
                    name,
                    dynamodb_local.endpoint,
                    table,
                    tmp_path,
                    MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER="0",
                )
            )
            for name in ("a", "b")
        ]
        wait_until_serving(*started)
        yield table, started


async def test_racing_clients_and_cancels_leave_every_task_in_exactly_one_terminal_state(
    dynamodb_local: DynamoDbServer, replicas: tuple[str, list[Replica]]
) -> None:
    table, (a, b) = replicas
    clients, per_client = 4, 25
    rng = random.Random(1686)
    outcomes: dict[str, str] = {}  # task id -> "cancelled" or "finished" (cancel lost)
    refusals: list[Any] = []

    async def work(index: int) -> None:
        async with client(a.url) as on_a, client(b.url) as on_b:
            for n in range(per_client):
                creator, other = (on_a, on_b) if (index + n) % 2 else (on_b, on_a)
                seconds = rng.choice([0, 0.05, 0.2, 0.5])
                task_id = await creator.start("count_primes", {"limit": 2, "seconds": seconds})
                assert task_id not in outcomes
                outcomes[task_id] = "finished"
                if rng.random() < 0.4:
                    try:
                        await other.cancel(task_id)  # on the replica not running it
                        outcomes[task_id] = "cancelled"
                    except RpcError as error:
                        refusals.append(error.code)  # it had finished first

    started = time.monotonic()
    with anyio.fail_after(180):  # about 12 s on an idle machine; generous for a loaded one
        async with anyio.create_task_group() as group:
            for index in range(clients):
                group.start_soon(work, index)
        async with client(a.url) as reader:
            final: dict[str, Any] = {}
            for task_id in outcomes:
                final[task_id] = await reader.wait_for(task_id, TERMINAL)
    print(f"{clients}x{per_client} tasks with cancels: {time.monotonic() - started:.1f} s")
    assert len(outcomes) == clients * per_client
    assert set(refusals) <= {-32602}  # a cancel only ever loses to a finished task
    for task_id, outcome in outcomes.items():
        expected = "cancelled" if outcome == "cancelled" else "completed"
        assert final[task_id]["status"] == expected, (task_id, final[task_id])
    stored = stored_tasks(dynamodb_local.endpoint, table)
    assert sorted(task["task_id"] for task in stored) == sorted(outcomes)  # none lost or extra
    assert all(task["status"] in TERMINAL for task in stored)

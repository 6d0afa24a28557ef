"""A task transition three ways on DynamoDB Local: the backend, raw PutItem, raw UpdateItem.

``bench_dynamodb.py`` sets each backend operation against the raw call that
sends the *same* request. A transition (``replace``) is a conditional
``PutItem`` of the whole item, because the record body is opaque to the
backend. A hand-written client would more likely send an ``UpdateItem``
that sets only what changed; this benchmark adds that row:

=====================  ==========================================================
``backend.replace``    ``PutItem`` conditional on the version and expiry
raw ``PutItem``        the same request, by hand
raw ``UpdateItem``     ``SET data, version, w`` with the same condition
=====================  ==========================================================

The body is the whole task record either way (its status, result and
timestamps change together), so the ``UpdateItem`` carries nearly as many
bytes; what differs is the request shape. The three sides alternate in
chunks of 50 operations, in an order that rotates every chunk, on records
of their own; each repeat gives each side's ops/s, and the per-repeat
ratios pair measurements taken side by side.

    .venv/bin/python bench/bench_dynamodb_update.py [--repeats 7] [--ops 300]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiobotocore.config import AioConfig
from common import (
    Spread,
    exit_on_sigterm,
    machine_info,
    machine_lines,
    percentile,
    write_json,
    write_report,
)

from mcp_tasks_server.backends.base import StoredRecord
from mcp_tasks_server.backends.dynamodb import DynamoDbBackend
from mcp_tasks_server.backends.dynamodb_items import (
    LIVE,
    encode_item,
    new_write_id,
    number,
    task_key,
)
from mcp_tasks_server.core.model import TaskRecord, ToolRequest, new_task_id, now_ms

SIDES = ("backend.replace", "raw PutItem", "raw UpdateItem")
POOL = 200
CHUNK = 50
Op = Callable[[int], Awaitable[Any]]


def fresh_record(owner: str) -> StoredRecord:
    """A task record of realistic size (about 600 bytes of JSON)."""
    at = now_ms()
    task_id = new_task_id(at)
    body = TaskRecord(
        task_id=task_id,
        owner=owner,
        created_at_ms=at,
        last_updated_at_ms=at,
        ttl_ms=3_600_000,
        expires_at_ms=at + 3_600_000,
        poll_interval_ms=1_000,
        request=ToolRequest(
            name="summarize", arguments={"url": "https://example.com/report", "words": 200}
        ),
        status_message="fetching the document and summarizing it, please wait " * 6,
    ).to_json()
    return StoredRecord(owner, task_id, 1, body, at + 3_600_000)


def following(record: StoredRecord) -> StoredRecord:
    return StoredRecord(
        record.owner, record.task_id, record.version + 1, record.data, record.expires_at_ms
    )


class Sides:
    def __init__(self, backend: DynamoDbBackend, raw: Any) -> None:
        self.backend, self.raw, self.table = backend, raw, backend.table
        self.pools: dict[str, list[StoredRecord]] = {side: [] for side in SIDES}

    async def setup(self) -> None:
        for side in SIDES:
            owner = f"{side.split()[-1]}-{uuid.uuid4().hex[:8]}"
            self.pools[side] = [fresh_record(owner) for _ in range(POOL)]
            for record in self.pools[side]:
                await self.backend.create(record)

    def ops(self) -> dict[str, Op]:
        return {
            "backend.replace": self._replace,
            "raw PutItem": self._put,
            "raw UpdateItem": self._update,
        }

    async def _replace(self, i: int) -> None:
        pool = self.pools["backend.replace"]
        current = pool[i % POOL]
        nxt = following(current)
        await self.backend.replace(nxt, current.version)
        pool[i % POOL] = nxt

    async def _put(self, i: int) -> None:
        pool = self.pools["raw PutItem"]
        current = pool[i % POOL]
        nxt = following(current)
        await self.raw.put_item(
            TableName=self.table,
            Item=encode_item(nxt),
            ConditionExpression=f"#v = :expected AND {LIVE}",
            ExpressionAttributeNames={"#v": "version", "#e": "expires_at_ms"},
            ExpressionAttributeValues={
                ":expected": number(current.version),
                ":now": number(now_ms()),
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        pool[i % POOL] = nxt

    async def _update(self, i: int) -> None:
        pool = self.pools["raw UpdateItem"]
        current = pool[i % POOL]
        nxt = following(current)
        await self.raw.update_item(
            TableName=self.table,
            Key=task_key(current.owner, current.task_id),
            UpdateExpression="SET #d = :data, #v = :next, #w = :w",
            ConditionExpression=f"#v = :expected AND {LIVE}",
            ExpressionAttributeNames={
                "#d": "data",
                "#v": "version",
                "#w": "w",
                "#e": "expires_at_ms",
            },
            ExpressionAttributeValues={
                ":data": {"S": nxt.data},
                ":next": number(nxt.version),
                ":w": {"S": new_write_id()},
                ":expected": number(current.version),
                ":now": number(now_ms()),
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        pool[i % POOL] = nxt


async def batch(op: Op, start: int, count: int, concurrency: int) -> tuple[float, list[float]]:
    indexes = iter(range(start, start + count))
    latencies: list[float] = []

    async def worker() -> None:
        for index in indexes:
            began = time.perf_counter()
            await op(index)
            latencies.append((time.perf_counter() - began) * 1e3)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies


async def one_repeat(ops: dict[str, Op], count: int, concurrency: int) -> dict[str, Any]:
    """``count`` ops per side in chunks, the order rotating every chunk."""
    chunk = max(concurrency, min(CHUNK, count))
    rounds = max(1, count // chunk)
    seconds = dict.fromkeys(ops, 0.0)
    latencies: dict[str, list[float]] = {side: [] for side in ops}
    order = list(ops)
    for index in range(rounds):
        rotated = order[index % len(order) :] + order[: index % len(order)]
        for side in rotated if index % 2 == 0 else rotated[::-1]:
            took, lat = await batch(ops[side], index * chunk, chunk, concurrency)
            seconds[side] += took
            latencies[side].extend(lat)
    return {
        side: {
            "ops_per_s": rounds * chunk / seconds[side],
            "p50_ms": percentile(latencies[side], 0.5),
            "p99_ms": percentile(latencies[side], 0.99),
        }
        for side in ops
    }


async def measure(endpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    from tests.dynamodb_servers import create_table, local_session

    table = create_table(endpoint)
    session = local_session()
    config = AioConfig(
        max_pool_connections=50,
        connect_timeout=5.0,
        read_timeout=5.0,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    backend = DynamoDbBackend(
        table, endpoint_url=endpoint, session=session, track_active=False, active_shards=0
    )
    results: dict[str, list[dict[str, Any]]] = {}
    async with backend, session.client("dynamodb", endpoint_url=endpoint, config=config) as raw:
        sides = Sides(backend, raw)
        await sides.setup()
        ops = sides.ops()
        for concurrency in args.concurrency:
            await one_repeat(ops, min(args.ops, 150), concurrency)  # warm-up, not recorded
            for repeat in range(args.repeats):
                outcome = await one_repeat(ops, args.ops, concurrency)
                for side, figures in outcome.items():
                    figures["repeat"] = repeat
                    results.setdefault(f"{side}|{concurrency}", []).append(figures)
            print(f"  c={concurrency}: {args.repeats} repeats done", flush=True)
    return results


def ratio(rows: dict[str, list[dict[str, Any]]], ours: str, theirs: str) -> Spread:
    mine = {r["repeat"]: r["ops_per_s"] for r in rows[ours]}
    peer = {r["repeat"]: r["ops_per_s"] for r in rows[theirs]}
    return Spread.of([mine[k] / peer[k] for k in mine.keys() & peer.keys()])


def table(data: dict[str, Any]) -> list[str]:
    rows = data["rows"]
    lines = [
        "| c | side | ops/s | p50 ms | p99 ms | backend ÷ this side |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for concurrency in data["settings"]["concurrency"]:
        for side in SIDES:
            key = f"{side}|{concurrency}"
            ops = Spread.of([r["ops_per_s"] for r in rows[key]])
            p50 = Spread.of([r["p50_ms"] for r in rows[key]])
            p99 = Spread.of([r["p99_ms"] for r in rows[key]])
            share = (
                "-"
                if side == "backend.replace"
                else f"**{ratio(rows, f'backend.replace|{concurrency}', key).show(2, 'x')}**"
            )
            lines.append(
                f"| {concurrency} | {side} | {ops.show(0)} | {p50.show(2)} | {p99.show(2)} | "
                f"{share} |"
            )
    return lines


def report(data: dict[str, Any]) -> str:
    s = data["settings"]
    return "\n".join(
        [
            "# A transition on DynamoDB Local: backend vs raw PutItem vs raw UpdateItem",
            "",
            *machine_lines(data["machine"]),
            f"- {s['repeats']} repeats x {s['ops']} ops per side, sides alternating in chunks "
            f"of {CHUNK}; figures are median (min-max) over repeats; wall time "
            f"{data['wall_seconds']} s",
            "",
            *table(data),
            "",
        ]
    )


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--endpoint", help="use this server instead of starting DynamoDB Local")
    args = parser.parse_args()
    started = time.monotonic()
    if args.endpoint:
        rows = asyncio.run(measure(args.endpoint, args))
    else:
        from tests.dynamodb_servers import run_server

        with run_server("dynamodb-local") as server:
            rows = asyncio.run(measure(server.endpoint, args))
    data = {
        "machine": machine_info(),
        "settings": {"repeats": args.repeats, "ops": args.ops, "concurrency": args.concurrency},
        "rows": rows,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    write_json("dynamodb-update", data)
    text = report(data)
    path = write_report("dynamodb-update", text)
    print(text)
    print(f"written to {path}")


if __name__ == "__main__":
    main()

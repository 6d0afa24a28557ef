"""``mcp-tasks-server tasks``: what an operator needs to see and stop tasks, across owners.

The operator CLI reads the configured backend directly, so it is for the
shared backend (DynamoDB): with the memory backend each process has its own
tasks, and a CLI process sees none of a running server's.

Every command is bounded. A walk across owners is a Scan on DynamoDB, whose
cost is the items it examines, so ``list`` stops after ``--max-items``
examined records and prints a cursor to go on from, and ``stats`` says
plainly when its counts cover only part of the table.

Owners are shown only as keyed hashes (``o:…``), the same hashes the logs and
audit events carry when ``MCP_TASKS_LOG_HASH_KEY`` is shared; payloads
(arguments, results, answers) are shown only with ``show --payloads``.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mcp_tasks_server.backends.base import StorageBackend
from mcp_tasks_server.core.errors import ConfigError, TaskNotFound
from mcp_tasks_server.core.model import TaskRecord, TaskStatus
from mcp_tasks_server.observability import LogIds, Observers
from mcp_tasks_server.settings import Settings
from mcp_tasks_server.store.codec import backend_errors, from_stored
from mcp_tasks_server.store.store import TaskStore

__all__ = [
    "Listing",
    "Stats",
    "describe",
    "find_task",
    "list_tasks",
    "render_listing",
    "render_stats",
    "run_tasks_command",
    "task_stats",
]

SCAN_PAGE = 500
"""Records examined per request when a walk has no smaller bound."""


@dataclass
class Listing:
    records: list[TaskRecord] = field(default_factory=list)
    next_cursor: str | None = None
    examined: int = 0


@dataclass
class Stats:
    counts: Counter[str] = field(default_factory=Counter)
    examined: int = 0
    complete: bool = True


def _live(records: Any, now: int) -> list[TaskRecord]:
    found = []
    for stored in records:
        try:
            found.append(from_stored(stored, stored.owner, stored.task_id, now))
        except TaskNotFound:
            continue  # expired between the backend's filter and now
    return found


async def list_tasks(
    backend: StorageBackend,
    ids: LogIds,
    *,
    limit: int,
    status: TaskStatus | None = None,
    owner_hash: str | None = None,
    cursor: str | None = None,
    max_items: int = 10_000,
) -> Listing:
    """Up to ``limit`` tasks of any owner matching the filters, examining at most ``max_items``.

    Each request examines at most as many records as are still wanted, so the
    cursor returned resumes exactly after the last record examined.
    """
    listing = Listing(next_cursor=cursor)
    first = True
    while first or listing.next_cursor is not None:
        first = False
        wanted = min(limit - len(listing.records), max_items - listing.examined)
        if wanted < 1:
            break
        with backend_errors():
            page = await backend.scan(limit=wanted, cursor=listing.next_cursor)
        listing.examined += wanted
        listing.next_cursor = page.next_cursor
        for record in _live(page.records, backend.clock()):
            if status is not None and record.status is not status:
                continue
            if owner_hash is not None and ids.owner(record.owner) != owner_hash:
                continue
            listing.records.append(record)
    return listing


async def find_task(backend: StorageBackend, task_id: str, *, max_items: int) -> TaskRecord:
    """The live task with this id, whoever owns it (a walk: at most ``max_items`` examined)."""
    cursor: str | None = None
    examined = 0
    while examined < max_items:
        wanted = min(SCAN_PAGE, max_items - examined)
        with backend_errors():
            page = await backend.scan(limit=wanted, cursor=cursor)
        examined += wanted
        for stored in page.records:
            if stored.task_id == task_id:
                return from_stored(stored, stored.owner, task_id, backend.clock())
        cursor = page.next_cursor
        if cursor is None:
            break
    raise TaskNotFound(task_id)


async def task_stats(backend: StorageBackend, *, max_items: int) -> Stats:
    """Live tasks by status, over at most ``max_items`` examined records."""
    stats = Stats()
    cursor: str | None = None
    while True:
        wanted = min(SCAN_PAGE, max_items - stats.examined)
        if wanted < 1:
            stats.complete = False
            return stats
        with backend_errors():
            page = await backend.scan(limit=wanted, cursor=cursor)
        stats.examined += wanted
        for record in _live(page.records, backend.clock()):
            stats.counts[str(record.status)] += 1
        cursor = page.next_cursor
        if cursor is None:
            return stats


def owner_filter(owner_hash: str | None, key: bytes | None) -> str | None:
    """``--owner-hash`` checked: it can only match hashes made with the shared key."""
    if owner_hash is not None and key is None:
        raise ConfigError(
            "--owner-hash matches the o:… hashes of logs and audit events, which need the "
            "servers' MCP_TASKS_LOG_HASH_KEY: set it here too"
        )
    return owner_hash


# ------------------------------------------------------------------ output


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def describe(record: TaskRecord, ids: LogIds, *, payloads: bool = False) -> dict[str, Any]:
    """What an operator sees of a task: no payloads unless asked, the owner only as a hash."""
    shown: dict[str, Any] = {
        "task_id": record.task_id,
        "status": str(record.status),
        "tool": record.request.name,
        "owner": ids.owner(record.owner),
        "owner_kind": record.owner.split(":", 1)[0],
        "created": _time(record.created_at_ms),
        "updated": _time(record.last_updated_at_ms),
        "expires": None if record.expires_at_ms is None else _time(record.expires_at_ms),
        "replica": record.replica,
        "lease_expires": (
            None if record.lease_expires_at_ms is None else _time(record.lease_expires_at_ms)
        ),
        "status_message": record.status_message,
        "pending_input": sorted(record.input_requests),
    }
    if record.error is not None:
        shown["error_code"] = record.error.get("code")
    if payloads:
        shown["arguments"] = record.request.arguments
        shown["result"] = record.result
        shown["error"] = record.error
        shown["input_requests"] = {k: v.model_dump() for k, v in record.input_requests.items()}
        shown["input_responses"] = record.input_responses
    return shown


def render_listing(listing: Listing, ids: LogIds, *, as_json: bool) -> str:
    rows = [describe(record, ids) for record in listing.records]
    if as_json:
        return json.dumps(
            {"tasks": rows, "next_cursor": listing.next_cursor, "examined": listing.examined}
        )
    columns: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("TASK ID", lambda row: row["task_id"]),
        ("STATUS", lambda row: row["status"]),
        ("TOOL", lambda row: row["tool"]),
        ("OWNER", lambda row: row["owner"]),
        ("CREATED", lambda row: row["created"]),
    ]
    table = [[title for title, _ in columns]] + [[cell(row) for _, cell in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True))
        for line in table
    ]
    if listing.next_cursor is not None:
        lines.append(f"more: --cursor {listing.next_cursor}")
    return "\n".join(line.rstrip() for line in lines)


def render_stats(stats: Stats, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {"counts": dict(stats.counts), "examined": stats.examined, "complete": stats.complete}
        )
    lines = [f"{status:<16}{stats.counts.get(status, 0)}" for status in map(str, TaskStatus)]
    lines.append(f"{'total':<16}{sum(stats.counts.values())}")
    if not stats.complete:
        lines.append(
            f"partial: only the first {stats.examined} records were examined; "
            "raise --max-items to count them all"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ the command


async def run_tasks_command(settings: Settings, args: argparse.Namespace) -> str:
    """Run ``tasks ACTION`` on the backend the settings name; returns what to print."""
    from mcp_tasks_server.protocol.storage import build_backend

    backend = build_backend(settings)
    ids = LogIds(settings.log_hash_key_bytes)
    try:
        if args.action == "list":
            owner_hash = owner_filter(args.owner_hash, settings.log_hash_key_bytes)
            status = None if args.status is None else TaskStatus(args.status)
            listing = await list_tasks(
                backend,
                ids,
                limit=args.limit,
                status=status,
                owner_hash=owner_hash,
                cursor=args.cursor,
                max_items=args.max_items,
            )
            return render_listing(listing, ids, as_json=args.json)
        if args.action == "stats":
            return render_stats(
                await task_stats(backend, max_items=args.max_items), as_json=args.json
            )
        record = await find_task(backend, args.task_id, max_items=args.max_items)
        if args.action == "cancel":
            # Stored as cancelled at once; the replica running it stops it within a heartbeat.
            observers = Observers.quiet(replica="operator-cli", ids=ids)
            store = TaskStore(backend, settings.store_policy(), observers=observers)
            record = await store.cancel(record.owner, record.task_id, known=record)
            observers.cancelled(record)
        shown = describe(record, ids, payloads=getattr(args, "payloads", False))
        if args.json:
            return json.dumps(shown)
        return "\n".join(f"{key:<16}{value}" for key, value in shown.items() if value is not None)
    finally:
        await backend.aclose()

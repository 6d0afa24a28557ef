"""Backend requests per operation and per task lifecycle: the goal is one each.

Counts ``backend.request_count`` (every round trip to the store, retries
included) around each operation, at three levels:

* the **store** (``TaskStore``): create, get, a runner's change, complete,
  cancel, one list page, and the paths that cost more than one;
* the **runtime** (``Tasks``: ``TaskService`` + ``Runner``): a whole
  create -> complete -> result lifecycle, and a cancel from another replica;
* **MCP over HTTP** (the reference server's app under uvicorn on 127.0.0.1,
  in this process so its backend can be read): each era's calls.

Each runs on the memory backend and on DynamoDB Local, with the per-owner
quota and the global cap on (the defaults, which make creates and finishes
transactions) and both off. Counts are taken twice, cold and warm (the table shows the warm run and
notes any difference); none is asserted.

    .venv/bin/python bench/bench_requests.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio
from common import exit_on_sigterm, free_port, machine_info, machine_lines, write_json, write_report
from mcp.server.mcpserver import MCPServer
from mcp_http import LEGACY, MODERN, TERMINAL, Caller, RpcError, pooled_client
from tests.protocol.harness import serve_asgi
from tests.support.factories import make_store
from zero_tools import register

from mcp_tasks_server import Settings, Tasks
from mcp_tasks_server.backends import MemoryBackend, StorageBackend
from mcp_tasks_server.core.errors import TaskTerminal
from mcp_tasks_server.core.model import ToolRequest
from mcp_tasks_server.core.owner import bind_owner
from mcp_tasks_server.runtime.sweepers import sweep_orphans
from mcp_tasks_server.runtime.task_context import StoredTaskContext
from mcp_tasks_server.server.build import http_app

RESULT = {"content": [{"type": "text", "text": "done"}], "isError": False}
REQUEST = ToolRequest(name="zero_task", arguments={})
Factory = Callable[[int], contextlib.AbstractAsyncContextManager[StorageBackend]]


class Counter:
    """Rows of (operation, requests) for one backend configuration."""

    def __init__(self, backend: StorageBackend, rows: dict[str, int] | None = None) -> None:
        self.backend = backend
        self.rows: dict[str, int] = {} if rows is None else rows

    async def count(self, label: str, action: Awaitable[Any]) -> Any:
        before = self.backend.request_count
        outcome = await action
        self.rows[label] = self.backend.request_count - before
        return outcome

    @contextlib.asynccontextmanager
    async def span(self, label: str) -> AsyncIterator[None]:
        """Count everything inside the block (the row keeps its place: before nested rows)."""
        self.rows[label] = 0
        before = self.backend.request_count
        try:
            yield
        finally:
            self.rows[label] = self.backend.request_count - before


async def settled(tasks: Tasks) -> None:
    """Wait until the runner has finished every task it started (and stored the outcome)."""
    with anyio.fail_after(10):
        while tasks.runner.running_task_ids:  # noqa: ASYNC110 - the runner has no event for it
            await anyio.sleep(0.002)
    await anyio.sleep(0.02)  # the outcome write follows the coroutine's end


# ---------------------------------------------------------------------- the store


async def store_level(backend: StorageBackend, settings: Settings) -> dict[str, int]:
    store = make_store(backend, settings)
    c = Counter(backend)
    owner = "session:requests-bench"
    record = await c.count("create", store.create(owner, REQUEST))
    await c.count("get", store.get(owner, record.task_id))
    record = await c.count(
        "status message, by the runner (holds the latest record)",
        store.update(owner, record.task_id, status_message="halfway", known=record),
    )
    await c.count(
        "complete, by the runner (holds the latest record)",
        store.complete(owner, record.task_id, RESULT, known=record),
    )
    other = await store.create(owner, REQUEST)
    await c.count(
        "complete, without the latest record (read + write)",
        store.complete(owner, other.task_id, RESULT),
    )
    running = await store.create(owner, REQUEST)
    await c.count(
        "cancel, by the replica running the task",
        store.cancel(owner, running.task_id, known=running),
    )
    remote = await store.create(owner, REQUEST)
    await c.count(
        "cancel, from a replica not running it (read + write)",
        store.cancel(owner, remote.task_id),
    )
    raced = await store.create(owner, REQUEST)
    await store.cancel(owner, raced.task_id, known=raced)
    with contextlib.suppress(TaskTerminal):
        await c.count(
            "complete that lost a race to a cancel (refused write carries the winner)",
            store.complete(owner, raced.task_id, RESULT, known=raced),
        )
    for _ in range(settings.list_page_size):  # a full page, and a second one
        await store.create(owner, REQUEST)
    page = await c.count(f"list page ({settings.list_page_size} tasks)", store.list(owner))
    await c.count("list, next page", store.list(owner, cursor=page.next_cursor))
    return c.rows


# ---------------------------------------------------------------------- the runtime


def invoke_after(event: anyio.Event | None = None) -> Callable[[StoredTaskContext], Any]:
    async def invoke(context: StoredTaskContext) -> Mapping[str, Any]:
        if event is not None:
            await event.wait()
        return RESULT

    return invoke


async def runtime_level(
    backend: StorageBackend, second: StorageBackend, settings: Settings
) -> dict[str, int]:
    """Through ``Tasks`` (``TaskService`` and ``Runner``); ``second`` is another replica's view."""
    c = Counter(backend)
    owner = bind_owner(session_id="requests-bench")
    tasks = Tasks(settings, backend=backend)
    replica = Tasks(settings, backend=second)
    async with tasks.running(), replica.running():
        service = tasks.service
        # create -> complete -> result, the result asked for once the task is done.
        async with c.span("lifecycle: create, complete, result (task done first)"):
            async with c.span("  create (TaskService.create)"):
                record = await service.create(owner, REQUEST, invoke_after())
            async with c.span("  complete (runner, in the background)"):
                await settled(tasks)
            async with c.span("  result"):
                await service.result(owner, record.task_id)
        # The result asked for while the tool still runs: it waits, then reads again.
        gate = anyio.Event()
        async with c.span("lifecycle: create, result while running, complete"):
            record = await service.create(owner, REQUEST, invoke_after(gate))
            async with anyio.create_task_group() as group:
                group.start_soon(service.result, owner, record.task_id)
                await anyio.sleep(0.01)  # the result has read the task once, still working
                gate.set()  # the finish wakes it at once: one more read
            await settled(tasks)
        # Cancel of a task this replica runs.
        gate = anyio.Event()
        record = await service.create(owner, REQUEST, invoke_after(gate))
        await c.count("cancel, on the replica running it", service.cancel(owner, record.task_id))
        await settled(tasks)
        # Cancel from another replica: the canceller reads and writes; the
        # replica running the tool learns of it when it next writes.
        gate = anyio.Event()
        record = await service.create(owner, REQUEST, invoke_after(gate))
        remote = Counter(second, c.rows)
        await remote.count(
            "cancel, from another replica (read + write)",
            replica.service.cancel(owner, record.task_id),
        )
        async with c.span("  the running replica's finish, refused (no extra read)"):
            gate.set()
            await settled(tasks)
    return c.rows


# ---------------------------------------------------------------------- MCP over HTTP


@contextlib.asynccontextmanager
async def serve(tasks: Tasks, settings: Settings) -> AsyncIterator[str]:
    """The reference server's HTTP app for ``tasks``, on a free loopback port."""
    server = MCPServer("requests-bench", log_level="WARNING")
    register(tasks, server)
    tasks.install(server)
    port = free_port()
    live = settings.model_copy(update={"port": port, "transport": "http"})
    async with serve_asgi(http_app(server, live), port):
        yield f"http://127.0.0.1:{port}{live.http_path}"


async def until_terminal(caller: Caller, task_id: str) -> int:
    """Poll ``tasks/get`` until the task is terminal; returns the number of polls."""
    for polls in range(1, 1_000):
        if await caller.get_task(task_id) in TERMINAL:
            return polls
        await anyio.sleep(0.002)
    raise RpcError("task did not finish")


async def http_level(backend: StorageBackend, settings: Settings) -> dict[str, int]:
    tasks = Tasks(settings, backend=backend)
    c = Counter(backend)
    async with serve(tasks, settings) as url, pooled_client(1) as http:
        for era in (LEGACY, MODERN):
            caller = await Caller.connect(http, url, era)
            name = "2025-11-25" if era == LEGACY else "2026-07-28"
            async with c.span(f"{name}: whole lifecycle, create to result"):
                async with c.span(f"{name}:   tools/call as a task (+ the finish)"):
                    task_id = await caller.create_task()
                    await settled(tasks)
                async with c.span(f"{name}:   tasks/get until terminal"):
                    polls = await until_terminal(caller, task_id)
                if era == LEGACY:
                    await c.count(
                        f"{name}:   tasks/result",
                        caller.request("tasks/result", {"taskId": task_id}),
                    )
            if polls != 1:
                c.rows[f"{name}:   (tasks/get polls needed)"] = polls
            if era == LEGACY:
                await c.count(f"{name}: tasks/list page", caller.request("tasks/list", {}))
            running = await caller.create_task("sleepy_task", seconds=30)
            await c.count(f"{name}: tasks/cancel of a running task", caller.cancel_task(running))
            await settled(tasks)
            async with c.span(f"{name}: tasks/cancel of a finished task"):
                with contextlib.suppress(RpcError):  # an error in 2025-11-25, an ack in 2026
                    await caller.cancel_task(task_id)
            plain = await Caller.connect(http, url, era, opt_in=False)
            async with c.span(f"{name}: tools/call of a task tool, no task asked (inline)"):
                await plain.call_plain("zero_task")
                await settled(tasks)
            await c.count(f"{name}: tools/call of a plain tool", caller.call_plain())
    return c.rows


# ---------------------------------------------------------------------- steady state

SCALE = 50
"""Steady state runs this many times faster than the default intervals."""

WINDOW_MINUTES = 1
STORED_FINISHED = 1_000
METHODS = ("create", "get", "replace", "delete", "list", "list_orphans", "sweep_expired")


def count_methods(backend: StorageBackend) -> dict[str, int]:
    """Count calls of each backend method on this instance (request_count has the total)."""
    calls = dict.fromkeys(METHODS, 0)
    for name in METHODS:
        original = getattr(backend, name)

        async def counted(
            *args: Any, _name: str = name, _original: Any = original, **kw: Any
        ) -> Any:
            calls[_name] += 1
            return await _original(*args, **kw)

        setattr(backend, name, counted)
    return calls


def cap_for(quota: int) -> int:
    """The global cap that goes with a quota: the default when limits are on, else none."""
    return Settings().max_active_tasks if quota else 0


async def steady_level(backend: StorageBackend, quota: int) -> dict[str, int]:
    """Requests per minute at the default intervals, with nothing happening but time.

    The heartbeat, leases and both sweepers run ``SCALE`` times faster than
    their defaults for ``WINDOW_MINUTES`` scaled minutes, and the counts are
    given per (default-speed) minute.
    """
    defaults = Settings()
    fast = Settings(
        max_active_tasks_per_owner=quota,
        max_active_tasks=cap_for(quota),
        heartbeat_interval_seconds=defaults.heartbeat_interval_seconds / SCALE,
        lease_seconds=defaults.lease_seconds / SCALE,
        lease_sweep_interval_seconds=defaults.lease_sweep_interval_seconds / SCALE,
        sweep_interval_seconds=defaults.sweep_interval_seconds / SCALE,
        shutdown_grace_seconds=0,
    )
    window = 60 * WINDOW_MINUTES / SCALE
    calls = count_methods(backend)
    rows: dict[str, int] = {}
    owner = bind_owner(session_id="steady-bench")

    async def observe(label: str, tasks: Tasks) -> dict[str, int]:
        before, seen = backend.request_count, dict(calls)
        await anyio.sleep(window)
        rows[label] = round((backend.request_count - before) / WINDOW_MINUTES)
        return {name: calls[name] - seen[name] for name in calls}

    tasks = Tasks(fast, backend=backend)
    async with tasks.running():
        await observe("an idle replica, empty store: requests per minute", tasks)
        store = tasks.store
        for start in range(0, STORED_FINISHED, 50):
            created = await asyncio.gather(
                *(store.create(owner.key, REQUEST) for _ in range(min(50, STORED_FINISHED - start)))
            )
            await asyncio.gather(
                *(store.complete(owner.key, r.task_id, RESULT, known=r) for r in created)
            )
        full = await observe(f"the same, {STORED_FINISHED:,} finished tasks stored", tasks)
        gate = anyio.Event()
        record = await tasks.service.create(owner, REQUEST, invoke_after(gate))
        running = await observe("the same, one task running", tasks)
        await tasks.service.cancel(owner, record.task_id)
    before = backend.request_count  # one sweep alone, with the runtime stopped
    await sweep_orphans(tasks.store)
    sweep_cost = backend.request_count - before
    # One sweep, counted exactly; per minute at the default interval follows
    # (the scaled run stretches each period by the sweep's own duration,
    # negligible at the default 10 s).
    sweeps_per_minute = 60 / defaults.lease_sweep_interval_seconds
    for label, per_sweep in ((f"{STORED_FINISHED:,} finished tasks stored", sweep_cost),):
        rows[f"  orphan sweep, requests per sweep, {label}"] = per_sweep
        rows[f"  orphan sweep, requests per minute, {label}"] = round(per_sweep * sweeps_per_minute)
    rows["  expiry sweep, requests per minute (memory only; DynamoDB has TTL)"] = round(
        full["sweep_expired"] / WINDOW_MINUTES
    )
    rows["  one running task: heartbeat reads (get) per minute"] = round(
        (running["get"] - full["get"]) / WINDOW_MINUTES
    )
    rows["  one running task: lease renewals (replace) per minute"] = round(
        (running["replace"] - full["replace"]) / WINDOW_MINUTES
    )
    return rows


# ---------------------------------------------------------------------- backends


@contextlib.asynccontextmanager
async def memory_backend(quota: int) -> AsyncIterator[StorageBackend]:
    yield MemoryBackend()


def dynamodb_factory(endpoint: str) -> Factory:
    from tests.dynamodb_servers import create_table, local_session

    from mcp_tasks_server.backends.dynamodb import DynamoDbBackend, shards_for

    table = create_table(endpoint, ttl=True)

    @contextlib.asynccontextmanager
    async def factory(quota: int) -> AsyncIterator[StorageBackend]:
        # "quota off" turns the global cap off too: every write is then a plain one.
        backend = DynamoDbBackend(
            table,
            endpoint_url=endpoint,
            session=local_session(),
            track_active=quota > 0,
            active_shards=shards_for(cap_for(quota)),
        )
        async with backend:
            yield backend

    return factory


async def count_all(factory: Factory, quota: int) -> dict[str, dict[str, int]]:
    settings = Settings(
        max_active_tasks_per_owner=quota,
        max_active_tasks=cap_for(quota),
        # No heartbeat falls inside a counted operation: each count is the
        # operation's own requests, the same on every run.
        heartbeat_interval_seconds=60,
        lease_seconds=180,
        shutdown_grace_seconds=0,
    )
    levels: dict[str, dict[str, int]] = {}
    async with factory(quota) as backend:
        levels["store"] = await store_level(backend, settings)
    if isinstance(backend, MemoryBackend):
        shared = MemoryBackend()  # two "replicas" in one process share one memory backend
        levels["runtime"] = await runtime_level(shared, shared, settings)
    else:
        async with factory(quota) as a, factory(quota) as b:
            levels["runtime"] = await runtime_level(a, b, settings)
    async with factory(quota) as backend:
        levels["http"] = await http_level(backend, settings)
    return levels


async def count_twice(
    name: str, make_factory: Callable[[], Factory], quota: int, notes: list[str]
) -> dict[str, dict[str, int]]:
    """Count on a cold server, then again on a warm one; report the warm counts.

    A request the cold run made beyond the warm one (a transaction conflict
    retried while the emulator warms up, a waiter's timer firing before a
    slow write lands) is real, and is noted.
    """
    factory = make_factory()
    cold = await count_all(factory, quota)
    warm = await count_all(factory, quota)
    for level, rows in warm.items():
        for label, count in rows.items():
            first = cold.get(level, {}).get(label, count)
            if first != count:
                notes.append(f"{name}, {label.strip()}: {first} on the first (cold) run")
    async with make_factory()(quota) as backend:  # timer-driven: once, warm, on a new table
        warm["steady"] = await steady_level(backend, quota)
    return warm


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    columns: dict[str, dict[str, dict[str, int]]] = {}
    notes: list[str] = []
    columns["memory"] = await count_twice("memory", lambda: memory_backend, 100, notes)
    if not args.skip_dynamodb:
        from tests.dynamodb_servers import ServerUnavailable, run_server

        try:
            with run_server("dynamodb-local") as server:
                configurations = (("DynamoDB, quota on (default)", 100), ("DynamoDB, quota off", 0))
                for name, quota in configurations:
                    columns[name] = await count_twice(
                        name, lambda: dynamodb_factory(server.endpoint), quota, notes
                    )
        except ServerUnavailable as exc:
            notes.append(f"DynamoDB Local skipped: {exc}")
    return {
        "machine": machine_info(),
        "columns": columns,
        "notes": notes,
        "wall_seconds": round(time.monotonic() - started, 1),
    }


LEVEL_TITLES = {
    "store": "Store operations (`TaskStore`)",
    "runtime": "The runtime (`Tasks`: `TaskService` + `Runner`)",
    "http": "MCP over streamable HTTP (the reference server's app, in process)",
    "steady": "Steady state: requests per minute at the default intervals (heartbeat 5 s, "
    "lease 30 s, orphan sweep 10 s, expiry sweep 30 s), per replica",
}


def tables(data: dict[str, Any]) -> list[str]:
    columns = data["columns"]
    names = list(columns)
    lines: list[str] = []
    for level, title in LEVEL_TITLES.items():
        lines += [
            f"**{title}**",
            "",
            "| operation | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        labels = dict.fromkeys(label for name in names for label in columns[name][level])
        for label in labels:
            cells = [str(columns[name][level].get(label, "-")) for name in names]
            shown = label.replace("  ", "&nbsp;&nbsp;", 1) if label.startswith(" ") else label
            shown = shown.replace(":   ", ": &nbsp;&nbsp;")
            lines.append(f"| {shown} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def report(data: dict[str, Any]) -> str:
    lines = [
        "# Backend requests per operation and per lifecycle",
        "",
        *machine_lines(data["machine"]),
        "- each count is taken on a cold server, then again on a warm one: the tables show "
        "the warm run; the notes list where the cold run differed (a request retried, or a "
        f"waiter's timer firing before a slow write landed); wall time {data['wall_seconds']} s",
        "",
        *tables(data),
    ]
    if data["notes"]:
        lines += ["Notes:", "", *(f"- {note}" for note in data["notes"]), ""]
    return "\n".join(lines)


def main() -> None:
    exit_on_sigterm()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-dynamodb", action="store_true")
    args = parser.parse_args()
    data = asyncio.run(main_async(args))
    write_json("requests", data)
    text = report(data)
    path = write_report("requests", text)
    print(text)
    print(f"written to {path}")


if __name__ == "__main__":
    main()

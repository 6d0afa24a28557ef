"""End to end over streamable HTTP: our server (memory, then DynamoDB Local) and the peer.

Each server runs in its own process on 127.0.0.1, started here; the load is
a raw pooled ``httpx`` client (HTTP/1.1 keep-alive) in this process. The
tools do no work (``bench/zero_tools.py``, ``bench/peer_server.py``), so
what is measured is the cost of tasks and of the protocol around them.

Scenarios, each at concurrency 1 and 16, in each era the server speaks:

``plain``      an ordinary ``tools/call`` of a non-task tool: the ceiling
``create``     a task-creating ``tools/call`` (2025-11-25: ``task`` param;
               2026-07-28: opted in); the task finishes in the background
``get``        ``tasks/get`` of an existing, finished task
``lifecycle``  create, then ``tasks/get`` back to back until the task is
               terminal: the create -> terminal latency a client sees

Every measurement is bounded in count and time, and repeated; servers not
being measured are paused (SIGSTOP) so they cannot take CPU from the one
that is. The peer (FastMCP + fastmcp-tasks, 2026-07-28 only) is measured
in the same run, alternating with ours, scenario by scenario.

``--baseline DIR`` adds our server from another checkout (another commit,
with its own ``make setup``) to the memory phase, alternating with this one
in the same way, and reports this ÷ baseline per repeat: a before/after
comparison that the machine's noise affects equally on both sides.
``--subject DIR`` measures another checkout's server in place of this one's.

    .venv/bin/python bench/bench_e2e.py [--repeats 5] [--duration 1.2]
        [--baseline DIR] [--subject DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (
    DYNAMODB_ENV,
    PEER_PYTHON,
    ServerProcess,
    exit_on_sigterm,
    free_port,
    machine_info,
    peer_command,
    peer_versions,
    percentile,
    process_cpu_seconds,
    run_process,
    serve_command,
    write_json,
    write_report,
)
from e2e_report import SCENARIOS, report
from mcp_http import ERAS, MODERN, TERMINAL, Caller, RpcError, pooled_client

GET_POOL_PER_CALLER = 2
MAX_POLLS = 2_000
POLL_SECONDS = 10.0
QUIET = {
    "MCP_TASKS_LOG_LEVEL": "WARNING",
    # A run creates tens of thousands of tasks, each kept for its TTL: the
    # memory backend's default bound would refuse creates part way through.
    "MCP_TASKS_MEMORY_MAX_TASKS": "1000000",
}


@dataclass
class Measurement:
    """One bounded run of one scenario against one server."""

    ops: int = 0
    seconds: float = 0.0
    errors: int = 0
    first_error: str | None = None
    latencies_ms: list[float] = field(default_factory=list)
    polls: int = 0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    emulator_cpu: float = 0.0
    drain_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        ops = max(self.ops, 1)
        return {
            "ops": self.ops,
            "seconds": round(self.seconds, 4),
            "ops_per_s": self.ops / self.seconds if self.seconds else 0.0,
            "p50_ms": percentile(self.latencies_ms, 0.5),
            "p99_ms": percentile(self.latencies_ms, 0.99),
            "errors": self.errors,
            "first_error": self.first_error,
            "gets_per_lifecycle": self.polls / ops,
            "client_cpu_ms_per_op": self.client_cpu / ops * 1e3,
            "server_cpu_ms_per_op": self.server_cpu / ops * 1e3,
            "emulator_cpu_ms_per_op": self.emulator_cpu / ops * 1e3,
            "drain_seconds": round(self.drain_seconds, 3),
        }


@dataclass
class Target:
    """One server in one era: who is measured, and the callers that load it."""

    label: str  # "ours" or "peer"
    backend: str
    era: str
    server: ServerProcess
    callers: list[Caller] = field(default_factory=list)
    pools: list[list[str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.label}/{self.backend}/{self.era}"


Op = Callable[[Caller, int, Measurement], Awaitable[None]]


async def op_plain(caller: Caller, index: int, m: Measurement) -> None:
    await caller.call_plain()


async def op_create(caller: Caller, index: int, m: Measurement) -> None:
    await caller.create_task()


def op_get(pool: list[str]) -> Op:
    async def get(caller: Caller, index: int, m: Measurement) -> None:
        status = await caller.get_task(pool[index % len(pool)])
        if status not in TERMINAL:
            raise RpcError(f"pooled task is {status}")

    return get


async def op_lifecycle(caller: Caller, index: int, m: Measurement) -> None:
    task_id = await caller.create_task()
    deadline = time.perf_counter() + POLL_SECONDS
    for _ in range(MAX_POLLS):
        status = await caller.get_task(task_id)
        m.polls += 1
        if status in TERMINAL:
            if status != "completed":
                raise RpcError(f"task ended {status}")
            return
        if time.perf_counter() > deadline:
            break
    raise RpcError("task did not finish within the polling bound")


async def measure(
    target: Target,
    scenario: str,
    *,
    duration: float,
    max_ops: int,
    emulator_pid: int | None = None,
) -> Measurement:
    """Run ``scenario`` on every caller of ``target`` until ``duration`` or ``max_ops``."""
    m = Measurement()
    budget = [max_ops]
    deadline = time.perf_counter() + duration

    async def worker(slot: int, caller: Caller) -> None:
        op: Op
        if scenario == "get":
            op = op_get(target.pools[slot])
        else:
            op = {"plain": op_plain, "create": op_create, "lifecycle": op_lifecycle}[scenario]
        index = 0
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            index += 1
            started = time.perf_counter()
            try:
                await op(caller, index, m)
            except Exception as exc:  # counted and reported, never fatal to the run
                m.errors += 1
                if m.first_error is None:
                    m.first_error = f"{type(exc).__name__}: {exc}"[:300]
                continue
            m.latencies_ms.append((time.perf_counter() - started) * 1e3)
            m.ops += 1

    server_cpu = target.server.cpu_seconds()
    emulator_cpu = process_cpu_seconds(emulator_pid) if emulator_pid else 0.0
    client_cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker(slot, c) for slot, c in enumerate(target.callers)))
    m.seconds = time.perf_counter() - started
    m.client_cpu = time.process_time() - client_cpu
    # Work a server deferred (a created task runs after its create is answered)
    # is charged to this measurement, and never spills into the next one.
    m.drain_seconds = await quiesce(target.server)
    m.server_cpu = target.server.cpu_seconds() - server_cpu
    if emulator_pid:
        m.emulator_cpu = process_cpu_seconds(emulator_pid) - emulator_cpu
    return m


async def quiesce(server: ServerProcess, limit: float = 5.0) -> float:
    """Wait until the server is idle (under one clock tick of CPU in 0.1 s); seconds waited."""
    started = time.perf_counter()
    before = server.cpu_seconds()
    while time.perf_counter() - started < limit:
        await asyncio.sleep(0.1)
        now = server.cpu_seconds()
        if now - before <= 0.011:
            break
        before = now
    return time.perf_counter() - started


async def prepare(target: Target, concurrency: int, stack: contextlib.AsyncExitStack) -> None:
    """Connect ``concurrency`` callers (sessions, in 2025-11-25) and give each finished tasks.

    Each caller has its own keep-alive connection (its own one-connection
    httpx pool), as separate clients would: one httpx pool shared by 16
    concurrent requests costs about twice the client CPU per request.
    """
    target.callers = []
    for _ in range(concurrency):
        http = await stack.enter_async_context(pooled_client(1))
        target.callers.append(await Caller.connect(http, target.server.url, target.era))
    target.pools = []
    for caller in target.callers:
        pool = [await caller.create_task() for _ in range(GET_POOL_PER_CALLER)]
        for task_id in pool:
            for _ in range(MAX_POLLS):
                if await caller.get_task(task_id) in TERMINAL:
                    break
                await asyncio.sleep(0.005)
        target.pools.append(pool)


@contextlib.contextmanager
def only_running(target: Target, everyone: Sequence[ServerProcess]) -> Iterator[None]:
    """Pause every other server process while ``target`` is measured."""
    paused = [s for s in everyone if s is not target.server]
    for server in paused:
        server.pause()
    try:
        yield
    finally:
        for server in paused:
            server.resume()


async def run_phase(
    targets: list[Target],
    args: argparse.Namespace,
    rows: dict[tuple[str, int, str], list[dict[str, Any]]],
    deadline: float,
    emulator_pid: int | None = None,
    warmup: float | None = None,
) -> None:
    """All scenarios for these targets, alternating between them, repeat after repeat."""
    servers = list({id(t.server): t.server for t in targets}.values())
    for concurrency in args.concurrency:
        async with contextlib.AsyncExitStack() as stack:
            for target in targets:
                await prepare(target, concurrency, stack)
            for target in targets:  # warm-up, not recorded
                for scenario in SCENARIOS:
                    with only_running(target, servers):
                        await measure(
                            target, scenario, duration=warmup or args.warmup, max_ops=3_000
                        )
            for repeat in range(args.repeats):
                if time.monotonic() > deadline:
                    print(f"  time budget reached: {repeat} repeats at c={concurrency}")
                    break
                order = targets if repeat % 2 == 0 else targets[::-1]
                for scenario in SCENARIOS:
                    for target in order:
                        with only_running(target, servers):
                            m = await measure(
                                target,
                                scenario,
                                duration=args.duration,
                                max_ops=args.max_ops,
                                emulator_pid=emulator_pid,
                            )
                        summary = m.summary()
                        summary["repeat"] = repeat
                        rows.setdefault((target.key, concurrency, scenario), []).append(summary)
                print(
                    f"  {', '.join(t.key for t in targets)} c={concurrency}: "
                    f"repeat {repeat + 1}/{args.repeats}",
                    flush=True,
                )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + args.budget_seconds
    rows: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    notes: list[str] = []
    peer_ok = not args.skip_peer and PEER_PYTHON.exists()
    if not args.skip_peer and not peer_ok:
        notes.append(f"peer skipped: {PEER_PYTHON} does not exist (bench/run_all.py makes it)")

    # Phase 1: memory backend, and the peer beside it.
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(checkout_server("ours-memory", args.subject))
        targets = [Target("ours", "memory", era, ours) for era in ERAS]
        if args.baseline is not None:
            base = stack.enter_context(checkout_server("baseline-memory", args.baseline))
            targets += [Target("baseline", "memory", era, base) for era in ERAS]
        if peer_ok:
            peer_port = free_port()
            try:
                peer = stack.enter_context(
                    run_process("peer-memory", peer_command(peer_port), port=peer_port)
                )
                targets.append(Target("peer", "memory", MODERN, peer))
            except RuntimeError as exc:
                notes.append(f"peer did not start: {exc}")
        others = sorted({t.label for t in targets} - {"ours"})
        print("phase: memory backend" + "".join(f" + {o}" for o in others), flush=True)
        await run_phase(targets, args, rows, deadline - (0 if args.skip_dynamodb else 300))
        rss = {t.key: round(t.server.rss_mib(), 1) for t in targets}

    # Phase 2: DynamoDB Local.
    if not args.skip_dynamodb:
        from tests.dynamodb_servers import ServerUnavailable, create_table, run_server

        try:
            with run_server("dynamodb-local") as dynamodb, contextlib.ExitStack() as stack:
                targets = []
                # The default (a per-owner quota: creates and finishes are
                # transactions) and the quota off (plain conditional writes),
                # each on its own table, alternating like ours and the peer.
                for backend, quota in (("dynamodb", "100"), ("dynamodb-noquota", "0")):
                    env = {
                        **QUIET,
                        **DYNAMODB_ENV,
                        "MCP_TASKS_BACKEND": "dynamodb",
                        "MCP_TASKS_DYNAMODB_ENDPOINT": dynamodb.endpoint,
                        "MCP_TASKS_DYNAMODB_TABLE": create_table(dynamodb.endpoint, ttl=True),
                        "MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER": quota,
                    }
                    port = free_port()
                    srv = stack.enter_context(
                        run_process(f"ours-{backend}", serve_command(port), port=port, env=env)
                    )
                    targets += [Target("ours", backend, era, srv) for era in ERAS]
                print("phase: DynamoDB Local backend, quota on and off", flush=True)
                # DynamoDB Local is a JVM: give its JIT longer to warm up.
                warmup = max(args.warmup, 1.0)
                await run_phase(targets, args, rows, deadline, dynamodb.process.pid, warmup)
                rss.update({t.key: round(t.server.rss_mib(), 1) for t in targets})
        except ServerUnavailable as exc:
            notes.append(f"DynamoDB phase skipped: {exc}")

    return {
        "machine": machine_info(),
        "peer": peer_versions() if peer_ok else {},
        "settings": {
            "repeats": args.repeats,
            "duration_s": args.duration,
            "max_ops": args.max_ops,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "subject": checkout_commit(args.subject),
            "baseline": None if args.baseline is None else checkout_commit(args.baseline),
        },
        "notes": notes,
        "server_rss_mib_after": rss,
        "wall_seconds": round(time.monotonic() - started, 1),
        "rows": [
            {"target": key, "concurrency": c, "scenario": s, "repeats": repeats}
            for (key, c, s), repeats in rows.items()
        ],
    }


def checkout_server(name: str, checkout: Path | None) -> contextlib.AbstractContextManager[Any]:
    """Our server on the memory backend, from ``checkout`` (default: this one) and its .venv."""
    port = free_port()
    if checkout is None:
        return run_process(name, serve_command(port), port=port, env=QUIET)
    command = serve_command(
        port,
        str(checkout / "bench" / "zero_tools.py") + ":register",
        python=checkout / ".venv" / "bin" / "python",
    )
    return run_process(name, command, port=port, env=QUIET, cwd=checkout)


def checkout_commit(checkout: Path | None) -> str | None:
    """The commit a checkout is at (default: this one), for the report."""
    if checkout is None:
        checkout = Path(__file__).resolve().parent.parent
    described = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return described.stdout.strip() or str(checkout)


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--duration", type=float, default=1.2, help="seconds per measurement")
    parser.add_argument("--max-ops", type=int, default=5_000, help="operations per measurement")
    parser.add_argument("--warmup", type=float, default=0.3, help="seconds per warm-up")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-dynamodb", action="store_true")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (with its own .venv) to compare with, on the memory backend",
    )
    parser.add_argument(
        "--subject",
        type=Path,
        help="measure this checkout's server (with its own .venv) instead of this one's",
    )
    parser.add_argument(
        "--budget-seconds", type=float, default=660, help="stop starting repeats after this"
    )
    args = parser.parse_args()
    data = asyncio.run(main_async(args))
    name = "e2e" if args.baseline is None else "e2e-before-after"  # not over the full run's
    write_json(name, data)
    path = write_report(name, report(data))
    print(report(data))
    print(f"written to {path}")


if __name__ == "__main__":
    main()

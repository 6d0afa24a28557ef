"""Memory of the memory backend: growth per 100k completed tasks, and what the sweep returns.

Each run is a fresh subprocess that measures itself. It drives the real
runtime (``Tasks``: ``TaskService``, ``Runner``, ``TaskStore``,
``MemoryBackend`` and its expiry sweeper) with a tool that returns at once,
and samples its resident set (``VmRSS`` in ``/proc/self/status``) as tasks
complete. Then it moves the backend's clock past the tasks' TTL and waits
for the real sweeper (``MCP_TASKS_SWEEP_INTERVAL_SECONDS``, here 0.2 s) to
remove them, samples again, asks glibc to hand freed memory back
(``malloc_trim``), fills the store a second time and sweeps again.

RSS shows what the operating system sees, but freed Python memory is not
always returned to it (CPython keeps arenas that still hold a live object,
and glibc keeps freed heap). So one extra run traces Python's own
allocations with ``tracemalloc`` (slower, and its bookkeeping inflates RSS,
which is why RSS comes from the untraced runs): that is the memory the
store really holds, and what the sweep really frees.

    .venv/bin/python bench/bench_memory.py [--tasks 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
import anyio.lowlevel
from common import Spread, exit_on_sigterm, machine_info, machine_lines, write_json, write_report

from mcp_tasks_server import Settings, Tasks
from mcp_tasks_server.backends import MemoryBackend
from mcp_tasks_server.core.model import ToolRequest, now_ms
from mcp_tasks_server.core.owner import bind_owner
from mcp_tasks_server.runtime.task_context import StoredTaskContext

RESULT = {
    "content": [{"type": "text", "text": "done"}],
    "structuredContent": {"result": "done"},
    "isError": False,
}
REQUEST = ToolRequest(name="zero_task", arguments={})
TTL_MS = 3_600_000
BATCH = 500
PHASES = ("baseline", "filled", "swept", "trimmed", "refilled", "swept again")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def malloc_trim() -> bool:
    """Ask glibc to return free heap pages to the OS; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim(0)
    return True


class Clock:
    """Real time plus an offset the benchmark can move, to expire tasks at will."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self) -> int:
        return now_ms() + self.offset


async def invoke(context: StoredTaskContext) -> Mapping[str, Any]:
    return RESULT


async def child(tasks_wanted: int, owners: int, traced: bool) -> dict[str, Any]:
    """One measured run, in this (fresh) process."""
    if traced:
        tracemalloc.start()
    clock = Clock()
    backend = MemoryBackend(clock=clock)
    settings = Settings(default_ttl_ms=TTL_MS, sweep_interval_seconds=0.2)
    tasks = Tasks(settings, backend=backend)
    owner_list = [bind_owner(session_id=f"session-{index}") for index in range(owners)]
    samples: list[dict[str, Any]] = []
    curve: list[tuple[int, float, float]] = []

    def sample(phase: str) -> None:
        gc.collect()
        samples.append(
            {
                "phase": phase,
                "rss_mib": rss_mib(),
                "traced_mib": tracemalloc.get_traced_memory()[0] / 2**20 if traced else None,
                "records": len(backend),
                "blocks": sys.getallocatedblocks(),
            }
        )

    async def settle() -> None:
        with anyio.fail_after(60):
            while tasks.runner.running_task_ids:  # noqa: ASYNC110 - no event for it
                await anyio.sleep(0.001)
        await anyio.lowlevel.checkpoint()

    async def fill(count: int, record_curve: bool) -> float:
        started = time.perf_counter()
        for index in range(count):
            await tasks.service.create(owner_list[index % owners], REQUEST, invoke)
            if (index + 1) % BATCH == 0:
                await settle()
            if record_curve and (index + 1) % (count // 10) == 0:
                gc.collect()
                traced_now = tracemalloc.get_traced_memory()[0] / 2**20 if traced else 0.0
                curve.append((index + 1, rss_mib(), traced_now))
        await settle()
        return time.perf_counter() - started

    async def sweep() -> float:
        """Expire everything, then wait for the real sweeper to remove it."""
        clock.offset += TTL_MS + 1
        started = time.perf_counter()
        with anyio.fail_after(30):
            while len(backend):  # noqa: ASYNC110 - the sweeper runs on its own interval
                await anyio.sleep(0.01)
        return time.perf_counter() - started

    async with tasks.running():
        await fill(2_000, record_curve=False)  # warm-up: imports, caches, first pages
        await sweep()
        sample("baseline")
        curve.append((0, samples[-1]["rss_mib"], samples[-1]["traced_mib"] or 0.0))
        fill_seconds = await fill(tasks_wanted, record_curve=True)
        sample("filled")
        record = await tasks.store.create(owner_list[0].key, REQUEST)
        record = await tasks.store.complete(owner_list[0].key, record.task_id, RESULT)
        stored_bytes = len(record.to_json())
        sweep_seconds = await sweep()
        sample("swept")
        trimmed = malloc_trim()
        sample("trimmed")
        await fill(tasks_wanted, record_curve=False)
        sample("refilled")
        await sweep()
        sample("swept again")
    return {
        "traced": traced,
        "tasks": tasks_wanted,
        "owners": owners,
        "samples": samples,
        "curve": curve,
        "fill_seconds": fill_seconds,
        "sweep_wait_seconds": sweep_seconds,
        "malloc_trim": trimmed,
        "stored_json_bytes": stored_bytes,
    }


def run_child(args: argparse.Namespace, traced: bool) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--tasks",
        str(args.tasks),
        "--owners",
        str(args.owners),
    ]
    if traced:
        command.append("--traced")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory run failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def phase_value(run: dict[str, Any], phase: str, key: str) -> float:
    return float(next(s[key] for s in run["samples"] if s["phase"] == phase))


def summarize(data: dict[str, Any]) -> list[str]:
    runs, traced = data["runs"], data["traced"]
    per = 100_000 / data["tasks"]
    growth = Spread.of(
        [
            (phase_value(r, "filled", "rss_mib") - phase_value(r, "baseline", "rss_mib")) * per
            for r in runs
        ]
    )
    lines = [
        f"| phase | records held | RSS MiB, {len(runs)} runs | "
        "Python allocations MiB (tracemalloc, 1 run) |",
        "|---|---:|---:|---:|",
    ]
    for phase in PHASES:
        rss = Spread.of([phase_value(r, phase, "rss_mib") for r in runs])
        held = int(phase_value(runs[0], phase, "records"))
        traced_value = phase_value(traced, phase, "traced_mib") if traced else float("nan")
        lines.append(f"| {phase} | {held:,} | {rss.show(1)} | {traced_value:.1f} |")
    traced_growth = (
        (
            phase_value(traced, "filled", "traced_mib")
            - phase_value(traced, "baseline", "traced_mib")
        )
        * per
        if traced
        else float("nan")
    )
    swept_rss = Spread.of(
        [phase_value(r, "swept", "rss_mib") - phase_value(r, "baseline", "rss_mib") for r in runs]
    )
    trimmed_rss = Spread.of(
        [phase_value(r, "trimmed", "rss_mib") - phase_value(r, "baseline", "rss_mib") for r in runs]
    )
    refill = Spread.of(
        [phase_value(r, "refilled", "rss_mib") - phase_value(r, "filled", "rss_mib") for r in runs]
    )
    traced_left = (
        phase_value(traced, "swept", "traced_mib") - phase_value(traced, "baseline", "traced_mib")
        if traced
        else float("nan")
    )
    fill_rate = Spread.of([r["tasks"] / r["fill_seconds"] for r in runs])
    lines += [
        "",
        f"- RSS growth per 100k completed tasks: **{growth.show(1)} MiB** "
        f"({growth.median * 2**20 / 100_000:,.0f} bytes a task; the stored JSON of one "
        f"finished task is {runs[0]['stored_json_bytes']} bytes)",
        f"- Python allocations per 100k completed tasks (tracemalloc): **{traced_growth:.1f} MiB**",
        f"- after the sweep, Python allocations are back to baseline + {traced_left:.1f} MiB; "
        f"RSS stays at baseline + {swept_rss.show(1)} MiB, and at baseline + "
        f"{trimmed_rss.show(1)} MiB after `malloc_trim(0)`",
        f"- a second 100k fill after the sweep moves RSS by {refill.show(1)} MiB against the "
        "first: freed memory is reused, not leaked",
        f"- completed tasks per second while filling (one process, no HTTP): {fill_rate.show(0)}",
    ]
    return lines


def report(data: dict[str, Any]) -> str:
    return "\n".join(
        [
            "# Memory backend: RSS per 100k completed tasks, and the expiry sweep",
            "",
            *machine_lines(data["machine"]),
            f"- {data['tasks']:,} tasks over {data['owners']} owners, each run in a fresh "
            f"process; {len(data['runs'])} untraced runs (RSS) + 1 traced run (tracemalloc); "
            "figures are median (min-max) over runs",
            f"- wall time {data['wall_seconds']} s",
            "",
            *summarize(data),
            "",
        ]
    )


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--owners", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="untraced runs (default 3)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.tasks, args.owners, args.traced))))
        return
    started = time.monotonic()
    runs = [run_child(args, traced=False) for _ in range(args.repeats)]
    traced = run_child(args, traced=True)
    data = {
        "machine": machine_info(),
        "tasks": args.tasks,
        "owners": args.owners,
        "runs": runs,
        "traced": traced,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    write_json("memory", data)
    text = report(data)
    path = write_report("memory", text)
    print(text)
    print(f"written to {path}")


if __name__ == "__main__":
    main()

"""The end-to-end cost of telemetry: one server with OpenTelemetry, one without, side by side.

Both run our reference server on the memory backend, in one era
(2026-07-28), with the ``otel`` extra installed. ``off`` sets
``OTEL_SDK_DISABLED=true``, so every hook lands on OpenTelemetry's no-op
providers; ``on`` sets no ``OTEL_*`` variable at all, so the SDK is
configured, records every span and metric, and exports nothing (no exporter
is named). The scenarios and the alternation are those of
``bench_e2e.py``: the two servers take turns, scenario by scenario, and the
one not being measured is paused.

    .venv/bin/python bench/bench_otel_e2e.py [--repeats 3] [--duration 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_e2e import QUIET, Target, run_phase
from common import exit_on_sigterm, free_port, run_process, serve_command
from e2e_report import SCENARIOS
from mcp_http import MODERN

MODES = {"off": {"OTEL_SDK_DISABLED": "true"}, "on": {}}


async def main_async(args: argparse.Namespace) -> dict[tuple[str, int, str], list[dict[str, Any]]]:
    for name in [key for key in os.environ if key.startswith("OTEL_")]:
        del os.environ[name]  # the servers inherit this environment
    rows: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    with contextlib.ExitStack() as stack:
        targets = []
        for mode, env in MODES.items():
            port = free_port()
            server = stack.enter_context(
                run_process(f"otel-{mode}", serve_command(port), port=port, env={**QUIET, **env})
            )
            targets.append(Target(f"otel-{mode}", "memory", MODERN, server))
        loop = asyncio.get_running_loop()
        await run_phase(targets, args, rows, deadline=loop.time() + 1e9)
    return rows


def report(rows: dict[tuple[str, int, str], list[dict[str, Any]]], concurrency: list[int]) -> str:
    lines = [
        "| scenario | c | ops/s off | ops/s on | on / off | p50 ms off | p50 ms on |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in concurrency:
        for scenario in SCENARIOS:
            off = rows[(f"otel-off/memory/{MODERN}", c, scenario)]
            on = rows[(f"otel-on/memory/{MODERN}", c, scenario)]
            ops_off = statistics.median(r["ops_per_s"] for r in off)
            ops_on = statistics.median(r["ops_per_s"] for r in on)
            p50_off = statistics.median(r["p50_ms"] for r in off)
            p50_on = statistics.median(r["p50_ms"] for r in on)
            lines.append(
                f"| {scenario} | {c} | {ops_off:,.0f} | {ops_on:,.0f} | "
                f"{ops_on / ops_off:.2f} | {p50_off:.2f} | {p50_on:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--max-ops", type=int, default=5_000, help="operations per measurement")
    parser.add_argument("--warmup", type=float, default=0.3, help="seconds per warm-up")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    rows = asyncio.run(main_async(args))
    print(report(rows, args.concurrency))


if __name__ == "__main__":
    main()

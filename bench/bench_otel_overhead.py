"""What the telemetry hooks cost per call: without the otel extra, and with it but unexported.

Three configurations, each in a fresh subprocess (whether OpenTelemetry is
installed is decided at import, and its providers are set once per process):

* ``noop``: the extra is absent (``opentelemetry.sdk`` hidden), so
  ``configure_telemetry()`` returns the shared no-op;
* ``proxy``: the extra is there but nobody configured it: the hooks run on
  OpenTelemetry's API with its proxy providers (what a library user who never
  calls ``configure_telemetry()`` gets);
* ``sdk``: ``configure_telemetry()`` with no ``OTEL_*`` exporter set: the
  SDK's providers record every span and metric, and export nothing.

Each hook is called ``--calls`` times (best of ``--repeats``) and reported in
nanoseconds per call, with its ratio to the no-op. A task's whole life calls
about ten hooks, so even the SDK's cost stays far below one backend request.

    .venv/bin/python bench/bench_otel_overhead.py [--calls 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

MODES = ("noop", "proxy", "sdk")
STORED = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def hooks(telemetry: Any) -> dict[str, Callable[[], object]]:
    """One call of each hook, as the server makes it."""

    def run_and_finish() -> None:
        with (
            telemetry.task_run_span("slow", "t:0123456789ab", STORED, queue_wait_s=0.2) as run,
            telemetry.task_finish_span(
                "slow", "t:0123456789ab", "completed", parent=STORED, duration_s=1.0
            ),
        ):
            run.set_status("completed")

    def backend_request() -> None:
        with telemetry.backend_request("PutItem"):
            pass

    return {
        "inject_trace_context": telemetry.inject_trace_context,
        "task_created": lambda: telemetry.task_created("slow"),
        "task_run_span + task_finish_span": run_and_finish,
        "backend_request": backend_request,
        "link_current_span": lambda: telemetry.link_current_span(STORED, reason="input"),
        "capacity_refused": lambda: telemetry.capacity_refused("tasks"),
    }


def measure(mode: str, calls: int, repeats: int) -> dict[str, float]:
    """Nanoseconds per call of each hook, in this process, configured as ``mode``."""
    if mode == "noop":
        sys.modules["opentelemetry.sdk"] = None  # type: ignore[assignment]
    from mcp_tasks_server.observability import configure_telemetry, otel_telemetry

    telemetry = otel_telemetry() if mode == "proxy" else configure_telemetry(instrument_aws=False)
    assert telemetry.enabled == (mode != "noop"), mode
    request: AbstractContextManager[object] = nullcontext()
    if mode != "noop":
        from opentelemetry import trace

        # Hooks run inside the SDK's request span, so inject has a span to carry.
        request = trace.get_tracer("bench").start_as_current_span("tools/call slow")
    results: dict[str, float] = {}
    with request:
        for name, hook in hooks(telemetry).items():
            best = float("inf")
            for _ in range(repeats):
                started = time.perf_counter_ns()
                for _ in range(calls):
                    hook()
                best = min(best, (time.perf_counter_ns() - started) / calls)
            results[name] = best
    return results


def run_mode(mode: str, calls: int, repeats: int) -> dict[str, float]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    command = [sys.executable, __file__, "--mode", mode, "--calls", str(calls)]
    completed = subprocess.run(
        [*command, "--repeats", str(repeats)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    results: dict[str, float] = json.loads(completed.stdout)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.mode:
        print(json.dumps(measure(options.mode, options.calls, options.repeats)))
        return

    results = {mode: run_mode(mode, options.calls, options.repeats) for mode in MODES}
    print(f"{options.calls:,} calls per hook, best of {options.repeats}; ns per call\n")
    print(f"| hook | {' | '.join(MODES)} | proxy / noop | sdk / noop |")
    print("|---|" + "---:|" * (len(MODES) + 2))
    for name, noop in results["noop"].items():
        cells = " | ".join(f"{results[mode][name]:,.0f}" for mode in MODES)
        ratios = " | ".join(f"{results[mode][name] / noop:,.0f}x" for mode in ("proxy", "sdk"))
        print(f"| {name} | {cells} | {ratios} |")
    totals = {mode: sum(results[mode].values()) for mode in MODES}
    print(
        f"\nall hooks once: noop {totals['noop']:,.0f} ns, proxy {totals['proxy']:,.0f} ns, "
        f"sdk {totals['sdk']:,.0f} ns ({totals['sdk'] / totals['noop']:,.0f}x the no-op)"
    )


if __name__ == "__main__":
    main()

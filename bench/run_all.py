"""``make bench``: every benchmark, then the summary and the plots, in one bounded run.

Steps (each a subprocess with a time limit; one that fails is reported and
the others still run):

1. the peer's own virtualenv, ``bench/.peer-venv`` (pinned in
   ``peer-requirements.txt``; made once, reused while the pins are unchanged);
2. ``bench_requests.py``: backend requests per operation and lifecycle;
   ``bench_queue.py``: queue mode's requests per task, create -> running
   latency, and throughput against local mode;
3. ``bench_dynamodb.py``: the DynamoDB backend against raw aioboto3;
4. ``bench_dynamodb_update.py``: a transition against raw PutItem and UpdateItem;
5. ``bench_memory.py``: RSS per 100k completed tasks, and the expiry sweep;
6. ``bench_e2e.py``: end to end over HTTP, ours (memory, DynamoDB Local) and the peer;
7. ``plots.py``, and ``results/latest.md``: every table, the machine, the timings.

    .venv/bin/python bench/run_all.py [--quick]

``--quick`` shrinks every benchmark (for checking the pipeline, not for numbers).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH,
    RESULTS,
    ensure_peer_venv,
    machine_info,
    machine_lines,
    peer_versions,
    today,
)

STEPS: list[tuple[str, str, list[str], list[str], int]] = [
    # name, script, arguments, quick arguments, time limit in seconds
    ("requests", "bench_requests.py", [], [], 180),
    (
        "queue",
        "bench_queue.py",
        [],
        ["--tasks", "40", "--latency-tasks", "10", "--repeats", "1"],
        600,
    ),
    ("dynamodb", "bench_dynamodb.py", [], ["--repeats", "2", "--ops", "100"], 400),
    ("dynamodb-update", "bench_dynamodb_update.py", [], ["--repeats", "2", "--ops", "100"], 240),
    ("memory", "bench_memory.py", [], ["--tasks", "20000", "--repeats", "1"], 420),
    (
        "e2e",
        "bench_e2e.py",
        [],
        ["--repeats", "1", "--duration", "0.5", "--warmup", "0.2"],
        840,
    ),
]


def run_step(script: str, arguments: list[str], limit: int) -> tuple[bool, float, str]:
    """Run one benchmark, streaming its output; (succeeded, seconds, why not)."""
    started = time.monotonic()
    command = [sys.executable, str(BENCH / script), *arguments]
    print(f"\n=== {' '.join([Path(command[0]).name, *command[1:]])}", flush=True)
    step = subprocess.Popen(command, cwd=BENCH.parent)
    try:
        returncode = step.wait(limit)
    except subprocess.TimeoutExpired:
        step.terminate()  # the step stops the servers it started, then exits
        try:
            step.wait(30)
        except subprocess.TimeoutExpired:
            step.kill()
            step.wait()
        return False, time.monotonic() - started, f"stopped after its {limit} s limit"
    seconds = time.monotonic() - started
    if returncode != 0:
        return False, seconds, f"exited with code {returncode}"
    return True, seconds, ""


def newest_report(name: str) -> Path | None:
    found = sorted(RESULTS.glob(f"{name}-{today()}.md")) or sorted(RESULTS.glob(f"{name}-*.md"))
    found = [p for p in found if p.name.removeprefix(f"{name}-")[:4].isdigit()]
    return found[-1] if found else None


def body_of(report: Path) -> list[str]:
    """A report without its title and machine lines, headings moved down a level."""
    lines = report.read_text().splitlines()
    out: list[str] = []
    for line in lines[1:]:
        if line.startswith("- date:") or line.startswith("- machine:"):
            continue
        if line.startswith("- packages:") or line.startswith("- DynamoDB Local "):
            continue
        if line.startswith("- peer (own virtualenv)"):
            continue
        out.append("#" + line if line.startswith("#") else line)
    while out and not out[0].strip():
        out.pop(0)
    return out


TITLES = {
    "requests": "Backend requests per operation and per lifecycle",
    "queue": "Queue mode: requests per task, create -> running, throughput",
    "dynamodb": "DynamoDB backend vs raw aioboto3",
    "dynamodb-update": "A transition: backend vs raw PutItem vs raw UpdateItem",
    "memory": "Memory backend: RSS per 100k completed tasks, and the sweep",
    "e2e": "End to end over streamable HTTP, and against the peer",
}
PLOTS = {
    "dynamodb-update": ["dynamodb.png"],
    "memory": ["memory.png"],
    "e2e": ["e2e-throughput.png", "e2e-latency.png", "peer.png"],
}


def summary(
    info: dict[str, Any],
    peer: dict[str, str],
    timings: list[tuple[str, bool, float, str]],
    notes: list[str],
    wall: float,
    load: tuple[tuple[float, ...], tuple[float, ...]],
    quick: bool,
) -> str:
    lines = [
        f"# Benchmarks: latest results ({info['date']})",
        "",
        "Written by `make bench` (`bench/run_all.py`"
        + (" --quick: shrunk, not for numbers" if quick else "")
        + "). Figures are median (min-max) over repeats unless a table says otherwise.",
        "",
        *machine_lines(info, peer),
        f"- load average (1, 5, 15 min) at the start {_load(load[0])}, at the end "
        f"{_load(load[1])}: other work on the machine shows up as noise",
        f"- total wall time **{wall / 60:.1f} min**: "
        + ", ".join(
            f"{name} {seconds:.0f} s" + ("" if ok else f" ({why})")
            for name, ok, seconds, why in timings
        ),
        "",
    ]
    if notes:
        lines += ["Notes:", "", *(f"- {note}" for note in notes), ""]
    for name, title in TITLES.items():
        report = newest_report(name)
        lines += [f"## {title}", ""]
        if report is None:
            lines += ["(no report: the step did not run or failed)", ""]
            continue
        lines += [f"From [`{report.name}`]({report.name}).", "", *body_of(report), ""]
        for plot in PLOTS.get(name, []):
            if (RESULTS / plot).exists():
                lines += [f"![{plot}]({plot})", ""]
    return "\n".join(lines)


def _load(values: tuple[float, ...]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shrunk runs, to check the pipeline")
    parser.add_argument("--only", nargs="+", choices=[s[0] for s in STEPS], help="these steps")
    args = parser.parse_args()
    started = time.monotonic()
    load_start = os.getloadavg()
    notes: list[str] = []
    print("=== the peer's virtualenv (bench/.peer-venv)", flush=True)
    why_not = ensure_peer_venv()
    if why_not:
        notes.append(f"the peer could not be installed, so it was not measured: {why_not}")
        print(f"  {why_not}", flush=True)
    timings: list[tuple[str, bool, float, str]] = []
    for name, script, arguments, quick, limit in STEPS:
        if args.only and name not in args.only:
            continue
        ok, seconds, why = run_step(script, quick if args.quick else arguments, limit)
        timings.append((name, ok, seconds, why))
    print("\n=== plots", flush=True)
    from plots import draw_all

    for path in draw_all():
        print(f"  {path.relative_to(BENCH.parent)}")
    wall = time.monotonic() - started
    text = summary(
        machine_info(),
        peer_versions(),
        timings,
        notes,
        wall,
        (load_start, os.getloadavg()),
        args.quick,
    )
    (RESULTS / "latest.md").write_text(text + "\n")
    print(f"\n=== bench/results/latest.md written; make bench took {wall / 60:.1f} min")
    for name, ok, seconds, why in timings:
        print(f"  {name:16} {seconds:6.0f} s  {'ok' if ok else why}")
    if not all(ok for _, ok, _, _ in timings):
        sys.exit(1)


if __name__ == "__main__":
    main()

"""The report of ``bench_e2e.py``: its markdown tables, from the JSON it writes.

Kept apart from the measuring so each reads on its own. Every figure is a
median (min-max) over repeats; ratios pair the two measurements taken side by
side in one repeat.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import Spread, auto_digits, machine_lines
from mcp_http import ERAS, MODERN

SCENARIOS = ("plain", "create", "get", "lifecycle")
BACKENDS = {
    "memory": "memory",
    "dynamodb": "DynamoDB Local",
    "dynamodb-noquota": "DynamoDB Local, quota off",
}


def index(data: dict[str, Any]) -> dict[tuple[str, int, str], list[dict[str, Any]]]:
    return {(r["target"], r["concurrency"], r["scenario"]): r["repeats"] for r in data["rows"]}


def spread(
    rows: dict[tuple[str, int, str], list[dict[str, Any]]],
    key: tuple[str, int, str],
    metric: str,
) -> Spread:
    return Spread.of([r[metric] for r in rows.get(key, []) if r["ops"]])


def ratio_spread(
    rows: dict[tuple[str, int, str], list[dict[str, Any]]],
    ours: tuple[str, int, str],
    theirs: tuple[str, int, str],
    metric: str,
) -> Spread:
    """Per-repeat ours / theirs, pairing the measurements taken side by side."""
    mine = {r["repeat"]: r[metric] for r in rows.get(ours, []) if r["ops"]}
    peer = {r["repeat"]: r[metric] for r in rows.get(theirs, []) if r["ops"]}
    return Spread.of([mine[k] / peer[k] for k in mine.keys() & peer.keys() if peer[k]])


def show(value: Spread, digits: int | None = None) -> str:
    return value.show(auto_digits(value.median) if digits is None else digits)


def ours_table(data: dict[str, Any]) -> list[str]:
    rows = index(data)
    concurrencies = data["settings"]["concurrency"]
    lines = [
        "| backend | era | c | plain tools/call/s (ceiling) | task creates/s | "
        "creates ÷ ceiling | tasks/get/s | create→terminal p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend in BACKENDS:
        for era in ERAS:
            key = f"ours/{backend}/{era}"
            for c in concurrencies:
                if (key, c, "plain") not in rows:
                    continue
                plain = spread(rows, (key, c, "plain"), "ops_per_s")
                create = spread(rows, (key, c, "create"), "ops_per_s")
                share = ratio_spread(rows, (key, c, "create"), (key, c, "plain"), "ops_per_s")
                errors = sum(r["errors"] for s in SCENARIOS for r in rows.get((key, c, s), []))
                lines.append(
                    f"| {BACKENDS[backend]} | {era} | {c} | {show(plain)} | {show(create)} | "
                    f"{share.show(2, 'x')} | {show(spread(rows, (key, c, 'get'), 'ops_per_s'))} | "
                    f"{show(spread(rows, (key, c, 'lifecycle'), 'p50_ms'))} | "
                    f"{show(spread(rows, (key, c, 'lifecycle'), 'p99_ms'))} | {errors} |"
                )
    return lines


def cpu_table(data: dict[str, Any]) -> list[str]:
    rows = index(data)
    lines = [
        "| server | backend | era | c | plain | create | get | lifecycle | "
        "load generator, per create | DynamoDB Local, per create |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    targets = dict.fromkeys(r["target"] for r in data["rows"])
    for key in targets:
        label, backend, era = key.split("/")
        for c in data["settings"]["concurrency"]:
            if (key, c, "plain") not in rows:
                continue
            cells = [show(spread(rows, (key, c, s), "server_cpu_ms_per_op"), 2) for s in SCENARIOS]
            cells.append(show(spread(rows, (key, c, "create"), "client_cpu_ms_per_op"), 2))
            emulator = spread(rows, (key, c, "create"), "emulator_cpu_ms_per_op")
            cells.append(show(emulator, 2) if backend.startswith("dynamodb") else "-")
            lines.append(f"| {label} | {BACKENDS[backend]} | {era} | {c} | {' | '.join(cells)} |")
    return lines


PEER_METRICS = (
    ("plain tools/call/s (ceiling)", "plain", "ops_per_s"),
    ("task creates/s", "create", "ops_per_s"),
    ("tasks/get/s", "get", "ops_per_s"),
    ("lifecycles/s", "lifecycle", "ops_per_s"),
    ("create→terminal p50 ms", "lifecycle", "p50_ms"),
    ("create→terminal p99 ms", "lifecycle", "p99_ms"),
    ("server CPU ms per create (its task run included)", "create", "server_cpu_ms_per_op"),
    ("server CPU ms per tasks/get", "get", "server_cpu_ms_per_op"),
)


def comparison_rows(
    data: dict[str, Any], mine_key: str, theirs_key: str, first_cells: str = ""
) -> list[str]:
    """One row per concurrency and metric: both medians, and mine ÷ theirs paired per repeat."""
    rows = index(data)
    lines = []
    for c in data["settings"]["concurrency"]:
        for label, scenario, metric in PEER_METRICS:
            mine = spread(rows, (mine_key, c, scenario), metric)
            theirs = spread(rows, (theirs_key, c, scenario), metric)
            ratio = ratio_spread(rows, (mine_key, c, scenario), (theirs_key, c, scenario), metric)
            lines.append(
                f"| {first_cells}{c} | {label} | {show(mine)} | {show(theirs)} | "
                f"**{ratio.show(2, 'x')}** |"
            )
    return lines


def peer_table(data: dict[str, Any]) -> list[str]:
    peer_key = f"peer/memory/{MODERN}"
    if not any(row["target"] == peer_key for row in data["rows"]):
        return []
    return [
        "| c | metric | ours | peer | ours ÷ peer |",
        "|---:|---|---:|---:|---:|",
        *comparison_rows(data, f"ours/memory/{MODERN}", peer_key),
    ]


def baseline_table(data: dict[str, Any]) -> list[str]:
    """This checkout ÷ the ``--baseline`` one, per era, concurrency and metric."""
    if not any(row["target"].startswith("baseline/") for row in data["rows"]):
        return []
    lines = [
        "| era | c | metric | this | baseline | this ÷ baseline |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for era in ERAS:
        lines += comparison_rows(data, f"ours/memory/{era}", f"baseline/memory/{era}", f"{era} | ")
    return lines


def gets_per_lifecycle(data: dict[str, Any]) -> str:
    rows = index(data)
    parts = []
    for key in dict.fromkeys(r["target"] for r in data["rows"]):
        for c in data["settings"]["concurrency"]:
            polls = spread(rows, (key, c, "lifecycle"), "gets_per_lifecycle")
            if polls.median == polls.median:
                parts.append(f"{key} c={c}: {polls.median:.2f}")
    return "; ".join(parts)


def report(data: dict[str, Any]) -> str:
    s = data["settings"]
    lines = [
        "# End to end over streamable HTTP",
        "",
        *machine_lines(data["machine"], data.get("peer")),
        f"- {s['repeats']} repeats; each measurement runs {s['duration_s']} s or "
        f"{s['max_ops']} operations, whichever ends first, after a {s['warmup_s']} s warm-up; "
        "figures are median (min-max) over repeats; latency percentiles are per repeat",
        f"- wall time {data['wall_seconds']} s",
        "",
        "## Our server",
        "",
        *ours_table(data),
        "",
        "CPU per operation, ms: the server process (a create's includes running and finishing "
        "its task), the load generator and DynamoDB Local, all on the same 2 CPUs:",
        "",
        *cpu_table(data),
        "",
        f"tasks/get calls per lifecycle (polling back to back): {gets_per_lifecycle(data)}",
        "",
    ]
    peer = peer_table(data)
    if peer:
        lines += [
            "## Against the peer: FastMCP + fastmcp-tasks, memory backend, 2026-07-28",
            "",
            *peer,
            "",
        ]
    before = baseline_table(data)
    if before:
        lines += [
            f"## {s['subject']} against the baseline {s['baseline']}, memory backend",
            "",
            *before,
            "",
        ]
    if data["notes"]:
        lines += ["## Notes", "", *(f"- {note}" for note in data["notes"]), ""]
    errors = []
    for row in data["rows"]:
        failed = [x for x in row["repeats"] if x["errors"]]
        if failed:
            errors.append(
                f"- {row['target']} c={row['concurrency']} {row['scenario']}: "
                f"{sum(x['errors'] for x in failed)} errors; first: {failed[0]['first_error']}"
            )
    if errors:
        lines += ["First error of each erring scenario:", "", *errors, ""]
    return "\n".join(lines)

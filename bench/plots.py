"""PNG plots of the latest results (matplotlib, Agg backend), written to ``bench/results/``.

Each function reads the JSON a benchmark wrote and draws one figure; a
figure whose data is missing is skipped. Bars are medians over repeats,
error bars the smallest and largest repeat.

    .venv/bin/python bench/plots.py
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from common import RESULTS, Spread, read_json
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

OURS, PEER, THIRD, FOURTH = "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"
ERA_COLORS = {"2025-11-25": OURS, "2026-07-28": THIRD}
BACKENDS = {
    "memory": "memory backend",
    "dynamodb": "DynamoDB Local backend (default: quota on)",
    "dynamodb-noquota": "DynamoDB Local backend, quota off",
}
SCENARIO_LABELS = {
    "plain": "plain tools/call\n(ceiling)",
    "create": "task\ncreates",
    "get": "tasks/get",
    "lifecycle": "lifecycles\n(create→terminal)",
}


def _rows(data: dict[str, Any]) -> dict[tuple[str, int, str], list[dict[str, Any]]]:
    return {(r["target"], r["concurrency"], r["scenario"]): r["repeats"] for r in data["rows"]}


def _spread(repeats: Sequence[dict[str, Any]], metric: str) -> Spread:
    return Spread.of([r[metric] for r in repeats if r["ops"]])


def _bars(
    ax: Axes,
    groups: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[Spread]]],
    *,
    ylabel: str,
    log: bool = False,
    labels: bool = True,
) -> None:
    """Grouped bars with min-max error bars; ``series`` is (name, colour, one Spread a group)."""
    width = 0.8 / max(len(series), 1)
    for index, (name, colour, values) in enumerate(series):
        xs = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        medians = [v.median for v in values]
        errors = [
            [max(v.median - v.low, 0) for v in values],
            [max(v.high - v.median, 0) for v in values],
        ]
        bars = ax.bar(xs, medians, width, label=name, color=colour, yerr=errors, capsize=3)
        if name.startswith("_"):
            bars.set_label("_nolegend_")
        if labels:
            ax.bar_label(bars, labels=[_short(m) for m in medians], fontsize=7, padding=2)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(
            FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "25" else "")
        )
        ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _short(value: float) -> str:
    if value != value:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def e2e_throughput(data: dict[str, Any]) -> Path | None:
    rows = _rows(data)
    backends = [b for b in BACKENDS if any(k[0].startswith(f"ours/{b}/") for k in rows)]
    concurrencies = data["settings"]["concurrency"]
    if not backends:
        return None
    fig, axes = plt.subplots(
        len(backends),
        len(concurrencies),
        figsize=(6 * len(concurrencies), 4 * len(backends)),
        squeeze=False,
    )
    for r, backend in enumerate(backends):
        for c, concurrency in enumerate(concurrencies):
            series = [
                (
                    era,
                    ERA_COLORS[era],
                    [
                        _spread(
                            rows.get((f"ours/{backend}/{era}", concurrency, s), []), "ops_per_s"
                        )
                        for s in SCENARIO_LABELS
                    ],
                )
                for era in ERA_COLORS
            ]
            ax = axes[r][c]
            _bars(ax, list(SCENARIO_LABELS.values()), series, ylabel="operations per second")
            ax.set_title(f"{BACKENDS[backend]}, concurrency {concurrency}", fontsize=10)
            ax.legend(fontsize=8, title="era", title_fontsize=8)
            ax.margins(y=0.15)
    fig.suptitle(
        "Our server over streamable HTTP: zero-work tools, load generator on the same 2 CPUs",
        fontsize=11,
    )
    fig.tight_layout()
    return _save(fig, "e2e-throughput.png")


def e2e_latency(data: dict[str, Any]) -> Path | None:
    rows = _rows(data)
    targets = list(dict.fromkeys(r["target"] for r in data["rows"]))
    if not targets:
        return None
    concurrencies = data["settings"]["concurrency"]
    fig, axes = plt.subplots(
        1, len(concurrencies), figsize=(6.5 * len(concurrencies), 4.5), squeeze=False
    )
    names = [_target_label(t) for t in targets]
    for ax, concurrency in zip(axes[0], concurrencies, strict=True):
        series = [
            (
                label,
                colour,
                [_spread(rows.get((t, concurrency, "lifecycle"), []), metric) for t in targets],
            )
            for label, colour, metric in (("p50", OURS, "p50_ms"), ("p99", PEER, "p99_ms"))
        ]
        _bars(ax, names, series, ylabel="create → terminal, ms (log scale)", log=True)
        ax.set_title(f"concurrency {concurrency}", fontsize=10)
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(
        "Create → terminal latency of a zero-work task (create, then tasks/get back to back;\n"
        "at concurrency 16 most of it is queueing: 16 lifecycles share 2 CPUs with the client)",
        fontsize=11,
    )
    fig.tight_layout()
    return _save(fig, "e2e-latency.png")


def _target_label(target: str) -> str:
    label, backend, era = target.split("/")
    names = {"dynamodb": "DynamoDB", "dynamodb-noquota": "DynamoDB,\nno quota"}
    store = names.get(backend, backend)
    return f"{label}\n{store}\n{era}"


def peer(data: dict[str, Any]) -> Path | None:
    rows = _rows(data)
    ours, theirs = "ours/memory/2026-07-28", "peer/memory/2026-07-28"
    if not any(k[0] == theirs for k in rows):
        return None
    concurrencies = data["settings"]["concurrency"]
    fig, axes = plt.subplots(
        2, len(concurrencies), figsize=(6 * len(concurrencies), 8.5), squeeze=False
    )
    for c, concurrency in enumerate(concurrencies):
        series = [
            (
                name,
                colour,
                [
                    _spread(rows.get((key, concurrency, s), []), "ops_per_s")
                    for s in SCENARIO_LABELS
                ],
            )
            for name, colour, key in (
                ("mcp-tasks-server", OURS, ours),
                ("FastMCP + fastmcp-tasks", PEER, theirs),
            )
        ]
        ax = axes[0][c]
        _bars(ax, list(SCENARIO_LABELS.values()), series, ylabel="operations per second")
        ax.set_title(f"throughput, concurrency {concurrency}", fontsize=10)
        ax.legend(fontsize=8)
        ax.margins(y=0.15)
        cpu_series = [
            (
                name,
                colour,
                [
                    _spread(rows.get((key, concurrency, s), []), "server_cpu_ms_per_op")
                    for s in SCENARIO_LABELS
                ],
            )
            for name, colour, key in (
                ("mcp-tasks-server", OURS, ours),
                ("FastMCP + fastmcp-tasks", PEER, theirs),
            )
        ]
        ax = axes[1][c]
        _bars(ax, list(SCENARIO_LABELS.values()), cpu_series, ylabel="server CPU ms per operation")
        ax.set_title(
            f"server CPU per operation (lower is better), concurrency {concurrency}", fontsize=10
        )
        ax.legend(fontsize=8)
        ax.margins(y=0.15)
    fig.suptitle(
        "Against the peer: 2026-07-28 era, memory backends, same zero-work tools, same run",
        fontsize=11,
    )
    fig.tight_layout()
    return _save(fig, "peer.png")


def memory(data: dict[str, Any]) -> Path | None:
    if not data or not data.get("runs"):
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    for index, run in enumerate(data["runs"]):
        xs = [point[0] / 1000 for point in run["curve"]]
        left.plot(
            xs,
            [p[1] for p in run["curve"]],
            color=OURS,
            alpha=0.8,
            marker=".",
            label="RSS (untraced runs)" if index == 0 else None,
        )
    traced = data.get("traced")
    if traced:
        xs = [point[0] / 1000 for point in traced["curve"]]
        base = traced["curve"][0][2]
        offset = data["runs"][0]["curve"][0][1] - base
        left.plot(
            xs,
            [p[2] + offset for p in traced["curve"]],
            color=PEER,
            marker=".",
            linestyle="--",
            label="Python allocations (tracemalloc), shifted to RSS baseline",
        )
    left.set_xlabel("completed tasks held (thousands)")
    left.set_ylabel("MiB")
    left.set_title("Growth while tasks complete", fontsize=10)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    phases = [s["phase"] for s in data["runs"][0]["samples"]]

    def above_baseline(run: dict[str, Any], key: str, phase: str) -> float:
        value = {s["phase"]: s[key] for s in run["samples"]}
        return float(value[phase] - value["baseline"])

    series = [
        (
            "RSS",
            OURS,
            [Spread.of([above_baseline(r, "rss_mib", p) for r in data["runs"]]) for p in phases],
        )
    ]
    if traced:
        series.append(
            (
                "Python allocations (tracemalloc)",
                PEER,
                [Spread.of([above_baseline(traced, "traced_mib", p)]) for p in phases],
            )
        )
    _bars(right, [p.replace(" ", "\n") for p in phases], series, ylabel="MiB above baseline")
    right.set_title(
        "Sweep, malloc_trim(0), a second fill, a second sweep (RSS: median, min-max)",
        fontsize=10,
    )
    right.legend(fontsize=8, loc="upper left", ncol=2)
    right.set_ylim(top=max(max(v.high for v in spreads) for _, _, spreads in series) * 1.3)
    fig.suptitle(
        f"Memory backend: {data['tasks']:,} completed tasks, real runtime and sweeper", fontsize=11
    )
    fig.tight_layout()
    return _save(fig, "memory.png")


def parse_dynamodb_report() -> list[dict[str, Any]]:
    """The A/B table of the newest ``dynamodb-*.md`` that ``bench_dynamodb.py`` wrote."""
    reports = sorted(
        p
        for p in RESULTS.glob("dynamodb-*.md")
        if re.fullmatch(r"dynamodb-\d{4}-\d{2}-\d{2}\.md", p.name)
    )
    if not reports:
        return []
    header: list[str] | None = None
    rows = []
    for line in reports[-1].read_text().splitlines():
        if not line.startswith("|"):
            header = None if rows else header
            continue
        cells = [cell.strip().strip("*") for cell in line.strip("|").split("|")]
        if header is None and "ratio" in cells and "operation" in cells:
            header = cells
            continue
        if header is None or set(line) <= set("|-: "):
            continue
        row = dict(zip(header, cells, strict=False))
        try:
            rows.append(
                {
                    "operation": row["operation"],
                    "concurrency": int(row["concurrency"]),
                    "ratio": float(row["ratio"].rstrip("x\N{MULTIPLICATION SIGN}")),
                }
            )
        except (KeyError, ValueError):
            continue
    return rows


def dynamodb(update: dict[str, Any] | None) -> Path | None:
    rows = parse_dynamodb_report()
    if not rows and not update:
        return None
    concurrencies = sorted(
        {r["concurrency"] for r in rows} | set(update["settings"]["concurrency"] if update else [])
    )
    fig, axes = plt.subplots(
        1, len(concurrencies), figsize=(6.5 * len(concurrencies), 4.8), squeeze=False
    )
    for ax, concurrency in zip(axes[0], concurrencies, strict=True):
        names: list[str] = []
        values: list[Spread] = []
        colours: list[str] = []
        for row in rows:
            if row["concurrency"] == concurrency:
                names.append(row["operation"].replace(" (", "\n(").replace(" of ", "\nof "))
                values.append(Spread(row["ratio"], row["ratio"], row["ratio"]))
                colours.append(OURS)
        if update:
            by_repeat = update["rows"]
            mine = {
                r["repeat"]: r["ops_per_s"] for r in by_repeat[f"backend.replace|{concurrency}"]
            }
            for side, label in (("raw PutItem", "PutItem"), ("raw UpdateItem", "UpdateItem")):
                raw = {r["repeat"]: r["ops_per_s"] for r in by_repeat[f"{side}|{concurrency}"]}
                names.append(f"replace\nvs {label}")
                values.append(Spread.of([mine[k] / raw[k] for k in mine.keys() & raw.keys()]))
                colours.append(THIRD)
        medians = [v.median for v in values]
        errors = [[v.median - v.low for v in values], [v.high - v.median for v in values]]
        bars = ax.bar(range(len(names)), medians, 0.7, color=colours, yerr=errors, capsize=3)
        ax.bar_label(bars, labels=[f"{m:.2f}" for m in medians], fontsize=7, padding=2)
        ax.set_xticks(range(len(names)), names, fontsize=7)
        ax.axhline(0.9, color="red", linestyle="--", linewidth=1)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_ylabel("ops/s ratio, backend ÷ raw aioboto3")
        ax.set_title(f"concurrency {concurrency}", fontsize=10)
        ax.set_ylim(0, max(1.6, max((v.high for v in values), default=1) * 1.3))
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        handles = [
            Patch(color=OURS, label="bench_dynamodb.py (same request; median of repeats)"),
            Patch(color=THIRD, label="bench_dynamodb_update.py (median, min-max)"),
            Line2D([], [], color="red", linestyle="--", label="goal: at least 0.9"),
        ]
        ax.legend(handles=handles, fontsize=7, loc="upper left")
    fig.suptitle("DynamoDB backend vs raw aioboto3 on DynamoDB Local", fontsize=11)
    fig.tight_layout()
    return _save(fig, "dynamodb.png")


def _save(fig: Any, name: str) -> Path:
    path = RESULTS / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_all() -> list[Path]:
    written: list[Path] = []
    e2e = read_json("e2e")
    if e2e:
        for draw in (e2e_throughput, e2e_latency, peer):
            path = draw(e2e)
            if path:
                written.append(path)
    mem = read_json("memory")
    if mem:
        path = memory(mem)
        if path:
            written.append(path)
    path = dynamodb(read_json("dynamodb-update"))
    if path:
        written.append(path)
    return written


if __name__ == "__main__":
    for written in draw_all():
        print(written)

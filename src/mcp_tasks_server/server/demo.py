"""``mcp-tasks-server demo``: the product end to end, in under a minute.

The demo is a real deployment in miniature. It starts the reference server as
a subprocess over stdio, connects to it as an MCP client speaking the
2026-07-28 tasks extension, and then:

1. starts four tasks at once: a prime count, a long count, a deployment that
   asks for confirmation, and a job that fails;
2. shows each task's live progress, read with ``tasks/get``;
3. cancels the long count;
4. answers the deployment's confirmation request with ``tasks/update``;
5. prints how each task ended.

Storage is whatever the environment selects: the memory backend by default,
or ``MCP_TASKS_BACKEND=dynamodb`` with its table, exactly as ``serve`` would.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from mcp_tasks_server.client import (
    PROGRESS_META,
    TERMINAL_STATUSES,
    TaskCreated,
    TasksClientExtension,
    cancel_task,
    get_task,
    update_task,
)

__all__ = ["run_demo"]

POLL_SECONDS = 0.25
DEADLINE_SECONDS = 90.0


@dataclass
class Job:
    """One task the demo starts, and what the demo does to it along the way."""

    label: str
    tool: str
    arguments: dict[str, Any]
    cancel_after: float | None = None
    answer: dict[str, Any] | None = None
    expected: str = "completed"
    task_id: str = ""
    bar: TaskID | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.detail.get("status") in TERMINAL_STATUSES


def demo_jobs() -> list[Job]:
    return [
        Job("Count primes up to 20 million", "count_primes", {"limit": 20_000_000, "seconds": 8}),
        Job(
            "A long count, cancelled after 3 s",
            "count_primes",
            {"limit": 200_000_000, "seconds": 120},
            cancel_after=3.0,
            expected="cancelled",
        ),
        Job(
            "Deploy checkout 2.4.1 (asks first)",
            "deploy",
            {"service": "checkout", "version": "2.4.1", "step_seconds": 1.5},
            answer={"action": "accept", "content": {"confirm": True, "note": "approved by demo"}},
        ),
        Job(
            "A job that fails",
            "failing_job",
            {"kind": "protocol_error", "after_seconds": 4},
            expected="failed",
        ),
    ]


def server_parameters() -> StdioServerParameters:
    """The reference server, as a subprocess of this Python, with this environment.

    Its logs share the terminal with the progress bars, so unless a log
    level is set explicitly the demo asks for warnings only.
    """
    environment = {"MCP_TASKS_LOG_LEVEL": "WARNING", **os.environ}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_tasks_server", "serve"], env=environment
    )


async def run_demo(console: Console | None = None) -> int:
    """Run the demo; 0 if every task ended as the demo expects."""
    console = console or Console()
    jobs = demo_jobs()
    backend = os.environ.get("MCP_TASKS_BACKEND", "memory")
    console.print(f"[bold]mcp-tasks-server demo[/] - storage backend: [cyan]{backend}[/]")
    console.print("Starting the reference server over stdio and connecting as a 2026-07-28 client.")
    extension = TasksClientExtension()
    async with Client(server_parameters(), mode="2026-07-28", extensions=[extension]) as client:
        session = client.session
        for job in jobs:
            created = await session.call_tool(job.tool, job.arguments, allow_claimed=True)
            if not isinstance(created, TaskCreated):
                raise RuntimeError(f"{job.tool} answered at once instead of starting a task")
            job.task_id = created.taskId
        console.print(f"Started {len(jobs)} tasks. Following them with tasks/get:\n")
        await _follow(session, jobs, console)
    _report(jobs, console)
    return 0 if all(job.detail.get("status") == job.expected for job in jobs) else 1


async def _follow(session: Any, jobs: list[Job], console: Console) -> None:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", style="bold"),
        BarColumn(),
        TextColumn("{task.fields[status]:<15}"),
        TextColumn("{task.fields[message]}", style="dim"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bars, anyio.fail_after(DEADLINE_SECONDS):
        for job in jobs:
            job.bar = bars.add_task(job.label, total=None, status="working", message="")
        started = anyio.current_time()
        while not all(job.finished for job in jobs):
            for job in jobs:
                if not job.finished:
                    await _step(session, job, bars, anyio.current_time() - started)
            await anyio.sleep(POLL_SECONDS)


async def _step(session: Any, job: Job, bars: Progress, elapsed: float) -> None:
    assert job.bar is not None
    job.detail = detail = await get_task(session, job.task_id)
    status = detail["status"]
    progress = (detail.get("_meta") or {}).get(PROGRESS_META) or {}
    message = progress.get("message") or detail.get("statusMessage") or ""
    bars.update(
        job.bar,
        completed=progress.get("progress", 0),
        total=progress.get("total"),
        status=status,
        message=message[:60],
    )
    if status == "input_required" and job.answer is not None:
        for key, request in (detail.get("inputRequests") or {}).items():
            question = request.get("params", {}).get("message", key)
            bars.console.print(f"  [yellow]?[/] {job.label}: {question}  -> answering yes")
        responses = dict.fromkeys(detail.get("inputRequests") or {}, job.answer)
        await update_task(session, job.task_id, responses)
    if job.cancel_after is not None and elapsed >= job.cancel_after and status == "working":
        bars.console.print(f"  [red]x[/] cancelling: {job.label}")
        job.cancel_after = None
        await cancel_task(session, job.task_id)
    if status == "completed":
        total = progress.get("total") or 1
        bars.update(job.bar, completed=total, total=total)


def _report(jobs: list[Job], console: Console) -> None:
    table = Table(title="How the tasks ended")
    for column in ("task", "status", "outcome"):
        table.add_column(column)
    for job in jobs:
        status = job.detail.get("status", "?")
        colour = "green" if status == job.expected else "red"
        table.add_row(job.label, f"[{colour}]{status}[/]", _outcome(job.detail))
    console.print()
    console.print(table)


def _outcome(detail: dict[str, Any]) -> str:
    if detail.get("status") == "completed":
        result = detail.get("result") or {}
        structured = result.get("structuredContent")
        if structured:
            return ", ".join(f"{k}={v}" for k, v in structured.items() if v is not None)[:100]
        texts = [c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"]
        return " ".join(texts)[:100]
    if detail.get("status") == "failed":
        error = detail.get("error") or {}
        return f"error {error.get('code')}: {error.get('message')}"
    return str(detail.get("statusMessage") or "")

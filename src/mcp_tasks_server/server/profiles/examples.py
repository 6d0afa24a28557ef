"""Example task tools: the reference server's default profile.

A small set, chosen so that together they show everything a task tool can do.
They have no side effects outside the server process (``deploy`` only
pretends), so the reference server is safe to point any client at.

==================  ========  ===================================================
tool                tasks     shows
==================  ========  ===================================================
``count_primes``    optional  a long computation: progress and a status message
``{limit,                     while it runs, cancellation between steps, a
seconds}``                    structured result
``deploy``          optional  asking for confirmation (``ctx.elicit``) and
``{service,                   resuming in place with the answer
version,
environment}``
``failing_job``     optional  the ways a task fails: a tool error (``isError``),
``{kind,                      a JSON-RPC error, an unexpected crash
after_seconds}``
``word_stats``      optional  a quick tool: it finishes inside the inline budget,
``{text}``                    so every client gets its result at once
``server_time``     never     a plain tool, untouched by tasks
==================  ========  ===================================================

Clients with task support (2025-11-25 ``task``, or the 2026-07-28 extension)
get native tasks. Every other client gets the result inline when the tool is
quick, or a task handle after ``MCP_TASKS_INLINE_BUDGET_SECONDS`` and the
``tasks_*`` tools to follow it up.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, Field

from mcp_tasks_server.protocol import Tasks
from mcp_tasks_server.runtime.context import TaskContext, accepted_content

__all__ = ["TOOL_NAMES", "register"]

TOOL_NAMES = ("count_primes", "deploy", "failing_job", "word_stats", "server_time")

#: Steps ``count_primes`` reports progress in.
PRIME_STEPS = 50

#: JSON-RPC code ``failing_job`` fails with for ``kind=protocol_error`` (server-defined range).
UPSTREAM_UNAVAILABLE = -32001


class PrimeCount(BaseModel):
    limit: int = Field(description="The upper bound searched (inclusive)")
    primes: int = Field(description="How many primes are at most limit")
    largest: int | None = Field(description="The largest prime at most limit")
    elapsed_seconds: float


class Deployment(BaseModel):
    service: str
    version: str
    environment: str
    deployed: bool = Field(description="False when the deployment was not confirmed")
    note: str | None = Field(default=None, description="The note given with the confirmation")


class WordStats(BaseModel):
    characters: int
    words: int
    lines: int
    most_common: list[str] = Field(
        description="Up to five most frequent words, most frequent first"
    )


def register(tasks: Tasks, server: MCPServer[Any]) -> None:  # long: the profile's tools, one list
    """Add the example tools to ``server`` through ``tasks``."""

    @tasks.tool(task_support="optional")
    async def count_primes(
        ctx: TaskContext,
        limit: Annotated[int, Field(ge=2, le=200_000_000)] = 20_000_000,
        seconds: Annotated[
            float, Field(ge=0, le=3_600, description="Take at least this long (0: full speed)")
        ] = 30.0,
    ) -> PrimeCount:
        """Count the primes up to limit with a segmented sieve, reporting progress.

        A long-running job: by default it takes about 30 seconds (set seconds
        to change that; 0 runs at full speed), longer than a client without
        task support waits inline, so such a client gets a task handle to
        follow up. Cancel it at any time.
        """
        started = anyio.current_time()
        await ctx.set_status(f"Sieving the primes up to {limit:,}")
        base = _small_primes(math.isqrt(limit))
        segment = -(-(limit + 1) // PRIME_STEPS)
        count, largest = 0, None
        for step in range(PRIME_STEPS):
            low, high = step * segment, min((step + 1) * segment, limit + 1)
            if low < high:
                found, top = await anyio.to_thread.run_sync(_sieve_segment, base, low, high)
                count += found
                largest = top if top is not None else largest
            await ctx.report_progress(step + 1, PRIME_STEPS, f"{count:,} primes up to {high - 1:,}")
            pace = started + seconds * (step + 1) / PRIME_STEPS - anyio.current_time()
            if pace > 0:
                await anyio.sleep(pace)
        return PrimeCount(
            limit=limit,
            primes=count,
            largest=largest,
            elapsed_seconds=round(anyio.current_time() - started, 3),
        )

    @tasks.tool(task_support="optional")
    async def deploy(
        service: Annotated[str, Field(min_length=1, max_length=100)],
        version: Annotated[str, Field(min_length=1, max_length=50)],
        ctx: TaskContext,
        environment: Literal["staging", "production"] = "staging",
        step_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0,
    ) -> Deployment:
        """Deploy a service version (simulated: nothing is really deployed).

        Builds and uploads, then asks for confirmation before it rolls out,
        and waits for the answer. Without confirmation nothing changes.
        """
        steps = ["Building", "Uploading", "Rolling out", "Checking health"]
        for done, step in enumerate(steps[:2]):
            await ctx.report_progress(done, len(steps), f"{step} {service} {version}")
            await anyio.sleep(step_seconds)
        answer = await ctx.elicit(
            f"Deploy {service} {version} to {environment}?",
            {
                "type": "object",
                "properties": {
                    "confirm": {"type": "boolean", "description": "true to deploy"},
                    "note": {"type": "string", "description": "Optional note for the log"},
                },
                "required": ["confirm"],
            },
        )
        content = accepted_content(answer)
        note = content.get("note") if isinstance(content.get("note"), str) else None
        if content.get("confirm") is not True:
            await ctx.set_status("Not confirmed; nothing was deployed")
            return Deployment(
                service=service, version=version, environment=environment, deployed=False
            )
        for done, step in enumerate(steps[2:], start=2):
            await ctx.report_progress(done, len(steps), f"{step} {service} {version}")
            await anyio.sleep(step_seconds)
        await ctx.report_progress(len(steps), len(steps), "Deployed")
        return Deployment(
            service=service, version=version, environment=environment, deployed=True, note=note
        )

    @tasks.tool(task_support="optional")
    async def failing_job(
        ctx: TaskContext,
        kind: Literal["tool_error", "protocol_error", "crash"] = "tool_error",
        after_seconds: Annotated[float, Field(ge=0, le=600)] = 1.0,
    ) -> str:
        """Work a little, then fail, to show how a failed task looks.

        kind=tool_error: the tool reports an error the model can read
        (isError). kind=protocol_error: the call fails with a JSON-RPC error.
        kind=crash: an unexpected exception; its details stay in the server log.
        """
        await ctx.set_status(f"Working for {after_seconds:g} s before failing")
        await anyio.sleep(after_seconds)
        if kind == "tool_error":
            raise ToolError("The input file has 3 malformed rows (lines 4, 9 and 17)")
        if kind == "protocol_error":
            raise MCPError(code=UPSTREAM_UNAVAILABLE, message="The upstream service is unavailable")
        raise RuntimeError("an unexpected failure, with details only the server log shows")

    @tasks.tool(task_support="optional")
    async def word_stats(text: Annotated[str, Field(max_length=100_000)]) -> WordStats:
        """Count the characters, words and lines of a text. Quick: answers at once."""
        words = [word.strip(".,;:!?\"'()[]").lower() for word in text.split()]
        frequency: dict[str, int] = {}
        for word in filter(None, words):
            frequency[word] = frequency.get(word, 0) + 1
        ranked = sorted(frequency, key=lambda word: (-frequency[word], word))
        return WordStats(
            characters=len(text),
            words=len(words),
            lines=len(text.splitlines()),
            most_common=ranked[:5],
        )

    @server.tool()
    def server_time() -> str:
        """The server's current time (UTC, ISO 8601). An ordinary tool, never a task."""
        return datetime.now(tz=UTC).isoformat(timespec="seconds")


def _small_primes(limit: int) -> list[int]:
    """The primes up to ``limit``, by the plain sieve of Eratosthenes."""
    if limit < 2:
        return []
    sieve = bytearray([1]) * (limit + 1)
    sieve[0:2] = b"\x00\x00"
    for n in range(2, math.isqrt(limit) + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytes(len(range(n * n, limit + 1, n)))
    return [n for n in range(limit + 1) if sieve[n]]


def _sieve_segment(base: list[int], low: int, high: int) -> tuple[int, int | None]:
    """How many primes lie in ``[low, high)``, and the largest of them."""
    sieve = bytearray([1]) * (high - low)
    for n in range(max(low, 0), min(high, 2)):
        sieve[n - low] = 0
    for p in base:
        if p * p >= high:
            break
        start = max(p * p, -(-low // p) * p)
        sieve[start - low :: p] = bytes(len(range(start, high, p)))
    count = sieve.count(1)
    top = sieve.rfind(1)
    return count, (low + top if top >= 0 else None)

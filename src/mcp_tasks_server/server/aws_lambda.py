"""AWS Lambda handlers: the MCP front end, the SQS worker and the scheduled sweep.

Lambda runs code only while an invocation is open, so nothing may run a tool
"in the background" there: the front end runs in **queue mode** (it stores
each task and sends one SQS message naming it), a worker function claims the
task and runs the tool within its own invocation, and a scheduled function
fails the tasks that no worker took or whose worker was lost.

* :func:`http_handler` serves streamable HTTP behind a Function URL or API
  Gateway (HTTP API and REST API events) through Mangum, stateless, with
  JSON responses when ``MCP_TASKS_JSON_RESPONSE`` is on. Behind API Gateway
  (a 30 s limit) keep ``MCP_TASKS_RESULT_WAIT_SECONDS`` at about 25 or less.
* :func:`worker_handler` takes an SQS event (``BatchSize`` 1 is the intended
  setting) and answers with ``batchItemFailures`` for the messages to retry.
* :func:`sweep_handler` runs one orphan and expiry sweep, for an EventBridge
  schedule (``mcp-tasks-server sweep --once`` does the same elsewhere).

They find their tools as ``serve`` and ``worker`` do (``MCP_TASKS_TOOLS``,
``MCP_TASKS_PROFILE``); :func:`handlers_for` gives the three handlers for a
server you built yourself.

**One lifespan per container.** The SDK's session manager can be started
only once, and Mangum would run the app's lifespan on every invocation (the
second warm call then fails). The front end therefore enters the lifespan
once, on the container's one event loop, never leaves it, and runs Mangum
with ``lifespan="off"``. The lifespan opens the storage client and the
runner, so they too are opened once per container, as AWS advises for SDK
clients. The worker holds its worker open the same way. Between invocations
Lambda freezes the process and the loop with it; nothing runs then.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, MutableMapping
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple, TypeAlias, TypeVar

import anyio
from mcp.server.mcpserver import MCPServer

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.queues.base import Delivery
from mcp_tasks_server.runtime.worker import Outcome, Worker
from mcp_tasks_server.server.build import build_server
from mcp_tasks_server.server.http import http_app
from mcp_tasks_server.server.logs import configure_logging
from mcp_tasks_server.server.sweep import sweep_once
from mcp_tasks_server.server.worker import open_worker
from mcp_tasks_server.settings import Settings, load_settings

try:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from mangum import Mangum
    from mangum.protocols import LifespanCycle
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "the Lambda handlers need the 'lambda' extra: pip install 'mcp-tasks-server[lambda]'"
    ) from exc

__all__ = [
    "ContainerLoop",
    "Handler",
    "LambdaHandlers",
    "handlers_for",
    "http_handler",
    "sweep_handler",
    "worker_handler",
]

logger = logging.getLogger("mcp_tasks_server.server")

Event: TypeAlias = dict[str, Any]
Handler: TypeAlias = Callable[[Event, Any], dict[str, Any]]
T = TypeVar("T")


class ContainerLoop:
    """The one asyncio loop of a Lambda container, reused by every invocation.

    Mangum runs its request cycles on the current loop; whatever is held open
    (the app's lifespan, the worker) lives on this one too, suspended while
    Lambda freezes the process.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._held: list[asyncio.Task[None]] = []

    def activate(self) -> asyncio.AbstractEventLoop:
        """Make this the current loop (Mangum and the SDK look it up)."""
        asyncio.set_event_loop(self.loop)
        return self.loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.activate().run_until_complete(coroutine)

    def hold_open(self, manager: AbstractAsyncContextManager[T]) -> T:
        """Enter ``manager`` for the rest of the container's life; return what it gave."""
        entered: asyncio.Future[T] = self.loop.create_future()

        async def hold() -> None:
            async with manager as value:
                entered.set_result(value)
                await asyncio.Event().wait()  # until the container is gone

        async def start() -> T:
            task = self.loop.create_task(hold())
            self._held.append(task)  # a reference, so the task is never collected
            either: list[asyncio.Future[Any]] = [entered, task]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not entered.done():
                task.result()  # raises what failed on entering
            return entered.result()

        return self.run(start())


class LambdaHandlers(NamedTuple):
    """The three handlers for one server: ``http, worker, sweep = handlers_for(...)``."""

    http: Handler
    worker: Handler
    sweep: Handler


def handlers_for(
    server: MCPServer[Any], settings: Settings, *, loop: ContainerLoop | None = None
) -> LambdaHandlers:
    """The Lambda handlers for ``server`` (with tasks installed) and ``settings``.

    Each opens what it needs on its first invocation and keeps it for the
    container's life. Use one of them per function.
    """
    loop = loop if loop is not None else ContainerLoop()
    return LambdaHandlers(
        http=HttpHandler(server, settings, loop),
        worker=WorkerHandler(server, settings, loop),
        sweep=SweepHandler(settings, loop),
    )


# ---------------------------------------------------------------------- front end


def _require_queue_mode(settings: Settings, role: str) -> None:
    if settings.execution != "queue":
        raise ConfigError(
            f"the Lambda {role} needs MCP_TASKS_EXECUTION=queue (and MCP_TASKS_QUEUE_URL): "
            "Lambda runs nothing between invocations, so tools must run on workers"
        )


class HttpHandler:
    """Streamable HTTP behind a Function URL or API Gateway, lifespan entered once."""

    def __init__(self, server: MCPServer[Any], settings: Settings, loop: ContainerLoop) -> None:
        _require_queue_mode(settings, "front end")
        self.settings = settings
        self.loop = loop
        # A Lambda instance keeps no session between requests: always stateless.
        self.app = http_app(server, settings.model_copy(update={"stateless": True}))
        self._adapter: Mangum | None = None

    def __call__(self, event: Event, context: Any) -> dict[str, Any]:
        adapter = self._adapter if self._adapter is not None else self._start()
        self.loop.activate()
        return adapter(event, context)

    def _start(self) -> Mangum:
        self.loop.activate()
        cycle = LifespanCycle(self.app, "on")
        cycle.__enter__()  # never exited: the lifespan lasts as long as the container
        state = dict(cycle.lifespan_state)
        self._adapter = Mangum(_with_state(self.app, state), lifespan="off")
        return self._adapter


def _with_state(app: Any, state: dict[str, Any]) -> Any:
    """``app`` with the lifespan's state in every request scope, as a lifespan run gives it."""

    async def with_state(
        scope: MutableMapping[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        scope.setdefault("state", dict(state))
        await app(scope, receive, send)

    return with_state


# ---------------------------------------------------------------------- worker


class WorkerHandler:
    """An SQS event: each message's task claimed and run within this invocation.

    Records are read through Powertools' ``SQSRecord``; the batch itself runs
    here rather than in its ``AsyncBatchProcessor``, which outside Lambda's
    own environment (``LAMBDA_TASK_ROOT`` unset) runs each batch on a fresh
    loop, away from the worker held open on the container's loop. A record
    whose handling raises is reported alone, as the processor would.
    """

    def __init__(self, server: MCPServer[Any], settings: Settings, loop: ContainerLoop) -> None:
        self.server = server
        self.settings = settings
        self.loop = loop
        self._worker: Worker | None = None

    def __call__(self, event: Event, context: Any) -> dict[str, Any]:
        if self._worker is None:
            _require_queue_mode(self.settings, "worker")
            # ack=False: the event source deletes the messages this handler does not fail.
            self._worker = self.loop.hold_open(open_worker(self.settings, self.server, ack=False))
        remaining = context.get_remaining_time_in_millis() / 1000
        failures = self.loop.run(self._batch(event.get("Records", []), remaining))
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}

    async def _batch(self, records: list[dict[str, Any]], remaining: float) -> list[str]:
        deadline = anyio.current_time() + remaining  # the worker's clock
        failures: list[str] = []

        async def one(record: dict[str, Any]) -> None:
            message_id = str(record.get("messageId", ""))  # what batchItemFailures names
            assert self._worker is not None
            try:
                outcome = await self._worker.handle(_delivery(record), deadline=deadline)
            except Exception:
                logger.exception("worker failed on message %s; it will be retried", message_id)
                outcome = Outcome.RETRY
            if outcome is Outcome.RETRY:
                failures.append(message_id)

        async with anyio.create_task_group() as group:
            for record in records:
                group.start_soon(one, record)
        return failures


def _delivery(record: dict[str, Any]) -> Delivery:
    """The queue's view of one SQS event record."""
    sqs = SQSRecord(record)
    return Delivery(
        message_id=sqs.message_id,
        receive_count=max(1, int(sqs.attributes.approximate_receive_count)),
        body=sqs.body,
        receipt=sqs.receipt_handle,
    )


# ---------------------------------------------------------------------- sweep


class SweepHandler:
    """One orphan and expiry sweep per invocation (an EventBridge schedule)."""

    def __init__(self, settings: Settings, loop: ContainerLoop) -> None:
        self.settings = settings
        self.loop = loop

    def __call__(self, event: Event, context: Any) -> dict[str, Any]:
        report = self.loop.run(sweep_once(self.settings))
        logger.info("sweep: %s", report.as_json())
        return report.as_json()


# ---------------------------------------------------------------------- the functions


@functools.cache
def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings.log_level)
    return settings


@functools.cache
def _container_loop() -> ContainerLoop:
    return ContainerLoop()


@functools.cache
def _server() -> MCPServer[Any]:
    settings = _settings()
    return build_server(settings, profile=settings.profile, tools=settings.tools)


@functools.cache
def _http() -> Handler:
    return HttpHandler(_server(), _settings(), _container_loop())


@functools.cache
def _worker() -> Handler:
    return WorkerHandler(_server(), _settings(), _container_loop())


@functools.cache
def _sweep() -> Handler:
    return SweepHandler(_settings(), _container_loop())


def http_handler(event: Event, context: Any) -> dict[str, Any]:
    """The MCP endpoint (``MCP_TASKS_TOOLS``, ``MCP_TASKS_PROFILE``), queue mode."""
    return _http()(event, context)


def worker_handler(event: Event, context: Any) -> dict[str, Any]:
    """An SQS event source: claims and runs each message's task."""
    return _worker()(event, context)


def sweep_handler(event: Event, context: Any) -> dict[str, Any]:
    """A schedule: fails orphans and removes expired tasks, once."""
    return _sweep()(event, context)

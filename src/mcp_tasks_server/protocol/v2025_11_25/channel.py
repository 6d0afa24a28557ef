"""Server-to-client traffic of the 2025-11-25 era: notifications, and input via ``tasks/result``.

:class:`LegacyChannels` remembers each task's creating connection and sends
``notifications/tasks/status`` and ``notifications/progress`` on it for
changes this replica makes. :class:`ResultWait` is one blocking
``tasks/result`` call: it relays each open input request to the client on
that call's own stream and stores the answer. All of it is best effort: a
task's outcome never depends on a message reaching the client, and
stateless HTTP, which has no channel back, gets none of it.

The rules in full: ``docs/protocol-eras.md``.
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import mcp_types
from mcp.server.context import ServerRequestContext
from mcp.shared.message import ServerMessageMetadata
from pydantic import ConfigDict

from mcp_tasks_server.core.errors import ResultNotReady, TaskError
from mcp_tasks_server.core.model import InputRequest, Progress, TaskRecord, TaskStatus
from mcp_tasks_server.core.owner import Owner
from mcp_tasks_server.protocol import sdk
from mcp_tasks_server.protocol.shapes import legacy_task, related_task_meta

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mcp.server.connection import Connection

    from mcp_tasks_server.protocol.host import TaskHost

__all__ = ["NOTIFY_TIMEOUT_SECONDS", "LegacyChannels", "ResultWait"]

logger = logging.getLogger(__name__)

#: Longest a best-effort notification may hold up the tool that caused it.
NOTIFY_TIMEOUT_SECONDS = 2.0

#: Every this many new subscriptions, subscribers of expired tasks are dropped.
_PRUNE_EVERY = 256

#: What each server-to-client request needs the client to have declared.
_CAPABILITY_FOR: Mapping[str, str] = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}


@dataclass(slots=True)
class _Subscriber:
    """Where to tell the creating client about a task, and what it was last told."""

    connection: Connection
    owner_key: str
    expires_at_ms: int | None
    progress_token: str | int | None
    status: TaskStatus
    status_message: str | None
    progress: Progress | None = None


@dataclass
class LegacyChannels:
    """Per ``Tasks`` object: who to notify about which task, and which questions are in flight.

    Built once by the composition root, which registers :meth:`publish` as a
    runner listener and hands the same object to the middleware and to every
    :class:`ResultWait`.
    """

    subscribers: dict[str, _Subscriber] = field(default_factory=dict)
    subscriptions: int = 0
    # (task id, input key) pairs being asked of a client right now, so two
    # concurrent tasks/result calls do not ask the same question twice.
    relaying: set[tuple[str, str]] = field(default_factory=set)

    def subscribe(
        self,
        ctx: ServerRequestContext[Any, Any],
        owner: Owner,
        record: TaskRecord,
        progress_token: str | int | None,
    ) -> None:
        connection = sdk.connection_of(ctx)
        if connection is None or not connection.has_standalone_channel:
            return  # stateless HTTP: nowhere to send notifications
        self.subscriptions += 1
        if self.subscriptions % _PRUNE_EVERY == 0:
            self._prune(record.created_at_ms)
        self.subscribers[record.task_id] = _Subscriber(
            connection,
            owner.key,
            record.expires_at_ms,
            progress_token,
            record.status,
            record.status_message,
        )

    def _prune(self, now_ms: int) -> None:
        """Forget tasks that expired without this replica seeing them end.

        A subscriber is normally dropped when its task's final state is
        published here. A task that expires while its tool still runs, or
        is cancelled through another replica, never publishes one here.
        """
        for task_id, subscriber in list(self.subscribers.items()):
            if subscriber.expires_at_ms is not None and subscriber.expires_at_ms <= now_ms:
                del self.subscribers[task_id]

    async def publish(self, record: TaskRecord) -> None:
        """Runner listener: notify the creating connection of what changed."""
        subscriber = self.subscribers.get(record.task_id)
        if subscriber is None or subscriber.owner_key != record.owner:
            return
        if record.is_terminal:
            del self.subscribers[record.task_id]
        messages: list[tuple[str, dict[str, Any]]] = []
        if (
            subscriber.progress_token is not None
            and record.progress is not None
            and record.progress != subscriber.progress
        ):
            subscriber.progress = record.progress
            messages.append(("notifications/progress", _progress(subscriber, record)))
        if (record.status, record.status_message) != (
            subscriber.status,
            subscriber.status_message,
        ):
            subscriber.status, subscriber.status_message = record.status, record.status_message
            messages.append(("notifications/tasks/status", legacy_task(record)))
        with anyio.move_on_after(NOTIFY_TIMEOUT_SECONDS) as deadline:
            for method, params in messages:
                await subscriber.connection.notify(method, params)
        if deadline.cancelled_caught:  # a client that cannot keep up is told no more
            self.subscribers.pop(record.task_id, None)


def _progress(subscriber: _Subscriber, record: TaskRecord) -> dict[str, Any]:
    assert record.progress is not None
    params: dict[str, Any] = {
        "progressToken": subscriber.progress_token,
        "progress": record.progress.progress,
    }
    if record.progress.total is not None:
        params["total"] = record.progress.total
    if record.progress.message is not None:
        params["message"] = record.progress.message
    params["_meta"] = related_task_meta(record.task_id)
    return params


# ---------------------------------------------------------------------- tasks/result


class _AnyResult(mcp_types.Result):
    """A client's answer, kept whole whatever the method."""

    model_config = ConfigDict(extra="allow")


class _ServerRequest(mcp_types.Request[dict[str, Any], str]):
    """A server-to-client request with plain-dict params (so explicit nulls survive)."""

    method: str
    params: dict[str, Any]


class ResultWait:
    """One blocking ``tasks/result`` call: wait for the end, relaying input on the way.

    Waiting is :meth:`TaskService.watch`: event-driven on this replica,
    polled for changes made elsewhere. Relays run beside the wait in a task group, one per
    outstanding input request; when the task ends, any question still open
    is withdrawn by cancelling its relay.
    """

    def __init__(
        self,
        host: TaskHost,
        channels: LegacyChannels,
        ctx: ServerRequestContext[Any, Any],
        task_id: str,
    ) -> None:
        self.host = host
        self.ctx = ctx
        self.task_id = task_id
        self.owner = host.owner(ctx)
        self.channels = channels
        self.asked: set[str] = set()  # keys this call relayed (or could not): ask each once

    async def run(self) -> TaskRecord:
        limit = self.host.settings.result_wait_seconds
        outcome: TaskRecord | TaskError | None = None
        with anyio.move_on_after(limit):
            async with anyio.create_task_group() as group:
                try:
                    outcome = await self._wait(group)
                except TaskError as exc:
                    outcome = exc
                group.cancel_scope.cancel()
        if isinstance(outcome, TaskError):
            raise outcome
        if outcome is None:
            raise ResultNotReady(self.task_id, limit)
        return outcome

    async def _wait(self, group: anyio.abc.TaskGroup) -> TaskRecord:
        async with aclosing(self.host.service.watch(self.owner, self.task_id)) as records:
            async for record in records:
                if record.is_terminal:
                    return record
                if record.status is TaskStatus.INPUT_REQUIRED:
                    for key, request in record.input_requests.items():
                        self._relay(group, key, request)
        raise AssertionError("a watch only ends when its caller stops")

    def _relay(self, group: anyio.abc.TaskGroup, key: str, request: InputRequest) -> None:
        slot = (self.task_id, key)
        if key in self.asked or slot in self.channels.relaying:
            return
        self.asked.add(key)
        if not self._can_ask(request.method):
            return
        self.channels.relaying.add(slot)
        group.start_soon(self._ask, key, request, name=f"task {self.task_id} input {key}")

    def _can_ask(self, method: str) -> bool:
        session = self.ctx.session
        if self.ctx.request_id is None or not session.can_send_request:
            return False  # no stream back to the client (stateless HTTP)
        capabilities = session.client_capabilities
        needed = _CAPABILITY_FOR.get(method)
        return (
            capabilities is not None
            and needed is not None
            and getattr(capabilities, needed) is not None
        )

    async def _ask(self, key: str, request: InputRequest) -> None:
        """Send one input request on this call's stream and store the client's answer."""
        try:
            params = dict(request.params)
            params["_meta"] = {**(params.get("_meta") or {}), **related_task_meta(self.task_id)}
            answer = await self.ctx.session.send_request(
                _ServerRequest(method=request.method, params=params),  # type: ignore[arg-type]
                _AnyResult,
                metadata=ServerMessageMetadata(related_request_id=self.ctx.request_id),
            )
            response = answer.model_dump(by_alias=True, mode="json", exclude_none=True)
            response.pop("resultType", None)
            await self.host.service.deliver_input(self.owner, self.task_id, {key: response})
        except Exception as exc:  # the client refused, went away, or answered nonsense
            task = self.host.service.store.observers.ids.task(self.task_id)
            logger.info("could not relay input %r of task %s: %r", key, task, exc)
        finally:
            self.channels.relaying.discard((self.task_id, key))

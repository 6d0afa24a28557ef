"""The runtime: background execution, cancellation, input, result waiting, shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import pytest

from mcp_tasks_server import (
    InputRequest,
    MemoryBackend,
    Settings,
    TaskStatus,
    TaskTerminal,
    ToolRequest,
)
from mcp_tasks_server.core.errors import ListingNotAllowed, ProtocolFailure, ResultNotReady
from mcp_tasks_server.core.lifecycle import STOPPED_MESSAGE
from mcp_tasks_server.core.owner import ANONYMOUS, LOCAL, bind_owner
from mcp_tasks_server.runtime.runner import Runner
from mcp_tasks_server.runtime.service import TaskService
from mcp_tasks_server.runtime.task_context import StoredTaskContext
from tests.support.factories import make_store, running_service
from tests.support.results import text_result

pytestmark = pytest.mark.anyio

REQUEST = ToolRequest(name="job")


@pytest.fixture
async def service() -> AsyncIterator[TaskService]:
    settings = Settings(heartbeat_interval_seconds=0.05, shutdown_grace_seconds=0.2)
    async with running_service(MemoryBackend(), settings) as running:
        yield running


async def finished(service: TaskService, task_id: str) -> Any:
    with anyio.fail_after(5):
        return await service.result(LOCAL, task_id)


async def test_returned_result_completes_the_task(service: TaskService) -> None:
    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        return text_result("42")

    task = await service.create(LOCAL, REQUEST, tool)
    assert task.status is TaskStatus.WORKING
    done = await finished(service, task.task_id)
    assert done.status is TaskStatus.COMPLETED
    assert done.result == text_result("42")


async def test_tool_error_fails_the_task_or_completes_it_as_configured(
    service: TaskService,
) -> None:
    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        return text_result("bad input", is_error=True)

    legacy = await service.create(LOCAL, REQUEST, tool)
    modern = await service.create(LOCAL, REQUEST, tool, tool_error_status=TaskStatus.COMPLETED)
    assert (await finished(service, legacy.task_id)).status is TaskStatus.FAILED
    assert (await finished(service, modern.task_id)).status is TaskStatus.COMPLETED


async def test_protocol_failure_fails_the_task_with_that_error(service: TaskService) -> None:
    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        raise ProtocolFailure(-32000, "upstream refused", {"retry": False})

    task = await service.create(LOCAL, REQUEST, tool)
    done = await finished(service, task.task_id)
    assert done.status is TaskStatus.FAILED
    assert done.error == {"code": -32000, "message": "upstream refused", "data": {"retry": False}}


async def test_unexpected_exception_fails_the_task_without_leaking_details(
    service: TaskService,
) -> None:
    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        raise RuntimeError("secret connection string")

    task = await service.create(LOCAL, REQUEST, tool)
    done = await finished(service, task.task_id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert done.error["code"] == -32603
    assert "secret" not in str(done.error)


async def test_status_and_progress_are_visible_while_running(service: TaskService) -> None:
    release = anyio.Event()

    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        await ctx.set_status("crunching")
        await ctx.report_progress(5, 10, "half way")
        await release.wait()
        return text_result("ok")

    task = await service.create(LOCAL, REQUEST, tool)
    with anyio.fail_after(5):
        while (await service.get(LOCAL, task.task_id)).progress is None:  # noqa: ASYNC110
            await anyio.sleep(0.01)
    seen = await service.get(LOCAL, task.task_id)
    assert seen.status_message == "crunching"
    assert seen.progress is not None
    assert (seen.progress.progress, seen.progress.total) == (5, 10)
    release.set()
    assert (await finished(service, task.task_id)).status is TaskStatus.COMPLETED


async def test_cancel_stores_cancelled_and_stops_the_coroutine(service: TaskService) -> None:
    started, stopped = anyio.Event(), anyio.Event()

    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        started.set()
        try:
            await anyio.sleep(60)
        finally:
            stopped.set()
        return text_result("never")

    task = await service.create(LOCAL, REQUEST, tool)
    with anyio.fail_after(5):
        await started.wait()
    cancelled = await service.cancel(LOCAL, task.task_id)
    assert cancelled.status is TaskStatus.CANCELLED
    with anyio.fail_after(5):
        await stopped.wait()
    assert (await finished(service, task.task_id)).status is TaskStatus.CANCELLED


async def test_completion_that_ignores_the_cancel_never_overwrites_it() -> None:
    settings = Settings(shutdown_grace_seconds=30)
    store = make_store(MemoryBackend(), settings)
    started, release, returned = anyio.Event(), anyio.Event(), anyio.Event()

    async def stubborn(ctx: StoredTaskContext) -> Mapping[str, Any]:
        started.set()
        with anyio.CancelScope(shield=True):
            await release.wait()
        returned.set()
        return text_result("late")

    async with Runner(store, settings) as runner:
        service = TaskService(store, runner)
        task = await service.create(LOCAL, REQUEST, stubborn)
        with anyio.fail_after(5):
            await started.wait()
        await service.cancel(LOCAL, task.task_id)
        release.set()
    # Leaving the runner waited for the tool and for whatever became of its result.
    assert returned.is_set()
    final = await store.get(LOCAL.key, task.task_id)
    assert final.status is TaskStatus.CANCELLED
    assert final.result is None


async def test_cancel_of_finished_task_is_rejected(service: TaskService) -> None:
    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        return text_result("done")

    task = await service.create(LOCAL, REQUEST, tool)
    await finished(service, task.task_id)
    with pytest.raises(TaskTerminal):
        await service.cancel(LOCAL, task.task_id)


async def test_input_request_parks_the_task_and_the_answer_resumes_it_in_place(
    service: TaskService,
) -> None:
    runs = 0

    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        nonlocal runs
        runs += 1
        answer = await ctx.elicit("Delete report.txt?", {"type": "object", "properties": {}})
        return text_result(f"answer={answer['action']}")

    task = await service.create(LOCAL, REQUEST, tool)
    with anyio.fail_after(5):
        while (parked := await service.get(LOCAL, task.task_id)).status is TaskStatus.WORKING:  # noqa: ASYNC110
            await anyio.sleep(0.01)
    assert parked.status is TaskStatus.INPUT_REQUIRED
    [(key, request)] = parked.input_requests.items()
    assert request.method == "elicitation/create"
    assert request.params["message"] == "Delete report.txt?"

    delivery = await service.deliver_input(LOCAL, task.task_id, {key: {"action": "accept"}})
    assert delivery.accepted == {key}
    done = await finished(service, task.task_id)
    assert done.result == text_result("answer=accept")
    assert runs == 1


async def test_cancel_while_waiting_for_input_stops_the_tool(service: TaskService) -> None:
    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        await ctx.request_input({"k": InputRequest(method="elicitation/create")})
        return text_result("never")

    task = await service.create(LOCAL, REQUEST, tool)
    with anyio.fail_after(5):
        while (await service.get(LOCAL, task.task_id)).status is TaskStatus.WORKING:  # noqa: ASYNC110
            await anyio.sleep(0.01)
    await service.cancel(LOCAL, task.task_id)
    assert (await finished(service, task.task_id)).status is TaskStatus.CANCELLED
    assert task.task_id not in service.runner.running_task_ids


async def test_result_wait_gives_up_after_its_limit(service: TaskService) -> None:
    async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
        await anyio.sleep(60)
        return text_result("never")

    task = await service.create(LOCAL, REQUEST, tool)
    with pytest.raises(ResultNotReady, match="still running"):
        await service.result(LOCAL, task.task_id, max_wait=0.2)


async def test_listing_needs_an_owner_binding(service: TaskService) -> None:
    with pytest.raises(ListingNotAllowed):
        await service.list(ANONYMOUS)
    assert (await service.list(LOCAL)).records == []


def test_owners_are_bound_to_the_most_specific_identity() -> None:
    principal = bind_owner(principal='{"sub":"ada"}', session_id="s1", local=True)
    session = bind_owner(session_id="s1", local=True)
    assert principal.kind == "principal"
    assert session.kind == "session"
    assert bind_owner(local=True) == LOCAL
    assert bind_owner() == ANONYMOUS
    assert not ANONYMOUS.can_list
    assert "ada" not in principal.key
    assert "s1" not in session.key


async def test_shutdown_lets_quick_tasks_finish_and_fails_the_rest() -> None:
    settings = Settings(shutdown_grace_seconds=0.3)
    store = make_store(MemoryBackend(), settings)
    async with Runner(store, settings) as runner:
        service = TaskService(store, runner)

        async def quick(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await anyio.sleep(0.05)
            return text_result("quick")

        async def slow(ctx: StoredTaskContext) -> Mapping[str, Any]:
            await anyio.sleep(60)
            return text_result("slow")

        fast_task = await service.create(LOCAL, REQUEST, quick)
        slow_task = await service.create(LOCAL, REQUEST, slow)
    assert (await store.get(LOCAL.key, fast_task.task_id)).status is TaskStatus.COMPLETED
    stopped = await store.get(LOCAL.key, slow_task.task_id)
    assert stopped.status is TaskStatus.FAILED
    assert stopped.status_message == STOPPED_MESSAGE


async def test_answer_delivered_through_another_runner_reaches_the_tool() -> None:
    """Two runners on one backend, as two replicas on one table: no shared events."""
    backend = MemoryBackend()
    settings = Settings(heartbeat_interval_seconds=0.05)
    store_a, store_b = make_store(backend, settings), make_store(backend, settings)
    async with Runner(store_a, settings) as runner_a, Runner(store_b, settings) as runner_b:
        service_a, service_b = TaskService(store_a, runner_a), TaskService(store_b, runner_b)

        async def tool(ctx: StoredTaskContext) -> Mapping[str, Any]:
            answers = await ctx.request_input({"name": InputRequest(method="elicitation/create")})
            return text_result(f"hello {answers['name']}")

        task = await service_a.create(LOCAL, REQUEST, tool)
        with anyio.fail_after(5):
            while (await service_b.get(LOCAL, task.task_id)).status is TaskStatus.WORKING:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        await service_b.deliver_input(LOCAL, task.task_id, {"name": "Ada"})
        with anyio.fail_after(5):
            done = await service_b.result(LOCAL, task.task_id)
        assert done.result == text_result("hello Ada")

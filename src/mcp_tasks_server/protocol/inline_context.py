"""``InlineTaskContext``: a task tool's context when it is called without a task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.server.mcpserver import Context

from mcp_tasks_server.core.errors import ProtocolFailure
from mcp_tasks_server.core.model import InputRequest
from mcp_tasks_server.runtime.context import TaskContext

__all__ = ["InlineTaskContext"]


class InlineTaskContext(TaskContext):
    """The context of a task tool called without a task: reports through the request."""

    def __init__(self, context: Context[Any, Any]) -> None:
        self._context = context
        self._last_progress = 0.0

    @property
    def task_id(self) -> str | None:
        return None

    @property
    def is_cancelled(self) -> bool:
        return False

    async def set_status(self, message: str | None) -> None:
        if message:
            await self.report_progress(self._last_progress, message=message)

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        self._last_progress = progress
        await self._context.report_progress(progress, total, message)

    async def request_input(
        self, requests: Mapping[str, InputRequest], *, status_message: str | None = None
    ) -> dict[str, Any]:
        """Ask inline with ``elicitation/create`` where the connection allows it."""
        answers: dict[str, Any] = {}
        session = self._context.session
        for key, request in requests.items():
            if request.method != "elicitation/create":
                raise ProtocolFailure(
                    -32600, f"{request.method} needs a task; call this tool as a task"
                )
            try:
                result = await session.elicit_form(
                    message=request.params.get("message", status_message or ""),
                    requested_schema=request.params.get("requestedSchema", {}),
                    related_request_id=self._context.request_id,
                )
            except Exception as exc:
                raise ProtocolFailure(
                    -32600, "This tool needs input from the client; call it as a task"
                ) from exc
            answers[key] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return answers

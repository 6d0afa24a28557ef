"""``TaskContext``: what a task-capable tool can do while it runs.

A tool opts in by declaring a parameter annotated ``TaskContext``. Through it
the tool can say what it is doing (status message), how far it has got
(progress), ask its client a question and wait for the answer, and notice
that it was cancelled. The same tool code runs either way a client calls it:

* as a **task**: every change goes to the store first, because that is what
  ``tasks/get`` reads on whichever replica the client reaches (the runner's
  :class:`~mcp_tasks_server.runtime.task_context.StoredTaskContext`).
* **inline**, for a client that did not ask for a task: the protocol layer
  supplies a context that reports through the ordinary request instead.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from mcp_tasks_server.core.model import InputRequest

__all__ = ["TaskContext", "accepted_content", "form_request"]


def form_request(message: str, requested_schema: Mapping[str, Any] | None = None) -> InputRequest:
    """An ``elicitation/create`` form request, as both eras spell it."""
    schema = dict(requested_schema or {"type": "object", "properties": {}})
    return InputRequest(
        method="elicitation/create",
        params={"mode": "form", "message": message, "requestedSchema": schema},
    )


def accepted_content(answer: Any) -> dict[str, Any]:
    """The content of an accepted elicitation answer; empty if declined or cancelled."""
    if isinstance(answer, dict) and answer.get("action") == "accept":
        content = answer.get("content")
        return content if isinstance(content, dict) else {}
    return {}


class TaskContext(ABC):
    """What a task-capable tool may do while it runs. Declare a parameter of this type."""

    @property
    @abstractmethod
    def task_id(self) -> str | None:
        """The task's id, or None when the tool runs inline (no task)."""

    @property
    @abstractmethod
    def is_cancelled(self) -> bool:
        """True once a cancel reached this call. The tool is also interrupted at its next await."""

    @abstractmethod
    async def set_status(self, message: str | None) -> None:
        """Say what the tool is doing now (``statusMessage`` in ``tasks/get``)."""

    @abstractmethod
    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Report how far the tool has got."""

    @abstractmethod
    async def request_input(
        self, requests: Mapping[str, InputRequest], *, status_message: str | None = None
    ) -> dict[str, Any]:
        """Ask the client for input and wait for every answer; returns them by key."""

    async def elicit(self, message: str, requested_schema: Mapping[str, Any] | None = None) -> Any:
        """Ask one form question (``elicitation/create``) and return the client's answer.

        The answer is the client's ``ElicitResult`` as a dict: ``action``
        (``accept``, ``decline`` or ``cancel``) and, when accepted, ``content``.
        """
        key = f"elicit-{secrets.token_hex(4)}"
        answers = await self.request_input(
            {key: form_request(message, requested_schema)}, status_message=message
        )
        return answers[key]

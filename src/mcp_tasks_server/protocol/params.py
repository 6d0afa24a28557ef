"""The params of the ``tasks/*`` requests, shared by the server and the client.

Imports nothing but ``mcp_types`` and pydantic, so :mod:`mcp_tasks_server.client`
uses the same models without loading the server side. They describe the
shape; the server narrows ``taskId`` to the lengths it accepts and keeps
fields it does not know (:mod:`mcp_tasks_server.protocol.dispatch`).
"""

from __future__ import annotations

from typing import Any

from mcp_types import RequestParams

__all__ = ["TaskIdParams", "TaskUpdateParams"]


class TaskIdParams(RequestParams):
    """``{taskId}``: the params of ``tasks/get``, ``tasks/result`` and ``tasks/cancel``."""

    taskId: str


class TaskUpdateParams(TaskIdParams):
    """``{taskId, inputResponses}``: answers keyed by the task's ``inputRequests`` keys."""

    inputResponses: dict[str, Any]

"""The AWS Lambda handlers; they live in :mod:`mcp_tasks_server.server.aws_lambda`.

Lambda's ``Handler`` setting names them here: ``mcp_tasks_server.aws_lambda.http_handler``,
``mcp_tasks_server.aws_lambda.worker_handler``, ``mcp_tasks_server.aws_lambda.sweep_handler``.
"""

from mcp_tasks_server.server.aws_lambda import (
    handlers_for,
    http_handler,
    sweep_handler,
    worker_handler,
)

__all__ = ["handlers_for", "http_handler", "sweep_handler", "worker_handler"]

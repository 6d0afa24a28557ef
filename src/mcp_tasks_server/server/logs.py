"""Structured logs: one JSON object per line, on stderr.

Stderr because stdout belongs to the protocol in stdio mode. At INFO the
server says what starts and stops; payloads and secrets are never logged.
Task and session ids are bearer credentials: every line passes a
:class:`~mcp_tasks_server.observability.redact.RedactingFilter` on the handler,
which writes them as short keyed hashes (``MCP_TASKS_LOG_HASH_KEY``), whoever
logged them, and the SDK's per-session INFO lines are kept out.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from mcp_tasks_server.observability.audit import FIELDS
from mcp_tasks_server.observability.redact import LogIds, RedactingFilter, quiet_sdk_session_logs

__all__ = ["JsonLogFormatter", "configure_logging"]


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message`` (+ ``exception``),
    plus the fields of a structured event (an audit event's ``event``, ``task``, ``outcome``...)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, dict):
            # Structured events (the audit trail) carry their fields as JSON
            # fields; the envelope's own keys win over a clashing field.
            entry = {**fields, **entry}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, hash_key: bytes | None = None) -> LogIds:
    """JSON lines on stderr at ``level``, ids hashed with ``hash_key``; returns the hasher."""
    ids = LogIds(hash_key)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RedactingFilter(ids))
    quiet_sdk_session_logs(ids)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # Through the root handler, at the server's level, whatever uvicorn set before.
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.setLevel(logging.NOTSET)
        uvicorn_logger.propagate = True
    return ids

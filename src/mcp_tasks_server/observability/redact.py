"""Ids as logs may show them: short keyed hashes, never the ids themselves.

Task ids and MCP session ids are bearer credentials: on a server without
authentication, whoever holds one may read, answer or cancel the task. Log
lines are read by more people, kept longer and copied to more places than the
table they describe, so an id reaches a log only as a keyed hash: enough to
follow one task or session through the lines of a run, useless to act on.

The hash is keyed (HMAC-SHA256) rather than a plain digest because owner keys
derive from principals, and a principal such as an e-mail address is easy to
guess: an unkeyed digest of it could be confirmed by anyone who can read the
logs. The key is random per process unless the operator provides one; a shared
key makes the same id hash alike on every replica and worker, so one task can
be followed across processes.

The MCP SDK logs session ids in clear on its streamable-HTTP loggers (creation,
termination and idle timeout at INFO; rejected and crashed sessions at WARNING
and ERROR). :func:`quiet_sdk_session_logs` keeps those below the server's
INFO output and rewrites any id that still gets through.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets

__all__ = [
    "SDK_ID_LOGGERS",
    "SDK_SESSION_LOGGERS",
    "LogIds",
    "RedactingFilter",
    "quiet_sdk_session_logs",
    "short_hash",
]

HASH_CHARS = 12
"""48 bits: collisions stay unlikely among millions of tasks, and lines stay short."""

MIN_KEY_BYTES = 16


def short_hash(value: str, key: bytes, *, prefix: str = "") -> str:
    """``prefix`` and the first :data:`HASH_CHARS` hex digits of HMAC-SHA256(``key``, ``value``)."""
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return prefix + digest[:HASH_CHARS]


class LogIds:
    """Hashes ids for logs, spans and audit events with one key.

    ``key`` is the operator's (at least 16 bytes, shared by every replica so
    hashes correlate across processes); without one, a random key that lives
    as long as the process.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes | None = None) -> None:
        if key is not None and len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a log hash key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key if key is not None else secrets.token_bytes(32)

    def task(self, task_id: str) -> str:
        """``t:`` and the hash of a task id."""
        return short_hash(task_id, self._key, prefix="t:")

    def session(self, session_id: str) -> str:
        """``s:`` and the hash of an MCP session id."""
        return short_hash(session_id, self._key, prefix="s:")

    def owner(self, owner_key: str) -> str:
        """``o:`` and the hash of an owner key."""
        return short_hash(owner_key, self._key, prefix="o:")


# What an id looks like inside free text. One alternation, so a message is
# scanned once whatever it holds.
#  * a value after an ``Mcp-Session-Id`` header name, whatever its shape
#    (unless it is already a hash: redacting twice must change nothing);
#  * 32 hex digits: the SDK's session ids (uuid4().hex);
#  * a dashed UUID: session ids of other servers and clients;
#  * 36 characters of lower-case Crockford base32: this server's task ids.
_IDS = re.compile(
    r"(?P<header>(?i:mcp[-_]session[-_]id)[\"']?\s*[:=]\s*[\"']?)"
    r"(?!s:[0-9a-f]{12}(?![0-9A-Za-z]))(?P<value>[^\s\"',;)\]}]+)"
    r"|(?<![0-9A-Za-z])(?P<hex>[0-9a-fA-F]{32})(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z-])(?P<uuid>[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})(?![0-9A-Za-z-])"
    r"|(?<![0-9A-Za-z])(?P<task>[0-9a-hjkmnp-tv-z]{36})(?![0-9A-Za-z])"
)


class RedactingFilter(logging.Filter):
    """Rewrites session ids and task ids in a record's text into their keyed hashes.

    Defence in depth: code of this project hashes ids before it logs them;
    this catches what third-party code (the MCP SDK first) writes in clear.
    Attach it to a logger (it then sees that logger's own records) or to a
    handler (it sees everything the handler writes). It never drops a record.
    """

    def __init__(self, ids: LogIds) -> None:
        super().__init__()
        self._ids = ids

    def redact(self, text: str) -> str:
        """``text`` with every id-shaped value replaced by its hash."""
        return _IDS.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        if (value := match["value"]) is not None:
            return match["header"] + self._ids.session(value)
        if (task_id := match["task"]) is not None:
            return self._ids.task(task_id)
        return self._ids.session(match[0])

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A malformed call is reported by the handler as usual; a filter
            # must not turn it into an exception in the caller.
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info and record.exc_text is None:
            # Formatters reuse ``exc_text`` when it is set, so the traceback
            # is rendered (and redacted) here, once.
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


SDK_SESSION_LOGGERS = (
    "mcp.server.streamable_http_manager",
    "mcp.server.streamable_http",
    "mcp.server.sse",
)
"""The SDK's loggers that write session ids in clear, at INFO and above."""

SDK_ID_LOGGERS = (*SDK_SESSION_LOGGERS, "mcp.server.mcpserver.server")
"""Loggers that may echo an id: the session loggers, and the one that logs failed
tools and resources with their text (``Resource 'task://…' failed``)."""


def quiet_sdk_session_logs(ids: LogIds, *, level: int = logging.WARNING) -> RedactingFilter:
    """Keep the SDK's per-session lines below ``level`` and hash every id it logs.

    At the default ``WARNING``, session creation, termination and idle
    timeouts (INFO) are not logged at all; rejected and crashed sessions
    (WARNING, ERROR) still are, with their ids hashed. Calling it again
    replaces the filter it installed before.
    """
    redacting = RedactingFilter(ids)
    for name in SDK_SESSION_LOGGERS:
        logging.getLogger(name).setLevel(level)
    for name in SDK_ID_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, RedactingFilter)]:
            logger.removeFilter(old)
        logger.addFilter(redacting)
    return redacting

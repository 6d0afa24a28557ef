"""A stateful HTTP session's tasks end with it.

Without authentication, a stateful streamable HTTP session owns the tasks
created through it (:mod:`mcp_tasks_server.core.owner`, rule 2). Once the
session ends (the client's DELETE, the idle timeout, a crash), no request can
carry its id again, so nobody can read, answer or cancel those tasks: left
alone, they would run to their end for no one and hold their owner's quota
until they expire. So their unfinished tasks (``working``,
``input_required``) are cancelled, through the same path as a client's
cancel: the coroutine stops wherever it runs, and the task reads
``cancelled`` with :data:`~mcp_tasks_server.core.lifecycle.SESSION_ENDED_MESSAGE`.

Left alone on purpose:

* an **authenticated** session's tasks: they belong to the principal, who
  reaches them from any new session (nothing is stored under the session);
* sessions that end because the **server is shutting down**: the shutdown's
  own rule applies (a grace period, then ``failed``), the same as for every
  other task the replica runs;
* a **stateless** server, which has no sessions.

The SDK tells nobody when a session ends; the seam that finds out is
:func:`mcp_tasks_server.protocol.sdk.on_session_end`. The cancelling runs in
the background on the runner (the SDK's teardown never waits for it), one
list page at a time, once any create of that owner still in flight here has
settled (so a task created as its session ended does not escape); its log
lines name the session only by its hash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from mcp_tasks_server.core.lifecycle import SESSION_ENDED_MESSAGE
from mcp_tasks_server.core.owner import Owner
from mcp_tasks_server.observability import LogIds
from mcp_tasks_server.protocol import sdk
from mcp_tasks_server.runtime.service import TaskService

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

__all__ = ["follow_sessions"]

logger = logging.getLogger(__name__)


def follow_sessions(
    manager: StreamableHTTPSessionManager,
    service: TaskService,
    *,
    owner_of: Callable[[str], Owner],
    ids: LogIds,
) -> None:
    """Cancel the unfinished tasks of each session of ``manager`` once it ends.

    ``manager`` is the SDK's ``StreamableHTTPSessionManager`` of a stateful
    app; ``owner_of`` maps a session id to its owner, by the one owner rule.
    """

    def ended(end: sdk.SessionEnd) -> None:
        session = ids.session(end.session_id)
        if end.authenticated or end.server_stopping:
            logger.debug("session %s ended; its tasks are left as they are", session)
            return
        owner = owner_of(end.session_id)

        async def cancel_its_tasks() -> None:
            await _cancel_tasks_of(service, owner, session)

        if not service.runner.spawn(cancel_its_tasks, name="tasks of an ended session"):
            logger.debug("session %s ended during shutdown; its tasks are left to it", session)

    sdk.on_session_end(manager, ended)


async def _cancel_tasks_of(service: TaskService, owner: Owner, session: str) -> None:
    try:
        cancelled = await service.cancel_unfinished(owner, status_message=SESSION_ENDED_MESSAGE)
    except Exception as exc:
        # Not retried: such a tool runs on to its own end, and its task
        # expires one TTL after that, as any finished task does.
        logger.warning(
            "session %s ended, but its unfinished tasks could not all be cancelled: %s",
            session,
            exc,
        )
        return
    if cancelled:
        logger.info("session %s ended: cancelled its %d unfinished tasks", session, cancelled)
    else:
        logger.debug("session %s ended with no unfinished tasks", session)

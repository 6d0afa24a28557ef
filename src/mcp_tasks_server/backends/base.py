"""The storage contract every backend implements.

A backend stores opaque records under ``(owner, task_id)`` keys and knows
only five things about them: their version, their owner, when they expire,
whether they are *active* (count toward the owner's quota and the global
cap), and when the lease of the replica running an active one ends. The rules of
the task lifecycle live above, in :mod:`mcp_tasks_server.store`; a backend
never parses the record body.

The contract is shaped by the most constrained production store (DynamoDB):

* every operation is **one round trip**, and ``request_count`` counts them,
  so tests and benchmarks can check that rather than assume it;
* reads are **strongly consistent**: a write acknowledged to one replica is
  visible to the next read from any other;
* a failed conditional replace reports the **current record** with the
  error, so a caller can re-validate and retry without reading again;
* **expiry is checked on read**: an expired record is invisible to ``get``,
  ``replace``, ``delete`` and ``list`` at once, whether or not it has been
  physically deleted yet, and it no longer counts toward the quota or the
  global cap;
* the **limits are checked atomically with the create**: two creates racing
  for the last slot, on one process or on two replicas, never both win;
* listing costs in proportion to the page, not to the owner's total;
* ``list_orphans`` finds active records with run-out leases **across owners**
  (the orphan sweep), and ``scan`` walks every live record across owners (the
  operator CLI); the cost of each call is bounded by ``limit``.

Task ids are time-ordered (see :func:`mcp_tasks_server.core.model.new_task_id`),
so "newest first" is simply descending key order.

To add a backend: subclass :class:`StorageBackend` and implement the
abstract methods (``create``, ``replace``, ``list`` and ``list_orphans``
check their arguments here, then call ``_create`` and so on), then add one fixture to
``tests/contract/conftest.py``; the backend is done when the contract suite
is green against it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from mcp_tasks_server.backends.errors import InvalidCursor
from mcp_tasks_server.core.model import is_valid_task_id, now_ms

__all__ = ["Clock", "Page", "StorageBackend", "StoredRecord", "decode_cursor", "encode_cursor"]

Clock = Callable[[], int]
"""Returns the current time in epoch milliseconds. Injected so tests can move time."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record as a backend sees it: a key, four facts and an opaque body."""

    owner: str
    task_id: str
    version: int
    data: str
    expires_at_ms: int | None = None
    active: bool = True
    #: When the running replica's lease ends; only meaningful while ``active``.
    lease_expires_at_ms: int | None = None

    def is_expired(self, at_ms: int) -> bool:
        return self.expires_at_ms is not None and at_ms >= self.expires_at_ms

    def is_orphaned(self, at_ms: int) -> bool:
        """Active and unexpired, with a lease that has run out."""
        return (
            self.active
            and self.lease_expires_at_ms is not None
            and at_ms >= self.lease_expires_at_ms
            and not self.is_expired(at_ms)
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, newest first. ``next_cursor`` is None on the last page."""

    records: list[StoredRecord] = field(default_factory=list)
    next_cursor: str | None = None


class StorageBackend(ABC):
    """An async key-value store of task records with versions and expiry.

    Every method is one request to the underlying store (``request_count``
    goes up by exactly one), and raises only the errors named in its
    docstring, ``BackendUnavailable`` for transient failures, or
    ``ValueError`` for a call that breaks the contract.
    """

    #: Name shown in logs and errors, e.g. ``"memory"`` or ``"dynamodb"``.
    name: str = "backend"

    #: True when the store deletes expired records by itself (DynamoDB TTL), so
    #: ``sweep_expired`` has nothing to do.
    expires_natively: bool = False

    def __init__(self, *, clock: Clock = now_ms) -> None:
        self.clock = clock
        self.request_count = 0

    async def create(
        self,
        record: StoredRecord,
        *,
        max_active: int | None = None,
        max_total_active: int | None = None,
    ) -> None:
        """Store ``record`` if no live record has its key.

        ``record.version`` must be 1. With ``max_active``, the create also
        checks, atomically with the write, that the owner has fewer than
        ``max_active`` active unexpired records; with ``max_total_active``,
        that all owners together have fewer than that (the global cap).

        Raises ``RecordExists``, ``QuotaExceeded`` (the owner's quota),
        ``GlobalCapReached`` (the global cap), ``RecordTooLarge`` or
        ``CapacityExceeded``; on any of them nothing was written.
        """
        if record.version != 1:
            raise ValueError("a created record must have version 1")
        for limit in (max_active, max_total_active):
            if limit is not None and limit < 1:
                raise ValueError("a limit on active records must be at least 1 (None: no limit)")
        await self._create(record, max_active=max_active, max_total_active=max_total_active)

    @abstractmethod
    async def get(self, owner: str, task_id: str) -> StoredRecord:
        """The live record under the key (a strongly consistent read).

        Raises ``RecordNotFound`` if it is missing or expired.
        """

    async def replace(self, record: StoredRecord, expected_version: int) -> None:
        """Overwrite the record if the stored version is ``expected_version``.

        ``record.version`` must be ``expected_version + 1``. Raises
        ``VersionConflict`` (carrying the current record) when another version
        is stored, ``RecordNotFound`` when no live record exists, and
        ``RecordTooLarge``; on any of them nothing was written.
        """
        if record.version != expected_version + 1:
            raise ValueError("a replacement must carry expected_version + 1")
        await self._replace(record, expected_version)

    @abstractmethod
    async def delete(self, owner: str, task_id: str) -> bool:
        """Remove the record. True if a live record was removed."""

    async def list(self, owner: str, *, limit: int, cursor: str | None = None) -> Page:
        """One page of the owner's live records, newest first.

        A page may hold fewer than ``limit`` records even when more follow
        (expired records are filtered after the fetch); only a ``None``
        ``next_cursor`` means the end. Raises ``InvalidCursor`` for a cursor
        that is malformed or was issued to another owner.
        """
        _require_limit(limit)
        return await self._list(owner, limit=limit, cursor=cursor)

    async def list_orphans(self, *, limit: int, cursor: str | None = None) -> Page:
        """Live active records, of any owner, whose lease has run out by ``clock()``.

        One request. ``limit`` bounds the work of the call (a backend may
        examine at most ``limit`` records and return fewer, even none, with a
        ``next_cursor`` to go on from); ``next_cursor`` is None once a pass
        over the store is complete. Order is unspecified. The cursor is
        internal (never shown to clients) and valid only for the same backend.
        """
        _require_limit(limit)
        return await self._list_orphans(limit=limit, cursor=cursor)

    async def scan(self, *, limit: int, cursor: str | None = None) -> Page:
        """Live records of every owner, in an unspecified order: one bounded page.

        For operators (``mcp-tasks-server tasks``), never for clients. One
        request, examining at most ``limit`` records: a page may hold fewer,
        even none, with a ``next_cursor`` to go on from; ``next_cursor`` is None
        once the pass over the store is complete. The cursor is valid only for
        the same backend. Not abstract, so a backend written before it still
        loads; the contract suite requires it.
        """
        raise NotImplementedError(f"the {self.name} backend cannot list across owners")

    @abstractmethod
    async def sweep_expired(self) -> int:
        """Physically delete expired records; return how many.

        Best effort, for backends that do not expire records natively. A
        backend that does (DynamoDB's TTL) may return 0 without a request:
        correctness never depends on the sweep, because reads filter expiry.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook, default no-op
        """Release connections. The default has nothing to release."""

    def _count_request(self) -> None:
        self.request_count += 1

    # The operations proper, called once the arguments have passed the checks
    # above; each is one request, as its public method documents.

    @abstractmethod
    async def _create(
        self, record: StoredRecord, *, max_active: int | None, max_total_active: int | None
    ) -> None: ...

    @abstractmethod
    async def _replace(self, record: StoredRecord, expected_version: int) -> None: ...

    @abstractmethod
    async def _list(self, owner: str, *, limit: int, cursor: str | None) -> Page: ...

    @abstractmethod
    async def _list_orphans(self, *, limit: int, cursor: str | None) -> Page: ...


def _require_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError("limit must be at least 1")


# -------------------------------------------------------------- list cursors
#
# A cursor names the last task id of a page, sealed with a MAC over the owner.
# The MAC is not what keeps owners apart (every listing is keyed by the
# caller's own owner, so a forged cursor can only move within the caller's own
# tasks); it makes a garbage or foreign cursor a clear error instead of a
# silent restart. A fixed key keeps cursors valid across replicas and restarts
# with nothing to configure.

_CURSOR_KEY = b"mcp-tasks-server/list-cursor/v1"
_MAC_BYTES = 12


def _cursor_mac(owner: str, task_id: str) -> bytes:
    message = owner.encode() + b"\x00" + task_id.encode()
    return hmac.digest(_CURSOR_KEY, message, hashlib.sha256)[:_MAC_BYTES]


def encode_cursor(owner: str, last_task_id: str) -> str:
    """An opaque cursor that resumes ``owner``'s listing after ``last_task_id``."""
    raw = last_task_id.encode() + _cursor_mac(owner, last_task_id)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(owner: str, cursor: str) -> str:
    """The task id a cursor resumes after. Raises ``InvalidCursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor("Invalid cursor") from None
    task_id_bytes, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    try:
        task_id = task_id_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidCursor("Invalid cursor") from None
    if not is_valid_task_id(task_id) or not hmac.compare_digest(mac, _cursor_mac(owner, task_id)):
        raise InvalidCursor("Invalid cursor")
    return task_id

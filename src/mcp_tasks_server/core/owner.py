"""Who owns a task: the one rule every protocol era shares.

A task belongs to the most specific identity the connection offers:

1. the **authenticated principal**, where the server has authentication;
2. otherwise the **stateful HTTP session** that created it;
3. otherwise, on stdio, the **single local client** at the other end of the pipe;
4. otherwise (HTTP without authentication, where there is no session: a
   stateless server, or any 2026-07-28 client) **nobody in particular**:
   the task is reachable by anyone who holds its unguessable id, and the
   listing methods are not offered, as the spec asks.

Owner keys are hashed so that principals and session ids never appear in
storage keys or logs. The default digest is a plain SHA-256; a deployment
that sets an owner key secret passes a keyed digest instead (``digest=``),
so a reader of the table cannot confirm a guessed principal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Owner", "bind_owner", "default_owner_digest"]


@dataclass(frozen=True, slots=True)
class Owner:
    """The storage owner of a caller's tasks, and whether listing them is allowed."""

    key: str
    can_list: bool = True

    @property
    def kind(self) -> str:
        return self.key.split(":", 1)[0]


ANONYMOUS = Owner("anonymous", can_list=False)
LOCAL = Owner("local")


def default_owner_digest(value: str) -> str:
    """The unkeyed owner digest: SHA-256 of the identity, 32 hex characters."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def bind_owner(
    *,
    principal: str | None = None,
    session_id: str | None = None,
    local: bool = False,
    digest: Callable[[str], str] = default_owner_digest,
) -> Owner:
    """The owner for a request, from the identities its connection offers."""
    if principal:
        return Owner(f"principal:{digest(principal)}")
    if session_id:
        return Owner(f"session:{digest(session_id)}")
    if local:
        return LOCAL
    return ANONYMOUS

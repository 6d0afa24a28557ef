"""Owner keys that a reader of the table cannot link back to a principal.

Storage keys name each task's owner by a digest of the principal (or the
session id). An unkeyed digest lets anyone who can read the table confirm a
guess: hash ``alice@example.com`` and look for the partition. A keyed
digest (HMAC-SHA256 under a server secret) shows only that two tasks share
an owner.

The result has the shape of the unkeyed digest (32 hex characters), so it
replaces it where owner keys are made. Changing the secret, or turning it
on, changes every owner key: tasks stored under the old keys become
unreachable to their owners until they expire (see the migration note in
the documentation).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from mcp_tasks_server.core.errors import ConfigError

__all__ = ["MIN_SECRET_BYTES", "owner_key_hasher"]

MIN_SECRET_BYTES = 32
_LABEL = b"mcp-tasks-server/owner-key/v1\x00"
_DIGEST_CHARS = 32


def owner_key_hasher(
    secret: bytes | str, *, setting: str = "MCP_TASKS_OWNER_KEY_SECRET"
) -> Callable[[str], str]:
    """A function from an identity (principal, session id) to its keyed owner digest."""
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{setting} must be at least {MIN_SECRET_BYTES} bytes of secret "
            "(for example `openssl rand -base64 48`)"
        )

    def owner_digest(identity: str) -> str:
        mac = hmac.new(key, _LABEL + identity.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return mac.hexdigest()[:_DIGEST_CHARS]

    return owner_digest

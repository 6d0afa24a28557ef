"""Static API keys, presented as bearer tokens, for deployments without an identity provider.

The key file holds hashes, never keys, so reading it (a backup, a config
repository) gives nobody a usable credential. One entry per line::

    # comments and blank lines are ignored
    # <subject> sha256:<hex SHA-256 of the key>
    alice   sha256:3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7
    ci-bot  sha256:0b9c2625dc21ef05f6ad4ddf47c5f203837aa32c0bc1c1f7ff2c6d0f3e4e9b4c

The subject is one word (no spaces) and becomes the caller's principal, so
every key of one subject reaches the same tasks: give a subject two lines to
rotate its key without a gap. A plain SHA-256 suffices because keys are
random 256-bit strings (``generate``), not passwords: there is nothing to
guess. Make an entry with::

    python -m mcp_tasks_server.server.auth.api_keys generate > alice.key
    python -m mcp_tasks_server.server.auth.api_keys hash alice < alice.key >> api-keys.txt

Clients send the key as ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import secrets
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from mcp.server.auth.provider import AccessToken

from mcp_tasks_server.core.errors import ConfigError

__all__ = ["API_KEY_ISSUER", "ApiKeyVerifier", "hash_entry", "main", "new_api_key"]

API_KEY_ISSUER = "urn:mcp-tasks-server:api-key"
"""The issuer API-key principals carry: no OAuth issuer URL can equal it, so no
API-key subject can share an owner with a token subject of the same name."""

_ENTRY = re.compile(r"^(?P<subject>\S+)\s+sha256:(?P<hex>[0-9a-fA-F]{64})$")
_MIN_KEY_CHARS = 24
_MAX_SUBJECT_CHARS = 256


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_api_key() -> str:
    """A fresh random key (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_entry(subject: str, key: str) -> str:
    """The key file line that lets ``key`` in as ``subject``."""
    if not subject or any(char.isspace() for char in subject):
        raise ValueError("the subject must be one word, without spaces")
    if len(subject) > _MAX_SUBJECT_CHARS:
        raise ValueError(f"the subject must be at most {_MAX_SUBJECT_CHARS} characters")
    if len(key) < _MIN_KEY_CHARS or any(char.isspace() for char in key):
        raise ValueError(
            f"an API key must be at least {_MIN_KEY_CHARS} characters without spaces; "
            "use `generate` for a random one"
        )
    return f"{subject} sha256:{_digest(key).hex()}"


class ApiKeyVerifier:
    """A ``TokenVerifier`` that accepts the keys whose hashes it holds.

    Every presented key is compared, in constant time, with every stored
    hash, so the time taken says nothing about which entry came close.
    ``scopes`` are granted to every key (match ``AuthSettings.required_scopes``).
    """

    def __init__(self, entries: Iterable[tuple[str, bytes]], *, scopes: Sequence[str] = ()) -> None:
        self._entries = [(subject, bytes(digest)) for subject, digest in entries]
        if any(len(digest) != hashlib.sha256().digest_size for _, digest in self._entries):
            raise ValueError("API key digests must be SHA-256 digests (32 bytes)")
        self.scopes = list(scopes)

    @classmethod
    def from_file(cls, path: str | Path, *, scopes: Sequence[str] = ()) -> ApiKeyVerifier:
        """Read a key file (format in the module docstring); ``ConfigError`` names file and line."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"cannot read the API key file {path}: {reason}") from None
        entries: list[tuple[str, bytes]] = []
        seen: dict[bytes, int] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            found = _ENTRY.match(line)
            if found is None:
                raise ConfigError(
                    f"{path}:{number}: expected `<subject> sha256:<64 hex digits>` "
                    "(make one with `python -m mcp_tasks_server.server.auth.api_keys hash SUBJECT`)"
                )
            subject = found["subject"]
            if len(subject) > _MAX_SUBJECT_CHARS:
                raise ConfigError(
                    f"{path}:{number}: the subject is longer than {_MAX_SUBJECT_CHARS} characters"
                )
            digest = bytes.fromhex(found["hex"])
            if digest in seen:
                raise ConfigError(
                    f"{path}:{number}: the same key is already listed on line {seen[digest]}"
                )
            seen[digest] = number
            entries.append((subject, digest))
        if not entries:
            raise ConfigError(f"the API key file {path} lists no keys, so nobody could connect")
        return cls(entries, scopes=scopes)

    async def verify_token(self, token: str) -> AccessToken | None:
        """The key's subject as the principal, or ``None`` (the SDK then answers 401)."""
        presented = _digest(token)
        subject = None
        for candidate, digest in self._entries:
            # No early exit: every entry costs the same, matched or not.
            if hmac.compare_digest(presented, digest):
                subject = candidate
        if subject is None:
            return None
        return AccessToken(
            token=token,
            client_id=subject,
            scopes=list(self.scopes),
            subject=subject,
            claims={"iss": API_KEY_ISSUER, "sub": subject},
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``generate`` prints a new key; ``hash SUBJECT`` turns a key on stdin into a file line."""
    parser = argparse.ArgumentParser(
        prog="python -m mcp_tasks_server.server.auth.api_keys",
        description="Make API keys and the lines of an API key file.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="print a new random API key")
    hasher = commands.add_parser("hash", help="read a key on stdin, print its key file line")
    hasher.add_argument("subject", help="the principal the key authenticates as (one word)")
    args = parser.parse_args(argv)
    if args.command == "generate":
        print(new_api_key())
        return 0
    try:
        print(hash_entry(args.subject, sys.stdin.read().strip()))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

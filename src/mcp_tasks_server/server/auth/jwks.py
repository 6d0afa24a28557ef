"""The identity provider's signing keys, fetched from its JWKS URL and cached.

Two pressures pull in opposite directions. Key rotation must just work: a
token signed with a key the cache has not seen yet makes the cache fetch the
key set again. But a client that sends tokens with made-up key ids must not
be able to turn each request into a request to the identity provider. So a
fetch happens at most once per ``min_refetch_seconds``, whatever asks for it,
and concurrent askers share that one fetch.

Only asymmetric signature keys are kept: a JWKS that also publishes a
symmetric (``oct``) key, an encryption key, or a private key part has those
entries dropped, so no token can ever be checked with an HMAC secret taken
from a public document (the classic RS256/HS256 confusion).

A failed fetch keeps the keys already known, so a short outage of the
identity provider does not lock everyone out; it is logged, never raised.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import jwt
from jwt.algorithms import has_crypto

from mcp_tasks_server.core.errors import ConfigError

try:
    import httpx
except ImportError:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "JWT authentication needs the auth extra: pip install 'mcp-tasks-server[auth]'"
    ) from None
if not has_crypto:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "JWT authentication needs cryptography (the auth extra): "
        "pip install 'mcp-tasks-server[auth]'"
    )

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "JwksCache",
    "SigningKey",
    "check_jwks_url",
    "key_algorithms",
    "parse_jwks",
]

logger = logging.getLogger(__name__)

_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
_OKP_ALGORITHMS = {"Ed25519": "EdDSA", "Ed448": "EdDSA"}

ASYMMETRIC_ALGORITHMS = frozenset(
    _RSA_ALGORITHMS | set(_EC_ALGORITHMS.values()) | set(_OKP_ALGORITHMS.values())
)
"""Every signature algorithm a JWKS key may be used with; never ``none`` or ``HS*``."""

_MAX_JWKS_BYTES = 512 * 1024
_PRIVATE_PARTS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One verification key and the algorithms it may be used with."""

    kid: str
    key: Any  # a cryptography public key object, as PyJWT builds it
    algorithms: frozenset[str]


class _FetchFailed(Exception):
    """The key set could not be fetched or read; the message says why (no secrets)."""


def check_jwks_url(url: str) -> None:
    """Refuse a key set that could be swapped in transit: HTTPS, or HTTP on loopback only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and _is_loopback(host):
        return
    raise ConfigError(
        f"the JWKS URL {url!r} must use https (plain http is accepted only on loopback)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_algorithms(jwk: Mapping[str, Any]) -> frozenset[str]:
    """The algorithms a JWK may verify: its own ``alg``, else its key type's family.

    Empty for a key this server must never verify with (symmetric, for
    encryption, carrying private parts, or of an unknown type).
    """
    if _PRIVATE_PARTS & jwk.keys():
        return frozenset()
    if jwk.get("use", "sig") != "sig":
        return frozenset()
    operations = jwk.get("key_ops")
    if operations is not None and "verify" not in operations:
        return frozenset()
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "RSA":
        family = _RSA_ALGORITHMS
    elif kty == "EC" and crv in _EC_ALGORITHMS:
        family = frozenset({_EC_ALGORITHMS[crv]})
    elif kty == "OKP" and crv in _OKP_ALGORITHMS:
        family = frozenset({_OKP_ALGORITHMS[crv]})
    else:
        return frozenset()
    declared = jwk.get("alg")
    if declared is None:
        return family
    return frozenset({declared}) if declared in family else frozenset()


def parse_jwks(document: Any) -> dict[str, SigningKey]:
    """The usable signature keys of a JWKS document, by ``kid``. Others are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _FetchFailed("the document is not a JWK set (no 'keys' list)")
    keys: dict[str, SigningKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        algorithms = key_algorithms(entry)
        if not algorithms:
            logger.debug("JWKS key %r skipped: not an asymmetric signature key", entry["kid"])
            continue
        try:
            key = jwt.PyJWK(entry, algorithm=min(algorithms)).key
        except jwt.PyJWTError:
            logger.debug("JWKS key %r skipped: malformed", entry["kid"])
            continue
        keys[entry["kid"]] = SigningKey(entry["kid"], key, algorithms)
    return keys


class JwksCache:
    """The signing keys behind ``url``, refreshed on demand and at most so often.

    ``clock`` returns monotonic seconds; tests move it instead of sleeping.
    """

    def __init__(
        self,
        url: str,
        *,
        max_age_seconds: float = 3600.0,
        min_refetch_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_jwks_url(url)
        if min_refetch_seconds < 0 or max_age_seconds <= 0 or timeout_seconds <= 0:
            raise ConfigError("JWKS cache durations must be positive")
        self.url = url
        self.max_age_seconds = max_age_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at: float | None = None
        self._last_attempt: float | None = None
        self._lock = anyio.Lock()

    async def key(self, kid: str) -> SigningKey | None:
        """The key named ``kid``, fetching the set again if it is unknown or old (rate-limited)."""
        known = self._keys.get(kid)
        if known is not None and not self._is_stale():
            return known
        await self._refresh()
        return self._keys.get(kid)

    def _is_stale(self) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at >= self.max_age_seconds

    async def _refresh(self) -> None:
        async with self._lock:
            # Whoever held the lock before may have fetched already: then the
            # window is closed and the keys it brought are what we have.
            now = self._clock()
            if self._last_attempt is not None and now - self._last_attempt < (
                self.min_refetch_seconds
            ):
                return
            self._last_attempt = now
            try:
                keys = parse_jwks(await self._fetch())
            except _FetchFailed as exc:
                logger.warning(
                    "JWKS fetch from %s failed (%s); keeping the %d keys already known",
                    self.url,
                    exc,
                    len(self._keys),
                )
                return
            self._keys, self._loaded_at = keys, self._clock()
            logger.info("JWKS fetched from %s: %d signing keys", self.url, len(keys))

    async def _fetch(self) -> Any:
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout_seconds, follow_redirects=False) as client,
                client.stream("GET", self.url, headers={"Accept": "application/json"}) as answer,
            ):
                if answer.status_code != 200:
                    raise _FetchFailed(f"HTTP {answer.status_code}")
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_JWKS_BYTES:
                        raise _FetchFailed(f"the key set is larger than {_MAX_JWKS_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise _FetchFailed(f"{type(exc).__name__}: {exc}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise _FetchFailed("the answer is not JSON") from None

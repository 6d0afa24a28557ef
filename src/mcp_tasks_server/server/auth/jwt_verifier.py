"""Signed access tokens (JWTs) from an OAuth identity provider, checked against its JWKS.

The SDK asks a ``TokenVerifier`` one question per request, "who is this
bearer token?", and answers 401 itself when the answer is ``None``. This
verifier answers it for the providers operators actually run (Cognito,
Auth0, Entra ID, Keycloak, Okta), whose access tokens differ in small ways:

* scopes come as a space-separated ``scope`` string (RFC 9068, Auth0,
  Keycloak, Cognito) or as ``scp``, a list (Okta) or a string (Entra ID);
* the client is named by ``client_id`` (RFC 9068, Cognito), ``azp``
  (Keycloak, Auth0, Entra v2), ``appid`` (Entra v1) or ``cid`` (Okta);
* Cognito access tokens carry no ``aud``: pin ``allowed_client_ids`` (and
  ``required_claims={"token_use": "access"}``) there instead.

The principal the SDK derives from the returned ``AccessToken`` is the
triple (client id, issuer, subject) (``principal_components``), so the
``iss`` claim is passed through in ``claims`` and ``sub`` as the subject:
two users of one client, or one subject name at two issuers, never share
an owner.

Signature checks and claim parsing are PyJWT's; this module only decides
which key and algorithm may be used (the key's own, never one the token
asks for) and what the claims must say. Refusals are logged at DEBUG with
the reason and never with the token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jwt
from mcp.server.auth.provider import AccessToken

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.server.auth.jwks import ASYMMETRIC_ALGORITHMS, JwksCache

__all__ = ["CLIENT_ID_CLAIMS", "JwtVerifier"]

logger = logging.getLogger(__name__)

CLIENT_ID_CLAIMS = ("client_id", "azp", "appid", "cid")
"""Where providers name the OAuth client a token was issued to, in order of preference."""

_SCOPE_CLAIMS = ("scope", "scp")
_SHOWN_KID_CHARS = 64


class _Refused(Exception):
    """Why a token is refused, for the log. Never carries the token."""


class JwtVerifier:
    """A ``TokenVerifier`` for JWT access tokens signed by keys from ``jwks_url``.

    ``audience`` (one value or several) must appear in the token's ``aud``;
    ``allowed_client_ids`` restricts the client claim. At least one of them is
    required, so a token the same provider issued for another application is
    never accepted here. ``required_scopes`` must all be granted.
    ``leeway_seconds`` absorbs clock skew on ``exp``, ``nbf`` and ``iat``
    (the SDK's middleware also checks ``exp``, against its own clock).
    """

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str | Sequence[str] | None,
        required_scopes: Sequence[str] = (),
        leeway_seconds: float = 30.0,
        *,
        allowed_client_ids: Iterable[str] | None = None,
        required_claims: Mapping[str, str] | None = None,
        algorithms: Iterable[str] = ASYMMETRIC_ALGORITHMS,
        jwks_max_age_seconds: float = 3600.0,
        min_refetch_seconds: float = 30.0,
        fetch_timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not issuer:
            raise ConfigError("a JWT verifier needs the issuer its tokens must name")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience or ())
        clients = None if allowed_client_ids is None else frozenset(allowed_client_ids)
        if not audiences and not clients:
            raise ConfigError(
                "a JWT verifier needs an audience or allowed client ids, so that tokens "
                "the identity provider issued for other applications are refused"
            )
        accepted = frozenset(algorithms)
        unsafe = accepted - ASYMMETRIC_ALGORITHMS
        if unsafe or not accepted:
            raise ConfigError(
                f"JWT algorithms must be asymmetric signatures "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}); refused: "
                f"{', '.join(sorted(unsafe)) or 'an empty list'}"
            )
        if leeway_seconds < 0:
            raise ConfigError("the JWT leeway must not be negative")
        self.issuer = issuer
        self.audiences = audiences
        self.allowed_client_ids = clients
        self.required_scopes = tuple(required_scopes)
        self.required_claims = dict(required_claims or {})
        self.leeway_seconds = leeway_seconds
        self.algorithms = accepted
        self.keys = JwksCache(
            jwks_url,
            max_age_seconds=jwks_max_age_seconds,
            min_refetch_seconds=min_refetch_seconds,
            timeout_seconds=fetch_timeout_seconds,
            clock=clock,
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's access info, or ``None`` (the SDK then answers 401)."""
        try:
            return await self._verify(token)
        except _Refused as reason:
            logger.debug("bearer token refused: %s", reason)
            return None

    async def _verify(self, token: str) -> AccessToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _Refused("not a JWT") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise _Refused(f"algorithm {str(algorithm)[:16]!r} is not accepted")
        if not isinstance(kid, str) or not kid:
            raise _Refused("the header names no key (kid)")
        key = await self.keys.key(kid)
        if key is None:
            raise _Refused(f"unknown key id {kid[:_SHOWN_KID_CHARS]!r}")
        if algorithm not in key.algorithms:
            raise _Refused(f"key {kid[:_SHOWN_KID_CHARS]!r} does not sign with {algorithm}")
        required = ["exp", "iss", "sub", *(["aud"] if self.audiences else [])]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audiences or None,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": required, "verify_aud": bool(self.audiences)},
            )
        except jwt.PyJWTError as exc:
            raise _Refused(f"{type(exc).__name__}: {exc}") from None
        return self._access_token(token, claims)

    def _access_token(self, token: str, claims: dict[str, Any]) -> AccessToken:
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise _Refused("the subject (sub) is not a non-empty string")
        for name, value in self.required_claims.items():
            if claims.get(name) != value:
                raise _Refused(f"claim {name!r} is not {value!r}")
        client_id = _client_id(claims)
        if self.allowed_client_ids is not None and client_id not in self.allowed_client_ids:
            raise _Refused("the client is not among the allowed client ids")
        scopes = _scopes(claims)
        missing = [scope for scope in self.required_scopes if scope not in scopes]
        if missing:
            raise _Refused(f"missing scopes: {' '.join(missing)}")
        return AccessToken(
            token=token,
            # Without a client claim the subject stands in, which keeps the
            # (client, issuer, subject) principal unique per subject.
            client_id=client_id or subject,
            scopes=scopes,
            expires_at=int(claims["exp"]),
            resource=self._resource(claims.get("aud")),
            subject=subject,
            claims=claims,
        )

    def _resource(self, aud: Any) -> str | None:
        """The audience entry this server matched: the SDK compares it to its resource URL."""
        granted = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        return next((value for value in granted if value in self.audiences), None)


def _client_id(claims: Mapping[str, Any]) -> str | None:
    for name in CLIENT_ID_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    scopes: dict[str, None] = {}  # ordered and without repeats
    for name in _SCOPE_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(dict.fromkeys(value.split()))
        elif isinstance(value, list):
            scopes.update(dict.fromkeys(item for item in value if isinstance(item, str)))
    return list(scopes)

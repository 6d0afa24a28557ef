"""A small identity provider for the auth tests: keys, signed tokens and a real JWKS endpoint.

Keys are generated per test (RSA and EC), tokens are signed with PyJWT as
a provider would sign them, and the key set is served over HTTP on
127.0.0.1 by uvicorn, counting every fetch, so the tests can check what
the verifier asked for rather than trust it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.protocol.harness import serve_asgi

ISSUER = "https://idp.example/realms/tasks"
AUDIENCE = "https://tasks.example/mcp"
JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class KeyPair:
    """A signing key pair the provider holds, named ``kid``."""

    kid: str
    algorithm: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        codec = RSAAlgorithm if self.algorithm.startswith(("RS", "PS")) else ECAlgorithm
        jwk: dict[str, Any] = codec.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def rsa_key(kid: str) -> KeyPair:
    return KeyPair(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> KeyPair:
    return KeyPair(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def claims(**overrides: Any) -> dict[str, Any]:
    """A provider's usual access-token claims, with ``overrides`` (None removes a claim)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "client_id": "tasks-app",
        "scope": "openid tasks",
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(key: KeyPair, payload: dict[str, Any], *, kid: str | None = None) -> str:
    return jwt.encode(
        payload, key.private, algorithm=key.algorithm, headers={"kid": kid or key.kid}
    )


def unsigned(payload: dict[str, Any], kid: str) -> str:
    """An ``alg: none`` token, as an attacker would send one."""
    return _join({"alg": "none", "typ": "JWT", "kid": kid}, payload, b"")


def hmac_signed(payload: dict[str, Any], kid: str, secret: bytes) -> str:
    """An HS256 token signed with ``secret`` (the RS256/HS256 key-confusion attack)."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64url(json.dumps(payload).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(signature)}"


def _join(header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
    parts = (json.dumps(header).encode(), json.dumps(payload).encode(), signature)
    return ".".join(b64url(part) for part in parts)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class IdentityProvider:
    """The keys it publishes, how often its JWKS was fetched, and whether it answers."""

    keys: list[KeyPair]
    extra_jwks: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0
    status: int = 200
    url: str = ""

    def app(self) -> Starlette:
        async def jwks(_: Request) -> Response:
            self.fetches += 1
            if self.status != 200:
                return Response("unavailable", status_code=self.status)
            document = [key.public_jwk() for key in self.keys] + self.extra_jwks
            return JSONResponse({"keys": document})

        return Starlette(routes=[Route(JWKS_PATH, jwks)])


@asynccontextmanager
async def serve_idp(*keys: KeyPair) -> AsyncIterator[IdentityProvider]:
    """An identity provider serving ``keys`` at ``provider.url`` until the block ends."""
    provider = IdentityProvider(list(keys))
    async with serve_asgi(provider.app()) as port:
        provider.url = f"http://127.0.0.1:{port}{JWKS_PATH}"
        yield provider

"""Who is calling: token verifiers for the SDK's bearer authentication.

Each verifier implements the SDK's ``TokenVerifier`` protocol: pass one to
``MCPServer(token_verifier=..., auth=AuthSettings(...))`` and the SDK
answers 401 with ``WWW-Authenticate`` and serves the RFC 9728 metadata.
The ``AccessToken`` a verifier returns carries the issuer and subject, so
the principal the SDK derives from it (and that owns tasks) is unique per
(client, issuer, subject).

* :class:`JwtVerifier`: access tokens signed by an OAuth identity provider,
  checked against its JWKS. Needs the ``auth`` extra, so it is imported on
  first use: API keys work without it.
* :class:`ApiKeyVerifier`: static keys listed, hashed, in a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_tasks_server.server.auth.api_keys import API_KEY_ISSUER, ApiKeyVerifier

if TYPE_CHECKING:
    from mcp_tasks_server.server.auth.jwt_verifier import JwtVerifier

__all__ = ["API_KEY_ISSUER", "ApiKeyVerifier", "JwtVerifier"]


def __getattr__(name: str) -> Any:
    if name == "JwtVerifier":
        from mcp_tasks_server.server.auth.jwt_verifier import JwtVerifier

        return JwtVerifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Who may call the reference server: authentication from the settings, and safe defaults.

:func:`auth_options` turns ``MCP_TASKS_AUTH*`` into the SDK's own
``token_verifier`` and ``AuthSettings``, so the 401 answers, the
``WWW-Authenticate`` challenge and the RFC 9728 protected-resource metadata
are the SDK's. Our verifiers check the audience (or client id) themselves,
so the SDK's resource check stays off: Cognito access tokens carry no
``aud`` for it to compare.

:func:`check_exposure` refuses the starts that would put the server on a
network unprotected: HTTP on a non-loopback address without
authentication (``MCP_TASKS_ALLOW_ANONYMOUS=true`` overrides), and the
example tools there (``MCP_TASKS_ALLOW_EXAMPLE_TOOLS=true`` overrides):
they are demos, not something to offer the world.
"""

from __future__ import annotations

from typing import Any

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.server.http import is_loopback
from mcp_tasks_server.settings import Settings

__all__ = ["AuthOptions", "auth_options", "check_exposure"]

AuthOptions = tuple[TokenVerifier, AuthSettings]


def auth_options(settings: Settings) -> AuthOptions | None:
    """The SDK's verifier and settings for ``MCP_TASKS_AUTH``; ``None`` without authentication."""
    if settings.auth == "none":
        return None
    if settings.auth == "jwt":
        return _jwt(settings)
    return _api_keys(settings)


def _require(settings: Settings, *names: str) -> None:
    for name in names:
        if not getattr(settings, name):
            raise ConfigError(
                f"MCP_TASKS_AUTH={settings.auth} needs MCP_TASKS_{name.upper()}; see the "
                "README's remote deployment guide"
            )


def _jwt(settings: Settings) -> AuthOptions:
    _require(settings, "auth_jwks_url", "auth_issuer")
    if not settings.auth_audience and not settings.auth_client_ids:
        raise ConfigError(
            "MCP_TASKS_AUTH=jwt needs MCP_TASKS_AUTH_AUDIENCE or MCP_TASKS_AUTH_CLIENT_IDS "
            "(Cognito: the app client ids), so tokens issued for other applications are refused"
        )
    try:
        from mcp_tasks_server.server.auth.jwt_verifier import JwtVerifier
    except ImportError as exc:
        raise ConfigError(f"MCP_TASKS_AUTH=jwt: {exc}") from None
    verifier = JwtVerifier(
        settings.auth_jwks_url or "",
        settings.auth_issuer or "",
        settings.auth_audience or None,
        required_scopes=settings.auth_required_scopes,
        leeway_seconds=settings.auth_leeway_seconds,
        allowed_client_ids=settings.auth_client_ids or None,
    )
    return verifier, _auth_settings(settings, settings.auth_issuer or "")


def _api_keys(settings: Settings) -> AuthOptions:
    _require(settings, "auth_api_keys_file")
    from mcp_tasks_server.server.auth.api_keys import ApiKeyVerifier

    verifier = ApiKeyVerifier.from_file(
        settings.auth_api_keys_file or "", scopes=settings.auth_required_scopes
    )
    # There is no authorization server; the SDK's settings still need a URL
    # for one, and this server's own is the honest answer.
    own = settings.auth_resource_url or f"http://{settings.host}:{settings.port}"
    return verifier, _auth_settings(settings, own)


def _auth_settings(settings: Settings, issuer: str) -> AuthSettings:
    try:
        return AuthSettings(
            issuer_url=issuer,  # type: ignore[arg-type]  # pydantic parses the URL
            resource_server_url=settings.auth_resource_url,  # type: ignore[arg-type]
            required_scopes=settings.auth_required_scopes or None,
            validate_token_resource=False,  # the verifier checks aud / client id itself
        )
    except ValueError as exc:
        raise ConfigError(
            f"MCP_TASKS_AUTH_ISSUER or MCP_TASKS_AUTH_RESOURCE_URL is not a URL: {exc}"
        ) from None


def check_exposure(settings: Settings, *, profile: str, tools: str | None) -> None:
    """Refuse to serve HTTP beyond loopback unprotected, or with the example tools."""
    if settings.transport != "http" or is_loopback(settings.host):
        return
    if settings.auth == "none" and not settings.allow_anonymous:
        raise ConfigError(
            f"MCP_TASKS_HOST={settings.host} is not loopback and MCP_TASKS_AUTH=none: set "
            "MCP_TASKS_AUTH=jwt or api-keys, or MCP_TASKS_ALLOW_ANONYMOUS=true to serve "
            "anyone who can reach it"
        )
    if profile == "default" and tools is None and not settings.allow_example_tools:
        raise ConfigError(
            f"MCP_TASKS_HOST={settings.host} is not loopback and the default profile serves "
            "only example tools: give --tools, or set MCP_TASKS_ALLOW_EXAMPLE_TOOLS=true"
        )


def server_auth_kwargs(settings: Settings) -> dict[str, Any]:
    """``MCPServer`` keyword arguments for the configured authentication (none: empty)."""
    options = auth_options(settings)
    if options is None:
        return {}
    verifier, auth = options
    return {"token_verifier": verifier, "auth": auth}

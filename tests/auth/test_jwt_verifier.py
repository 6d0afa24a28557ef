"""JwtVerifier against a real JWKS endpoint on 127.0.0.1, with keys made in each test."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from mcp.server.auth.provider import principal_components

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.server.auth import JwtVerifier
from tests.auth.idp import (
    AUDIENCE,
    ISSUER,
    KeyPair,
    b64url,
    claims,
    ec_key,
    hmac_signed,
    rsa_key,
    serve_idp,
    sign,
    unsigned,
)

pytestmark = pytest.mark.anyio

WINDOW = 30.0


class Seconds:
    """A monotonic clock the test moves, so rate-limit windows pass without waiting."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def verifier(url: str, clock: Callable[[], float] = time.monotonic, **options: Any) -> JwtVerifier:
    settings: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "required_scopes": ["tasks"],
        "min_refetch_seconds": WINDOW,
        "clock": clock,
    }
    settings.update(options)
    return JwtVerifier(url, **settings)


@pytest.mark.parametrize("make_key", [rsa_key, ec_key], ids=["RS256", "ES256"])
async def test_valid_token_names_client_issuer_and_subject(
    make_key: Callable[[str], KeyPair],
) -> None:
    key = make_key("k1")
    async with serve_idp(key) as idp:
        payload = claims()
        access = await verifier(idp.url).verify_token(sign(key, payload))
    assert access is not None
    assert principal_components(access) == ("tasks-app", ISSUER, "alice")
    assert access.scopes == ["openid", "tasks"]
    assert access.resource == AUDIENCE
    assert access.expires_at == payload["exp"]


async def test_one_subject_at_two_issuers_is_two_principals() -> None:
    key = rsa_key("k1")
    other_issuer = "https://other-idp.example"
    async with serve_idp(key) as idp:
        here = await verifier(idp.url).verify_token(sign(key, claims()))
        there = await verifier(idp.url, issuer=other_issuer).verify_token(
            sign(key, claims(iss=other_issuer))
        )
        bob = await verifier(idp.url).verify_token(sign(key, claims(sub="bob")))
    assert here is not None
    assert there is not None
    assert bob is not None
    principals = {principal_components(token) for token in (here, there, bob)}
    assert len(principals) == 3


async def test_token_expired_beyond_the_leeway_is_refused() -> None:
    key = rsa_key("k1")
    now = int(time.time())
    async with serve_idp(key) as idp:
        check = verifier(idp.url, leeway_seconds=30)
        assert await check.verify_token(sign(key, claims(exp=now - 120))) is None
        # Within the leeway, clock skew is forgiven.
        assert await check.verify_token(sign(key, claims(exp=now - 5))) is not None


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://evil.example"},
        {"iss": None},
        {"aud": "https://another-service.example"},
        {"aud": None},
        {"sub": None},
        {"exp": None},
        {"scope": "openid"},
        {"scope": None},
        {"nbf": int(time.time()) + 3_600},
    ],
    ids=[
        "wrong-issuer",
        "no-issuer",
        "wrong-audience",
        "no-audience",
        "no-subject",
        "no-expiry",
        "missing-scope",
        "no-scope",
        "not-yet-valid",
    ],
)
async def test_token_with_wrong_claims_is_refused(overrides: dict[str, Any]) -> None:
    key = rsa_key("k1")
    async with serve_idp(key) as idp:
        assert await verifier(idp.url).verify_token(sign(key, claims(**overrides))) is None


@pytest.mark.parametrize(
    ("scope_claims", "granted"),
    [
        ({"scope": None, "scp": ["tasks", "read"]}, ["tasks", "read"]),  # Okta
        ({"scope": None, "scp": "tasks read"}, ["tasks", "read"]),  # Entra ID
        ({"scope": "tasks", "scp": ["read"]}, ["tasks", "read"]),
    ],
    ids=["scp-list", "scp-string", "both"],
)
async def test_scopes_are_read_from_scope_or_scp(
    scope_claims: dict[str, Any], granted: list[str]
) -> None:
    key = rsa_key("k1")
    async with serve_idp(key) as idp:
        access = await verifier(idp.url).verify_token(sign(key, claims(**scope_claims)))
    assert access is not None
    assert access.scopes == granted


async def test_audience_list_matches_any_entry_and_reports_it_as_the_resource() -> None:
    key = rsa_key("k1")
    async with serve_idp(key) as idp:
        token = sign(key, claims(aud=["https://other.example", AUDIENCE]))
        access = await verifier(idp.url).verify_token(token)
    assert access is not None
    assert access.resource == AUDIENCE


async def test_cognito_style_token_without_audience_is_pinned_by_client_and_token_use() -> None:
    key = rsa_key("k1")
    async with serve_idp(key) as idp:
        check = verifier(
            idp.url,
            audience=None,
            allowed_client_ids=["tasks-app"],
            required_claims={"token_use": "access"},
        )
        access_token = claims(aud=None, token_use="access")
        assert await check.verify_token(sign(key, access_token)) is not None
        id_token = claims(aud=None, token_use="id")
        assert await check.verify_token(sign(key, id_token)) is None
        other_client = claims(aud=None, token_use="access", client_id="another-app")
        assert await check.verify_token(sign(key, other_client)) is None


async def test_forged_and_unsigned_tokens_are_refused() -> None:
    key = rsa_key("k1")
    impostor = rsa_key("k1")  # same kid, another key pair
    async with serve_idp(key) as idp:
        check = verifier(idp.url)
        assert await check.verify_token(sign(impostor, claims())) is None
        assert await check.verify_token(unsigned(claims(), "k1")) is None
        assert await check.verify_token("not-a-jwt") is None
        tampered = sign(key, claims()).split(".")
        tampered[1] = sign(key, claims(sub="mallory")).split(".")[1]
        assert await check.verify_token(".".join(tampered)) is None


async def test_hmac_tokens_are_refused_even_with_a_published_symmetric_key() -> None:
    key = rsa_key("k1")
    async with serve_idp(key) as idp:
        # The classic confusion: the RSA public key used as an HMAC secret.
        confused = hmac_signed(claims(), "k1", key.public_pem())
        # A JWKS that (wrongly) publishes a symmetric key must not make HS256 usable.
        secret = b"published-shared-secret-0123456789"
        idp.extra_jwks.append({"kty": "oct", "kid": "shared", "k": b64url(secret), "alg": "HS256"})
        check = verifier(idp.url)
        assert await check.verify_token(confused) is None
        assert await check.verify_token(hmac_signed(claims(), "shared", secret)) is None
        assert await check.verify_token(sign(key, claims())) is not None


async def test_rotated_key_is_fetched_when_a_token_names_it() -> None:
    clock = Seconds()
    old, new = rsa_key("2024"), ec_key("2025")
    async with serve_idp(old) as idp:
        check = verifier(idp.url, clock)
        assert await check.verify_token(sign(old, claims())) is not None
        assert idp.fetches == 1

        idp.keys = [new]  # the provider rotates
        clock.now += WINDOW
        assert await check.verify_token(sign(new, claims())) is not None
        assert idp.fetches == 2
        # Known keys are served from the cache.
        assert await check.verify_token(sign(new, claims())) is not None
        assert idp.fetches == 2


async def test_unknown_key_ids_trigger_at_most_one_fetch_per_window() -> None:
    clock = Seconds()
    key = rsa_key("k1")
    async with serve_idp(key) as idp:
        check = verifier(idp.url, clock)
        assert await check.verify_token(sign(key, claims())) is not None
        assert idp.fetches == 1

        async def flood() -> list[Any]:
            answers: list[Any] = []

            async def one() -> None:
                answers.append(await check.verify_token(sign(key, claims(), kid=uuid.uuid4().hex)))

            async with anyio.create_task_group() as group:
                for _ in range(40):
                    group.start_soon(one)
            return answers

        assert set(await flood()) == {None}
        assert idp.fetches == 1  # still inside the first window

        clock.now += WINDOW
        assert set(await flood()) == {None}
        assert idp.fetches == 2  # forty unknown kids, one fetch

        clock.now += WINDOW - 1
        assert set(await flood()) == {None}
        assert idp.fetches == 2
        # The key everyone knows still works throughout.
        assert await check.verify_token(sign(key, claims())) is not None


async def test_unreachable_jwks_refuses_tokens_without_raising() -> None:
    key = rsa_key("k1")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check = verifier(f"http://127.0.0.1:{port}/jwks.json", fetch_timeout_seconds=2)
    assert await check.verify_token(sign(key, claims())) is None


async def test_failing_jwks_keeps_the_keys_already_known() -> None:
    clock = Seconds()
    key = rsa_key("k1")
    async with serve_idp(key) as idp:
        check = verifier(idp.url, clock, jwks_max_age_seconds=60)
        assert await check.verify_token(sign(key, claims())) is not None
        idp.status = 503
        clock.now += 61  # the cache is old: the next use tries a refresh, which fails
        assert await check.verify_token(sign(key, claims())) is not None
        assert idp.fetches == 2
        # A provider that answers garbage is no different.
        idp.status = 200
        idp.keys = []
        clock.now += WINDOW
        assert await check.verify_token(sign(key, claims(), kid="unknown")) is None
        assert idp.fetches == 3


async def test_refusal_is_logged_with_its_reason_and_never_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = rsa_key("k1")
    async with serve_idp(key) as idp:
        token = sign(key, claims(aud="https://another-service.example"))
        with caplog.at_level(logging.DEBUG, logger="mcp_tasks_server.server.auth"):
            assert await verifier(idp.url).verify_token(token) is None
    messages = [record.getMessage() for record in caplog.records]
    assert any("InvalidAudience" in message for message in messages), messages
    assert not any(token in message for message in messages)
    assert not any(token.split(".")[2] in message for message in messages)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"audience": None}, "audience or allowed client ids"),
        ({"algorithms": ["RS256", "HS256"]}, "HS256"),
        ({"algorithms": ["none"]}, "none"),
        ({"issuer": ""}, "issuer"),
    ],
)
def test_unsafe_configuration_is_refused(options: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        verifier("https://idp.example/jwks.json", **options)


def test_jwks_over_plain_http_is_refused_off_loopback() -> None:
    with pytest.raises(ConfigError, match="https"):
        verifier("http://idp.example/jwks.json")

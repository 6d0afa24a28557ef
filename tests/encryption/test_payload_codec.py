"""The record body seam: sealed text for the backend, legacy plaintext, and keyed owner keys."""

from __future__ import annotations

import hashlib
import json

import pytest

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.store.encryption import (
    ENCRYPTED_PREFIX,
    LocalKeyRing,
    MalformedPayload,
    PayloadCodec,
    PlaintextRefused,
    TamperedPayload,
    owner_key_hasher,
)

pytestmark = pytest.mark.anyio

RECORD = json.dumps({"taskId": "t-1", "status": "working", "statusMessage": "día 1 ✓"})
OWNER = "principal:0123456789abcdef"


def codec(*, read_plaintext: bool = True) -> PayloadCodec:
    ring = LocalKeyRing([("k1", bytes(32))])
    return PayloadCodec(ring, read_plaintext=read_plaintext)


async def test_sealed_body_is_ascii_text_that_opens_back_to_the_record() -> None:
    sealing = codec()
    sealed = await sealing.seal(RECORD, owner=OWNER, task_id="t-1")
    assert sealed.startswith(ENCRYPTED_PREFIX)
    assert sealed.isascii()
    assert "working" not in sealed
    assert await sealing.open(sealed, owner=OWNER, task_id="t-1") == RECORD


async def test_body_copied_into_another_item_does_not_open() -> None:
    sealing = codec()
    sealed = await sealing.seal(RECORD, owner=OWNER, task_id="t-1")
    with pytest.raises(TamperedPayload):
        await sealing.open(sealed, owner="principal:ffff", task_id="t-1")
    with pytest.raises(TamperedPayload):
        await sealing.open(sealed, owner=OWNER, task_id="t-2")


async def test_plaintext_written_before_encryption_reads_until_refused() -> None:
    assert await codec().open(RECORD, owner=OWNER, task_id="t-1") == RECORD
    with pytest.raises(PlaintextRefused):
        await codec(read_plaintext=False).open(RECORD, owner=OWNER, task_id="t-1")


async def test_garbled_sealed_body_is_malformed() -> None:
    with pytest.raises(MalformedPayload):
        await codec().open(ENCRYPTED_PREFIX + "bm90IGFuIGVudmVsb3Bl", owner=OWNER, task_id="t")


def test_keyed_owner_digest_cannot_be_confirmed_without_the_secret() -> None:
    secret = "s" * 32
    digest = owner_key_hasher(secret)
    principal = '["tasks-app","https://idp.example","alice"]'
    assert digest(principal) == digest(principal)
    assert len(digest(principal)) == 32
    assert digest(principal) != digest('["tasks-app","https://idp.example","bob"]')
    # The unkeyed digest a reader of the table could compute from a guess:
    assert digest(principal) != hashlib.sha256(principal.encode()).hexdigest()[:32]
    assert owner_key_hasher("t" * 32)(principal) != digest(principal)


def test_short_owner_key_secret_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="MCP_TASKS_OWNER_KEY_SECRET must be at least 32 bytes"):
        owner_key_hasher(b"too short")

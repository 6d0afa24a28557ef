"""LocalKeyRing and the envelope: round trips, tampering, rotation, and the key setting."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.store.encryption import (
    DecryptionFailed,
    LocalKeyRing,
    MalformedPayload,
    TamperedPayload,
    UnknownKey,
    new_key_entry,
)
from mcp_tasks_server.store.encryption.envelope import Envelope, Scheme, seal

pytestmark = pytest.mark.anyio

CONTEXT = {"owner": "principal:0123", "task": "t-1"}
KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def entry(key_id: str, key: bytes) -> str:
    return f"{key_id}:{base64.b64encode(key).decode()}"


async def test_payload_round_trips_and_hides_its_plaintext() -> None:
    ring = LocalKeyRing.from_text(entry("a", KEY_A))
    plaintext = b'{"status": "completed", "result": "the answer is 42"}'
    sealed = await ring.encrypt(plaintext, context=CONTEXT)
    assert b"answer" not in sealed
    assert await ring.decrypt(sealed, context=CONTEXT) == plaintext
    # Fresh salt and nonce each time: equal plaintexts do not look equal.
    assert await ring.encrypt(plaintext, context=CONTEXT) != sealed


async def test_every_altered_byte_after_the_header_is_detected() -> None:
    ring = LocalKeyRing.from_text(entry("a", KEY_A))
    sealed = await ring.encrypt(b"payload", context=CONTEXT)
    header = len(Envelope.parse(sealed).header)
    for index in range(header, len(sealed)):
        altered = bytearray(sealed)
        altered[index] ^= 0x01
        with pytest.raises(TamperedPayload):
            await ring.decrypt(bytes(altered), context=CONTEXT)


async def test_altered_header_is_refused() -> None:
    ring = LocalKeyRing([("a", KEY_A), ("b", KEY_A)])
    sealed = await ring.encrypt(b"payload", context=CONTEXT)
    # Same key material under another id: only the authenticated header stops the swap.
    relabelled = sealed.replace(b"\x01a", b"\x01b", 1)
    with pytest.raises(TamperedPayload):
        await ring.decrypt(relabelled, context=CONTEXT)
    for index in range(len(Envelope.parse(sealed).header)):
        altered = bytearray(sealed)
        altered[index] ^= 0x01
        with pytest.raises(DecryptionFailed):
            await ring.decrypt(bytes(altered), context=CONTEXT)
    for cut in (0, 3, 7, len(sealed) - 20):
        with pytest.raises(MalformedPayload):
            await ring.decrypt(sealed[:cut], context=CONTEXT)


@pytest.mark.parametrize(
    "other",
    [
        {"owner": "principal:9999", "task": "t-1"},
        {"owner": "principal:0123", "task": "t-2"},
        {"owner": "principal:0123"},
        {**CONTEXT, "extra": ""},
        {"owner": "principal:0123t", "task": "-1"},
    ],
    ids=["other-owner", "other-task", "missing-entry", "extra-entry", "shifted-boundary"],
)
async def test_ciphertext_moved_to_another_item_does_not_open(other: dict[str, str]) -> None:
    ring = LocalKeyRing.from_text(entry("a", KEY_A))
    sealed = await ring.encrypt(b"payload", context=CONTEXT)
    with pytest.raises(TamperedPayload):
        await ring.decrypt(sealed, context=other)


async def test_rotation_keeps_old_items_readable_and_seals_new_ones_with_the_new_key() -> None:
    before = LocalKeyRing.from_text(entry("2025", KEY_A))
    old_item = await before.encrypt(b"old", context=CONTEXT)

    during = LocalKeyRing.from_text(f"{entry('2026', KEY_B)}, {entry('2025', KEY_A)}")
    new_item = await during.encrypt(b"new", context=CONTEXT)
    assert Envelope.parse(new_item).key_id == "2026"
    assert await during.decrypt(old_item, context=CONTEXT) == b"old"
    assert await during.decrypt(new_item, context=CONTEXT) == b"new"

    after = LocalKeyRing.from_text(entry("2026", KEY_B))
    assert await after.decrypt(new_item, context=CONTEXT) == b"new"
    with pytest.raises(UnknownKey, match="'2025'"):
        await after.decrypt(old_item, context=CONTEXT)


async def test_kms_envelope_is_not_mistaken_for_a_local_one() -> None:
    ring = LocalKeyRing.from_text(entry("a", KEY_A))
    kms_sealed = seal(
        KEY_A, b"x", scheme=Scheme.KMS, key_id="a", context=CONTEXT, wrapped_key=b"blob"
    )
    with pytest.raises(MalformedPayload, match="KMS"):
        await ring.decrypt(kms_sealed, context=CONTEXT)


SECRET_TEXT = base64.b64encode(KEY_A).decode()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "is empty"),
        (SECRET_TEXT, "entry 1 is not `keyid:base64key`"),
        (f"a:{SECRET_TEXT},{SECRET_TEXT}", "entry 2 is not `keyid:base64key`"),
        (f"bad id:{SECRET_TEXT}", "entry 1: the key id must be"),
        ("a:not base64!!", "entry 1 (key id 'a'): the key is not valid base64"),
        (f"a:{base64.b64encode(KEY_A[:16]).decode()}", "must be 32 random bytes"),
        (f"a:{SECRET_TEXT},a:{base64.b64encode(KEY_B).decode()}", "key id 'a' appears twice"),
    ],
    ids=["empty", "no-id", "second-no-id", "bad-id", "bad-base64", "short-key", "duplicate"],
)
def test_bad_key_setting_names_the_setting_and_never_the_key(text: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        LocalKeyRing.from_text(text, setting="MCP_TASKS_ENCRYPTION_KEYS")
    message = str(caught.value)
    assert message.startswith("MCP_TASKS_ENCRYPTION_KEYS")
    assert complaint in message
    assert SECRET_TEXT not in message
    assert SECRET_TEXT[:12] not in message


def test_url_safe_and_unpadded_keys_are_accepted() -> None:
    key = bytes([0xFB, 0xFF] * 16)  # encodes with + and / in standard base64
    urlsafe = base64.urlsafe_b64encode(key).decode().rstrip("=")
    ring = LocalKeyRing.from_text(f"k:{urlsafe}")
    assert ring.primary_key_id == "k"


def test_new_key_command_prints_an_entry_the_ring_accepts() -> None:
    made = subprocess.run(
        [sys.executable, "-m", "mcp_tasks_server.store.encryption", "new-key", "2026-01"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert LocalKeyRing.from_text(made.stdout.strip()).primary_key_id == "2026-01"
    assert new_key_entry("k") != new_key_entry("k")


contexts = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=4)


@settings(max_examples=200, deadline=None)
@given(plaintext=st.binary(max_size=4096), context=contexts, other=contexts)
async def test_any_payload_round_trips_only_under_its_own_context(
    plaintext: bytes, context: dict[str, str], other: dict[str, str]
) -> None:
    ring = LocalKeyRing([("a", KEY_A)])
    sealed = await ring.encrypt(plaintext, context=context)
    assert await ring.decrypt(sealed, context=context) == plaintext
    if other != context:
        with pytest.raises(TamperedPayload):
            await ring.decrypt(sealed, context=other)

"""KmsEnvelopeCipher against moto's KMS over HTTP, counting the requests KMS receives."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from aiobotocore.config import AioConfig

from mcp_tasks_server.store.encryption import KeyServiceError, MalformedPayload, TamperedPayload
from mcp_tasks_server.store.encryption.envelope import Envelope
from mcp_tasks_server.store.encryption.kms import KmsEnvelopeCipher
from tests.dynamodb_servers import local_session
from tests.encryption.conftest import kms_admin

pytestmark = pytest.mark.anyio

CONTEXT = {"owner": "principal:0123", "task": "t-1"}


class Seconds:
    """A monotonic clock the test moves, so data keys age without waiting."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class CountingKms:
    """Real aioboto3 KMS clients for ``endpoint``, counting each request they send."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.sent: Counter[str] = Counter()

    @asynccontextmanager
    async def client(self) -> AsyncIterator[Any]:
        config = AioConfig(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1})
        async with local_session().client(
            "kms", endpoint_url=self.endpoint, config=config
        ) as client:
            client.meta.events.register("before-send.kms", self._count)
            yield client

    def _count(self, request: Any, **_: Any) -> None:
        self.sent[request.headers["X-Amz-Target"].decode().rsplit(".", 1)[-1]] += 1


@asynccontextmanager
async def kms_cipher(
    kms: CountingKms, key_id: str, **options: Any
) -> AsyncIterator[KmsEnvelopeCipher]:
    cipher = KmsEnvelopeCipher(key_id, kms.client, **options)
    try:
        yield cipher
    finally:
        await cipher.aclose()


async def encrypt_many(cipher: KmsEnvelopeCipher, count: int) -> list[bytes]:
    sealed: list[bytes] = []

    async def one(index: int) -> None:
        sealed.append(await cipher.encrypt(b"payload %d" % index, context=CONTEXT))

    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(one, index)
    return sealed


async def test_one_generate_data_key_serves_many_messages_until_it_ages(
    moto_kms: str, kms_key: str
) -> None:
    kms, clock = CountingKms(moto_kms), Seconds()
    async with kms_cipher(kms, kms_key, data_key_ttl_seconds=300, clock=clock) as cipher:
        sealed = await encrypt_many(cipher, 25)
        assert kms.sent == {"GenerateDataKey": 1}
        assert len({Envelope.parse(item).wrapped_key for item in sealed}) == 1
        # What this server sealed it can open without asking KMS.
        for item in sealed:
            assert (await cipher.decrypt(item, context=CONTEXT)).startswith(b"payload ")
        assert kms.sent == {"GenerateDataKey": 1}

        clock.now += 299
        await cipher.encrypt(b"still the same key", context=CONTEXT)
        assert kms.sent["GenerateDataKey"] == 1
        clock.now += 1
        await cipher.encrypt(b"a new key", context=CONTEXT)
        assert kms.sent["GenerateDataKey"] == 2


async def test_data_key_is_replaced_after_its_message_budget(moto_kms: str, kms_key: str) -> None:
    kms = CountingKms(moto_kms)
    async with kms_cipher(kms, kms_key, max_messages_per_key=5) as cipher:
        sealed = [await cipher.encrypt(b"x", context=CONTEXT) for _ in range(12)]
    assert kms.sent == {"GenerateDataKey": 3}
    assert len({Envelope.parse(item).wrapped_key for item in sealed}) == 3


async def test_another_replica_unwraps_each_data_key_once(moto_kms: str, kms_key: str) -> None:
    writer_kms, reader_kms = CountingKms(moto_kms), CountingKms(moto_kms)
    async with kms_cipher(writer_kms, kms_key, max_messages_per_key=10) as writer:
        sealed = await encrypt_many(writer, 20)
    assert writer_kms.sent == {"GenerateDataKey": 2}

    async with kms_cipher(reader_kms, kms_key) as reader:
        opened: list[bytes] = []

        async def read(item: bytes) -> None:
            opened.append(await reader.decrypt(item, context=CONTEXT))

        async with anyio.create_task_group() as group:
            for item in sealed:
                group.start_soon(read, item)
        # Twenty concurrent reads of two data keys: two Decrypt requests.
        assert reader_kms.sent == {"Decrypt": 2}
        assert sorted(opened) == sorted(b"payload %d" % index for index in range(20))


async def test_items_sealed_under_a_retired_kms_key_still_open(moto_kms: str) -> None:
    admin = kms_admin(moto_kms)
    old_key = admin.create_key()["KeyMetadata"]["Arn"]
    new_key = admin.create_key()["KeyMetadata"]["Arn"]
    kms = CountingKms(moto_kms)
    async with kms_cipher(kms, old_key) as before:
        old_item = await before.encrypt(b"written last year", context=CONTEXT)
    async with kms_cipher(kms, new_key) as after:
        new_item = await after.encrypt(b"written today", context=CONTEXT)
        assert await after.decrypt(old_item, context=CONTEXT) == b"written last year"
    assert Envelope.parse(old_item).key_id == old_key
    assert Envelope.parse(new_item).key_id == new_key


async def test_altered_payloads_and_contexts_fail_as_tampered(moto_kms: str, kms_key: str) -> None:
    async with kms_cipher(CountingKms(moto_kms), kms_key) as writer:
        sealed = await writer.encrypt(b"secret", context=CONTEXT)
    envelope = Envelope.parse(sealed)
    flipped_body = sealed[:-1] + bytes([sealed[-1] ^ 1])
    wrapped = bytearray(envelope.wrapped_key)
    wrapped[len(wrapped) // 2] ^= 1
    forged_key = Envelope(
        envelope.scheme,
        envelope.key_id,
        bytes(wrapped),
        envelope.salt,
        envelope.nonce,
        envelope.ciphertext,
    ).to_bytes()

    async with kms_cipher(CountingKms(moto_kms), kms_key) as reader:
        for altered, context in (
            (flipped_body, CONTEXT),
            (forged_key, CONTEXT),
            (sealed, {**CONTEXT, "task": "t-2"}),
        ):
            with pytest.raises(TamperedPayload):
                await reader.decrypt(altered, context=context)
        with pytest.raises(MalformedPayload):
            await reader.decrypt(b'{"plain": "json"}', context=CONTEXT)
        assert await reader.decrypt(sealed, context=CONTEXT) == b"secret"


async def test_missing_kms_key_is_a_key_service_error_naming_the_cause(moto_kms: str) -> None:
    async with kms_cipher(CountingKms(moto_kms), "alias/no-such-key") as cipher:
        with pytest.raises(KeyServiceError, match="GenerateDataKey failed: NotFoundException"):
            await cipher.encrypt(b"x", context=CONTEXT)


async def test_unreachable_kms_is_a_key_service_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kms = CountingKms(f"http://127.0.0.1:{port}")
    with anyio.fail_after(30):
        async with kms_cipher(kms, "alias/tasks") as cipher:
            with pytest.raises(KeyServiceError, match="GenerateDataKey failed"):
                await cipher.encrypt(b"x", context=CONTEXT)

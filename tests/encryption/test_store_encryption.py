"""Encryption at rest through the store, on DynamoDB Local and on moto's DynamoDB and KMS.

What a reader of the table sees is checked with a plain boto3 client: no
argument, result or answer in clear, keys and versions still in clear.
The store must still read what it wrote before a key rotation (and before
encryption), and must treat what it cannot authenticate as missing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from mcp_tasks_server import Settings, ToolRequest
from mcp_tasks_server.core.errors import PayloadTooLarge, StorageUnavailable, TaskNotFound
from mcp_tasks_server.core.model import InputRequest
from mcp_tasks_server.store.codec import RecordCodec
from mcp_tasks_server.store.encryption import PayloadCodec, new_key_entry
from mcp_tasks_server.store.encryption.kms import KmsEnvelopeCipher
from mcp_tasks_server.store.store import TaskStore
from tests.clock import ManualClock
from tests.dynamodb_servers import DynamoDbServer, open_backend, sync_client
from tests.encryption.test_kms_cipher import CountingKms
from tests.support.factories import make_store

pytestmark = pytest.mark.anyio

ARGUMENT, QUESTION, ANSWER, RESULT = "ARG-5ecret", "QUESTION-5ecret", "ANSWER-5ecret", "RESULT-5ec"
OLD, NEW = new_key_entry("k1"), new_key_entry("k2")


def local(keys: str, **settings: Any) -> Settings:
    return Settings(backend="dynamodb", encryption="local", encryption_keys=keys, **settings)


def raw_items(server: DynamoDbServer, table: str) -> list[dict[str, Any]]:
    return list(sync_client(server.endpoint).scan(TableName=table)["Items"])


async def full_life(store: TaskStore) -> str:
    """A task that took an argument, asked a question, got an answer and a result."""
    task = await store.create("alice", ToolRequest(name="tool", arguments={"a": ARGUMENT}))
    question = InputRequest(method="elicitation/create", params={"message": QUESTION})
    await store.request_input("alice", task.task_id, {"q": question})
    await store.deliver_input("alice", task.task_id, {"q": {"content": ANSWER}})
    done = {"content": [{"type": "text", "text": RESULT}]}
    await store.complete("alice", task.task_id, done)
    return task.task_id


async def test_the_stored_item_holds_no_argument_question_answer_or_result(
    dynamodb_local: DynamoDbServer, clock: ManualClock
) -> None:
    async with open_backend(dynamodb_local, clock) as backend:
        store = make_store(backend, local(OLD))
        task_id = await full_life(store)
        items = raw_items(dynamodb_local, backend.table)
        task_items = [item for item in items if "data" in item]
        assert len(task_items) == 1
        stored = json.dumps(items)
        for secret in (ARGUMENT, QUESTION, ANSWER, RESULT):
            assert secret not in stored
        assert task_items[0]["data"]["S"].startswith("enc:")
        assert task_items[0]["SK"]["S"].endswith(task_id)  # keys stay in clear
        read = await store.get("alice", task_id)
        assert read.result == {"content": [{"type": "text", "text": RESULT}]}
        assert read.request.arguments == {"a": ARGUMENT}
        assert (await store.list("alice")).records == [read]


async def test_items_sealed_under_a_rotated_key_still_read(
    dynamodb_local: DynamoDbServer, clock: ManualClock
) -> None:
    async with open_backend(dynamodb_local, clock) as backend:
        before = make_store(backend, local(OLD))
        old = await before.create("alice", ToolRequest(name="tool", arguments={"a": ARGUMENT}))
        rotated = make_store(backend, local(f"{NEW},{OLD}"))
        assert (await rotated.get("alice", old.task_id)).request.arguments == {"a": ARGUMENT}
        await rotated.update("alice", old.task_id, status_message="resealed")
        only_new = make_store(backend, local(NEW))
        assert (await only_new.get("alice", old.task_id)).status_message == "resealed"


async def test_a_body_that_does_not_open_reads_as_missing_and_is_logged(
    dynamodb_local: DynamoDbServer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_backend(dynamodb_local, clock) as backend:
        store = make_store(backend, local(OLD))
        first = await store.create("alice", ToolRequest(name="tool"))
        second = await store.create("alice", ToolRequest(name="tool"))
        # Sealed under a key the new ring does not hold: not found, logged at ERROR.
        with caplog.at_level(logging.ERROR), pytest.raises(TaskNotFound):
            await make_store(backend, local(NEW)).get("alice", first.task_id)
        assert any(r.levelno == logging.ERROR for r in caplog.records)
        # A body copied onto another item is bound to its own item, so it fails too.
        raw = sync_client(dynamodb_local.endpoint)
        items = {i["SK"]["S"]: i for i in raw_items(dynamodb_local, backend.table) if "data" in i}
        moved = items[f"TASK#{second.task_id}"] | {"data": items[f"TASK#{first.task_id}"]["data"]}
        raw.put_item(TableName=backend.table, Item=moved)
        with pytest.raises(TaskNotFound):
            await store.get("alice", second.task_id)
        assert [r.task_id for r in (await store.list("alice")).records] == [first.task_id]


async def test_plaintext_items_read_until_refused_and_are_sealed_on_their_next_write(
    dynamodb_local: DynamoDbServer, clock: ManualClock
) -> None:
    async with open_backend(dynamodb_local, clock) as backend:
        plain = make_store(backend, Settings(backend="dynamodb"))
        task = await plain.create("alice", ToolRequest(name="tool", arguments={"a": ARGUMENT}))
        assert ARGUMENT in json.dumps(raw_items(dynamodb_local, backend.table))
        with pytest.raises(TaskNotFound):
            await make_store(backend, local(OLD, encryption_read_plaintext=False)).get(
                "alice", task.task_id
            )
        migrating = make_store(backend, local(OLD))
        await migrating.update("alice", task.task_id, status_message="sealed now")
        assert ARGUMENT not in json.dumps(raw_items(dynamodb_local, backend.table))


async def test_a_lost_race_and_an_orphan_page_carry_sealed_records_that_open(
    dynamodb_local: DynamoDbServer, clock: ManualClock
) -> None:
    async with open_backend(dynamodb_local, clock) as backend:
        store = make_store(backend, local(OLD, lease_seconds=3, heartbeat_interval_seconds=1))
        task = await store.create("alice", ToolRequest(name="tool"), replica="gone")
        await store.update("alice", task.task_id, status_message="first", known=task)
        # ``task`` is stale now: the conflict carries the winner, sealed, and the retry opens it.
        again = await store.update("alice", task.task_id, progress=None, known=task)
        assert again.status_message == "first"
        clock.advance(10_000)
        page = await store.orphan_page(limit=10)
        assert [record.task_id for record in page.records] == [task.task_id]


async def test_kms_costs_one_data_key_and_no_decrypt_for_what_this_process_wrote(
    moto_dynamodb: DynamoDbServer, clock: ManualClock, kms_key: str
) -> None:
    kms = CountingKms(moto_dynamodb.endpoint)
    codec = RecordCodec(PayloadCodec(KmsEnvelopeCipher(kms_key, kms.client)))
    async with open_backend(moto_dynamodb, clock) as backend:
        store = make_store(backend, Settings(backend="dynamodb"), codec=codec)
        try:
            task_id = await full_life(store)
            assert (await store.get("alice", task_id)).result is not None
            assert RESULT not in json.dumps(raw_items(moto_dynamodb, backend.table))
            assert dict(kms.sent) == {"GenerateDataKey": 1}
            # Another process (a fresh cipher) asks KMS once for the data key, then caches it.
            other = RecordCodec(PayloadCodec(KmsEnvelopeCipher(kms_key, kms.client)))
            reader = make_store(backend, Settings(backend="dynamodb"), codec=other)
            await reader.get("alice", task_id)
            await reader.get("alice", task_id)
            assert kms.sent["Decrypt"] == 1
            await other.aclose()
        finally:
            await codec.aclose()


async def test_a_kms_outage_is_storage_unavailable(
    moto_dynamodb: DynamoDbServer, clock: ManualClock, kms_key: str
) -> None:
    unreachable = CountingKms("http://127.0.0.1:9")  # discard port: nothing listens
    codec = RecordCodec(PayloadCodec(KmsEnvelopeCipher(kms_key, unreachable.client)))
    async with open_backend(moto_dynamodb, clock) as backend:
        store = make_store(backend, Settings(backend="dynamodb"), codec=codec)
        with pytest.raises(StorageUnavailable):
            await store.create("alice", ToolRequest(name="tool"))
        assert [i for i in raw_items(moto_dynamodb, backend.table) if "data" in i] == []
        await codec.aclose()


async def test_the_item_size_limit_counts_the_sealed_body(
    dynamodb_local: DynamoDbServer, clock: ManualClock
) -> None:
    async with open_backend(dynamodb_local, clock, max_item_bytes=16_384) as backend:
        store = make_store(backend, local(OLD))
        task = await store.create("alice", ToolRequest(name="tool"))
        # 13 KB of result fits the limit in clear, not once sealed (base64 adds a third).
        big = {"content": [{"type": "text", "text": "x" * 13_000}]}
        with pytest.raises(PayloadTooLarge):
            await store.complete("alice", task.task_id, big)
        assert (await store.get("alice", task.task_id)).status.value == "working"
        plain = make_store(backend, Settings(backend="dynamodb"))
        in_clear = await plain.create("alice", ToolRequest(name="tool"))
        await plain.complete("alice", in_clear.task_id, big)
        # A server with encryption off cannot open sealed tasks: missing, not a crash.
        with pytest.raises(TaskNotFound):
            await plain.get("alice", task.task_id)


async def test_kms_encryption_from_the_settings_reaches_kms(
    moto_dynamodb: DynamoDbServer, clock: ManualClock, kms_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The AWS SDK's own variables pick the endpoint and credentials, as in production.
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto_dynamodb.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = Settings(
        backend="dynamodb",
        dynamodb_region="us-east-1",
        encryption="kms",
        encryption_kms_key_id=kms_key,
    )
    async with open_backend(moto_dynamodb, clock) as backend:
        store = make_store(backend, settings)
        try:
            task = await store.create("alice", ToolRequest(name="t", arguments={"a": ARGUMENT}))
            assert (await store.get("alice", task.task_id)).request.arguments == {"a": ARGUMENT}
            assert ARGUMENT not in json.dumps(raw_items(moto_dynamodb, backend.table))
        finally:
            await store.codec.aclose()

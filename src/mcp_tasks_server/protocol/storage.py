"""What the settings name for storage, built once at the root: backend, queue, codec, owner keys.

The one place that knows both ``MCP_TASKS_*`` names and backend constructor
arguments; the backends themselves never see the settings.
"""

from __future__ import annotations

from collections.abc import Callable

from mcp_tasks_server.backends.base import StorageBackend
from mcp_tasks_server.backends.memory import MemoryBackend
from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.core.owner import default_owner_digest
from mcp_tasks_server.observability.telemetry import NOOP_TELEMETRY, Telemetry
from mcp_tasks_server.queues.base import TaskQueue
from mcp_tasks_server.queues.memory import MemoryQueue
from mcp_tasks_server.settings import Settings
from mcp_tasks_server.store.codec import RecordCodec
from mcp_tasks_server.store.encryption import (
    LocalKeyRing,
    PayloadCipher,
    PayloadCodec,
    owner_key_hasher,
)

__all__ = ["build_backend", "build_queue", "build_record_codec", "owner_digest"]


def build_backend(settings: Settings, *, telemetry: Telemetry = NOOP_TELEMETRY) -> StorageBackend:
    """The backend ``MCP_TASKS_BACKEND`` names, configured from ``settings``.

    ``telemetry`` times each backend request (where a backend makes requests).
    """
    if settings.backend == "memory":
        return MemoryBackend(max_records=settings.memory_max_tasks or None)
    if settings.backend == "dynamodb":
        return _dynamodb_backend(settings, telemetry)
    raise ConfigError(f"MCP_TASKS_BACKEND={settings.backend!r} is not a known backend")


def _dynamodb_backend(settings: Settings, telemetry: Telemetry) -> StorageBackend:
    """The backend ``MCP_TASKS_DYNAMODB_*`` describe; region and credentials come from AWS."""
    try:
        from mcp_tasks_server.backends.dynamodb import (
            MAX_TOTAL_ACTIVE,
            MAX_TRACKED_ACTIVE,
            DynamoDbBackend,
            shards_for,
        )
    except ImportError as exc:
        if exc.name not in {"aioboto3", "aiobotocore", "botocore", "boto3"}:
            raise
        raise ConfigError(
            "MCP_TASKS_BACKEND=dynamodb needs aioboto3: pip install 'mcp-tasks-server[dynamodb]'"
        ) from None
    quota = settings.max_active_tasks_per_owner
    if quota > MAX_TRACKED_ACTIVE:
        raise ConfigError(
            f"MCP_TASKS_MAX_ACTIVE_TASKS_PER_OWNER={quota} is too large for the DynamoDB "
            f"backend, which enforces at most {MAX_TRACKED_ACTIVE} (0 disables the quota)"
        )
    cap = settings.max_active_tasks
    if cap > MAX_TOTAL_ACTIVE:
        raise ConfigError(
            f"MCP_TASKS_MAX_ACTIVE_TASKS={cap} is too large for the DynamoDB backend, which "
            f"enforces at most {MAX_TOTAL_ACTIVE}; lower it, or set 0 for no global cap"
        )
    return DynamoDbBackend(
        settings.dynamodb_table,
        endpoint_url=settings.dynamodb_endpoint,
        region_name=settings.dynamodb_region,
        max_pool_connections=settings.dynamodb_max_pool_connections,
        timeout_seconds=settings.dynamodb_timeout_seconds,
        max_attempts=settings.dynamodb_max_attempts,
        retry_mode=settings.dynamodb_retry_mode,
        max_item_bytes=settings.dynamodb_max_item_bytes,
        track_active=quota > 0,
        # The cap decides the shards, and the shards where each task is counted:
        # every replica and worker on the table must have the same cap.
        active_shards=shards_for(cap),
        telemetry=telemetry,
    )


def build_record_codec(settings: Settings) -> RecordCodec:
    """How record bodies cross to the backend: in clear, or sealed (``MCP_TASKS_ENCRYPTION``)."""
    if settings.encryption == "none":
        return RecordCodec()
    read_plaintext = settings.encryption_read_plaintext
    if settings.encryption == "local":
        if settings.encryption_keys is None:
            raise ConfigError(
                "MCP_TASKS_ENCRYPTION=local needs MCP_TASKS_ENCRYPTION_KEYS "
                "(make a key with: python -m mcp_tasks_server.store.encryption new-key k1)"
            )
        ring = LocalKeyRing.from_text(settings.encryption_keys.get_secret_value())
        return RecordCodec(PayloadCodec(ring, read_plaintext=read_plaintext))
    return RecordCodec(PayloadCodec(_kms_cipher(settings), read_plaintext=read_plaintext))


def _kms_cipher(settings: Settings) -> PayloadCipher:
    key_id = settings.encryption_kms_key_id
    if not key_id:
        raise ConfigError("MCP_TASKS_ENCRYPTION=kms needs MCP_TASKS_ENCRYPTION_KMS_KEY_ID")
    try:
        import aioboto3

        from mcp_tasks_server.store.encryption.kms import KmsEnvelopeCipher
    except ImportError as exc:
        if exc.name not in {"aioboto3", "aiobotocore", "botocore", "boto3"}:
            raise
        raise ConfigError(
            "MCP_TASKS_ENCRYPTION=kms needs aioboto3: pip install 'mcp-tasks-server[dynamodb]'"
        ) from None
    session = aioboto3.Session()
    region = settings.dynamodb_region  # the table's region, where its key usually lives too
    return KmsEnvelopeCipher(
        key_id,
        lambda: session.client("kms", region_name=region),
        data_key_ttl_seconds=settings.encryption_data_key_ttl_seconds,
    )


def owner_digest(settings: Settings) -> Callable[[str], str]:
    """How identities become owner keys: keyed by ``MCP_TASKS_OWNER_KEY_SECRET`` when set."""
    if settings.owner_key_secret is None:
        return default_owner_digest
    return owner_key_hasher(settings.owner_key_secret.get_secret_value())


def build_queue(settings: Settings) -> TaskQueue:
    """The task queue of queue mode: SQS at ``MCP_TASKS_QUEUE_URL``, else one in this process.

    An in-process queue only makes sense with the memory backend, where the
    workers run in the same process (tests, library use); the settings
    refuse the other combinations.
    """
    url = settings.queue_url
    if url is None:
        return MemoryQueue()
    try:
        from mcp_tasks_server.queues.sqs import SqsQueue
    except ImportError as exc:
        if exc.name not in {"aioboto3", "aiobotocore", "botocore", "boto3"}:
            raise
        raise ConfigError(
            "MCP_TASKS_QUEUE_URL needs aioboto3: pip install 'mcp-tasks-server[dynamodb]'"
        ) from None
    try:
        return SqsQueue(
            url,
            endpoint_url=settings.sqs_endpoint,
            # An AWS queue URL names its region; an emulator's takes AWS_REGION's.
            region_name=None if ".amazonaws.com" in url else settings.dynamodb_region,
            max_pool_connections=max(10, settings.worker_concurrency + 2),
        )
    except ValueError as exc:
        raise ConfigError(f"MCP_TASKS_QUEUE_URL: {exc}") from None

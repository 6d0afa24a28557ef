"""All configuration, read once from ``MCP_TASKS_*`` environment variables.

Only the entry points (the CLI, the reference server) call
:func:`load_settings`; everything below them receives the ``Settings`` object.
Library users may also build one in code: ``Settings(backend="memory")``;
keyword arguments win over the environment. ``Tasks()`` given no settings
builds ``Settings()``, which reads the environment like any other.

Durations the protocol shows to clients (TTL, poll interval) are in
milliseconds, as on the wire; operational intervals are in seconds. Each
field's unit is in its name.
"""

# long: one field per MCP_TASKS_* variable, each with the docstring the README table is
# generated from, and the cross-field rules beside them.

from __future__ import annotations

import json
import typing
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.core.model import PROCESS_REPLICA_ID

if typing.TYPE_CHECKING:
    from mcp_tasks_server.store.policy import StorePolicy

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX = "MCP_TASKS_"

_UNLIMITED_WORDS = frozenset({"unlimited", "none", "null"})


def _parse_optional_ms(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in _UNLIMITED_WORDS:
        return None
    return value


OptionalMs = Annotated[Annotated[int, Field(ge=1)] | None, BeforeValidator(_parse_optional_ms)]
"""Milliseconds, or ``unlimited`` (``None``)."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        if value.strip().startswith("["):
            return json.loads(value)  # a JSON list, e.g. the default "[]" spelled out
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
"""A list given as comma-separated text in the environment."""

_MIN_REQUEST_STATE_KEY_BYTES = 32
_MIN_LOG_HASH_KEY_BYTES = 16


class Settings(BaseSettings):
    """Every setting of the server. Each field is one ``MCP_TASKS_<NAME>`` variable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        frozen=True,
        validate_default=True,
        use_attribute_docstrings=True,
        populate_by_name=True,
    )

    # ------------------------------------------------------------ storage
    backend: Literal["memory", "dynamodb"] = "memory"
    """Where tasks are stored: ``memory`` (one process) or ``dynamodb`` (shared by replicas)."""

    memory_max_tasks: int = Field(default=10_000, ge=0)
    """Memory backend only: the most tasks held at once (0 = no cap beyond TTL expiry)."""

    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    """How often expired tasks are removed from backends that do not expire them natively."""

    dynamodb_table: str = Field(default="mcp_tasks", min_length=3, max_length=255)
    """DynamoDB table name."""

    dynamodb_endpoint: str | None = None
    """DynamoDB endpoint URL; overrides ``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL``."""

    dynamodb_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MCP_TASKS_DYNAMODB_REGION", "AWS_REGION", "dynamodb_region"),
    )
    """DynamoDB region; else ``AWS_REGION``, else botocore's (``AWS_DEFAULT_REGION``, profile)."""

    dynamodb_max_pool_connections: int = Field(default=50, ge=1, le=1_000)
    """DynamoDB: most HTTP connections the one shared client keeps open."""

    dynamodb_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    """DynamoDB: connect and read timeout of each attempt, in seconds."""

    dynamodb_max_attempts: int = Field(default=3, ge=1, le=10)
    """DynamoDB: attempts per request, the first included (throttling and transient errors)."""

    dynamodb_retry_mode: Literal["standard", "adaptive"] = "standard"
    """DynamoDB: botocore's retry mode; ``adaptive`` also rate-limits the client when throttled."""

    dynamodb_max_item_bytes: int = Field(default=358_400, ge=16_384, le=409_600)
    """DynamoDB: largest task item written, in bytes (DynamoDB's limit is 409,600)."""

    # ------------------------------------------------------------ task lifetime
    default_ttl_ms: OptionalMs = 3_600_000
    """TTL of a task whose client asked for none (``unlimited`` only if ``MAX_TTL_MS`` is)."""

    max_ttl_ms: OptionalMs = 86_400_000
    """Longest TTL granted; longer requests are clamped (``unlimited`` allows any)."""

    poll_interval_ms: int = Field(default=1_000, ge=100, le=600_000)
    """Poll interval suggested to clients."""

    # ------------------------------------------------------------ limits
    max_active_tasks_per_owner: int = Field(default=100, ge=0)
    """Most unfinished tasks one owner may have at once (0 = no limit)."""

    max_active_tasks: int = Field(default=10_000, ge=0)
    """Most unfinished tasks of all owners at once, on all replicas together (0 = no limit)."""

    list_page_size: int = Field(default=50, ge=1, le=1_000)
    """Tasks per ``tasks/list`` page."""

    max_result_bytes: int = Field(default=262_144, ge=1_024)
    """Largest tool result stored, as JSON bytes."""

    max_error_bytes: int = Field(default=32_768, ge=256)
    """Largest JSON-RPC error stored, as JSON bytes."""

    max_input_bytes: int = Field(default=32_768, ge=256)
    """Largest input request or input response payload, as JSON bytes."""

    max_arguments_bytes: int = Field(default=32_768, ge=256)
    """Largest tool-call arguments stored with a task, as JSON bytes."""

    max_status_message_bytes: int = Field(default=2_048, ge=64)
    """Longest status message, in UTF-8 bytes."""

    # ------------------------------------------------------------ runtime
    heartbeat_interval_seconds: float = Field(default=5.0, gt=0, le=300)
    """How often a replica re-reads the tasks it runs (cancels, answers) and renews their leases."""

    result_wait_seconds: float = Field(default=600.0, gt=0)
    """Longest a 2025-11-25 ``tasks/result`` blocks before answering that the task still runs."""

    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    """On shutdown, how long running tasks may finish before they are marked failed."""

    lease_seconds: float = Field(default=30.0, gt=0, le=3_600)
    """How long a task stays claimed by its replica without renewal; then it is failed."""

    lease_sweep_interval_seconds: float = Field(default=10.0, ge=0, le=3_600)
    """How often each replica looks for tasks whose replica stopped (expired leases); 0 = off."""

    fence_margin_seconds: float | None = Field(default=None, gt=0)
    """Stop a tool this long before its lease runs out (unset: (lease/2 - heartbeat)/2)."""

    clock_skew_margin_seconds: float = Field(default=2.0, ge=0, le=300)
    """Largest clock skew assumed between replicas: orphans are failed this long after the lease."""

    max_running_tasks: int = Field(default=1_000, ge=1)
    """Most tasks one replica runs at once; more task calls are refused (-32000)."""

    max_waiters: int = Field(default=1_000, ge=1)
    """Most blocked ``tasks/result`` / ``tasks_result`` calls one replica serves at once."""

    replica_id: str | None = Field(default=None, min_length=1, max_length=128)
    """This replica's name in task leases (unset: a random id per process)."""

    @property
    def replica(self) -> str:
        """The replica id leases carry: ``MCP_TASKS_REPLICA_ID``, else this process's own."""
        return self.replica_id if self.replica_id is not None else PROCESS_REPLICA_ID

    @property
    def lease_ms(self) -> int:
        return max(1, round(self.lease_seconds * 1000))

    @property
    def fence_margin(self) -> float:
        """Seconds before its lease runs out that a replica stops a tool it can no longer renew."""
        if self.fence_margin_seconds is not None:
            return self.fence_margin_seconds
        return (self.lease_seconds / 2 - self.heartbeat_interval_seconds) / 2

    def store_policy(self) -> StorePolicy:
        """The part of these settings the task store enforces."""
        from mcp_tasks_server.store.policy import StorePolicy  # the store loads only when used

        return StorePolicy(
            default_ttl_ms=self.default_ttl_ms,
            max_ttl_ms=self.max_ttl_ms,
            poll_interval_ms=self.poll_interval_ms,
            max_active_tasks_per_owner=self.max_active_tasks_per_owner,
            max_active_tasks=self.max_active_tasks,
            list_page_size=self.list_page_size,
            max_result_bytes=self.max_result_bytes,
            max_error_bytes=self.max_error_bytes,
            max_input_bytes=self.max_input_bytes,
            max_arguments_bytes=self.max_arguments_bytes,
            max_status_message_bytes=self.max_status_message_bytes,
            lease_ms=self.lease_ms,
            clock_skew_margin_ms=round(self.clock_skew_margin_seconds * 1000),
        )

    # ------------------------------------------------------------ queue mode and workers
    execution: Literal["local", "queue"] = "local"
    """Where tools run: ``local`` (the replica that took the call) or ``queue`` (SQS workers)."""

    queue_url: str | None = Field(default=None, pattern=r"^https?://")
    """Queue mode: the SQS queue's URL (required with the dynamodb backend)."""

    sqs_endpoint: str | None = None
    """SQS endpoint URL; overrides ``AWS_ENDPOINT_URL_SQS`` / ``AWS_ENDPOINT_URL``."""

    claim_timeout_seconds: float = Field(default=900.0, gt=0, le=43_200)
    """Queue mode: how long a queued task may wait for a worker before it fails."""

    worker_concurrency: int = Field(default=10, ge=1, le=1_000)
    """Workers: tasks one worker process runs at once."""

    worker_receive_wait_seconds: int = Field(default=20, ge=0, le=20)
    """Workers: long-poll length of each receive from the queue, in seconds."""

    worker_visibility_seconds: int | None = Field(default=None, ge=1, le=43_200)
    """Workers: how long a received message stays hidden before its claim (unset: the queue's)."""

    worker_time_margin_seconds: float = Field(default=10.0, ge=0, le=600)
    """Lambda workers: stop a tool this long before the invocation's deadline."""

    max_attempts: int = Field(default=1, ge=1, le=1_000)
    """Most runs of an idempotent tool's task whose replica or worker was lost (1 = no re-run)."""

    tools: str | None = None
    """The tools to serve, ``module:object`` (as ``serve --tools``; also workers and Lambda)."""

    profile: Literal["default", "conformance"] = "default"
    """The tool profile (as ``serve --profile``; also for workers and Lambda)."""

    @model_validator(mode="after")
    def _queue_mode_is_workable(self) -> Settings:
        if self.execution == "queue" and self.backend == "dynamodb" and self.queue_url is None:
            raise ValueError(
                "MCP_TASKS_EXECUTION=queue needs MCP_TASKS_QUEUE_URL, the SQS queue that "
                "feeds the workers (or MCP_TASKS_EXECUTION=local to run tools in the server)"
            )
        if self.execution == "queue" and self.backend == "memory" and self.queue_url is not None:
            raise ValueError(
                "MCP_TASKS_EXECUTION=queue with MCP_TASKS_QUEUE_URL needs "
                "MCP_TASKS_BACKEND=dynamodb: workers in other processes cannot read "
                "tasks held in this process's memory"
            )
        return self

    # ------------------------------------------------------------ clients without task support
    as_tools: bool = True
    """Offer tasks as ordinary tools and a ``task://`` resource to clients without task support."""

    tool_prefix: str = Field(default="tasks_", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Prefix of the task tools' names: ``tasks_`` gives ``tasks_get``, ``tasks_result``, ..."""

    inline_budget_seconds: float = Field(default=20.0, ge=0, le=600)
    """How long a call made without a task waits for a task tool before returning a task handle."""

    # ------------------------------------------------------------ operations
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of the server's logs (always on stderr)."""

    # Unset, each process hashes with a random key: ids still never appear in
    # clear, but the same task hashes differently on each replica.
    log_hash_key: SecretStr | None = None
    """Key (16+ bytes) hashing ids in logs and audit events; alike on every replica to correlate."""

    # ------------------------------------------------------------ transport
    transport: Literal["stdio", "http"] = "stdio"
    """How ``serve`` reaches clients: ``stdio`` (one client that started the server) or ``http``."""

    host: str = "127.0.0.1"
    """HTTP: address to bind. Any non-loopback address needs ``MCP_TASKS_ALLOWED_HOSTS``."""

    port: int = Field(default=8000, ge=0, le=65_535)
    """HTTP: port to listen on."""

    http_path: str = Field(default="/mcp", pattern=r"^/")
    """HTTP: path of the MCP endpoint."""

    stateless: bool = False
    """HTTP: no sessions, every request stands alone (any replica can serve it)."""

    json_response: bool = False
    """HTTP: answer requests with one JSON body instead of an SSE stream (on for Lambda)."""

    allowed_hosts: CommaList = Field(default_factory=list)
    """HTTP: comma-separated ``Host`` values accepted besides loopback; ``*`` disables the check."""

    allowed_origins: CommaList = Field(default_factory=list)
    """HTTP: comma-separated browser ``Origin`` values accepted besides loopback."""

    http_limit_concurrency: int = Field(default=1_000, ge=1)
    """HTTP: uvicorn answers 503 at once from this many open connections (the asking one counts)."""

    http_max_sessions: int = Field(default=10_000, ge=1)
    """HTTP, stateful: most sessions open at once; a new session beyond it is refused."""

    http_session_idle_timeout_seconds: float = Field(default=1_800.0, gt=0)
    """HTTP, stateful: a session with no request in flight this long is closed, as by a DELETE."""

    strict_headers: bool = False
    """HTTP, 2026-07-28: refuse ``tasks/*`` without an ``Mcp-Name`` header too (-32020)."""

    # ------------------------------------------------------------ operations
    drain_seconds: float = Field(default=0.0, ge=0, le=600)
    """HTTP: after SIGTERM, keep serving this long with ``/readyz`` at 503 before shutting down."""

    probe_port: int | None = Field(default=None, ge=0, le=65_535)
    """``worker`` only: serve ``/healthz`` and ``/readyz`` on this port (unset: no probes)."""

    # Unset, each process seals with a random key of its own, so the next
    # round of a multi-round call must reach the same process. Comma-separated
    # keys form a ring: the first seals, every one opens.
    request_state_key: SecretStr | None = None
    """Secret (32+ bytes) sealing ``requestState``; alike on every replica (``new,old`` rotates)."""

    # ------------------------------------------------------------ who may call
    auth: Literal["none", "jwt", "api-keys"] = "none"
    """Authentication of HTTP clients: ``none``, ``jwt`` (OAuth access tokens) or ``api-keys``."""

    auth_jwks_url: str | None = None
    """JWT: URL of the identity provider's JWKS (its signing keys); https unless loopback."""

    auth_issuer: str | None = None
    """JWT: the ``iss`` tokens must carry, exactly (also advertised as the authorization server)."""

    auth_audience: CommaList = Field(default_factory=list)
    """JWT: comma-separated ``aud`` values accepted; this or ``AUTH_CLIENT_IDS`` is required."""

    auth_client_ids: CommaList = Field(default_factory=list)
    """JWT: comma-separated OAuth client ids accepted (Cognito access tokens carry no ``aud``)."""

    auth_required_scopes: CommaList = Field(default_factory=list)
    """JWT, API keys: comma-separated scopes every token must grant."""

    auth_leeway_seconds: float = Field(default=30.0, ge=0, le=600)
    """JWT: clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""

    auth_resource_url: str | None = None
    """Public URL of this server's MCP endpoint, served as RFC 9728 protected-resource metadata."""

    auth_api_keys_file: str | None = None
    """API keys: file of ``<subject> sha256:<hex>`` lines (hashes, never keys)."""

    allow_anonymous: bool = False
    """HTTP: serve a non-loopback address without authentication (anyone may call the tools)."""

    allow_example_tools: bool = False
    """HTTP: serve the default profile's example tools on a non-loopback address."""

    owner_key_secret: SecretStr | None = None
    """Secret (32+ bytes) keying owner digests in storage keys; changing it strands stored tasks."""

    # ------------------------------------------------------------ encryption at rest
    encryption: Literal["none", "local", "kms"] = "none"
    """Encrypt task payloads before they are stored: ``none``, ``local`` keys or AWS ``kms``."""

    encryption_keys: SecretStr | None = None
    """Local encryption: ``keyid:base64key,...``; the first encrypts, every one decrypts."""

    encryption_kms_key_id: str | None = None
    """KMS encryption: the KMS key id, ARN or alias that wraps data keys."""

    encryption_data_key_ttl_seconds: float = Field(default=300.0, gt=0, le=86_400)
    """KMS encryption: how long one data key seals new payloads (one KMS call each)."""

    encryption_read_plaintext: bool = True
    """Read task payloads stored before encryption was on (turn off after one max TTL)."""

    @property
    def request_state_keys(self) -> list[str]:
        """The ``requestState`` key ring, sealing key first (empty: per-process key)."""
        if self.request_state_key is None:
            return []
        return [key.strip() for key in self.request_state_key.get_secret_value().split(",")]

    @model_validator(mode="after")
    def _request_state_keys_are_long_enough(self) -> Settings:
        for key in self.request_state_keys:
            if len(key.encode()) < _MIN_REQUEST_STATE_KEY_BYTES:
                raise ValueError(
                    "every key in MCP_TASKS_REQUEST_STATE_KEY must be at least 32 bytes; "
                    'make one with: python -c "import secrets; print(secrets.token_hex(32))"'
                )
        return self

    @property
    def log_hash_key_bytes(self) -> bytes | None:
        """``MCP_TASKS_LOG_HASH_KEY`` as bytes (unset: a key of each process's own)."""
        return None if self.log_hash_key is None else self.log_hash_key.get_secret_value().encode()

    @model_validator(mode="after")
    def _log_hash_key_is_long_enough(self) -> Settings:
        key = self.log_hash_key_bytes
        if key is not None and len(key) < _MIN_LOG_HASH_KEY_BYTES:
            raise ValueError(
                "MCP_TASKS_LOG_HASH_KEY must be at least 16 bytes; make one with: "
                'python -c "import secrets; print(secrets.token_hex(16))"'
            )
        return self

    @model_validator(mode="after")
    def _fence_before_renewal_fails(self) -> Settings:
        # The heartbeat renews a lease once half of it is left; the fence must
        # come later than that, or a healthy replica would stop its own tools.
        latest = self.lease_seconds / 2 - self.heartbeat_interval_seconds
        if self.fence_margin >= latest:
            raise ValueError(
                "MCP_TASKS_FENCE_MARGIN_SECONDS must be less than half of MCP_TASKS_LEASE_SECONDS "
                "minus MCP_TASKS_HEARTBEAT_INTERVAL_SECONDS, so a healthy lease is renewed first"
            )
        return self

    @model_validator(mode="after")
    def _leases_outlive_heartbeats(self) -> Settings:
        # A lease is renewed when less than half remains, checked every
        # heartbeat: it must span at least two heartbeats to be renewed in time.
        if self.lease_seconds < 3 * self.heartbeat_interval_seconds:
            raise ValueError(
                "MCP_TASKS_LEASE_SECONDS must be at least 3 times "
                "MCP_TASKS_HEARTBEAT_INTERVAL_SECONDS, so a lease is renewed before it expires"
            )
        return self

    @model_validator(mode="after")
    def _ttls_are_consistent(self) -> Settings:
        if self.max_ttl_ms is not None:
            if self.default_ttl_ms is None:
                raise ValueError(
                    "MCP_TASKS_DEFAULT_TTL_MS may be unlimited only when "
                    "MCP_TASKS_MAX_TTL_MS is unlimited too"
                )
            if self.default_ttl_ms > self.max_ttl_ms:
                raise ValueError("MCP_TASKS_DEFAULT_TTL_MS must not exceed MCP_TASKS_MAX_TTL_MS")
        return self


def load_settings(**overrides: Any) -> Settings:
    """Read the environment, with ``overrides`` taking precedence.

    Raises ``ConfigError`` whose message names each bad variable, the value
    it had and what it accepts, ready to print as a one-line startup error.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


_SECRET_FIELDS = frozenset(
    {"request_state_key", "owner_key_secret", "encryption_keys", "log_hash_key"}
)


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        if not error["loc"]:  # a cross-field rule: its message names the variables
            problems.append(str(error["msg"]).removeprefix("Value error, "))
            continue
        name = str(error["loc"][0])
        variable = ENV_PREFIX + name.upper()
        accepted = _accepted_values(name)
        shown = "'***'" if name in _SECRET_FIELDS else repr(error["input"])
        problem = f"{variable}={shown} is invalid: {error['msg']}"
        if accepted:
            problem += f" (accepted: {accepted})"
        problems.append(problem)
    return "; ".join(problems)


def _accepted_values(name: str) -> str:
    field = Settings.model_fields.get(name)
    if field is None:
        return ""
    choices = typing.get_args(field.annotation)
    if typing.get_origin(field.annotation) is Literal:
        return ", ".join(str(choice) for choice in choices)
    return ""

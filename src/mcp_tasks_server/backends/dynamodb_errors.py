"""How DynamoDB and botocore failures become the backend's error vocabulary.

Every message says what to do about the failure and is safe to log or show:
it names the table, the operation, the IAM action or the endpoint, and never
a credential, an owner or an item's contents. (DynamoDB's own messages are
not passed on, only their error codes, except for the IAM action a denial
names.)

It also tells the refusals the backend explains itself from the failures it
translates: a failed condition (raised to the caller, with the item it met)
and a conflicting transaction (retried after a short backoff) are not
errors of the backend's vocabulary, only of one request.
"""

from __future__ import annotations

import logging
import re
from typing import Any, cast

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
)

from mcp_tasks_server.backends.errors import BackendError, BackendUnavailable, RecordTooLarge

__all__ = [
    "AccessDenied",
    "DynamoDbError",
    "TableNotFound",
    "TransactionCancelled",
    "cancellation_reasons",
    "error_code",
    "failure_codes",
    "is_conflict",
    "old_item",
    "translate_client_error",
    "translate_transport_error",
]

logger = logging.getLogger("mcp_tasks_server.backends.dynamodb")

_PERMISSION = re.compile(r"perform: (dynamodb:\w+)")
_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
    }
)
# The IAM actions behind each call, named when a denial does not say which.
# A transaction needs the action of each item it writes.
_ACTIONS = {
    "TransactWriteItems": "dynamodb:PutItem, dynamodb:UpdateItem and dynamodb:DeleteItem",
}


class DynamoDbError(BackendUnavailable):
    """DynamoDB refused a request for a reason an operator must fix.

    It derives from ``BackendUnavailable`` so the task store reports "storage
    unavailable" to clients, while the message tells the operator the cause.
    """


class TableNotFound(DynamoDbError):
    """The configured table does not exist (in this region, at this endpoint)."""

    def __init__(self, table: str) -> None:
        super().__init__(
            f"DynamoDB table {table} does not exist; "
            "create it with `mcp-tasks-server dynamodb create-table`"
        )
        self.table = table


class AccessDenied(DynamoDbError):
    """The credentials are missing, invalid, or lack a permission (named in the message)."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def cancellation_reasons(exc: ClientError) -> list[dict[str, Any]]:
    """A cancelled transaction's reasons, one per action, in action order."""
    return cast("list[dict[str, Any]]", exc.response.get("CancellationReasons") or [])


def old_item(exc: ClientError) -> dict[str, Any] | None:
    """The item a refused conditional write met (``ReturnValuesOnConditionCheckFailure``)."""
    found: dict[str, Any] | None = cast("dict[str, Any]", exc.response).get("Item")
    return found


def failure_codes(exc: ClientError) -> list[str]:
    """The error code, or for a cancelled transaction each action's reason code."""
    code = error_code(exc)
    if code == "ConditionalCheckFailedException":
        return ["ConditionalCheckFailed"]
    return [str(reason.get("Code")) for reason in cancellation_reasons(exc)] or [code]


def is_conflict(exc: ClientError) -> bool:
    """True when another transaction held an item for a moment: worth a retry."""
    if error_code(exc) == "TransactionConflictException":
        return True
    codes = failure_codes(exc)
    return "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes


class TransactionCancelled(Exception):
    """A transaction refused by a condition; ``reasons`` are in action order."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index].get("Code") == (
            "ConditionalCheckFailed"
        )

    def item(self, index: int) -> dict[str, Any] | None:
        found: dict[str, Any] | None = (
            self.reasons[index].get("Item") if index < len(self.reasons) else None
        )
        return found


def translate_client_error(
    exc: ClientError, *, operation: str, table: str, size: int = 0, max_item_bytes: int = 0
) -> BackendError:
    """The backend error for an error DynamoDB answered with."""
    code = error_code(exc)
    message = str(exc.response.get("Error", {}).get("Message", ""))
    logger.debug("DynamoDB %s failed with %s", operation, code)
    if code == "ResourceNotFoundException":
        return TableNotFound(table)
    if code == "AccessDeniedException":
        found = _PERMISSION.search(message)
        action = found.group(1) if found else _ACTIONS.get(operation, f"dynamodb:{operation}")
        return AccessDenied(
            f"access denied: the AWS credentials lack {action} on DynamoDB table {table} "
            "(deploy/iam-server-policy.json lists every permission the server needs; "
            "deploy/iam-provisioning-policy.json those of create-table and check)"
        )
    if code in _CREDENTIAL_CODES:
        return AccessDenied(
            f"DynamoDB rejected the AWS credentials ({code}); check AWS_PROFILE, "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the role the server runs as"
        )
    reasons = cancellation_reasons(exc)
    too_large = "size" in message.lower() or any(
        "size" in str(reason.get("Message", "")).lower() for reason in reasons
    )
    if code in ("ValidationException", "TransactionCanceledException") and too_large:
        return RecordTooLarge(size, max_item_bytes)
    if code == "TransactionCanceledException":
        codes = ", ".join(sorted({str(reason.get("Code")) for reason in reasons}))
        return BackendUnavailable(f"DynamoDB cancelled a transaction ({codes}); try again")
    return BackendUnavailable(f"DynamoDB {operation} on table {table} failed ({code})")


def translate_transport_error(exc: Exception, *, endpoint: str, attempts: int) -> BackendError:
    """The backend error for a request that got no answer, or could not be signed."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return AccessDenied(
            "no usable AWS credentials for DynamoDB: set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or run with an IAM role"
        )
    logger.debug("DynamoDB request failed: %s", type(exc).__name__)
    return BackendUnavailable(
        f"DynamoDB at {endpoint} is unavailable "
        f"({type(exc).__name__} after {attempts} attempt{'s' if attempts > 1 else ''})"
    )

"""How SQS and botocore failures become the queue's error vocabulary.

Every message says what to do about the failure and is safe to log: it
names the queue, the operation, the IAM action or the endpoint, and never a
credential, a receipt or a message body. SQS's own messages are not passed
on (they may quote a receipt handle), only their error codes.

Over the JSON protocol botocore reports SQS's query-era codes
(``AWS.SimpleQueueService.NonExistentQueue``) and the JSON ones
(``QueueDoesNotExist``) depending on the server; both are recognised.
"""

from __future__ import annotations

import logging

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from mcp_tasks_server.queues.errors import (
    DeliveryExpired,
    QueueAccessDenied,
    QueueError,
    QueueNotFound,
    QueueUnavailable,
)

__all__ = ["error_codes", "translate_client_error", "translate_transport_error"]

logger = logging.getLogger("mcp_tasks_server.queues.sqs")

_NOT_FOUND = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_TRANSIENT = frozenset(
    {
        "RequestThrottled",
        "ThrottlingException",
        "Throttling",
        "KmsThrottled",
        "KMS.ThrottlingException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        # Too many messages in flight: workers must settle some first.
        "OverLimit",
    }
)
_RECEIPT = frozenset({"ReceiptHandleIsInvalid", "MessageNotInflight", "InvalidReceiptHandle"})
_DENIED = frozenset({"AccessDenied", "AccessDeniedException"})
_CREDENTIALS = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "InvalidSecurity",
    }
)
_SETTLING = frozenset({"DeleteMessage", "ChangeMessageVisibility"})


def error_codes(exc: ClientError) -> set[str]:
    """Every code the error carries (the JSON code and its query-era twin)."""
    error = exc.response.get("Error", {})
    codes = {str(error.get("Code", "Unknown"))}
    query_code = error.get("QueryErrorCode")
    if query_code:
        codes.add(str(query_code))
    return codes


def translate_client_error(
    exc: ClientError, *, operation: str, queue: str, endpoint: str, message_id: str | None = None
) -> QueueError:
    """The queue error for an error SQS answered with."""
    codes = error_codes(exc)
    code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    logger.debug("SQS %s failed with %s", operation, code)
    if codes & _NOT_FOUND:
        return QueueNotFound(
            f"SQS queue {queue} does not exist at {endpoint}; "
            "create it (deploy/serverless.yaml does) or correct the queue URL"
        )
    if operation in _SETTLING and (codes & _RECEIPT or _about_receipt(exc)):
        about = f"message {message_id}" if message_id else "the message"
        return DeliveryExpired(
            f"SQS no longer accepts this receipt of {about} on queue {queue} ({code}): "
            "it was acknowledged or delivered again since"
        )
    if codes & _TRANSIENT or status >= 500:
        return QueueUnavailable(f"SQS {operation} on queue {queue} failed ({code}); try again")
    if codes & _DENIED:
        return QueueAccessDenied(
            f"access denied: the AWS credentials lack sqs:{operation} on queue {queue} "
            "(deploy/serverless.yaml lists what each function needs)"
        )
    if codes & _CREDENTIALS:
        return QueueAccessDenied(
            f"SQS rejected the AWS credentials ({code}); check AWS_PROFILE, "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the role the process runs as"
        )
    if any(one.startswith("Kms") or one.startswith("KMS.") for one in codes):
        return QueueAccessDenied(
            f"the KMS key of queue {queue} refused {operation} ({code}); "
            "check the key's policy and state"
        )
    return QueueError(f"SQS refused {operation} on queue {queue} ({code})")


def translate_transport_error(exc: Exception, *, endpoint: str, attempts: int) -> QueueError:
    """The queue error for a request that got no answer, or could not be made."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return QueueAccessDenied(
            "no usable AWS credentials for SQS: set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or run with an IAM role"
        )
    if isinstance(exc, ParamValidationError):
        # A bug rather than an outage; botocore's text may quote the values.
        return QueueError("SQS request was not valid (botocore refused its parameters)")
    logger.debug("SQS request failed: %s", type(exc).__name__)
    return QueueUnavailable(
        f"SQS at {endpoint} is unavailable "
        f"({type(exc).__name__} after {attempts} attempt{'s' if attempts > 1 else ''})"
    )


def _about_receipt(exc: ClientError) -> bool:
    """SQS answers an expired receipt with ``InvalidParameterValue`` naming ``ReceiptHandle``."""
    error = exc.response.get("Error", {})
    return str(error.get("Code")) == "InvalidParameterValue" and "ReceiptHandle" in str(
        error.get("Message", "")
    )

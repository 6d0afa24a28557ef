"""What a task queue may raise.

Messages are safe to log and to show an operator: they name the queue, the
endpoint, the operation or the IAM action, and never a credential, an owner,
a receipt or a message body.
"""

from __future__ import annotations

__all__ = [
    "DeliveryExpired",
    "MalformedMessage",
    "QueueAccessDenied",
    "QueueError",
    "QueueNotFound",
    "QueueUnavailable",
]


class QueueError(Exception):
    """Base of everything a task queue raises.

    Raised as itself for a refusal an operator must fix (the message says
    how); the subclasses below name the cases a caller treats differently.
    """


class QueueUnavailable(QueueError):
    """A transient failure: the queue could not be reached, or throttled us.

    The operation may or may not have happened; retrying later is the remedy.
    """


class QueueNotFound(QueueError):
    """The configured queue does not exist (at this endpoint, in this region)."""


class QueueAccessDenied(QueueError):
    """The credentials are missing, invalid, or lack a permission (named in the message)."""


class DeliveryExpired(QueueError):
    """The receipt no longer settles its message.

    The message was acknowledged already, or was delivered again since (its
    visibility timeout ran out), so this receiver no longer holds it. It may
    be delivered to another receiver; the task's claim in the store keeps it
    from running twice.
    """


class MalformedMessage(QueueError):
    """A message body that is not a task message this version understands.

    ``reason`` says what is wrong with it, without quoting the body. A
    receiver drops such a message (acknowledges it) or leaves it to reach
    the dead-letter queue; retrying it never helps.
    """

    def __init__(self, reason: str, *, message_id: str | None = None) -> None:
        where = f"message {message_id}" if message_id else "the message"
        super().__init__(f"{where} is not a task message: {reason}")
        self.reason = reason
        self.message_id = message_id

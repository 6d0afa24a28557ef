"""What AWS Lambda hands a handler, built here: events, a context, and an SQS event source.

There is no Lambda runtime to run the handlers in on this machine (the
Runtime Interface Emulator is not in any package registry, and ``sam local``
needs Docker), so tests call the handlers directly, in one process, the way
a warm container does, with events shaped exactly as AWS documents them:

* :func:`function_url_event` (payload format 2.0, which HTTP API v2 shares:
  :func:`http_api_event`) and :func:`rest_api_event` (REST API, format 1.0);
* :func:`sqs_event`, from messages really received from a queue;
* :class:`LambdaContext`, whose remaining time counts down from a budget;
* :class:`EventSourceMapping`, which does what Lambda's SQS event source
  does: receive, build the event, invoke, then delete the messages the
  handler did not list in ``batchItemFailures``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FUNCTION_HOST",
    "EventSourceMapping",
    "LambdaContext",
    "decode_response",
    "function_url_event",
    "http_api_event",
    "rest_api_event",
    "sqs_event",
]

FUNCTION_HOST = "abcdefghijklmnop.lambda-url.us-east-1.on.aws"
QUEUE_REGION = "us-east-1"


@dataclass
class LambdaContext:
    """The handler's context: what the runtime reports, with a real countdown."""

    budget_seconds: float = 900.0
    function_name: str = "mcp-tasks"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mcp-tasks"
    memory_limit_in_mb: int = 512
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        left = self.budget_seconds - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


def _headers(body: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    return {
        "host": FUNCTION_HOST,
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "content-length": str(len(body.encode())),
        "user-agent": "lambda-event-test",
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        **{name.lower(): value for name, value in (headers or {}).items()},
    }


def function_url_event(
    message: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    path: str = "/mcp",
    base64_body: bool = False,
    route_key: str = "$default",
) -> dict[str, Any]:
    """A Function URL request (payload format 2.0) POSTing one JSON-RPC message."""
    body = json.dumps(message)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": _headers(body, headers),
        "requestContext": {
            "accountId": "anonymous",
            "apiId": FUNCTION_HOST.split(".")[0],
            "domainName": FUNCTION_HOST,
            "domainPrefix": FUNCTION_HOST.split(".")[0],
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "lambda-event-test",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }


def http_api_event(message: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    """An API Gateway HTTP API request (payload 2.0, route ``POST /mcp``)."""
    return function_url_event(message, route_key="POST /mcp", **options)


def rest_api_event(
    message: Mapping[str, Any], *, headers: Mapping[str, str] | None = None, path: str = "/mcp"
) -> dict[str, Any]:
    """An API Gateway REST API proxy request (payload format 1.0, stage ``prod``)."""
    body = json.dumps(message)
    sent = _headers(body, headers)
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": sent,
        "multiValueHeaders": {name: [value] for name, value in sent.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "httpMethod": "POST",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "lambda-event-test"},
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "resourcePath": path,
            "stage": "prod",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def decode_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-RPC message in a handler's HTTP response (JSON, or a one-event stream)."""
    raw = response.get("body") or ""
    text = base64.b64decode(raw).decode() if response.get("isBase64Encoded") else raw
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    if headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:] for line in text.splitlines() if line.startswith("data:")]
        messages = [json.loads(d) for d in data if d.strip()]
        return dict(messages[-1]) if messages else {}
    return dict(json.loads(text)) if text else {}


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS source builds from ``ReceiveMessage`` results."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m.get("Attributes", {}).get(
                        "ApproximateReceiveCount", "1"
                    ),
                    "SentTimestamp": m.get("Attributes", {}).get("SentTimestamp", "0"),
                    "SenderId": m.get("Attributes", {}).get("SenderId", "AIDATEST"),
                    "ApproximateFirstReceiveTimestamp": m.get("Attributes", {}).get(
                        "ApproximateFirstReceiveTimestamp", "0"
                    ),
                },
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": QUEUE_REGION,
            }
            for m in messages
        ]
    }


@dataclass
class Invocation:
    """One batch the event source delivered, and what came of it."""

    message_ids: list[str]
    response: dict[str, Any]
    failed: list[str]
    bodies: dict[str, str]


class EventSourceMapping:
    """Lambda's SQS event source, in miniature: receive, invoke, delete the successes.

    Like the real one with ``ReportBatchItemFailures``, a message listed in
    ``batchItemFailures`` is left alone (it reappears when its visibility
    timeout ends), and a handler that raises fails the whole batch.
    """

    def __init__(self, client: Any, queue_url: str, handler: Callable[..., dict[str, Any]]):
        self.client = client
        self.queue_url = queue_url
        self.handler = handler
        self.queue_arn = client.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]

    def poll(
        self, *, batch_size: int = 1, wait_seconds: int = 5, budget_seconds: float = 900.0
    ) -> Invocation | None:
        """One receive and, if it got messages, one invocation. None when the queue was empty."""
        received = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return None
        return self.invoke(received, budget_seconds=budget_seconds)

    def invoke(
        self, received: list[dict[str, Any]], *, budget_seconds: float = 900.0
    ) -> Invocation:
        """Invoke the handler with these received messages, then delete its successes."""
        event = sqs_event(received, self.queue_arn)
        response = self.handler(event, LambdaContext(budget_seconds=budget_seconds))
        failed = [item["itemIdentifier"] for item in response.get("batchItemFailures", [])]
        for message in received:
            if message["MessageId"] not in failed:
                self.client.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        ids = [m["MessageId"] for m in received]
        return Invocation(ids, response, failed, {m["MessageId"]: m["Body"] for m in received})


class McpOverLambda:
    """JSON-RPC requests to an HTTP handler, one event (one invocation) each, in one era.

    ``era`` is ``2025-11-25`` (stateless: no handshake, the version header on
    every request) or ``2026-07-28`` (every request self-describing, opted in
    to the tasks extension). ``event`` builds the event: a Function URL's, an
    HTTP API's or a REST API's.
    """

    def __init__(
        self,
        handler: Callable[..., dict[str, Any]],
        era: str,
        event: Callable[..., dict[str, Any]] = function_url_event,
    ) -> None:
        self.handler = handler
        self.era = era
        self.event = event
        self._next_id = 0

    def request(
        self, method: str, params: Mapping[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Invoke once; returns the HTTP status and the JSON-RPC answer."""
        from tests.protocol.harness import MODERN, modern_meta

        self._next_id += 1
        body = dict(params or {})
        headers = {"mcp-protocol-version": self.era}
        if self.era == MODERN:
            body["_meta"] = {**modern_meta(), **body.get("_meta", {})}
            headers["mcp-method"] = method
            name = body.get("taskId") or body.get("name")
            if name is not None:
                headers["mcp-name"] = str(name)
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": body}
        response = self.handler(self.event(message, headers=headers), LambdaContext(60.0))
        return int(response["statusCode"]), decode_response(response)

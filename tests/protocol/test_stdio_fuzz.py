"""Every line on stdio gets its answer: pinned cases and generated input on a real subprocess.

``mcp-tasks-server serve --profile conformance`` runs as a subprocess, one
per era, spoken to in raw lines. The rules under test:

* a request with a readable ``id`` gets exactly one answer with that ``id``:
  -32602 for ``params`` that are not an object, -32600 for a bad envelope,
  whatever the server serves otherwise, and never an internal error;
* a line that is not JSON gets -32700 with ``id: null``;
* an unusable message with no readable ``id`` gets -32600 with ``id: null``;
* a valid notification or response gets no answer, nor does a blank line;
* the process keeps serving: a task round trip still works afterwards.

Hypothesis sends batches of lines followed by a sentinel request. Answers
that the transport gives itself precede the sentinel's, so by then every
``id: null`` answer is in; answers the server computes may come later and
are awaited by id. Every read has a deadline, so a missing answer fails the
test instead of hanging it.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic_core
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocol.harness import LEGACY, MODERN, REPO, modern_meta

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602
INTERNAL_ERRORS = {-32603, 0}  # 0: what the SDK answers for an exception it does not map
ANSWER_SECONDS = 30
FUZZ_EXAMPLES = 110
MIN_BATCH = 10
SERVE = [sys.executable, "-m", "mcp_tasks_server", "serve", "--profile", "conformance"]
FAST = {
    "MCP_TASKS_POLL_INTERVAL_MS": "100",
    "MCP_TASKS_HEARTBEAT_INTERVAL_SECONDS": "0.1",
    "MCP_TASKS_SHUTDOWN_GRACE_SECONDS": "0",
}
ENVELOPE = {"jsonrpc", "id", "method", "params", "result", "error"}
# Deeper than the SDK's JSON parser reads (about 200 levels), shallower than
# the standard library's limit (about 1000), with room on either side.
SDK_NESTING_LIMIT = 230


# ---------------------------------------------------------------------- the peer


def deadline() -> float:
    return time.monotonic() + ANSWER_SECONDS


class Peer:
    """The server in a subprocess, spoken to in raw lines; its stdout is read on a thread."""

    def __init__(self, era: str, stderr: Path) -> None:
        self.era = era
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
            **FAST,
        }
        self._stderr_path = stderr
        self._stderr = stderr.open("wb")
        self.process = subprocess.Popen(
            SERVE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=environment,
            cwd=REPO,
        )
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._ids = itertools.count(1)
        threading.Thread(target=self._read, name="stdio replies", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def fresh_number(self) -> int:
        return next(self._ids)

    def send(self, *lines: str | bytes) -> None:
        assert self.process.stdin is not None
        for line in lines:
            data = line.encode() if isinstance(line, str) else line
            self.process.stdin.write(data + b"\n")
        self.process.stdin.flush()

    def next_answer(self, until: float) -> dict[str, Any]:
        """The next response the server writes; its notifications are skipped."""
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, until - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no answer before the deadline") from None
            assert line is not None, "the server closed stdout"
            message = json.loads(line)
            assert isinstance(message, dict), line
            assert message.get("jsonrpc") == "2.0", message
            if "method" in message:
                assert "id" not in message, f"the server sent a request: {message}"
                continue
            assert "id" in message, message
            assert ("result" in message) != ("error" in message), message
            return message

    def params(self, **fields: Any) -> dict[str, Any]:
        """Params for a well-formed request in this peer's era."""
        return {**fields, "_meta": modern_meta()} if self.era == MODERN else fields

    def request(self, method: str, params: dict[str, Any] | None) -> dict[str, Any]:
        """Send one request and return its answer, which must be the next one."""
        body = {"jsonrpc": "2.0", "method": method, "params": params}
        return self.call(body)

    def call(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send ``body`` with a fresh id and return its answer, which must be the next one."""
        request_id = f"call-{self.fresh_number()}"
        self.send(json.dumps({**body, "id": request_id}))
        answer = self.next_answer(deadline())
        assert answer["id"] == request_id, answer
        return answer

    def answers_before_sentinel(self, *lines: str | bytes) -> list[dict[str, Any]]:
        """Send ``lines`` and a sentinel request; the answers that came before the sentinel's."""
        sentinel = f"sentinel-{self.fresh_number()}"
        body = {"jsonrpc": "2.0", "id": sentinel, "method": "tools/list", "params": self.params()}
        self.send(*lines, json.dumps(body))
        until = deadline()
        answers = []
        while (answer := self.next_answer(until))["id"] != sentinel:
            answers.append(answer)
        assert "result" in answer, answer
        return answers

    def answer_to(self, line: str | bytes) -> dict[str, Any]:
        """The one answer to ``line``, which the transport gives before reading on."""
        answers = self.answers_before_sentinel(line)
        assert len(answers) == 1, answers
        return answers[0]

    def stderr_tail(self) -> str:
        return self._stderr_path.read_text(errors="replace")[-4000:]

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=ANSWER_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self._stderr.close()


def open_era(peer: Peer) -> None:
    """Fix the peer's era the way a client of that era does: the first request decides."""
    if peer.era == LEGACY:
        params = {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "stdio-fuzz", "version": "0"},
        }
        assert peer.request("initialize", params)["result"]["protocolVersion"] == LEGACY
        peer.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    else:
        discovered = peer.request("server/discover", peer.params())["result"]
        assert "io.modelcontextprotocol/tasks" in discovered["capabilities"]["extensions"]


def task_round_trip(peer: Peer) -> str:
    """Run ``slow_compute`` as a task to the end and return its text."""
    arguments = {"name": "slow_compute", "arguments": {"seconds": 0, "label": "after"}}
    if peer.era == LEGACY:
        created = peer.request("tools/call", {**arguments, "task": {}})["result"]
        done = peer.request("tasks/result", {"taskId": created["task"]["taskId"]})["result"]
        return str(done["content"][0]["text"])
    created = peer.request("tools/call", peer.params(**arguments))["result"]
    assert created["resultType"] == "task", created
    until = deadline()
    while time.monotonic() < until:
        task = peer.request("tasks/get", peer.params(taskId=created["taskId"]))["result"]
        if task["status"] == "completed":
            return str(task["result"]["content"][0]["text"])
        assert task["status"] == "working", task
        time.sleep(0.05)
    raise AssertionError("the task did not complete")


@contextmanager
def running(era: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """A server process for ``era``, which must exit cleanly when its stdin closes."""
    peer = Peer(era, tmp_path_factory.mktemp("stdio") / "stderr.log")
    try:
        yield peer
    finally:
        returncode = peer.close()
    assert returncode == 0, peer.stderr_tail()


@pytest.fixture(scope="module", params=[LEGACY, MODERN])
def peer(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Peer]:
    """One long-lived server per era, opened the way a client of that era opens it."""
    with running(request.param, tmp_path_factory) as peer:
        open_era(peer)
        yield peer


def error_of(answer: dict[str, Any]) -> tuple[Any, int]:
    assert "error" in answer, answer
    return answer["id"], answer["error"]["code"]


def request_line(request_id: Any, method: str, params: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


def deep_request(depth: int) -> str:
    """A request whose params nest ``depth`` arrays deep."""
    nested = "[" * depth + "]" * depth
    return (
        '{"jsonrpc": "2.0", "id": "deep", "method": "tools/call", "params": {"a": ' + nested + "}}"
    )


# ---------------------------------------------------------------------- each rule


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "{",
        '{"jsonrpc": "2.0", "id": 7, "method": "ping"',  # cut short: its id cannot be read
        '{"jsonrpc": "2.0", "id": 7} {"jsonrpc": "2.0", "id": 8}',
        b"\xff\xfe{}",  # not UTF-8
    ],
)
def test_a_line_that_is_not_json_gets_a_parse_error_with_a_null_id(
    peer: Peer, line: str | bytes
) -> None:
    assert peer.answer_to(line) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": PARSE_ERROR, "message": "Parse error"},
    }


@pytest.mark.parametrize("params", [[1, 2], [], "junk", 3, 2.5, True, False])
@pytest.mark.parametrize("method", ["tasks/get", "tools/call", "ping", "initialize", "no/such"])
def test_params_that_are_not_an_object_get_invalid_params_with_the_request_id(
    peer: Peer, method: str, params: Any
) -> None:
    request_id = f"params-{peer.fresh_number()}"
    answer = peer.answer_to(request_line(request_id, method, params))
    assert error_of(answer) == (request_id, INVALID_PARAMS)


def test_null_params_get_the_answer_absent_params_get(peer: Peer) -> None:
    for method in ["ping", "tasks/get", "tools/list"]:
        absent = peer.call({"jsonrpc": "2.0", "method": method})
        null = peer.call({"jsonrpc": "2.0", "method": method, "params": None})
        assert {key: value for key, value in null.items() if key != "id"} == {
            key: value for key, value in absent.items() if key != "id"
        }


@pytest.mark.parametrize("request_id", [None, True, 1.5, {}, [1], {"id": 1}, "\ud800"])
def test_a_request_whose_id_is_null_or_of_the_wrong_type_gets_invalid_request_with_a_null_id(
    peer: Peer, request_id: Any
) -> None:
    answer = peer.answer_to(request_line(request_id, "ping", {}))
    assert error_of(answer) == (None, INVALID_REQUEST)


@pytest.mark.parametrize(
    "envelope",
    [
        {"jsonrpc": "1.0"},
        {"jsonrpc": 2.0},
        {"jsonrpc": None},
        {"method": 5},
        {"method": None},
        {"method": ["ping"]},
        {"method": "\ud800"},
    ],
)
def test_a_bad_jsonrpc_or_method_gets_invalid_request_with_the_request_id(
    peer: Peer, envelope: dict[str, Any]
) -> None:
    request_id = peer.fresh_number()
    body = {"jsonrpc": "2.0", "id": request_id, "method": "ping", "params": {}, **envelope}
    assert error_of(peer.answer_to(json.dumps(body))) == (request_id, INVALID_REQUEST)


def test_a_request_missing_jsonrpc_or_method_gets_invalid_request_with_the_request_id(
    peer: Peer,
) -> None:
    without_jsonrpc = json.dumps({"id": "no-version", "method": "ping"})
    without_method = json.dumps({"jsonrpc": "2.0", "id": "no-method"})
    assert error_of(peer.answer_to(without_jsonrpc)) == ("no-version", INVALID_REQUEST)
    assert error_of(peer.answer_to(without_method)) == ("no-method", INVALID_REQUEST)


@pytest.mark.parametrize(
    "line",
    [
        "[]",
        "[1]",
        '[{"jsonrpc": "2.0", "id": 11, "method": "ping"}]',
        "1",
        '"text"',
        "null",
        "true",
    ],
)
def test_a_batch_or_a_bare_value_gets_invalid_request_with_a_null_id(peer: Peer, line: str) -> None:
    assert error_of(peer.answer_to(line)) == (None, INVALID_REQUEST)


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "method": "notifications/initialized", "params": [1]},
        {"jsonrpc": "1.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": 5},
        {"jsonrpc": "2.0"},
        {},
        {"jsonrpc": "2.0", "id": 3, "result": "not an object"},
        {"jsonrpc": "2.0", "id": 3, "method": "ping", "error": {"code": 1, "message": "no"}},
    ],
    ids=[
        "notification-params-array",
        "notification-bad-version",
        "notification-bad-method",
        "no-method",
        "empty",
        "malformed-response",
        "request-and-response",
    ],
)
def test_an_unusable_message_without_a_readable_request_id_gets_invalid_request_with_a_null_id(
    peer: Peer, message: dict[str, Any]
) -> None:
    assert error_of(peer.answer_to(json.dumps(message))) == (None, INVALID_REQUEST)


def test_notifications_responses_and_blank_lines_get_no_answer(peer: Peer) -> None:
    answers = peer.answers_before_sentinel(
        json.dumps({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/no/such", "params": {"x": [1]}}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/progress", "params": None}),
        json.dumps({"jsonrpc": "2.0", "id": "never-asked", "result": {}}),
        json.dumps({"jsonrpc": "2.0", "id": 99, "error": {"code": -1, "message": "no"}}),
        "",
        " \t \r",
    )
    assert answers == []


def test_params_the_sdk_parser_refuses_get_invalid_params_with_the_request_id(peer: Peer) -> None:
    assert error_of(peer.answer_to(deep_request(500))) == ("deep", INVALID_PARAMS)
    lone = request_line("lone", "tools/call", {"name": "greet", "arguments": {"name": "\ud800"}})
    assert error_of(peer.answer_to(lone)) == ("lone", INVALID_PARAMS)


def test_params_nested_within_the_parser_limit_are_served(peer: Peer) -> None:
    nested: Any = []
    for _ in range(150):
        nested = [nested]
    answer = peer.call({"jsonrpc": "2.0", "method": "tools/list", "params": peer.params(a=nested)})
    assert "tools" in answer["result"], answer


def test_nesting_deeper_than_any_parser_reads_is_a_parse_error(peer: Peer) -> None:
    assert error_of(peer.answer_to(deep_request(5_000))) == (None, PARSE_ERROR)


def test_a_rejected_first_line_does_not_decide_the_era(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A 2026-07-28 request the transport rejects, then a 2025-11-25 handshake.
    with running(LEGACY, tmp_path_factory) as peer:
        rejected = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        rejected |= {"params": {"_meta": modern_meta()}, "note": "\ud800"}
        peer.send(json.dumps(rejected))
        assert error_of(peer.next_answer(deadline())) == (1, INVALID_REQUEST)
        open_era(peer)
        assert task_round_trip(peer) == "after: done after 0s"
    # A handshake the transport rejects, then 2026-07-28 requests.
    with running(MODERN, tmp_path_factory) as peer:
        peer.send(request_line(1, "initialize", ["2025-11-25"]))
        assert error_of(peer.next_answer(deadline())) == (1, INVALID_PARAMS)
        open_era(peer)
        assert task_round_trip(peer) == "after: done after 0s"


# ---------------------------------------------------------------------- generated lines


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()  # a member left out of the message


@dataclass(frozen=True)
class Expect:
    """The one answer a line is owed."""

    id: Any
    code: int | None  # None: whatever the server serves, so long as it is no internal error


@dataclass(frozen=True)
class Deep:
    """A value nested ``depth`` containers deep, built only when sent, so its repr stays short."""

    depth: int
    shape: str  # "list" or "dict"

    def expand(self) -> Any:
        value: Any = [] if self.shape == "list" else {}
        for _ in range(self.depth - 1):
            value = [value] if self.shape == "list" else {"k": value}
        return value


@dataclass(frozen=True)
class FreshId:
    """A readable id that no other line carries: an integer of some size, or a string."""

    kind: str
    text: str = ""

    def make(self, number: int) -> int | str:
        return {
            "int": number,
            "negative": -number,
            "big": 10**20 + number,
        }.get(self.kind, f"{number}:{self.text}")


@dataclass(frozen=True)
class Raw:
    """A line sent as it is."""

    line: str | bytes
    expect: Expect | None

    def render(self, number: int) -> tuple[str | bytes, Expect | None]:
        return self.line, self.expect


@dataclass(frozen=True)
class Message:
    """A JSON object, given a fresh readable id when ``fresh_id`` is set."""

    members: dict[str, Any]
    fresh_id: FreshId | None = None

    def render(self, number: int) -> tuple[str | bytes, Expect | None]:
        members = dict(self.members)
        if self.fresh_id is not None:
            members["id"] = self.fresh_id.make(number)
        return json.dumps(members, default=_expand), expected(members)


def _expand(value: object) -> Any:
    assert isinstance(value, Deep), value
    return value.expand()


def unreadable(value: Any) -> bool:
    """Whether the SDK's JSON parser refuses ``value``: too deep, or an unpaired surrogate."""
    if isinstance(value, Deep):
        return value.depth > SDK_NESTING_LIMIT
    if isinstance(value, str):
        return any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    if isinstance(value, list):
        return any(unreadable(item) for item in value)
    if isinstance(value, dict):
        return any(unreadable(key) or unreadable(item) for key, item in value.items())
    return False


def expected(message: dict[str, Any]) -> Expect | None:
    """The rules, stated once more: the one answer ``message`` is owed, or None for none."""
    method, params = message.get("method"), message.get("params")
    envelope_ok = message.get("jsonrpc") == "2.0" and isinstance(method, str)
    envelope_ok = envelope_ok and not unreadable(method)
    params_ok = params is None or isinstance(params, dict)
    params_ok = params_ok or (isinstance(params, Deep) and params.shape == "dict")
    extras_ok = not any(unreadable({k: v}) for k, v in message.items() if k not in ENVELOPE)
    if "id" not in message:
        usable = envelope_ok and params_ok and extras_ok and not unreadable(params)
        return None if usable else Expect(None, INVALID_REQUEST)
    request_id = message["id"]
    readable = isinstance(request_id, str) or type(request_id) is int
    if not readable or unreadable(request_id):
        return Expect(None, INVALID_REQUEST)
    if not envelope_ok:
        return Expect(request_id, INVALID_REQUEST)
    if not params_ok:
        return Expect(request_id, INVALID_PARAMS)
    if not extras_ok:
        return Expect(request_id, INVALID_REQUEST)
    if unreadable(params):
        return Expect(request_id, INVALID_PARAMS)
    return Expect(request_id, None)


def parses(text: str) -> bool:
    """Whether the SDK's parser or the standard library's reads ``text``."""
    for parse in (pydantic_core.from_json, json.loads):
        try:
            parse(text)
        except (ValueError, RecursionError):
            continue
        return True
    return False


TASK_METHODS = ["tasks/get", "tasks/result", "tasks/cancel", "tasks/list", "tasks/update"]
OTHER_METHODS = [
    "tools/call",
    "tools/list",
    "ping",
    "initialize",
    "server/discover",
    "resources/list",
    "resources/read",
    "prompts/get",
    "completion/complete",
    # Notification methods, sent with and without an id.
    "notifications/initialized",
    "notifications/roots/list_changed",
    "notifications/progress",
    "notifications/no/such",
]
PARAM_KEYS = ["taskId", "cursor", "_meta", "task", "name", "arguments", "inputResponses", "ttl"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
huge_strings = st.integers(1_000, 100_000).map(lambda size: ("\u00e9\U0001f600x" * size)[:size])
lone_surrogates = st.sampled_from(["\ud800", "x\udfff", "\udbffA"])
strings = st.text(max_size=20) | huge_strings | lone_surrogates
deep = st.builds(
    Deep,
    depth=st.integers(2, 150) | st.integers(SDK_NESTING_LIMIT + 30, 600),
    shape=st.sampled_from(["list", "dict"]),
)
field_values = json_values | strings | deep
object_params = st.builds(
    lambda fields, envelope: {**fields, "_meta": modern_meta()} if envelope else fields,
    st.dictionaries(st.sampled_from(PARAM_KEYS) | st.text(max_size=8), field_values, max_size=4),
    st.booleans(),
)
# Object params most of the time; else none at all.
usual_params = st.one_of(object_params, object_params, object_params, st.none(), st.just(ABSENT))
other_params = (
    st.lists(json_values, max_size=4)
    | strings
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | deep
)
known_methods = st.sampled_from(TASK_METHODS) | st.sampled_from(OTHER_METHODS)
odd_methods = strings | st.none() | st.integers() | st.lists(scalars, max_size=2) | deep
bad_versions = st.sampled_from([ABSENT, "1.0", "2", 2.0, 2, None, "2.0 "])
fresh_ids = st.builds(
    FreshId, kind=st.sampled_from(["int", "negative", "big", "str", "str"]), text=strings
)
bad_ids = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.lists(scalars, max_size=2)
    | st.dictionaries(st.text(max_size=4), scalars, max_size=2)
    | lone_surrogates
    | deep
)
extra_members = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda key: key not in ENVELOPE),
    field_values,
    min_size=1,
    max_size=2,
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """Mostly well-formed envelopes, so the server itself is reached often too."""

    def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], percent: int) -> Any:
        return draw(usual) if draw(st.integers(0, 99)) < percent else draw(odd)

    members = {
        "jsonrpc": mostly(st.just("2.0"), bad_versions, 85),
        "method": mostly(known_methods, odd_methods, 75),
        "params": mostly(usual_params, other_params, 60),
        **mostly(st.just({}), extra_members, 85),
    }
    fresh_id = None
    match draw(st.sampled_from(["fresh", "fresh", "fresh", "bad", "none"])):
        case "fresh":
            fresh_id = draw(fresh_ids)
        case "bad":
            members["id"] = draw(bad_ids)
    present = {key: value for key, value in members.items() if value is not ABSENT}
    return Message(present, fresh_id)


def cut_short(message: Message, fraction: float) -> Raw:
    text = json.dumps({**message.members, "id": 1}, default=_expand)
    return Raw(text[: int(len(text) * fraction)] or "{", Expect(None, PARSE_ERROR))


not_json = (
    st.text(min_size=1, max_size=60)
    .filter(lambda text: "\n" not in text and text.strip(" \t\r") and not parses(text))
    .map(lambda text: Raw(text, Expect(None, PARSE_ERROR)))
)
cut_messages = st.builds(cut_short, messages(), st.floats(0, 0.99))
batches = st.lists(
    st.builds(lambda n: {"jsonrpc": "2.0", "id": n, "method": "ping"}, st.integers()),
    min_size=1,
    max_size=3,
)
bare_values = (json_values.filter(lambda value: not isinstance(value, dict)) | batches).map(
    lambda value: Raw(json.dumps(value), Expect(None, INVALID_REQUEST))
)
blank_lines = st.sampled_from(["", " ", "\t", "\r", " \t\r "]).map(lambda text: Raw(text, None))
too_deep = st.integers(1_500, 4_000).map(
    lambda depth: Raw(deep_request(depth), Expect(None, PARSE_ERROR))
)
lines = st.one_of(
    messages(),
    messages(),
    messages(),
    messages(),
    messages(),
    not_json,
    cut_messages,
    bare_values,
    blank_lines,
    too_deep,
)


def exchange(peer: Peer, batch: list[Raw | Message]) -> None:
    """Send ``batch`` and a sentinel; every line must get exactly the answer it is owed."""
    sent: list[str | bytes] = []
    owed: dict[Any, Expect] = {}
    owed_null: Counter[int] = Counter()
    for case in batch:
        line, expect = case.render(peer.fresh_number())
        sent.append(line)
        if expect is not None and expect.id is None:
            assert expect.code is not None
            owed_null[expect.code] += 1
        elif expect is not None:
            owed[expect.id] = expect
    sentinel = f"sentinel-{peer.fresh_number()}"
    sent.append(request_line(sentinel, "tools/list", peer.params()))
    peer.send(*sent)

    until = deadline()
    got_null: Counter[int] = Counter()
    sentinel_answered = False
    while owed or not sentinel_answered:
        answer = peer.next_answer(until)
        if answer["id"] == sentinel:
            # The transport answers a line before it reads the next: all of its
            # id-null answers are in by now.
            assert got_null == owed_null, (got_null, owed_null)
            sentinel_answered = True
        elif answer["id"] is None:
            assert not sentinel_answered, f"an id-null answer nobody was owed: {answer}"
            got_null[error_of(answer)[1]] += 1
        else:
            expect = owed.pop(answer["id"], None)
            assert expect is not None, f"an answer nobody was owed, or a second one: {answer}"
            if expect.code is None:
                assert answer.get("error", {}).get("code") not in INTERNAL_ERRORS, answer
            else:
                assert error_of(answer)[1] == expect.code, (answer, expect)


def test_generated_lines_each_get_exactly_the_answer_they_are_owed(peer: Peer) -> None:
    sent = 0

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(lines, min_size=MIN_BATCH, max_size=20))
    def probe(batch: list[Raw | Message]) -> None:
        nonlocal sent
        exchange(peer, batch)
        sent += len(batch)

    probe()
    assert sent >= FUZZ_EXAMPLES * MIN_BATCH
    assert task_round_trip(peer) == "after: done after 0s"
    # Nothing late: the next answer is the next request's.
    assert peer.answers_before_sentinel() == []

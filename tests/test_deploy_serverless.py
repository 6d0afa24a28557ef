"""The serverless template is valid, and keeps the rules cfn-lint cannot see.

cfn-lint validates ``deploy/serverless.yaml`` (through the SAM transform)
against CloudFormation's schemas. What it cannot know is how this project's
pieces must fit: the queue hides a message longer than a worker may run, a
poison message ends in a watched dead-letter queue, and each function may do
exactly what its part needs and nothing more.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
TEMPLATE = DEPLOY / "serverless.yaml"
HANDLERS = "mcp_tasks_server.aws_lambda."
WORKER_SQS_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:SendMessage",
}


def cfnlint(module: str) -> ModuleType:
    """A cfn-lint module; the tests skip without cfn-lint, but fail under ``CI=true``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        reason = "cfn-lint is not installed: pip install 'cfn-lint>=1.20,<2'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: it is required)", pytrace=False)
        pytest.skip(reason)


def load(path: Path) -> dict[str, Any]:
    """A template with ``!Ref``/``!GetAtt``/``!Sub`` read as their ``Fn::`` forms."""
    template, errors = cfnlint("cfnlint.decode").decode(str(path))
    assert not errors, errors
    resources: dict[str, Any] = template
    return resources


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def function(template: dict[str, Any], handler: str) -> dict[str, Any]:
    """The properties of the one function with this handler."""
    found: list[dict[str, Any]] = [
        resource["Properties"]
        for resource in resources_of(template, "AWS::Serverless::Function").values()
        if resource["Properties"]["Handler"] == HANDLERS + handler
    ]
    assert len(found) == 1, f"{len(found)} functions have the handler {handler}"
    return found[0]


def target(reference: Any) -> str:
    """The resource a ``!Ref`` or ``!GetAtt`` names."""
    if "Ref" in reference:
        name: str = reference["Ref"]
        return name
    name = reference["Fn::GetAtt"][0]
    return name


def statements(template: dict[str, Any], props: dict[str, Any]) -> list[dict[str, Any]]:
    """Every IAM statement of a function's role."""
    role = template["Resources"][target(props["Role"])]["Properties"]
    return [
        statement
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def actions(template: dict[str, Any], props: dict[str, Any], service: str) -> set[str]:
    return {
        action
        for statement in statements(template, props)
        for action in _listed(statement)
        if action.startswith(f"{service}:")
    }


def environment(template: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    own = props.get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def sqs_event(props: dict[str, Any]) -> dict[str, Any]:
    events: list[dict[str, Any]] = [
        event["Properties"] for event in props["Events"].values() if event["Type"] == "SQS"
    ]
    assert len(events) == 1
    return events[0]


# ------------------------------------------------------------------ cfn-lint


def test_template_passes_cfn_lint() -> None:
    matches = cfnlint("cfnlint.api").lint_file(TEMPLATE)
    assert [str(match) for match in matches] == []


def test_cfn_lint_would_catch_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "serverless.yaml"
    text = TEMPLATE.read_text().replace("BillingMode: PAY_PER_REQUEST", "BillingMode: FREE")
    broken.write_text(text)
    assert cfnlint("cfnlint.api").lint_file(broken) != []


# ------------------------------------------------------------------ queue


def test_queue_hides_a_message_six_times_longer_than_a_worker_may_run(
    template: dict[str, Any],
) -> None:
    worker = function(template, "worker_handler")
    queue = template["Resources"][target(sqs_event(worker)["Queue"])]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    assert worker["Timeout"] <= 900


def test_poison_messages_end_in_a_dead_letter_queue_after_a_few_receives(
    template: dict[str, Any],
) -> None:
    worker = function(template, "worker_handler")
    queue_name = target(sqs_event(worker)["Queue"])
    redrive = template["Resources"][queue_name]["Properties"]["RedrivePolicy"]
    dead_letter = target(redrive["deadLetterTargetArn"])
    assert dead_letter != queue_name
    assert template["Resources"][dead_letter]["Type"] == "AWS::SQS::Queue"
    assert 1 <= redrive["maxReceiveCount"] <= 10


def test_worker_reports_failures_per_message_one_task_per_invocation(
    template: dict[str, Any],
) -> None:
    event = sqs_event(function(template, "worker_handler"))
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BatchSize"] == 1


def test_alarm_fires_on_the_first_dead_lettered_message(template: dict[str, Any]) -> None:
    worker = function(template, "worker_handler")
    queue = template["Resources"][target(sqs_event(worker)["Queue"])]["Properties"]
    dead_letter = target(queue["RedrivePolicy"]["deadLetterTargetArn"])
    [alarm] = resources_of(template, "AWS::CloudWatch::Alarm").values()
    props = alarm["Properties"]
    assert props["Namespace"] == "AWS/SQS"
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert props["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letter, "QueueName"]}}
    ]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)


# ------------------------------------------------------------------ permissions


def test_front_end_may_only_send_to_the_queue(template: dict[str, Any]) -> None:
    front_end = function(template, "http_handler")
    sqs_statements = [
        statement
        for statement in statements(template, front_end)
        if any(action.startswith("sqs:") for action in _listed(statement))
    ]
    assert actions(template, front_end, "sqs") == {"sqs:SendMessage"}
    assert [target(statement["Resource"]) for statement in sqs_statements] == ["TaskQueue"]


def test_worker_may_receive_settle_and_extend_messages_but_not_send(
    template: dict[str, Any],
) -> None:
    assert actions(template, function(template, "worker_handler"), "sqs") == WORKER_SQS_ACTIONS


def test_sweep_touches_no_queue(template: dict[str, Any]) -> None:
    assert actions(template, function(template, "sweep_handler"), "sqs") == {"sqs:SendMessage"}


def test_no_function_may_delete_tasks_or_use_wildcards(template: dict[str, Any]) -> None:
    server_calls = _iam_policy_actions() - {"dynamodb:DeleteItem"}
    for name, resource in resources_of(template, "AWS::Serverless::Function").items():
        props = resource["Properties"]
        # An explicit role: SAM adds no managed policies of its own to it.
        assert "Role" in props, name
        assert "Policies" not in props, name
        dynamodb = actions(template, props, "dynamodb")
        assert dynamodb <= server_calls, name
        for statement in statements(template, props):
            assert all("*" not in action for action in _listed(statement)), name
            assert statement["Resource"] != "*", name


def test_functions_without_scan_run_no_orphan_sweep_of_their_own(
    template: dict[str, Any],
) -> None:
    for resource in resources_of(template, "AWS::Serverless::Function").values():
        props = resource["Properties"]
        if "dynamodb:Scan" not in actions(template, props, "dynamodb"):
            assert environment(template, props)["MCP_TASKS_LEASE_SWEEP_INTERVAL_SECONDS"] == "0"


# ------------------------------------------------------------------ settings


def test_every_function_runs_queue_mode_on_the_table_and_queue(template: dict[str, Any]) -> None:
    for resource in resources_of(template, "AWS::Serverless::Function").values():
        env = environment(template, resource["Properties"])
        assert env["MCP_TASKS_BACKEND"] == "dynamodb"
        assert env["MCP_TASKS_EXECUTION"] == "queue"
        assert env["MCP_TASKS_DYNAMODB_TABLE"] == {"Ref": "TasksTable"}
        assert env["MCP_TASKS_QUEUE_URL"] == {"Ref": "TaskQueue"}
        assert env["MCP_TASKS_TOOLS"] == {"Ref": "Tools"}
        # The global cap decides where each task is counted: one value for all.
        assert env["MCP_TASKS_MAX_ACTIVE_TASKS"] == {"Ref": "MaxActiveTasks"}


def test_front_end_is_a_stateless_json_function_url(template: dict[str, Any]) -> None:
    front_end = function(template, "http_handler")
    env = environment(template, front_end)
    assert (env["MCP_TASKS_STATELESS"], env["MCP_TASKS_JSON_RESPONSE"]) == ("true", "true")
    assert "FunctionUrlConfig" in front_end
    assert float(env["MCP_TASKS_RESULT_WAIT_SECONDS"]) < front_end["Timeout"]


def test_sweep_runs_on_a_schedule_of_a_few_minutes(template: dict[str, Any]) -> None:
    [event] = function(template, "sweep_handler")["Events"].values()
    assert event["Type"] == "Schedule"
    amount, unit = event["Properties"]["Schedule"].removeprefix("rate(").rstrip(")").split()
    assert unit.startswith("minute")
    assert 1 <= int(amount) <= 5


def test_table_matches_the_standalone_table_template(template: dict[str, Any]) -> None:
    standalone = load(DEPLOY / "dynamodb-table.yaml")["Resources"]["TasksTable"]["Properties"]
    [table] = resources_of(template, "AWS::DynamoDB::Table").values()
    for key in ("BillingMode", "AttributeDefinitions", "KeySchema", "TimeToLiveSpecification"):
        assert table["Properties"][key] == standalone[key], key
    assert table["Properties"]["TimeToLiveSpecification"]["AttributeName"] == "expires_at"
    assert table["DeletionPolicy"] == "Retain"


# ------------------------------------------------------------------ Kubernetes


def test_kubernetes_workers_scale_on_the_queue_with_keda() -> None:
    # PyYAML has no type stubs in the dev extra; it is only read here.
    yaml: Any = importlib.import_module("yaml")
    documents = [
        doc for doc in yaml.safe_load_all((DEPLOY / "workers-kubernetes.yaml").read_text()) if doc
    ]
    by_kind = {doc["kind"]: doc for doc in documents}
    deployment, scaled = by_kind["Deployment"], by_kind["ScaledObject"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["mcp-tasks-server", "worker"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MCP_TASKS_EXECUTION"] == "queue"
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["metadata"]["queueURL"] == env["MCP_TASKS_QUEUE_URL"]
    assert (
        trigger["authenticationRef"]["name"] == by_kind["TriggerAuthentication"]["metadata"]["name"]
    )
    grace = float(env["MCP_TASKS_SHUTDOWN_GRACE_SECONDS"])
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace


# ------------------------------------------------------------------ helpers


def _listed(statement: dict[str, Any]) -> list[str]:
    listed = statement["Action"]
    return [listed] if isinstance(listed, str) else list(listed)


def _iam_policy_actions() -> set[str]:
    """What the server's DynamoDB calls need, from ``deploy/iam-server-policy.json``."""
    policy = json.loads((DEPLOY / "iam-server-policy.json").read_text())
    [server] = [s for s in policy["Statement"] if s["Sid"] == "TaskStoreServer"]
    return set(server["Action"])

"""Telemetry is configured only when the OTEL_* variables ask for it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mcp_tasks_server.observability.telemetry import telemetry_requested


@pytest.mark.parametrize(
    ("environ", "requested"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "tasks"}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_METRICS_EXPORTER": "otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
            False,
        ),
    ],
)
def test_only_an_exporter_or_an_endpoint_asks_for_telemetry(
    environ: dict[str, str], requested: bool
) -> None:
    assert telemetry_requested(environ) is requested


def test_installed_but_not_asked_for_telemetry_is_the_no_op() -> None:
    # In a fresh process: a tracer provider set by another test would count as asked for.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    probe = (
        "from mcp_tasks_server.observability import NOOP_TELEMETRY\n"
        "from mcp_tasks_server.observability.telemetry import configure_telemetry\n"
        "print(configure_telemetry() is NOOP_TELEMETRY)"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe], env=environ, capture_output=True, text=True, timeout=60
    )
    assert answer.stdout.strip() == "True", answer.stderr

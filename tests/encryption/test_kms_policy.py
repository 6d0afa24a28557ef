"""deploy/iam-kms-policy.json grants exactly what KMS envelope encryption asks of KMS."""

from __future__ import annotations

import json
from pathlib import Path

from mcp_tasks_server.store.encryption.kms import DEFAULT_KMS_CONTEXT

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "iam-kms-policy.json"


def test_kms_policy_allows_only_data_keys_for_this_servers_payloads() -> None:
    (statement,) = json.loads(POLICY.read_text())["Statement"]
    assert statement["Effect"] == "Allow"
    assert set(statement["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert statement["Resource"] == "arn:aws:kms:REGION:ACCOUNT_ID:key/KEY_ID"
    condition = statement["Condition"]["StringEquals"]
    assert condition == {"kms:EncryptionContext:purpose": DEFAULT_KMS_CONTEXT["purpose"]}

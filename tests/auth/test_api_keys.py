"""API keys: the hashed key file, its errors, and the command that makes its lines."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from mcp.server.auth.provider import principal_components

from mcp_tasks_server.core.errors import ConfigError
from mcp_tasks_server.server.auth import API_KEY_ISSUER, ApiKeyVerifier
from mcp_tasks_server.server.auth.api_keys import hash_entry, new_api_key

REPO = Path(__file__).resolve().parents[2]


def key_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "api-keys.txt"
    path.write_text(text)
    return path


@pytest.mark.anyio
async def test_listed_keys_authenticate_as_their_subject_and_others_do_not(
    tmp_path: Path,
) -> None:
    old, new, bot = new_api_key(), new_api_key(), new_api_key()
    path = key_file(
        tmp_path,
        "\n".join(
            [
                "# two keys for alice while she rotates",
                hash_entry("alice", old),
                "",
                hash_entry("alice", new),
                f"  {hash_entry('ci-bot', bot)}  ",
            ]
        ),
    )
    verifier = ApiKeyVerifier.from_file(path, scopes=["tasks"])
    for key, subject in ((old, "alice"), (new, "alice"), (bot, "ci-bot")):
        access = await verifier.verify_token(key)
        assert access is not None
        assert principal_components(access) == (subject, API_KEY_ISSUER, subject)
        assert access.scopes == ["tasks"]
    assert await verifier.verify_token(new_api_key()) is None
    assert await verifier.verify_token("") is None
    # The file holds hashes: the hash itself is not a key.
    assert await verifier.verify_token(hashlib.sha256(old.encode()).hexdigest()) is None


@pytest.mark.parametrize(
    ("lines", "line_number", "complaint"),
    [
        (["alice 0123abcd"], 1, "expected `<subject> sha256:<64 hex digits>`"),
        (["# ok", "alice sha256:" + "0" * 63], 2, "expected"),
        (["alice md5:" + "0" * 32], 1, "expected"),
        (["alice smith sha256:" + "0" * 64], 1, "expected"),
        (["sha256:" + "0" * 64], 1, "expected"),
        (["alice sha256:" + "a" * 64, "bob sha256:" + "A" * 64], 2, "already listed on line 1"),
        (["x" * 300 + " sha256:" + "0" * 64], 1, "longer than 256"),
    ],
    ids=["no-algorithm", "short-hash", "other-algorithm", "two-words", "no-subject", "dup", "long"],
)
def test_malformed_key_file_names_the_file_and_line(
    tmp_path: Path, lines: list[str], line_number: int, complaint: str
) -> None:
    path = key_file(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        ApiKeyVerifier.from_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line_number}: "), message
    assert complaint in message


def test_missing_or_empty_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the API key file .*missing\.txt"):
        ApiKeyVerifier.from_file(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="lists no keys"):
        ApiKeyVerifier.from_file(key_file(tmp_path, "# nothing yet\n\n"))


def run_tool(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_tasks_server.server.auth.api_keys", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


@pytest.mark.anyio
async def test_generated_key_hashed_by_the_command_opens_the_door(tmp_path: Path) -> None:
    generated = run_tool("generate")
    assert generated.returncode == 0, generated.stderr
    key = generated.stdout.strip()
    assert len(key) >= 43

    hashed = run_tool("hash", "deploy-bot", stdin=key + "\n")
    assert hashed.returncode == 0, hashed.stderr
    assert key not in hashed.stdout
    verifier = ApiKeyVerifier.from_file(key_file(tmp_path, hashed.stdout))
    access = await verifier.verify_token(key)
    assert access is not None
    assert access.subject == "deploy-bot"


def test_hash_command_refuses_a_short_key_or_a_spaced_subject() -> None:
    short = run_tool("hash", "alice", stdin="hunter2\n")
    assert short.returncode == 2
    assert "at least 24 characters" in short.stderr
    spaced = run_tool("hash", "alice smith", stdin=new_api_key())
    assert spaced.returncode == 2
    assert "one word" in spaced.stderr

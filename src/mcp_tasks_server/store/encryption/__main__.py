"""``python -m mcp_tasks_server.store.encryption new-key KEYID``: a fresh key ring entry."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mcp_tasks_server.store.encryption.cipher import new_key_entry


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mcp_tasks_server.store.encryption",
        description="Make keys for MCP_TASKS_ENCRYPTION_KEYS.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    new_key = commands.add_parser("new-key", help="print a new `keyid:base64key` entry")
    new_key.add_argument("key_id", help="a name for the key: 1-64 of A-Z a-z 0-9 . _ -")
    args = parser.parse_args(argv)
    try:
        print(new_key_entry(args.key_id))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

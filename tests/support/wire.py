"""The wire literals tests speak, written out once on the test side.

Tests keep their own copy rather than importing the package's constants, so
a typo in the implementation cannot also pass the test that checks it.
"""

from __future__ import annotations

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
RELATED_TASK = "io.modelcontextprotocol/related-task"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
"""The statuses a task never leaves, as both eras spell them."""

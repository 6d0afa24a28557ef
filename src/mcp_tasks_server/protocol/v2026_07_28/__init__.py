"""The 2026-07-28 era: the ``io.modelcontextprotocol/tasks`` extension (SEP-2663)."""

"""Tool results: as the wire dicts tools return, and read back from what a client got."""

from __future__ import annotations

from typing import Any

from mcp_types import CallToolResult, TextContent


def text_result(text: str, *, is_error: bool = False) -> dict[str, Any]:
    """A ``CallToolResult`` with one text block, as a tool returns it to the runner."""
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def text_of(result: CallToolResult) -> str:
    """The text blocks of a tool result, one per line."""
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def task_of(result: CallToolResult) -> dict[str, Any]:
    """The task a task tool's result carries in ``structuredContent.task``."""
    assert result.structured_content is not None, text_of(result)
    task = result.structured_content["task"]
    assert isinstance(task, dict)
    return task

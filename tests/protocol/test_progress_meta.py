"""tasks/get carries the last progress report under _meta, in both eras, over HTTP."""

from __future__ import annotations

import anyio
import pytest

from mcp_tasks_server.protocol.shapes import PROGRESS_META
from tests.protocol import sample_server
from tests.protocol.harness import RawHttp, serve_http

pytestmark = pytest.mark.anyio

CALL = {"name": "compute", "arguments": {"seconds": 30}}


async def progress_of(raw: RawHttp, task_id: str) -> dict[str, object]:
    with anyio.fail_after(10):
        while True:
            got = await raw.request("tasks/get", {"taskId": task_id})
            meta = got.result.get("_meta") or {}
            if PROGRESS_META in meta:
                return dict(meta[PROGRESS_META])
            await anyio.sleep(0.05)


async def test_legacy_tasks_get_shows_progress_in_meta() -> None:
    async with serve_http(sample_server.build()) as url, RawHttp.legacy_session(url) as raw:
        created = await raw.request("tools/call", {**CALL, "task": {}})
        task_id = created.result["task"]["taskId"]
        assert await progress_of(raw, task_id) == {"progress": 0.0, "total": 1.0}
        await raw.request("tasks/cancel", {"taskId": task_id})


async def test_modern_tasks_get_shows_progress_in_meta() -> None:
    async with serve_http(sample_server.build()) as url, RawHttp.modern(url) as raw:
        created = await raw.request("tools/call", CALL)
        task_id = created.result["taskId"]
        assert await progress_of(raw, task_id) == {"progress": 0.0, "total": 1.0}
        await raw.request("tasks/cancel", {"taskId": task_id})

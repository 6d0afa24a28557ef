"""Drive our server with the fastmcp ``Client`` (and fastmcp-tasks) through named scenarios.

Runs in tests/interop/.fastmcp-venv, never in the project's environment:
importing fastmcp-tasks patches the mcp SDK process-wide. The server serves
the tools of ``tests/interop/tools.py``.

    python client_scenarios.py SCENARIO... --label L --url http://127.0.0.1:P/mcp
    python client_scenarios.py SCENARIO... --label L -- COMMAND [ARG...]   # stdio

The second form lets the client start the server itself, as desktop clients
do, with this process's environment and working directory. The scenarios run
in turn on one connection, since starting a client and a server costs more
than a scenario; each has its own deadline, and one that raises is reported
with its traceback while the others go on. What the client saw is printed as
one JSON object on the last line of stdout; the tests in
``tests/interop/test_fastmcp_client.py`` judge it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import mcp_types
from fastmcp import Client
from fastmcp.client.elicitation import ElicitResult
from fastmcp.client.transports import ClientTransport, StdioTransport, StreamableHttpTransport
from fastmcp_tasks import ToolTask, call_tool_task

Report = dict[str, Any]
Scenario = Callable[[Client[Any], str, list[str]], Awaitable[Report]]

#: How long one wait on the server may take; generous for a loaded 2-core machine.
WAIT_SECONDS = 60.0


async def answer_questions(
    message: str, response_type: Any, params: Any, context: Any
) -> dict[str, Any] | ElicitResult[Any]:
    """The client's elicitation handler: declines when asked to, else answers "blue"."""
    del response_type, params, context
    if "decline" in message:
        return ElicitResult(action="decline")
    return {"answer": "blue"}


def texts(content: Sequence[Any]) -> list[str]:
    return [block.text for block in content if isinstance(block, mcp_types.TextContent)]


def raised(error: BaseException) -> Report:
    return {"type": type(error).__name__, "message": str(error)}


async def journal(client: Client[Any], label: str) -> list[str]:
    result = await client.call_tool("journal", {"label": label})
    structured = result.structured_content or {}
    return list(structured.get("result", []))


async def journal_until(client: Client[Any], label: str, event: str) -> list[str]:
    """The journal of ``label`` once it shows ``event`` (or as it is at the deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    delay = 0.02
    while True:
        seen = await journal(client, label)
        if event in seen or loop.time() > deadline:
            return seen
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


def task_view(final: Any) -> Report:
    """A ``tasks/get`` answer as the client parsed it."""
    return {
        "status": final.status,
        "status_message": final.status_message,
        "result": final.result,
        "error": final.error,
        "input_requests": final.input_requests,
    }


async def outcome_of_handle(task: ToolTask) -> Report:
    try:
        result = await task.result()
    except Exception as error:
        return {"raised": raised(error)}
    return {"is_error": result.is_error, "texts": texts(result.content)}


# ---------------------------------------------------------------------- scenarios


async def transparent(client: Client[Any], label: str, asked: list[str]) -> Report:
    """``call_tool`` on a task tool: the client polls the task and returns its result."""
    result = await client.call_tool("slow", {"label": label, "seconds": 1.0})
    return {
        "is_error": result.is_error,
        "texts": texts(result.content),
        "journal": await journal(client, label),
        "asked": asked,
    }


async def cancel(client: Client[Any], label: str, asked: list[str]) -> Report:
    """An explicit handle, cancelled while its tool runs."""
    task = await call_tool_task(client, "slow", {"label": label, "seconds": 600.0})
    started = await journal_until(client, label, "start")
    await task.cancel()
    final = await task.wait(timeout=WAIT_SECONDS)
    return {
        "task_id": task.task_id,
        "created_status": task.create_result.status,
        "journal_before_cancel": started,
        "final": task_view(final),
        "handle_result": await outcome_of_handle(task),
        "journal": await journal_until(client, label, "stopped"),
    }


async def elicit(client: Client[Any], label: str, asked: list[str]) -> Report:
    """A tool that asks while it runs, answered through the elicitation handler."""
    answered = await client.call_tool(
        "ask", {"label": f"{label}-answered", "question": "Favourite colour?"}
    )
    declined = await client.call_tool(
        "ask", {"label": f"{label}-declined", "question": "Please decline this one"}
    )
    task = await call_tool_task(
        client, "ask", {"label": f"{label}-handle", "question": "Favourite sky colour?"}
    )
    parked = await task.wait(state="input_required", timeout=WAIT_SECONDS)
    result = await outcome_of_handle(task)
    return {
        "answered": texts(answered.content),
        "declined": texts(declined.content),
        "parked": task_view(parked),
        "handle_result": result,
        "final": task_view(await task.status()),
        "asked": asked,
    }


async def tool_failure(client: Client[Any], name: str, arguments: dict[str, Any]) -> Report:
    """The three ways a client meets a failing tool: raised, returned, and as a task."""
    try:
        await client.call_tool(name, arguments)
        call_raised = None
    except Exception as error:
        call_raised = raised(error)
    returned = await client.call_tool(name, arguments, raise_on_error=False)
    task = await call_tool_task(client, name, arguments)
    final = await task.wait(timeout=WAIT_SECONDS)
    return {
        "call_tool_raised": call_raised,
        "returned": {"is_error": returned.is_error, "texts": texts(returned.content)},
        "final": task_view(final),
        "handle_result": await outcome_of_handle(task),
    }


async def errors(client: Client[Any], label: str, asked: list[str]) -> Report:
    """A tool error (a completed task) and a JSON-RPC error (a failed task)."""
    return {
        "tool_error": await tool_failure(client, "refuse", {"reason": f"{label}: 3 bad rows"}),
        "protocol_error": await tool_failure(
            client, "upstream_error", {"message": f"{label}: upstream refused"}
        ),
    }


async def concurrent(client: Client[Any], label: str, asked: list[str]) -> Report:
    """Twenty task calls at once on one client."""
    calls = [
        client.call_tool("square", {"label": label, "n": n, "seconds": 0.5}) for n in range(20)
    ]
    results = await asyncio.gather(*calls)
    return {
        "results": [
            {"is_error": result.is_error, "texts": texts(result.content)} for result in results
        ],
        "journal": await journal(client, label),
    }


SCENARIOS: dict[str, Scenario] = {
    "transparent": transparent,
    "cancel": cancel,
    "elicit": elicit,
    "errors": errors,
    "concurrent": concurrent,
}


# ---------------------------------------------------------------------- main


def transport(args: argparse.Namespace) -> ClientTransport:
    if args.url:
        headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
        return StreamableHttpTransport(args.url, headers=headers)
    command, *arguments = args.command
    # keep_alive=False: the server process ends with the client, as a desktop client's does.
    return StdioTransport(
        command, arguments, env=dict(os.environ), cwd=os.getcwd(), keep_alive=False
    )


async def run(args: argparse.Namespace) -> Report:
    """Every scenario asked for, in turn, on one connection; one failing spoils no other."""
    # The questions the handler was asked, one list per scenario, newest last.
    asked: list[list[str]] = []

    async def handler(message: str, response_type: Any, params: Any, context: Any) -> Any:
        asked[-1].append(message)
        return await answer_questions(message, response_type, params, context)

    reports: dict[str, Report] = {}
    output: Report = {"scenarios": reports}
    try:
        async with Client(transport(args), elicitation_handler=handler) as client:
            output["protocol_version"] = client.protocol_version
            for name in args.scenarios:
                asked.append([])
                try:
                    async with asyncio.timeout(args.deadline):
                        label = f"{args.label}-{name}"
                        reports[name] = await SCENARIOS[name](client, label, asked[-1])
                except Exception:
                    reports[name] = {"crashed": traceback.format_exc()}
    except Exception:
        # Reported, not raised, so the scenarios' own reports still reach the tests.
        output["connection_failed"] = traceback.format_exc()
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="+", choices=sorted(SCENARIOS), metavar="SCENARIO")
    parser.add_argument("--label", required=True, help="keeps this run apart on a shared server")
    parser.add_argument("--url", help="the server's streamable HTTP endpoint")
    parser.add_argument("--token", help="a bearer token for a server with authentication")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds for each scenario")
    argv = sys.argv[1:]
    # Everything after "--" is the server's command line, untouched by argparse.
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.command = argv[split + 1 :]
    if bool(args.url) == bool(args.command):
        parser.error("give either --url or a server command after --")
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()

"""The ``mcp-tasks-server`` command.

Each subcommand is one ``_cmd_*`` function taking the parsed arguments and
returning an exit code, registered by one ``_add_*`` function; adding a
command is adding that pair and one line to :func:`build_parser`.

Failures print one line to stderr that says what to fix, and exit non-zero:
2 for a usage or configuration error, 1 for anything else.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from mcp_tasks_server import __version__
from mcp_tasks_server.backends.errors import BackendError
from mcp_tasks_server.core.errors import ConfigError, TaskError
from mcp_tasks_server.core.model import TaskStatus
from mcp_tasks_server.settings import Settings, load_settings

if TYPE_CHECKING:
    from mcp_tasks_server.backends.dynamodb import DynamoDbBackend

__all__ = ["build_parser", "main"]

PROG = "mcp-tasks-server"

Command = Callable[[argparse.Namespace], int]
T = TypeVar("T")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Durable, long-running MCP tasks: server and operator tools."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_serve(commands)
    _add_worker(commands)
    _add_demo(commands)
    _add_sweep(commands)
    _add_dynamodb(commands)
    _add_tasks(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_with_default_command(parser, argv))
    command: Command | None = getattr(args, "command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return command(args)
    except ConfigError as exc:
        _fail(str(exc))
        return 2
    except (BackendError, TaskError) as exc:
        _fail(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


def _fail(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _with_default_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> list[str]:
    """``serve`` is the default: ``mcp-tasks-server --port 9000`` means ``serve --port 9000``."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = next(
        (
            action.choices
            for action in parser._actions
            if isinstance(action, argparse._SubParsersAction)
        ),
        {},
    )
    if args and (args[0] in commands or args[0] in ("-h", "--help", "--version")):
        return args
    return ["serve", *args]


# ------------------------------------------------------------------ serve


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the MCP server (the default command)",
        description="Run the MCP server over stdio (default) or streamable HTTP. "
        "Flags override the MCP_TASKS_* environment variables of the same name.",
    )
    serve.add_argument(
        "--transport", choices=["stdio", "http"], help="stdio (default) or streamable HTTP"
    )
    serve.add_argument("--host", help="HTTP: address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP: port to listen on (default 8000)")
    serve.add_argument(
        "--stateless",
        action="store_true",
        default=None,
        help="HTTP: no sessions; every request stands alone (for several replicas)",
    )
    _add_tool_flags(serve)
    serve.set_defaults(command=_cmd_serve)


def _add_tool_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=["default", "conformance"],
        help="the tools to serve: the examples (default) or the conformance suite's fixtures "
        "(default: MCP_TASKS_PROFILE)",
    )
    parser.add_argument(
        "--tools",
        metavar="MODULE:OBJECT",
        help="your own tools: an MCPServer, or a register(tasks, server) function "
        "(module:object or path/to/file.py:object; default: MCP_TASKS_TOOLS)",
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from mcp_tasks_server.server.build import serve

    flags = {
        "transport": args.transport,
        "host": args.host,
        "port": args.port,
        "stateless": args.stateless,
        "profile": args.profile,
        "tools": args.tools,
    }
    settings = load_settings(**{name: value for name, value in flags.items() if value is not None})
    if settings.execution == "queue" and settings.queue_url is None:
        raise ConfigError(
            "serve with MCP_TASKS_EXECUTION=queue needs MCP_TASKS_BACKEND=dynamodb and "
            "MCP_TASKS_QUEUE_URL, so that worker processes can run the tasks"
        )
    serve(settings, profile=settings.profile, tools=settings.tools)
    return 0


# ------------------------------------------------------------------ worker


def _add_worker(commands: Any) -> None:
    worker = commands.add_parser(
        "worker",
        help="run queued tasks: claim them from the SQS queue and run their tools",
        description="Long-poll MCP_TASKS_QUEUE_URL and run the tasks a queue-mode front end "
        "stored, MCP_TASKS_WORKER_CONCURRENCY at a time. Give it the same tools as serve. "
        "SIGTERM stops receiving, gives running tasks MCP_TASKS_SHUTDOWN_GRACE_SECONDS, "
        "then fails the rest.",
    )
    _add_tool_flags(worker)
    worker.set_defaults(command=_cmd_worker)


def _cmd_worker(args: argparse.Namespace) -> int:
    from mcp_tasks_server.server.build import build_server
    from mcp_tasks_server.server.logs import configure_logging
    from mcp_tasks_server.server.worker import run_worker

    flags = {"profile": args.profile, "tools": args.tools, "execution": "queue"}
    settings = load_settings(**{name: value for name, value in flags.items() if value is not None})
    if settings.queue_url is None:
        raise ConfigError(
            "the worker needs MCP_TASKS_QUEUE_URL (the SQS queue) and MCP_TASKS_BACKEND=dynamodb"
        )
    configure_logging(settings.log_level)
    server = build_server(settings, profile=settings.profile, tools=settings.tools)
    anyio.run(run_worker, settings, server)
    return 0


# ------------------------------------------------------------------ demo


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="start the server and drive tasks through it, with live progress",
        description="Start the reference server as a subprocess, connect to it as an MCP "
        "client, and run several tasks: live progress, a cancel, an answered input "
        "request and a failure. Uses the storage the environment selects.",
    )
    demo.set_defaults(command=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from mcp_tasks_server.server.demo import run_demo

    load_settings()  # a bad MCP_TASKS_* value fails here, before the server starts
    return anyio.run(run_demo)


# ------------------------------------------------------------------ sweep


def _add_sweep(commands: Any) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="fail orphaned tasks and remove expired ones, once (for a schedule)",
        description="Fail every unfinished task whose replica or worker stopped, or that no "
        "worker claimed within MCP_TASKS_CLAIM_TIMEOUT_SECONDS (in queue mode, queue an "
        "idempotent tool's task again instead, while it has attempts left), then remove "
        "expired tasks where the backend does not. For deployments with no long-lived "
        "process: run it on a schedule (the Lambda sweep_handler does the same). "
        "Prints what it did as one JSON line.",
    )
    sweep.add_argument("--once", action="store_true", required=True, help="run one sweep and exit")
    sweep.set_defaults(command=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    import json

    from mcp_tasks_server.server.logs import configure_logging
    from mcp_tasks_server.server.sweep import sweep_once

    settings = load_settings()
    configure_logging(settings.log_level)
    report = anyio.run(sweep_once, settings)
    print(json.dumps(report.as_json()))
    return 0


# ------------------------------------------------------------------ dynamodb


def _add_dynamodb(commands: Any) -> None:
    dynamodb = commands.add_parser("dynamodb", help="create or check the DynamoDB table")
    actions = dynamodb.add_subparsers(title="actions", required=True)
    table_help = "table name (default: MCP_TASKS_DYNAMODB_TABLE, else mcp_tasks)"

    create = actions.add_parser(
        "create-table",
        help="create the table (on-demand, TTL on expires_at); safe to run again",
    )
    create.add_argument("--table", help=table_help)
    create.set_defaults(command=_cmd_dynamodb_create_table)

    check = actions.add_parser("check", help="check the table's key schema and TTL")
    check.add_argument("--table", help=table_help)
    check.set_defaults(command=_cmd_dynamodb_check)


def _cmd_dynamodb_create_table(args: argparse.Namespace) -> int:
    from mcp_tasks_server.backends.dynamodb_admin import create_table

    for line in _with_dynamodb(args, create_table):
        print(line)
    return 0


def _cmd_dynamodb_check(args: argparse.Namespace) -> int:
    from mcp_tasks_server.backends.dynamodb_admin import check_table

    problems = _with_dynamodb(args, check_table)
    for problem in problems:
        _fail(problem)
    if problems:
        return 1
    print(f"table {_dynamodb_settings(args).dynamodb_table} is ready")
    return 0


def _dynamodb_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"backend": "dynamodb"}
    if args.table is not None:
        overrides["dynamodb_table"] = args.table
    return load_settings(**overrides)


def _with_dynamodb(
    args: argparse.Namespace, action: Callable[[DynamoDbBackend], Awaitable[T]]
) -> T:
    """Run ``action`` on a DynamoDB backend configured from the environment and ``args``."""
    from mcp_tasks_server.protocol.storage import build_backend

    backend = build_backend(_dynamodb_settings(args))

    async def run() -> T:
        from mcp_tasks_server.backends.dynamodb import DynamoDbBackend

        assert isinstance(backend, DynamoDbBackend)
        async with backend:
            return await action(backend)

    return anyio.run(run)


# ------------------------------------------------------------------ tasks

_TASKS_HELP = (
    "Operators: list, inspect, cancel and count tasks of every owner on the configured "
    "backend. For the shared backend (MCP_TASKS_BACKEND=dynamodb): with the memory "
    "backend this process has its own empty store and sees none of a server's tasks."
)


def _add_tasks(commands: Any) -> None:
    tasks = commands.add_parser(
        "tasks", help="operators: list, show, cancel, count tasks", description=_TASKS_HELP
    )
    actions = tasks.add_subparsers(title="actions", required=True)
    listing = actions.add_parser("list", help="tasks of every owner, in storage order")
    listing.add_argument("--status", choices=[str(status) for status in TaskStatus])
    listing.add_argument("--owner-hash", help="only this owner (the o:… hash of the logs)")
    listing.add_argument("--limit", type=_bounded(1, 1_000), default=50, help="at most N (50)")
    listing.add_argument("--cursor", help="go on from where a previous list stopped")
    listing.add_argument(
        "--max-items",
        type=_bounded(1, 1_000_000),
        default=10_000,
        help="examine at most N records (10000)",
    )
    show = actions.add_parser("show", help="one task (no payloads unless --payloads)")
    show.add_argument("task_id", metavar="ID")
    show.add_argument("--payloads", action="store_true", help="include arguments and results")
    cancel = actions.add_parser("cancel", help="cancel a task; its replica stops it")
    cancel.add_argument("task_id", metavar="ID")
    stats = actions.add_parser("stats", help="live tasks by status (a bounded scan)")
    stats.add_argument(
        "--max-items",
        type=_bounded(1, 10_000_000),
        default=100_000,
        help="examine at most N records (100000)",
    )
    for action, command in (
        (listing, "list"),
        (show, "show"),
        (cancel, "cancel"),
        (stats, "stats"),
    ):
        action.add_argument("--json", action="store_true", help="one JSON document")
        action.set_defaults(command=_cmd_tasks, action=command)
    for action in (show, cancel):
        action.add_argument(
            "--max-items",
            type=_bounded(1, 10_000_000),
            default=1_000_000,
            help="examine at most N records to find it (1000000)",
        )


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def _cmd_tasks(args: argparse.Namespace) -> int:
    from mcp_tasks_server.server.operator import run_tasks_command

    settings = load_settings()
    if settings.backend == "memory":
        _fail("note: the memory backend lives inside each server process; this sees none of it")
    if args.action == "cancel":
        from mcp_tasks_server.server.logs import configure_logging

        configure_logging(settings.log_level)  # the cancel's audit events, on stderr
    output = anyio.run(run_tasks_command, settings, args)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

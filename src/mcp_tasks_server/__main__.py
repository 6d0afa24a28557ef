"""``python -m mcp_tasks_server``: the same as the ``mcp-tasks-server`` command."""

import sys

from mcp_tasks_server.server.cli import main

if __name__ == "__main__":
    sys.exit(main())

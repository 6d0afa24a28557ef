"""The reference server as a file, for the MCP SDK's own launchers.

    mcp run examples/server.py                              # stdio
    mcp dev examples/server.py --with-editable .            # MCP Inspector (needs npx and uv)
    mcp install examples/server.py --with mcp-tasks-server  # Claude Desktop

The ``mcp`` CLI (``pip install 'mcp[cli]'``) imports this file and serves the
``MCPServer`` named ``mcp``. Configuration comes from the ``MCP_TASKS_*``
environment variables, as for ``mcp-tasks-server serve``. To serve your own
tools, copy this file and build your server the way the README's library
section shows.
"""

from mcp_tasks_server.server.build import build_server
from mcp_tasks_server.settings import load_settings

mcp = build_server(load_settings())

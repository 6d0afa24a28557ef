"""Tool sets the reference server can serve, kept apart from the library.

Each profile module exposes ``register(tasks, server)``, which adds its tools
to an ``MCPServer`` through a :class:`~mcp_tasks_server.protocol.Tasks`
before ``tasks.install(server)``. ``mcp-tasks-server serve --profile NAME``
picks one; ``--tools module:object`` adds your own.
"""

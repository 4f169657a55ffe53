"""Serving a Memory to other programs: the MCP server (:mod:`.mcp_server`). Needs the ``mcp`` extra."""

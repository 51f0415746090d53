"""A small MCP server on stdio (the real ``mcp`` package) for the McpWorkbench tests: ``add`` and ``explode``."""

from __future__ import annotations

from mcp.server.fastmcp import FastMCP

server = FastMCP("calc")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


@server.tool()
def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"exploded: {reason}")


if __name__ == "__main__":
    server.run()

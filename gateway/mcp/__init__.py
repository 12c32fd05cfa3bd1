"""The Model Context Protocol endpoint at ``/mcp``: agents search and curate a user's memories
through the same service, role checks and audit trail as the memory API."""

from gateway.mcp.endpoint import McpEndpoint
from gateway.mcp.tools import Toolbox

__all__ = ["McpEndpoint", "Toolbox"]

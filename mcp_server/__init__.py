"""The Seedance MCP server: video generation as tools for AI assistants (stdio and streamable HTTP).

Kept empty of imports: ``seedance-mcp`` must answer its client quickly, so modules load only
when they are needed.
"""

"""``seedance-mcp``: the MCP server over stdio (default) or streamable HTTP (``--http``).

A stdio server is started by the client for every session, so start-up is kept short: only the
MCP SDK, the settings and the catalog are imported before the first answer; the service opens in
the background (see `mcp_server.state`). Nothing may be printed to stdout: it is the protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seedance-mcp",
        description="Seedance video generation as MCP tools. Default: stdio (for Claude Desktop, Claude Code, "
        "Cursor...). Configuration comes from SEEDANCE_* variables (see the README).",
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    parser.add_argument("--host", help="HTTP: interface to listen on (default SEEDANCE_MCP_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP: port (default SEEDANCE_MCP_PORT or 8000; 0 picks one)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="seedance-mcp: %(levelname)s %(message)s")
    from core.config import Settings
    from core.errors import SeedanceError

    try:
        settings = Settings.from_env()
        if args.http:
            from mcp_server.serve import serve_http

            serve_http(settings, host=args.host, port=args.port)
        else:
            from mcp_server.server import build_server

            asyncio.run(build_server(settings).run_stdio_async())
    except SeedanceError as exc:
        print(f"seedance-mcp: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seedance-mcp: stopped; running tasks continue with the next start (see seedance history)",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

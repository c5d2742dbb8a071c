"""Measure how long `seedance-mcp` (stdio) takes from launch to answering tools/list.

Raw JSON-RPC over the child's pipes, as a client would do it: initialize, initialized, tools/list.
Run:  python tests/mcp/startup_time.py [runs]   (prints one line per run and the worst).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def server_command() -> list[str]:
    """``seedance-mcp`` as installed next to this Python (a plain ``pytest`` need not have it on the
    PATH), else the same entry point run as a module by this Python."""
    script = shutil.which("seedance-mcp", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "mcp_server"]


def measure(home: str) -> tuple[float, int]:
    """Seconds from launch to the tools/list answer, and how many tools it listed."""
    env = {**os.environ, "SEEDANCE_HOME": home, "SEEDANCE_SANDBOX_SPEED": "20"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        server_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert proc.stdin is not None and proc.stdout is not None

    def send(message: dict[str, object]) -> None:
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(message) + "\n").encode())
        proc.stdin.flush()

    def answer(request_id: int) -> dict[str, object]:
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("the server closed stdout")
            message = json.loads(line)
            if message.get("id") == request_id:
                return message  # type: ignore[no-any-return]

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "startup-timer", "version": "1"}}})
        answer(1)
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = answer(2)["result"]["tools"]  # type: ignore[index]
        elapsed = time.perf_counter() - started
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return elapsed, len(tools)


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    worst = 0.0
    with tempfile.TemporaryDirectory() as home:
        for i in range(runs):
            elapsed, count = measure(home)
            worst = max(worst, elapsed)
            print(f"run {i + 1}: tools/list answered {elapsed:.3f} s after launch ({count} tools)")
    print(f"worst: {worst:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

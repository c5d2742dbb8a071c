#!/usr/bin/env python3
"""Set up and run Seedance Studio with nothing but Python.

    python3 dev.py demo ["a prompt"]   create .venv, install, generate a video on the offline sandbox
    python3 dev.py test                create .venv, install with test tools, run lint, types and the tests

Everything is installed into ./.venv from the package registries; nothing else is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def sh(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def setup(extras: str = "") -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is, and must say why it stops
        sys.exit(f"Seedance Studio needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed{extras}"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    sh(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    sh(PYTHON, "-m", "pip", "install", "--quiet", "-e", f".{extras}")
    stamp.touch()


def demo(prompt: list[str]) -> None:
    setup()
    text = " ".join(prompt) or "a red fox running through snow"
    sh(BIN / "seedance", "generate", text)


def test() -> None:
    setup("[test]")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    sh(BIN / "ruff", "check", ".", env=env)
    sh(BIN / "mypy", "--strict", "core", "cli", "mcp_server", "bot", "serve", env=env)
    # Two workers (the machines have two cores); a module's tests stay on one worker.
    sh(PYTHON, "-m", "pytest", "-q", "-n", "2", "--dist", "loadfile", env=env)
    inspector = ROOT / ".ci" / "inspector.sh"
    if inspector.exists():
        sh("bash", inspector, env=env)


def main() -> None:
    command, *rest = sys.argv[1:] or ["demo"]
    if command == "demo":
        demo(rest)
    elif command == "test":
        test()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

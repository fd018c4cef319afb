"""Real Redis and PostgreSQL servers for the scale tests, and worker processes.

Each server runs from Debian's binaries (``redis-server``; PostgreSQL's
``initdb``/``pg_ctl``) in a temporary directory, listening on a free
loopback port, and is stopped and removed afterwards. When a binary is
missing, :func:`require_redis` / :func:`require_postgres` skip the test and
say which package to install (``.ci/run`` installs both, so CI never skips).

PostgreSQL refuses to run as root; as root the cluster is created and run by
the ``postgres`` system user (which Debian's package creates) through
``runuser``, in a directory handed to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOWMAP = [
    sys.executable,
    "-c",
    "import sys; from flowmap.cli import main; sys.exit(main())",
]
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _which(name: str, extra: list[Path] = []) -> str | None:  # noqa: B006
    for folder in extra:
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


def _missing(reason: str) -> None:
    # CI installs both servers (.ci/run): there a missing one is a failure.
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the scale tests, but {reason}")
    pytest.skip(reason)


def require_redis() -> str:
    found = _which("redis-server")
    if found is None:
        _missing(
            "redis-server is not installed (apt-get install redis-server; "
            ".ci/run installs it)"
        )
    return found


def require_postgres() -> tuple[str, str]:
    initdb = _which("initdb", PG_BIN_DIRS)
    pg_ctl = _which("pg_ctl", PG_BIN_DIRS)
    if initdb is None or pg_ctl is None:
        _missing(
            "PostgreSQL's initdb/pg_ctl are not installed (apt-get install "
            "postgresql; .ci/run installs it)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _missing("running as root and there is no 'postgres' user to run as")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("psycopg is not installed (pip install 'flowmap[postgres]')")
    return initdb, pg_ctl


class RedisServer:
    """``redis-server`` on a free loopback port, persisting to an AOF file.

    ``stop()`` and ``start()`` again keep the data (as a real restart does),
    so a test can take Redis away for a moment.
    """

    def __init__(self) -> None:
        self.binary = require_redis()
        self.dir = Path(tempfile.mkdtemp(prefix="flowmap-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--daemonize", "no",
                "--protected-mode", "yes",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes its AOF and exits
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port (trust auth).

    :meth:`new_database` gives each test its own empty database.
    """

    user = "flowmap"

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = require_postgres()
        self.dir = Path(tempfile.mkdtemp(prefix="flowmap-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str) -> None:
        done = subprocess.run(
            [*self._as, *argv], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} failed ({done.returncode}): {done.stdout}{done.stderr}"
            )

    def start(self) -> None:
        if not self.data.exists():
            self._run(
                self.initdb,
                "-D", str(self.data),
                "-U", self.user,
                "-A", "trust",
                "-E", "UTF8",
                "--no-sync",
                "--no-instructions",
            )  # fmt: skip
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=300"
        )
        self._run(
            self.pg_ctl,
            "-D", str(self.data),
            "-o", options,
            "-l", str(self.dir / "log"),
            "-w",
            "-t", "60",
            "start",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [*self._as, self.pg_ctl, "-D", str(self.data), "-m", "immediate",
                 "-w", "stop"],
                capture_output=True,
                timeout=60,
            )  # fmt: skip

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Process:
    """A subprocess in its own process group, killed with its children."""

    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None):
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def close(self) -> None:
        self.kill()
        self.log.close()


def worker(
    broker: str,
    functions: Path,
    *,
    concurrency: int = 2,
    pool: str = "threads",
    visibility_timeout: float = 3.0,
    extra: list[str] | None = None,
) -> Process:
    """``flowmap worker`` as a subprocess (in its own process group)."""
    argv = [
        *FLOWMAP, "worker",
        "--functions", str(functions),
        "--broker", broker,
        "--concurrency", str(concurrency),
        "--pool", pool,
        "--visibility-timeout", str(visibility_timeout),
        *(extra or []),
    ]  # fmt: skip
    return Process(argv)


def wait_until(check: Any, timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)

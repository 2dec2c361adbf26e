"""A private, throwaway PostgreSQL server from the Debian binaries, for tests and benchmarks.

pytest-postgresql's executor runs ``pg_ctl initdb/start/stop`` on a fresh data directory and its
janitor creates databases. PostgreSQL refuses to run as root, and CI runs as root: then the
server runs as the ``postgres`` system user that the Debian package creates, through a small
``runuser`` wrapper around ``pg_ctl``, on a data directory that user owns. Nothing is shared with
a system cluster: own directory, own port on 127.0.0.1, trust authentication on loopback only.

Needs the ``dev`` extra (pytest-postgresql) and the Debian ``postgresql`` package.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: where the Debian packages put the server binaries (one folder per major version)
DEBIAN_PG_GLOB = "/usr/lib/postgresql/*/bin/pg_ctl"


def find_pg_ctl() -> str:
    """The ``pg_ctl`` of the newest PostgreSQL under ``/usr/lib/postgresql`` (or ``$EXPLOREC_PG_CTL``)."""
    override = os.environ.get("EXPLOREC_PG_CTL")
    if override:
        if not os.access(override, os.X_OK):
            raise FileNotFoundError(f"EXPLOREC_PG_CTL={override!r} is not an executable pg_ctl")
        return override
    found = glob.glob(DEBIAN_PG_GLOB)

    def major(path: str) -> float:
        try:
            return float(Path(path).parts[-3])
        except ValueError:
            return -1.0

    if not found:
        raise FileNotFoundError(
            f"no PostgreSQL server binaries match {DEBIAN_PG_GLOB}; install them with "
            "`apt-get install -y postgresql` (.ci/run does this) or set EXPLOREC_PG_CTL"
        )
    return max(found, key=major)


@dataclass(frozen=True)
class PostgresServer:
    """A running private server; :meth:`url` names a database on it."""

    host: str
    port: int
    user: str
    executor: Any  # pytest_postgresql.executors.PostgreSQLExecutor

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, dbname: str) -> str:
        """Create an empty database (dropping one of that name first); return its URL."""
        from pytest_postgresql.janitor import DatabaseJanitor

        janitor = DatabaseJanitor(user=self.user, host=self.host, port=self.port, dbname=dbname)
        janitor.drop()
        janitor.init()
        return self.url(dbname)

    def drop_database(self, dbname: str) -> None:
        from pytest_postgresql.janitor import DatabaseJanitor

        DatabaseJanitor(user=self.user, host=self.host, port=self.port, dbname=dbname).drop()

    def stop(self) -> None:
        """Stop the server (fast shutdown); :meth:`start` brings it back on the same data and port."""
        self.executor.stop()

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the stopped server and wait until it accepts connections (recovery done)."""
        import psycopg

        self.executor.start()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                psycopg.connect(host=self.host, port=self.port, user=self.user, dbname="postgres").close()
                return
            except psycopg.OperationalError:
                # "the database system is starting up": the port is open before recovery ends
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def restart(self) -> None:
        """Stop (fast shutdown) and start the server again on the same data and port."""
        self.stop()
        self.start()


def _wrapper(folder: Path, pg_ctl: str, os_user: str) -> str:
    """A ``pg_ctl`` that runs the real one as ``os_user`` (PostgreSQL will not run as root)."""
    path = folder / "pg_ctl"
    path.write_text(f'#!/bin/sh\nexec runuser -u {os_user} -- "{pg_ctl}" "$@"\n')
    path.chmod(0o755)
    return str(path)


@contextmanager
def private_postgres(*, fsync: bool = True, postgres_options: str = "") -> Iterator[PostgresServer]:
    """Start a private PostgreSQL on a free port of 127.0.0.1; stop it and delete its data at exit.

    Parameters
    ----------
    fsync : bool
        PostgreSQL's ``fsync``. pytest-postgresql starts servers with ``-F`` (fsync off); this
        turns it back on unless asked not to, so a commit here is as durable as in production.
        Tests of behaviour (not of power loss) may pass False for speed.
    postgres_options : str
        Extra ``postgres`` settings, e.g. ``"-c max_connections=200"``.
    """
    try:
        import port_for
        from pytest_postgresql.executors import PostgreSQLExecutor
    except ImportError as exc:
        raise ImportError(
            f"a private PostgreSQL needs the dev extra (pip install -e '.[dev]'): {exc}"
        ) from exc
    pg_ctl = find_pg_ctl()
    base = Path(tempfile.mkdtemp(prefix="explorec-pg-"))
    executable = pg_ctl
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root, but there is no 'postgres' system user to run the server as; "
                "the Debian postgresql package creates it (apt-get install -y postgresql)"
            ) from None
        os.chown(base, owner.pw_uid, owner.pw_gid)
        executable = _wrapper(base, pg_ctl, "postgres")
    port = int(port_for.select_random())
    # placed after pytest-postgresql's own -F on the command line, so these settings win
    options = f"-c listen_addresses=127.0.0.1 -c fsync={'on' if fsync else 'off'} {postgres_options}".strip()
    executor = PostgreSQLExecutor(
        executable=executable,
        host="127.0.0.1",
        port=port,
        datadir=str(base / "data"),
        unixsocketdir=str(base),
        logfile=str(base / "postgresql.log"),
        startparams="-w",
        dbname="explorec",
        user="postgres",
        postgres_options=options,
    )
    executor.start()
    logger.info("private PostgreSQL %s on 127.0.0.1:%d (data in %s)", executor.version, port, base)
    try:
        yield PostgresServer(host="127.0.0.1", port=port, user="postgres", executor=executor)
    finally:
        try:
            executor.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)

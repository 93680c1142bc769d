"""A real PostgreSQL server for tests and benchmarks: initdb in a temporary directory, 127.0.0.1 on a
free port, started, stopped, restarted and removed by the caller.

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` system user (through
``runuser``) in a directory it owns. The binaries are found through ``pg_config --bindir``, then
``PATH``, then ``/usr/lib/postgresql/*/bin`` (newest first). ``find_bindir`` returns None when there is
none: callers skip (or fail, in CI) with :data:`NO_SERVER`.

Two roles: ``admin`` (superuser, what writers use) and ``reader`` (a plain login with SELECT only);
both authenticate with a password over TCP (scram-sha-256), so tests can exercise libpq's password
sources and a wrong password.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ADMIN, ADMIN_PASSWORD = "admin", "admin-secret-pw"
READER, READER_PASSWORD = "reader", "s3cret-Reader-pw"
NO_SERVER = "no PostgreSQL server binaries (initdb/pg_ctl) found via pg_config, PATH or /usr/lib/postgresql"


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
            candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found:
            candidates.append(Path(os.path.realpath(found)).parent)
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)]
    for directory in candidates:
        if all((directory / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


PREFIX, OWNER = "tokentop-pg-", "owner.pid"


def sweep_orphans(bindir: Path) -> None:
    """Stop and remove the servers of test runs that ended without removing them (a killed pytest):
    each server's directory names the process that made it; a server whose maker is gone is an orphan."""
    for root in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((root / OWNER).read_text())
            os.kill(owner, 0)
            continue  # its maker still runs
        except ProcessLookupError:
            pass
        except (OSError, ValueError):  # no owner file yet (being made) or not ours to judge
            continue
        if (root / "data" / "postmaster.pid").exists():
            command = [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-w", "-t", "30", "-m", "immediate", "stop"]
            if os.geteuid() == 0:
                command = ["runuser", "-u", "postgres", "--", *command]
            subprocess.run(command, capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One server in its own temporary directory (``start`` creates it, ``remove`` deletes it)."""

    def __init__(self, bindir: Path, settings: dict[str, str] | None = None) -> None:
        self.bindir = bindir
        self.settings = settings or {}
        sweep_orphans(bindir)
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.root / OWNER).write_text(str(os.getpid()))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._initdb()

    def _run(self, *args: str, timeout: float = 60) -> str:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def _initdb(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(ADMIN_PASSWORD + "\n")
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        self._run(self.bindir / "initdb", "-D", self.data, "-U", ADMIN, "--pwfile", pwfile, "-E", "UTF8",
                  "--locale=C", "--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync")
        pwfile.unlink()
        conf = {"listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{self.root}'",
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "max_connections": "50", "shared_buffers": "'64MB'", **self.settings}
        with open(self.data / "postgresql.conf", "a") as f:
            f.writelines(f"{k} = {v}\n" for k, v in conf.items())

    def start(self) -> None:
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.root / "log", "-w", "-t", "60",
                  "-o", f"-p {self.port}", "start")
        if not getattr(self, "_roles_made", False):
            self.sql(f"CREATE ROLE {READER} LOGIN PASSWORD '{READER_PASSWORD}'")
            self._roles_made = True

    def stop(self, mode: str = "fast") -> None:
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-w", "-t", "60", "-m", mode, "stop")

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.SubprocessError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, db: str = "postgres", user: str = ADMIN, password: str | None = None) -> str:
        """A libpq URL (with the password only when given: tests pass it through other means)."""
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def admin_conninfo(self, db: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={db} user={ADMIN} password={ADMIN_PASSWORD}"

    def sql(self, statement: str, db: str = "postgres") -> None:
        """Run a statement as admin (autocommit: CREATE DATABASE works)."""
        import psycopg

        with psycopg.connect(self.admin_conninfo(db), autocommit=True) as con:
            con.execute(statement)  # type: ignore[arg-type]

    def database(self, name: str) -> Database:
        return Database(self, name)

    def create_database(self, name: str) -> None:
        self.sql(f'CREATE DATABASE "{name}"')
        self.sql(f'GRANT CONNECT ON DATABASE "{name}" TO {READER}')
        self.sql(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {READER}", db=name)


class Database:
    """One database on a server: its DSNs and statements run as admin."""

    def __init__(self, server: PgServer, name: str) -> None:
        self.server, self.name = server, name

    def dsn(self, user: str = READER, password: str | None = None, table: str | None = None) -> str:
        url = self.server.dsn(self.name, user, password)
        return url + (f"?table={table}" if table else "")

    def sql(self, statement: str) -> None:
        self.server.sql(statement, db=self.name)

    def query(self, statement: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.server.admin_conninfo(self.name)) as con:
            return con.execute(statement).fetchall()  # type: ignore[arg-type]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        import psycopg

        cols = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join(["%s"] * len(columns))
        with psycopg.connect(self.server.admin_conninfo(self.name)) as con:
            with con.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)  # type: ignore[arg-type]

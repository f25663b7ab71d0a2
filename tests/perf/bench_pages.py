"""The portals' pages at scale: how long the server takes to answer each page, and how
many requests and bytes a browser fetches to show it.

    .venv/bin/python -m tests.perf.bench_pages                  # 10 million events
    .venv/bin/python -m tests.perf.bench_pages --events 200000 --rounds 10

The data is the analytics benchmark's (tests/perf/analytics_scale.py: an embedded
PostgreSQL with `--events` request events over 90 days for 2,000 developers in 200
teams, and a full dbt build of the marts). The real app then runs in a process of its own
(`uvicorn --factory api.app:from_environment`, the way a process manager serves it), on
the Redis at REDIS_URL, else redis://127.0.0.1:6379/0 if one answers there, else an
embedded one. Three people sign in through the sign-in form: a platform admin, the admin
of one team and a developer of that team.

The pages are found at run time, so a page added later is measured without editing this
file: every admin page in portals.web.ADMIN_NAV (as the platform admin and as the team
admin) and every page the developer portal's side navigation links to (as the developer).
Each is fetched once to warm up, then `--rounds` times in a row on one keep-alive
connection: p50 and p95 of the full response time over loopback (the server's own figure
from Server-Timing, when a page sends one). Beside it, what the page costs a browser on a
first visit: the page and every same-origin script, stylesheet and image it names, each
fetched once (requests and bytes as sent), and the fragments it polls with htmx. Target:
every page's p95 < 300 ms. A missed target is printed, not an error (exit code 0).
"""

import argparse
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import psycopg
import redis
from rich.console import Console
from rich.table import Table

from api.embedded import EmbeddedRedis, free_port
from api.passwords import hash_password
from portals.web import ADMIN_NAV
from tests.perf.analytics_scale import (
    PERSONA_EMAILS,
    full_build,
    personas,
    scale_arguments,
    scale_database,
)
from tests.perf.harness import collector_paused, process

console = Console(width=170)  # the widest row (the Dashboard's) unwrapped
TARGET_MS = 300.0
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PASSWORD = "Velvet-Harbor-Quartz-81"  # passes the password policy; a throwaway database
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
PORTAL_NAV_LABEL = "Developer portal"  # the side navigation of portals/templates/portal/


class PageParts(HTMLParser):
    """What a page makes a browser fetch: its scripts, stylesheets and images; the
    fragments htmx polls (hx-trigger "every …"); the links of one <nav> by its label."""

    def __init__(self, nav_label: str | None = None):
        super().__init__()
        self.assets: list[str] = []
        self.polls: list[tuple[str, str]] = []  # (url, trigger)
        self.nav_links: list[str] = []
        self._nav_label = nav_label
        self._in_nav = 0  # depth of <nav> elements since the wanted one opened

    def handle_starttag(self, tag, attrs):
        values = {name: value or "" for name, value in attrs}
        if tag == "script" and values.get("src"):
            self.assets.append(values["src"])
        elif tag == "link" and "stylesheet" in values.get("rel", "").split() and values.get("href"):
            self.assets.append(values["href"])
        elif tag == "img" and values.get("src") and not values["src"].startswith("data:"):
            self.assets.append(values["src"])
        trigger = values.get("hx-trigger", "")
        if re.search(r"\bevery\b", trigger):
            self.polls.append((values.get("hx-get", ""), trigger))
        if tag == "nav":
            if self._in_nav or values.get("aria-label") == self._nav_label:
                self._in_nav += 1
        elif tag == "a" and self._in_nav and values.get("href"):
            self.nav_links.append(values["href"])

    def handle_endtag(self, tag):
        if tag == "nav" and self._in_nav:
            self._in_nav -= 1


def parts_of(html: str, nav_label: str | None = None) -> PageParts:
    parser = PageParts(nav_label)
    parser.feed(html)
    return parser


@dataclass
class PageResult:
    path: str
    persona: str
    status: int
    samples_ms: list[float]
    server_ms: list[float]
    html_bytes: int
    assets: dict[str, int] = field(default_factory=dict)  # url -> bytes as sent
    polls: list[tuple[str, str, float]] = field(default_factory=list)  # url, trigger, p95

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 0.95)

    @property
    def met(self) -> bool:
        return self.p95 < TARGET_MS

    @property
    def requests(self) -> int:
        return 1 + len(self.assets)

    @property
    def total_bytes(self) -> int:
        return self.html_bytes + sum(self.assets.values())


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def server_timing_ms(response: httpx.Response) -> float | None:
    """The sum of the durations in a Server-Timing header (`name;dur=12.3, …`), if any."""
    header = response.headers.get("server-timing")
    if not header:
        return None
    durations = [float(d) for d in re.findall(r"dur=([0-9.]+)", header)]
    return sum(durations) if durations else None


def sign_in(base_url: str, email: str) -> httpx.Client:
    """A browser-like client signed in through the sign-in form (its CSRF token included)."""
    client = httpx.Client(base_url=base_url, headers=HTML, follow_redirects=False, timeout=60)
    page = client.get("/login")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    if page.status_code != 200 or not match:
        raise SystemExit(f"/login answered {page.status_code} without a sign-in form")
    form = {"csrf": match.group(1), "email": email, "password": PASSWORD}
    answer = client.post("/login", data=form)
    if answer.status_code != 303:
        raise SystemExit(f"signing in as {email} answered {answer.status_code}: {answer.text}")
    return client


def timed_get(client: httpx.Client, path: str, headers: dict | None = None):
    started = time.perf_counter()
    response = client.get(path, headers=headers)
    return response, (time.perf_counter() - started) * 1000


def measure(client: httpx.Client, path: str, persona: str, rounds: int) -> PageResult:
    timed_get(client, path)  # warm-up: the first call fills the app's caches and plans
    samples, server, response = [], [], None
    with collector_paused():
        for _ in range(rounds):
            response, elapsed = timed_get(client, path)
            samples.append(elapsed)
            if (reported := server_timing_ms(response)) is not None:
                server.append(reported)
    result = PageResult(
        path, persona, response.status_code, samples, server, response.num_bytes_downloaded
    )
    parts = parts_of(response.text)
    origin = urlsplit(str(client.base_url))
    for src in dict.fromkeys(parts.assets):  # each once, as a browser's cache would
        url = urlsplit(urljoin(str(response.url), src))
        if (url.scheme, url.netloc) != (origin.scheme, origin.netloc):
            continue  # another origin's (none today: the CSP allows only 'self')
        asset = client.get(
            url.path + (f"?{url.query}" if url.query else ""), headers={"Accept": "*/*"}
        )
        result.assets[url.path] = asset.num_bytes_downloaded
    for url, trigger in parts.polls:
        # what htmx asks for on its own, again and again, while the page stays open
        fragment = {"HX-Request": "true"}
        timed_get(client, url, fragment)
        with collector_paused():
            polled = [timed_get(client, url, fragment)[1] for _ in range(rounds)]
        result.polls.append((url, trigger, percentile(polled, 0.95)))
    return result


def pick_redis(tmp: Path, stack: contextlib.ExitStack) -> tuple[str, str]:
    """REDIS_URL; else the usual local Redis if one answers; else an embedded one."""
    if url := os.environ.get("REDIS_URL"):
        return url, "REDIS_URL"
    try:
        with contextlib.closing(redis.Redis.from_url(DEFAULT_REDIS, socket_timeout=1)) as probe:
            probe.ping()
        return DEFAULT_REDIS, DEFAULT_REDIS
    except redis.RedisError:
        embedded = EmbeddedRedis(tmp / "redis")
        url = embedded.start()
        stack.callback(embedded.stop)
        return url, "embedded"


def ready_to_sign_in(admin_url: str) -> None:
    """The three personas get a password (the generated people have none), and the
    developer the developer role a developer signing in to the portal holds (it shows
    them the form that creates a key)."""
    digest = hash_password(PASSWORD)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        ids = {}
        for persona, email in PERSONA_EMAILS.items():
            (ids[persona],) = conn.execute(
                "select id from iam.users where email = %s", (email,)
            ).fetchone()
            conn.execute("select api.set_user_password(%s, %s, false)", (ids[persona], digest))
        conn.execute("select api.grant_role(%s, 'developer', null)", (ids["developer"],))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    scale_arguments(parser)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="aigw-bench-pages-") as tmp_name,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmp_name)
        scale = stack.enter_context(scale_database(tmp, args, console))
        personas(scale.urls.admin)
        ready_to_sign_in(scale.urls.admin)
        build = full_build(scale.urls.admin, tmp / "dbt", console)
        redis_url, redis_where = pick_redis(tmp, stack)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": scale.urls.admin,
            "REDIS_URL": redis_url,
            "AIGW_SPOOL_DIR": str(tmp / "spool"),
            # models without a provider key are pointed at a mock provider, as `aigw up`
            # points them; none need run here, since no page calls a model
            "AIGW_MOCK_PROVIDER_URL": "http://127.0.0.1:9",
        }
        command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:from_environment",
                   "--http", "api.server:GuardedHttpProtocol", "--ws", "none",
                   "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
        with console.status("Starting the app…"):
            stack.enter_context(process(command, env, f"{base}/healthz", "aigw"))
            # the app imports litellm in the background as it starts: let it finish
            # before anything is timed, or its first pages pay for the import
            time.sleep(10)
        clients = {persona: sign_in(base, email) for persona, email in PERSONA_EMAILS.items()}
        for client in clients.values():
            stack.callback(client.close)
        pages = [(path, persona) for persona in ("admin", "team_admin") for _, path in ADMIN_NAV]
        home = clients["developer"].get("/portal")
        portal_nav = dict.fromkeys(parts_of(home.text, PORTAL_NAV_LABEL).nav_links)
        if not portal_nav:
            raise SystemExit(f"no links in the {PORTAL_NAV_LABEL!r} navigation of /portal")
        pages += [(path, "developer") for path in portal_nav]
        results = []
        for path, persona in pages:
            with console.status(f"{path} as {persona}…"):
                results.append(measure(clients[persona], path, persona, args.rounds))
        with psycopg.connect(scale.urls.admin) as conn:
            (events,) = conn.execute("select count(*) from events.requests").fetchone()
    report(args, events, scale.generate_s, build.elapsed_s, redis_where, results)


def report(args, events, generate_s, build_s, redis_where, results) -> None:
    console.print(
        f"{events:,} request events for {args.users:,} developers in {args.teams} teams over "
        f"{args.days} days (generated in {generate_s:.0f} s, full dbt build {build_s:.0f} s); "
        f"the app in its own process, Redis {redis_where}; {args.rounds} rounds per page "
        "after one warm-up, sequential, one keep-alive connection."
    )
    with_server_timing = any(r.server_ms for r in results)
    table = Table(
        title="Portal pages: response time over loopback (ms), and what a first visit loads",
        title_justify="left",
    )
    columns = ["page", "as", "status", "p50", "p95"]
    if with_server_timing:
        columns += ["server p95"]
    columns += ["< 300 ms", "requests", "bytes", "html bytes", "htmx polling"]
    for column in columns:
        numeric = column not in ("page", "as", "< 300 ms", "htmx polling")
        table.add_column(column, justify="right" if numeric else "left")
    for r in results:
        row = [r.path, r.persona, str(r.status), f"{r.p50:.1f}", f"{r.p95:.1f}"]
        if with_server_timing:
            row.append(f"{percentile(r.server_ms, 0.95):.1f}" if r.server_ms else "—")
        polls = "; ".join(f"{trigger} {url}, p95 {p95:.0f} ms" for url, trigger, p95 in r.polls)
        row += [
            "[green]yes[/]" if r.met else "[bold red]MISSED[/]",
            str(r.requests),
            f"{r.total_bytes:,}",
            f"{r.html_bytes:,}",
            polls or "—",
        ]
        table.add_row(*row)
    console.print(table)
    missed = [r for r in results if not r.met]
    slowest = max(results, key=lambda r: r.p95)
    refused = [r for r in results if r.status != 200]
    summary = (
        f"{len(results)} pages: {len(results) - len(missed)} within p95 < {TARGET_MS:.0f} ms; "
        f"slowest {slowest.path} as {slowest.persona}, p95 {slowest.p95:.0f} ms"
    )
    if refused:
        summary += "; not 200: " + ", ".join(
            f"{r.path} as {r.persona} ({r.status})" for r in refused
        )
    console.print(summary + ".")
    for r in missed:
        console.print(
            f"[bold red]MISSED[/] {r.path} as {r.persona}: p95 {r.p95:.0f} ms ≥ {TARGET_MS:.0f} ms"
        )


if __name__ == "__main__":
    main()

"""What a budget costs at wire speed, beside nginx (the floor), in one run.

    .venv/bin/python -m tests.perf.bench_budgets          # needs wrk and nginx (apt-get)

Layout (as bench_gateway.py): the targets on CPU 0; the mock provider, the load
generators, PostgreSQL, Redis and the event consumer on CPU 1; loopback throughout.
nginx, the pass-through and aigw run at once, idle but for the one measured, and each is
measured once per round for ROUNDS rounds, one target after another: a slow spell of the
machine falls on every target alike. The medians are reported, beside each round's
figure.

Targets, each measured for (a) requests/s at saturation (wrk, 32 connections, 10 s,
every request a different prompt, so a cache never answers) and (b) the added latency
of sequential calls (median over rounds of through-target minus direct-to-mock):
- nginx: a reverse proxy to the mock (one worker, upstream keep-alive), the physical
  floor of a proxy on one core;
- a bare Python pass-through (an ASGI app on uvicorn forwarding bytes with aiohttp,
  nothing else: the server and client aigw runs on), the floor of a Python proxy on this
  stack;
- aigw, a team without a budget (key authentication, a team RPM limit, events, metrics);
- aigw, a team with a monthly budget: what budget leases (api/gateway/budgets.py) cost;
- aigw, a team with that budget and the exact cache on (every request a miss): what the
  cache's lookup and store cost on top;
- aigw with that budget on 1, 2 and 4 worker processes (all on CPU 0): the budget's
  coordination across processes, the leases held at once, and that the ledger and the
  event log agree on what was spent.

Targets: a budget costs at most 15 % of the no-budget throughput; the no-budget path
reaches at least 15 % of nginx's requests/s.
"""

import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from api import migrations
from api.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from tests.perf.bench_gateway import BIN, BODY, Caller, recorded_events, sequential
from tests.perf.harness import collector_paused, pin, process

console = Console(width=150)
BUDGET_USD = 1_000_000  # a month's budget no benchmark exhausts
ROUNDS = 3


NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    upstream mock {{ server 127.0.0.1:{mock_port}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""

# Each request a new prompt (a counter in it): the exact cache is asked, and misses.
WRK_SCRIPT = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{headers}
request = function()
    counter = counter + 1
    local body = string.format({body}, counter)
    return wrk.format(nil, nil, nil, body)
end
"""


def saturation(url: str, headers: dict[str, str], seconds: int = 10) -> float:
    # A new prompt per request, in this run only: an earlier run's answers are not hits.
    run = secrets.token_hex(4)
    prompt = f"Question {run}-%d?"
    body = json.dumps({**BODY, "messages": [{"role": "user", "content": prompt}]})
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(headers=header_lines, body=json.dumps(body)))
    try:
        out = subprocess.run(
            [*pin(1), "wrk", "-t1", "-c32", f"-d{seconds}s", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    non_2xx = [line for line in out.splitlines() if "Non-2xx" in line]
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx[0]}")
    return float(next(line for line in out.splitlines() if "Requests/sec" in line).split()[-1])


def measure(name: str, base: str, headers: dict, mock: str, results: dict) -> None:
    """One round of a target: its added latency (sequential) and its requests/s (wrk)."""
    direct, target = Caller(mock, {}), Caller(base, headers)
    with console.status(f"{name}: sequential…"), collector_paused():
        added = sequential(direct, target, "/v1/chat/completions", BODY, "/v1/chat/completions")
    with console.status(f"{name}: saturation…"):
        saturation(f"{base}/v1/chat/completions", headers, seconds=2)  # warm-up, not counted
        rps = saturation(f"{base}/v1/chat/completions", headers)
    result = results.setdefault(name, {"rounds": []})
    result["rounds"].append((rps, added))
    result["rps"] = statistics.median(r for r, _ in result["rounds"])
    result["added"] = statistics.median(a for _, a in result["rounds"])


@contextlib.contextmanager
def nginx(mock_port: int, tmp: Path):
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, mock_port=mock_port, port=port))
    cmd = [*pin(0), shutil.which("nginx"), "-c", str(conf), "-g", "daemon off;"]
    with process(cmd, dict(os.environ), f"http://127.0.0.1:{port}/health", "nginx"):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def passthrough(mock: str):
    port = free_port()
    cmd = [*pin(0), sys.executable, "-m", "tests.perf.bench_gateway", "passthrough"]
    cmd += ["--port", str(port), "--upstream", mock, "--client", "bare"]
    with process(cmd, dict(os.environ), f"http://127.0.0.1:{port}/health", "pass-through"):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def aigw(env: dict, key: str, workers: int = 1):
    port = free_port()
    cmd = [*pin(0), str(BIN / "uvicorn"), "--factory", "api.app:from_environment"]
    cmd += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    cmd += ["--http", "api.server:GuardedHttpProtocol", "--ws", "none"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    base = f"http://127.0.0.1:{port}"
    with process(cmd, env, f"{base}/healthz", "aigw"):
        with console.status("aigw: waiting for litellm's import to finish…"):
            warm_up(base, key, workers)
        yield base


def warm_up(base: str, key: str, workers: int) -> None:
    """Wait out litellm's import, which each process runs in the background at start
    (seconds of CPU on the measured core, then a full garbage collection): a translated
    call (Anthropic format to an OpenAI model) needs litellm, so it returns once the
    import is done. Several per worker, since the kernel picks the worker."""
    body = {"model": "gpt-4o", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    for _ in range(4 * workers):
        response = httpx.post(f"{base}/anthropic/v1/messages", json=body, headers=headers,
                              timeout=120)  # fmt: skip
        response.raise_for_status()
    time.sleep(2)  # the collection that follows the import


def ledger(admin_url: str) -> tuple[Decimal, Decimal, int]:
    """(spent, reserved, open leases) of the bench budget."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        spent, reserved = conn.execute(
            "select spent_usd, reserved_usd from api.list_budgets('budgeted')"
        ).fetchone()
        leases = conn.execute(
            "select count(*) from policy.budget_reservations "
            "where kind = 'lease' and settled_at is null"
        ).fetchone()[0]
    return spent, reserved, leases


def settled_ledger(admin_url: str, timeout_s: float = 30) -> tuple[Decimal, Decimal, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        spent, reserved, leases = ledger(admin_url)
        if reserved == 0 or time.monotonic() > deadline:
            return spent, reserved, leases
        time.sleep(0.5)


def main() -> None:
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed: apt-get install {tool}")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIGW_ENV", None)
    results: dict[str, dict] = {}
    scaling: dict[int, dict] = {}
    if pin(1):
        os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="aigw-bench-") as tmp_name:
        tmp = Path(tmp_name)
        postgres, redis_server = EmbeddedPostgres(tmp / "pg"), EmbeddedRedis(tmp / "redis")
        with console.status("Starting embedded PostgreSQL and Redis…"):
            urls = postgres.start()
            redis_url = redis_server.start()
            migrations.upgrade(urls.admin)
        with psycopg.connect(urls.admin, autocommit=True) as conn:
            keys = {}
            for team in ("free", "budgeted", "cached"):
                conn.execute("select api.create_team(%s)", (team,))
                conn.execute("select api.set_team_policy(%s, null, 10000000, null)", (team,))
                keys[team] = conn.execute(
                    "select key from api.issue_key(%s, 'bench')", (team,)
                ).fetchone()[0]
            for team in ("budgeted", "cached"):
                conn.execute("select api.set_budget(%s, 'month', %s)", (team, BUDGET_USD))
            conn.execute("select api.set_cache_policy('cached', 'exact')")
        mock_port = free_port()
        mock = f"http://127.0.0.1:{mock_port}"
        mock_cmd = [*pin(1), sys.executable, "-m", "tests.perf.bench_gateway", "mock"]
        mock_cmd += ["--port", str(mock_port)]
        aigw_env = {
            **env,
            "DATABASE_URL": urls.admin,
            "REDIS_URL": redis_url,
            "AIGW_MOCK_PROVIDER_URL": mock,
            "AIGW_SPOOL_DIR": str(tmp / "spool"),
            "AIGW_EVENTS_CONSUMER": "external",
        }
        consumer = subprocess.Popen(
            [*pin(1), str(BIN / "aigw"), "events", "consume"],
            env=aigw_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with (
                process(mock_cmd, env, f"{mock}/health", "mock provider"),
                nginx(mock_port, tmp) as nginx_base,
                passthrough(mock) as bare_base,
                aigw(aigw_env, keys["free"]) as aigw_base,
            ):
                # Every target is up (idle but for the one measured), and each is
                # measured once per round, the rounds one after another: a slow spell of
                # the machine lands on every target alike, and the median of the rounds
                # is reported.
                targets = [
                    ("nginx", nginx_base, {}),
                    ("bare pass-through (uvicorn + aiohttp)", bare_base, {}),
                    *((name, aigw_base, {"authorization": f"Bearer {keys[team]}"})
                      for name, team in (("aigw, no budget", "free"),
                                         ("aigw, budget", "budgeted"),
                                         ("aigw, budget + exact cache", "cached"))),
                ]  # fmt: skip
                for round_number in range(1, ROUNDS + 1):
                    console.log(f"round {round_number} of {ROUNDS}")
                    for name, base, headers in targets:
                        measure(name, base, headers, mock, results)
                        if base == aigw_base:
                            recorded_events(urls.admin)  # the consumer catches up
                results["aigw, budget"]["leases"] = ledger(urls.admin)[2]
                for workers in (1, 2, 4):
                    with aigw(aigw_env, keys["free"], workers) as base:
                        headers = {"authorization": f"Bearer {keys['budgeted']}"}
                        before, _, _ = ledger(urls.admin)
                        with console.status(f"{workers} workers: saturation…"):
                            rps = saturation(f"{base}/v1/chat/completions", headers)
                        leases = ledger(urls.admin)[2]
                    spent, reserved, _ = settled_ledger(urls.admin)  # released at stop
                    scaling[workers] = {"rps": rps, "leases": leases, "reserved": reserved,
                                        "spent": spent - before}  # fmt: skip
                recorded, queued = recorded_events(urls.admin)
                with psycopg.connect(urls.admin, autocommit=True) as conn:
                    logged = conn.execute(
                        "select coalesce(sum(cost_usd), 0) from events.requests r "
                        "join iam.teams t on t.id = r.team_id where t.name = 'budgeted'"
                    ).fetchone()[0]
        finally:
            consumer.terminate()
            consumer.wait(10)
            spent_total, reserved_total, _ = ledger(urls.admin)
            redis_server.stop()
            postgres.stop()
    report(results, scaling)
    console.print(
        f"Events recorded: {recorded} ({queued} still queued). The budgeted team's ledger "
        f"says {spent_total:.6f} USD spent ({reserved_total} still held); its events, "
        f"{logged:.6f} USD."
    )


def report(results: dict, scaling: dict) -> None:
    table = Table(
        title=f"One core each (CPU 0); mock, load, PostgreSQL, Redis on CPU 1; median of "
        f"{ROUNDS} interleaved rounds"
    )
    table.add_column("target")
    table.add_column("requests/s (wrk -c32)", justify="right")
    table.add_column("added, sequential", justify="right")
    table.add_column("rounds (requests/s)", justify="right")
    for name, r in results.items():
        rounds = " / ".join(f"{rps:.0f}" for rps, _ in r["rounds"])
        table.add_row(name, f"{r['rps']:.0f}", f"{r['added']:.2f} ms", rounds)
    console.print(table)
    floor = results["nginx"]["rps"]
    free = results["aigw, no budget"]["rps"]
    python_floor = results["bare pass-through (uvicorn + aiohttp)"]["rps"]
    budgeted = results["aigw, budget"]["rps"]
    cached = results["aigw, budget + exact cache"]["rps"]
    console.print(
        f"The budget costs {1 - budgeted / free:.1%} of the no-budget throughput (target "
        f"≤ 15 %); the exact cache's lookup and store (every request a miss) a further "
        f"{1 - cached / budgeted:.1%}; the no-budget path serves {free / floor:.1%} of "
        f"nginx's requests/s (target ≥ 15 %), and {free / python_floor:.1%} of the bare "
        f"pass-through's, which itself serves {python_floor / floor:.1%} of nginx's. Leases "
        f"open at the end of the budgeted run: {results['aigw, budget']['leases']}."
    )
    workers = Table(title="The budgeted team on 1, 2 and 4 worker processes (all on CPU 0)")
    for column in ("workers", "requests/s", "leases held at once", "held after stop",
                   "spent in the run"):  # fmt: skip
        workers.add_column(column, justify="right")
    for n, r in scaling.items():
        workers.add_row(str(n), f"{r['rps']:.0f}", str(r["leases"]), str(r["reserved"]),
                        f"{r['spent']:.6f} USD")  # fmt: skip
    console.print(workers)


if __name__ == "__main__":
    main()

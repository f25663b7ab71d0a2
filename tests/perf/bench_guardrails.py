"""What guardrails add to a request, measured against the same gateway without them, in
one run.

    .venv/bin/python -m tests.perf.bench_guardrails

One aigw process (pinned to CPU 0) serves four teams that differ only in their rules;
the mock provider (bench_gateway's minimal one), the load generator, PostgreSQL and Redis
share CPU 1. Requests of the four teams are interleaved, one at a time, so that each
team's figures come from the same minutes of the same machine:

  none         no rules
  regex        10 regex rules on the input (block, redact and flag)
  regex + PII  those, a PII rule (all seven recognisers) and a secrets rule (all kinds)
  both stages  those on the input, and a PII and a secrets redact rule on the output

The prompt (a system message and six turns, about 2 KB of text) matches no rule, the
common case: what is measured is the scan itself. A last row sends a prompt in which the
PII rule redacts an e-mail address and a card number. Also printed: the scan alone
(StageRules.judge in this process), without HTTP around it.
"""

import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from api import migrations
from api.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from api.guardrails.rules import RuleSet, compile_rule
from tests.perf.bench_gateway import Caller
from tests.perf.harness import collector_paused, pct, pin, process

console = Console(width=150)
BIN = Path(sys.executable).parent
ROUNDS, PER_ROUND = 20, 50

REGEX_RULES = [
    ("codename-falcon", r"\bproject\s+falcon\b", "block"),
    ("codename-osprey", r"\bosprey\s+(initiative|programme)\b", "block"),
    ("internal-host", r"\b[a-z0-9-]+\.corp\.internal\b", "redact"),
    ("ticket-ids", r"\bSEC-[0-9]{4,6}\b", "flag"),
    ("password-assign", r"password\s*[:=]\s*\S+", "redact"),
    ("db-url", r"postgres(ql)?://[^\s:]+:[^\s@]+@", "block"),
    ("salary", r"\bsalar(y|ies)\s+of\b", "flag"),
    ("merger", r"\b(merger|acquisition)\s+with\s+[A-Z][a-z]+", "flag"),
    ("employee-id", r"\bEMP-[0-9]{6}\b", "redact"),
    ("customer-list", r"\bcustomer\s+list\s+export\b", "block"),
]
PII = {"entities": ["email", "credit_card", "iban", "us_ssn", "uk_nino", "phone", "ip_address"]}

SYSTEM = (
    "You are a careful assistant for the finance team. Answer briefly, cite the "
    "document you rely on, and say so when you do not know."
)
TURNS = [
    "Summarise the attached quarterly report in three bullet points for the board.",
    "Revenue grew 4 % on the quarter, mostly from the enterprise tier; churn fell to "
    "2.1 %; operating costs rose with the new data centre. Cash is steady.",
    "Which of those should worry us most, and what would you ask the CFO about it?",
    "The rise in operating costs: it outpaced revenue. Ask whether it is one-off "
    "(the migration) or a new run rate, and when it is expected to level off.",
    "Draft two sentences for the investor letter about the data centre, upbeat but "
    "accurate, and avoid any forward-looking figures we have not published yet.",
    "Our new data centre came online this quarter, on schedule; it gives the platform "
    "room to grow and lowers latency for customers across the region. " * 3,
]
MESSAGES = [{"role": "system", "content": SYSTEM}] + [
    {"role": "user" if i % 2 == 0 else "assistant", "content": text} for i, text in enumerate(TURNS)
]
BODY = {"model": "gpt-4o", "messages": MESSAGES, "max_tokens": 64}
MATCHING = {
    **BODY,
    "messages": [
        *MESSAGES[:-1],
        {"role": "user", "content": "Send it to jane.doe@example.com, card 4111 1111 1111 1111."},
    ],
}


def rules_of(team: str) -> list[tuple]:
    regex = [
        (name, "input", "regex", {"pattern": pattern}, action)
        for name, pattern, action in REGEX_RULES
    ]
    pii = [
        ("pii", "input", "pii_redact", PII, "redact"),
        ("secrets", "input", "secrets", {}, "block"),
    ]
    output = [
        ("pii-out", "output", "pii_redact", PII, "redact"),
        ("secrets-out", "output", "secrets", {}, "redact"),
    ]
    return {"none": [], "regex": regex, "regex + PII": regex + pii, "both stages": regex + pii + output}[team]  # fmt: skip


TEAMS = ["none", "regex", "regex + PII", "both stages"]


def slug(team: str) -> str:
    return "bench-" + "-".join("".join(c for c in team if c.isalnum() or c == " ").split()).lower()


def scan_alone() -> dict[str, tuple[float, float]]:
    """The judge's own time for the prompt's texts, in this process (µs p50, p95)."""
    texts = [m["content"] for m in MESSAGES]
    out = {}
    for team in TEAMS[1:3]:
        rows = [
            {
                "id": uuid.uuid4(),
                "name": n,
                "team_id": None,
                "stage": s,
                "kind": k,
                "config": c,
                "action": a,
            }  # fmt: skip
            for n, s, k, c, a in rules_of(team)
        ]
        stage = RuleSet.of(compile_rule(r) for r in rows).input
        timings = []
        with collector_paused():
            for _ in range(3000):
                started = time.perf_counter()
                stage.judge(texts, 500)
                timings.append((time.perf_counter() - started) * 1e6)
        out[team] = (pct(timings, 0.5), pct(timings, 0.95))
    return out


def main() -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIGW_ENV", None)
    if pin(1):
        os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="aigw-bench-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        redis_server = EmbeddedRedis(Path(tmp) / "redis")
        with console.status("Starting embedded PostgreSQL and Redis…"):
            urls = postgres.start()
            redis_url = redis_server.start()
            migrations.upgrade(urls.admin)
        keys = {}
        with psycopg.connect(urls.admin, autocommit=True) as conn:
            for team in TEAMS:
                conn.execute("select api.create_team(%s)", (slug(team),))
                keys[team] = conn.execute(
                    "select key from api.issue_key(%s, 'bench')", (slug(team),)
                ).fetchone()[0]
                for name, stage, kind, config, action in rules_of(team):
                    conn.execute(
                        "select api.set_guardrail(%s, %s, %s, %s, %s, %s)",
                        (slug(team), name, stage, kind, json.dumps(config), action),
                    )
        mock_port = free_port()
        mock = f"http://127.0.0.1:{mock_port}"
        mock_cmd = [*pin(1), sys.executable, "-m", "tests.perf.bench_gateway", "mock"]
        mock_cmd += ["--port", str(mock_port)]
        port = free_port()
        aigw_env = {
            **env,
            "DATABASE_URL": urls.admin,
            "REDIS_URL": redis_url,
            "AIGW_MOCK_PROVIDER_URL": mock,
            "AIGW_SPOOL_DIR": str(Path(tmp) / "spool"),
        }
        cmd = [*pin(0), str(BIN / "uvicorn"), "--factory", "api.app:from_environment"]
        cmd += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
        try:
            with (
                process(mock_cmd, env, f"{mock}/health", "mock provider"),
                process(cmd, aigw_env, f"http://127.0.0.1:{port}/healthz", "aigw"),
            ):
                time.sleep(10)  # litellm is imported in the background at start
                base = f"http://127.0.0.1:{port}"
                callers = {t: Caller(base, {"authorization": f"Bearer {keys[t]}"}) for t in TEAMS}
                latencies = measure(callers)
                matching = measure_matching(callers["none"], callers["regex + PII"])
        finally:
            redis_server.stop()
            postgres.stop()
    report(latencies, matching, scan_alone())


def measure(callers: dict[str, Caller]) -> dict[str, list[float]]:
    path = "/v1/chat/completions"
    for _ in range(100):  # warm-up: connections, caches, the rules' first searches
        for caller in callers.values():
            caller.post(path, BODY)
    latencies: dict[str, list[float]] = {t: [] for t in callers}
    with console.status("interleaved requests…"), collector_paused():
        for _ in range(ROUNDS):
            for _ in range(PER_ROUND):
                for team, caller in callers.items():
                    latencies[team].append(caller.post(path, BODY))
    return latencies


def measure_matching(plain: Caller, guarded: Caller) -> tuple[list[float], list[float]]:
    path = "/v1/chat/completions"
    a, b = [], []
    with console.status("a prompt that is redacted…"), collector_paused():
        for _ in range(ROUNDS * PER_ROUND // 2):
            a.append(plain.post(path, MATCHING))
            b.append(guarded.post(path, MATCHING))
    return a, b


def report(latencies: dict, matching: tuple, alone: dict) -> None:
    none = latencies["none"]
    table = Table(
        title=f"Latency through aigw, {ROUNDS * PER_ROUND} requests per team, interleaved "
        "(aigw on CPU 0; mock, load, PostgreSQL and Redis on CPU 1)"
    )
    for column in ("team's rules", "p50 ms", "p95 ms", "added p50", "added p95", "p50 ratio"):
        table.add_column(column, justify="left" if column == "team's rules" else "right")
    rows = [(t, latencies[t], none) for t in TEAMS]
    rows.append(("regex + PII, a prompt redacted", matching[1], matching[0]))
    for name, values, baseline in rows:
        p50, p95 = pct(values, 0.5), pct(values, 0.95)
        b50, b95 = pct(baseline, 0.5), pct(baseline, 0.95)
        table.add_row(
            name,
            f"{p50:.3f}",
            f"{p95:.3f}",
            f"{p50 - b50:+.3f}",
            f"{p95 - b95:+.3f}",
            f"{p50 / b50:.3f}",
        )
    console.print(table)
    for team, (p50, p95) in alone.items():
        console.print(f"scan alone, {team}: p50 {p50:.1f} µs, p95 {p95:.1f} µs")


if __name__ == "__main__":
    main()

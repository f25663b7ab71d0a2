"""Response-cache benchmark: one command, prints tables.

    .venv/bin/python -m tests.perf.bench_cache                 # 100k semantic entries
    .venv/bin/python -m tests.perf.bench_cache --entries 100000 1000000

(a) Exact hits through the whole gateway. The gateway runs as its own process (uvicorn,
    one worker) pinned to CPU 0; the mock provider and this load generator share CPU 1.
    Sequential requests: a cache hit, interleaved with the same request sent with
    `x-aigw-cache: no-store` (the full path to the provider: the baseline, same run).
    Server-side time is the gateway's own Server-Timing header; round trip is the client's.
(b) Semantic lookup at scale: N entries of 384-dimensional vectors spread over 50 teams
    (Zipf-distributed contexts and signatures within each team), searched the way
    api.semantic_cache_lookup searches (btree-selected scope, exact distance order) and,
    for comparison, through the HNSW index with a team filter and pgvector 0.8 iterative
    scans. Recall@1 is against the exact nearest neighbour in the query's scope, computed
    with NumPy. The embedding time of the local model is measured on real prompts.

Everything runs on an embedded PostgreSQL and Redis in a temporary directory.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import psycopg
from rich.console import Console
from rich.table import Table

from api import migrations
from api.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from tests.perf.harness import pct, pin, process

console = Console(width=150)
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DIM = 384
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


# -- (a) exact hits through the gateway -----------------------------------------------------


def bench_exact(admin_url: str, redis_url: str, requests: int) -> None:
    key = (
        psycopg.connect(admin_url, autocommit=True)
        .execute("select key from api.issue_key('bench', 'bench')")
        .fetchone()[0]
    )
    mock_port, gw_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": admin_url, "REDIS_URL": redis_url}
    env["AIGW_MOCK_PROVIDER_URL"] = f"http://127.0.0.1:{mock_port}"
    env.pop("AIGW_ENV", None)
    mock = [*pin(1), str(BIN / "aigw"), "mock-provider", "--port", str(mock_port)]
    gateway = [
        *pin(0),
        str(BIN / "uvicorn"),
        "--factory",
        "api.app:from_environment",
        "--port",
        str(gw_port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if pin(1):
        os.sched_setaffinity(0, {1})
    with (
        process(mock, env, f"http://127.0.0.1:{mock_port}/_mock/stats", "mock provider"),
        process(gateway, env, f"http://127.0.0.1:{gw_port}/healthz", "gateway"),
        httpx.Client(base_url=f"http://127.0.0.1:{gw_port}", timeout=30) as client,
    ):
        body = {
            "model": "gpt-4o",
            "temperature": 0,
            "messages": [{"role": "user", "content": "Summarise this quarter in one sentence."}],
        }
        headers = {"authorization": f"Bearer {key}"}
        bypass = {**headers, "x-aigw-cache": "no-store"}
        client.post("/v1/chat/completions", json=body, headers=headers).raise_for_status()
        time.sleep(0.5)  # the first answer is stored after it is sent
        samples: dict[str, dict[str, list[float]]] = {
            "hit": {"rtt": [], "server": []},
            "provider": {"rtt": [], "server": []},
        }
        for i in range(requests + 200):
            for name, h in (("hit", headers), ("provider", bypass)):
                started = time.perf_counter()
                response = client.post("/v1/chat/completions", json=body, headers=h)
                rtt = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                expected = "hit-exact" if name == "hit" else "bypass"
                assert response.headers["x-aigw-cache"] == expected, response.headers
                if i >= 200:  # after warm-up
                    samples[name]["rtt"].append(rtt)
                    timing = response.headers["server-timing"]
                    samples[name]["server"].append(float(timing.split("dur=")[1]))
    if pin(1):
        os.sched_setaffinity(0, set(range(os.cpu_count())))
    table = Table(
        title=f"(a) Exact cache through the gateway: {requests} sequential requests each "
        "(gateway on CPU 0; mock + client on CPU 1)"
    )
    for column in ("path", "server p50", "server p99", "round trip p50", "round trip p99"):
        table.add_column(column, justify="right")
    for name, label in (("hit", "cache hit (Redis)"), ("provider", "no-store → mock provider")):
        s = samples[name]
        table.add_row(
            label,
            f"{statistics.median(s['server']):.3f} ms",
            f"{pct(s['server'], 0.99):.3f} ms",
            f"{statistics.median(s['rtt']):.3f} ms",
            f"{pct(s['rtt'], 0.99):.3f} ms",
        )
    console.print(table)
    ratio = statistics.median(samples["provider"]["rtt"]) / statistics.median(samples["hit"]["rtt"])
    console.print(f"A hit answers {ratio:.1f}x faster (round trip) than the mock provider path.")


# -- (b) semantic lookup at scale -----------------------------------------------------------


def bench_embedder() -> tuple[float, float]:
    from api.cache.embedder import LocalEmbedder
    from api.cache.evaluate import load_pairs

    embedder = LocalEmbedder()
    texts = [p.a for p in load_pairs()][:400]
    embedder.embed_sync(texts[:10])
    times = []
    for text in texts:
        started = time.perf_counter()
        embedder.embed_sync([text])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), pct(times, 0.99)


def synthetic_entries(n: int, teams: list[uuid.UUID], rng: np.random.Generator):
    """Clustered unit vectors (paraphrase families), teams uniform, contexts and
    signatures Zipf-distributed within a team (a few common system prompts dominate)."""
    centers = rng.standard_normal((max(n // 50, 100), DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    family = rng.integers(0, len(centers), n)
    vectors = centers[family] + rng.standard_normal((n, DIM)).astype(np.float32) * 0.03
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    team = rng.integers(0, len(teams), n)
    context = np.minimum(rng.zipf(1.5, n), 200)
    signature = np.minimum(rng.zipf(2.0, n), 20)
    return centers, family, vectors, team, context, signature


async def load(admin_url: str, n: int, teams: list[uuid.UUID], rng) -> dict:
    from pgvector.asyncpg import register_vector

    centers, family, vectors, team, context, signature = synthetic_entries(n, teams, rng)
    conn = await asyncpg.connect(admin_url, server_settings={"search_path": "public, extensions"})
    await register_vector(conn, schema="extensions")
    await conn.execute("truncate cache.semantic_entries")
    await conn.execute("drop index if exists cache.semantic_entries_embedding_idx")
    hashes = {i: uuid.UUID(int=i).bytes * 2 for i in range(1, 201)}
    started = time.perf_counter()
    batch = 50_000
    for start in range(0, n, batch):
        rows = [
            (
                uuid.UUID(int=i + 1),
                teams[team[i]],
                "team",
                "openai",
                "gpt-4o",
                "bench",
                hashes[int(context[i])],
                hashes[int(signature[i])],
                vectors[i],
                "{}",
                FAR_FUTURE,
            )
            for i in range(start, min(n, start + batch))
        ]
        await conn.copy_records_to_table(
            "semantic_entries",
            schema_name="cache",
            records=rows,
            columns=[
                "id",
                "team_id",
                "scope",
                "wire",
                "model",
                "embedder",
                "context_hash",
                "guard_hash",
                "embedding",
                "response",
                "expires_at",
            ],  # fmt: skip
        )
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    await conn.execute("set maintenance_work_mem = '2GB'")
    await conn.execute(
        "create index semantic_entries_embedding_idx on cache.semantic_entries "
        "using hnsw (embedding extensions.vector_cosine_ops)"
    )
    built = time.perf_counter() - started
    await conn.execute("analyze cache.semantic_entries")
    await conn.close()
    return {
        "centers": centers,
        "family": family,
        "vectors": vectors,
        "team": team,
        "context": context,
        "signature": signature,
        "hashes": hashes,
        "load_s": loaded,
        "index_s": built,
    }


SCOPE = (
    "team_id = $1 and context_hash = $2 and guard_hash = $3 and scope = 'team' "
    "and model = 'gpt-4o' and wire = 'openai' and embedder = 'bench' and expires_at > now()"
)
SEARCHES = [
    (
        "api.semantic_cache_lookup (what ships)",
        "select entry_id from api.semantic_cache_lookup($1, 'team', 'openai', 'gpt-4o', "
        "'bench', $2, $3, $4::real[], 0)",
        False,
    ),
    (
        "btree scope, then exact distance",
        f"with s as materialized (select id, embedding from cache.semantic_entries where {SCOPE}) "
        "select id from s order by embedding <=> $4::real[]::extensions.vector limit 1",
        False,
    ),
    (
        "HNSW, filter while scanning (iterative)",
        # the casts keep the planner off the btree index
        "select id from cache.semantic_entries where team_id::text = $1::uuid::text "
        "and context_hash::text = $2::bytea::text and guard_hash::text = $3::bytea::text "
        "order by embedding <=> $4::real[]::extensions.vector limit 1",
        True,
    ),
]


async def bench_lookup(admin_url: str, data: dict, teams, queries: int, rng) -> dict:
    from pgvector.asyncpg import register_vector

    conn = await asyncpg.connect(admin_url, server_settings={"search_path": "public, extensions"})
    await register_vector(conn, schema="extensions")
    entry_ids = [uuid.UUID(int=i + 1) for i in range(len(data["vectors"]))]
    scope_of = {}
    for i in range(len(entry_ids)):
        key = (int(data["team"][i]), int(data["context"][i]), int(data["signature"][i]))
        scope_of.setdefault(key, []).append(i)
    picks = rng.integers(0, len(entry_ids), queries + 20)
    results = {name: {"ms": [], "hits": 0} for name, _, _ in SEARCHES}
    scope_sizes = []
    for n, i in enumerate(picks):
        warm = n < 20  # the first queries fill caches; not measured
        key = (int(data["team"][i]), int(data["context"][i]), int(data["signature"][i]))
        members = scope_of[key]
        query = (
            data["centers"][data["family"][i]] + rng.standard_normal(DIM).astype(np.float32) * 0.03
        )
        query /= np.linalg.norm(query)
        truth = entry_ids[members[int(np.argmax(data["vectors"][members] @ query))]]
        team_id = teams[key[0]]
        context, signature = data["hashes"][key[1]], data["hashes"][key[2]]
        if not warm:
            scope_sizes.append(len(members))
        for name, sql, iterative in SEARCHES:
            async with conn.transaction():
                if iterative:
                    await conn.execute("set local hnsw.iterative_scan = 'strict_order'")
                started = time.perf_counter()
                found = await conn.fetchval(sql, team_id, context, signature, query.tolist())
                elapsed = (time.perf_counter() - started) * 1000
            if not warm:
                results[name]["ms"].append(elapsed)
                results[name]["hits"] += found == truth
    # The plan of the shipped lookup's query (btree scope, materialized, then distance).
    plan_rows = await conn.fetch(
        "explain " + SEARCHES[1][1],
        teams[0],
        data["hashes"][1],
        data["hashes"][1],
        data["vectors"][0].tolist(),
    )
    plan = " → ".join(r[0].strip(" ->").split("  (")[0] for r in plan_rows if "  (cost=" in r[0])
    await conn.close()
    results["scope_p50"] = statistics.median(scope_sizes)
    results["scope_max"] = max(scope_sizes)
    results["plan"] = plan
    return results


def bench_semantic(admin_url: str, sizes: list[int], queries: int) -> None:
    embed_p50, embed_p99 = bench_embedder()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        teams = [
            conn.execute("select api.create_team(%s)", (f"bench-{i:02d}",)).fetchone()[0]
            for i in range(50)
        ]
    table = Table(
        title=f"(b) Semantic lookup, 50 teams, {queries} queries per size "
        f"(local embedder on real prompts: p50 {embed_p50:.2f} ms, p99 {embed_p99:.2f} ms)"
    )
    for column in (
        "entries", "load + HNSW build", "scope rows p50/max", "search",
        "lookup p50", "lookup p99", "embed + lookup p50", "recall@1",
    ):  # fmt: skip
        table.add_column(column, justify="right")
    for n in sizes:
        rng = np.random.default_rng(n)
        with console.status(f"Loading {n:,} entries and building the HNSW index…"):
            data = asyncio.run(load(admin_url, n, teams, rng))
        with console.status(f"Querying {n:,} entries…"):
            results = asyncio.run(bench_lookup(admin_url, data, teams, queries, rng))
        for name, _, _ in SEARCHES:
            r = results[name]
            table.add_row(
                f"{n:,}",
                f"{data['load_s']:.0f} s + {data['index_s']:.0f} s",
                f"{results['scope_p50']:.0f} / {results['scope_max']}",
                name,
                f"{statistics.median(r['ms']):.2f} ms",
                f"{pct(r['ms'], 0.99):.2f} ms",
                f"{embed_p50 + statistics.median(r['ms']):.2f} ms",
                f"{r['hits'] / queries:.3f}",
            )
        console.print(f"[dim]{n:,} entries: the lookup's plan: {results['plan']}[/]")
        console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[100_000])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--skip-gateway", action="store_true", help="only (b)")
    parser.add_argument("--skip-semantic", action="store_true", help="only (a)")
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with tempfile.TemporaryDirectory(prefix="aigw-bench-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        redis_server = EmbeddedRedis(Path(tmp) / "redis")
        with console.status("Starting embedded PostgreSQL and Redis…"):
            urls = postgres.start()
            redis_url = redis_server.start()
            migrations.upgrade(urls.admin)
        try:
            with psycopg.connect(urls.admin, autocommit=True) as conn:
                conn.execute("select api.create_team('bench')")
                conn.execute("select api.set_cache_policy('bench', 'semantic')")
            if not args.skip_gateway:
                bench_exact(urls.admin, redis_url, args.requests)
            if not args.skip_semantic:
                bench_semantic(urls.admin, args.entries, args.queries)
        finally:
            redis_server.stop()
            postgres.stop()


if __name__ == "__main__":
    main()

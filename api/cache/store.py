"""The response cache as the gateway uses it: decide, look up, store, count.

1. `plan` decides per request what the cache may do: nothing (policy off, the client's
   `Cache-Control: no-store` / `x-aigw-cache: no-store`), store only (`no-cache`), or
   read and store.
2. `lookup` tries the exact cache (Redis, one GET, pipelined with the lookups of other
   requests waiting at the same time), then — when the team's policy is
   semantic and the request qualifies — the semantic cache (embed the final user turn,
   one call to api.semantic_cache_lookup under the tenant's row-level security).
3. `store` runs after a successful answer, off the response path: the whole answer goes
   to Redis with the team's TTL (the answers waiting are written in one pipeline) and,
   when semantic, to Postgres with its embedding.
4. Every decision is counted per team and day and flushed once a second to
   cache.team_daily_stats (api.record_cache_stats), where hit rate and savings are read
   with api.cache_stats.

A cache that cannot be reached is a miss, never an error: Redis or Postgres trouble is
logged once per outage and the request goes to the provider.
"""

import asyncio
import functools
import json
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

import asyncpg
import redis.asyncio as redis

from api.cache.embedder import Embedder, TooLong
from api.cache.policy import CachePolicy
from api.cache.requests import SemanticQuery, exact_key, scope_of, semantic_query
from api.gateway.breaker import Breaker

log = logging.getLogger("aigw.cache")

FLUSH_INTERVAL_S = 1.0
SWEEP_INTERVAL_S = 600.0
MAX_PENDING_STATS = 100_000  # distinct (team, day, status, model) rows held while the db is away


@dataclass
class CachePlan:
    policy: CachePolicy
    team_id: str
    wire: str
    model: str
    scope: str
    read: bool
    store: bool
    exact_key: str | None = None
    semantic: SemanticQuery | None = None
    status: str = "bypass"  # hit-exact | hit-semantic | miss | bypass
    entry: dict | None = None  # the cached answer, on a hit
    embedding: list[float] | None = None


@functools.lru_cache(maxsize=2)
def utc_day(number: int) -> str:
    """Day `number` since the epoch as YYYY-MM-DD, formatted once (counted per request)."""
    return time.strftime("%Y-%m-%d", time.gmtime(number * 86400))


def client_directives(headers) -> set[str]:
    """no-cache (do not read, do store) and no-store (neither), from Cache-Control or
    x-aigw-cache (which also takes `bypass`, a synonym of no-store)."""
    found = set()
    for header in ("cache-control", "x-aigw-cache"):
        for token in (headers.get(header) or "").lower().split(","):
            token = token.strip()
            if token in ("no-cache", "no-store"):
                found.add(token)
            elif token == "bypass":  # noqa: S105 (a directive, not a password)
                found.add("no-store")
    return found


class ResponseCache:
    def __init__(
        self,
        client: redis.Redis,
        pool: asyncpg.Pool,
        embedder: Embedder,
        breaker: Breaker | None = None,
    ):
        self.redis = client
        self.breaker = breaker or Breaker("redis")
        self.pool = pool
        self.embedder = embedder
        self._stats: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self._task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._exact_reads: list[tuple[str, asyncio.Future]] = []
        self._exact_reader: asyncio.Task | None = None
        self._exact_writes: list[tuple[str, str, int]] = []
        self._exact_writer: asyncio.Task | None = None
        self._degraded: set[str] = set()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.drain()
        await self.flush()

    async def drain(self) -> None:
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def _run(self) -> None:
        last_sweep = time.monotonic()
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await self.flush()
            if time.monotonic() - last_sweep > SWEEP_INTERVAL_S:
                last_sweep = time.monotonic()
                try:
                    await self.pool.fetchval("select api.sweep_semantic_cache()")
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                    self._trouble("postgres", exc)

    # -- per request -------------------------------------------------------------------

    def plan(
        self, principal, policy: CachePolicy, wire: str, model: str, body: dict, headers, extra
    ) -> CachePlan:
        directives = client_directives(headers) if policy.mode != "off" else set()
        enabled = policy.mode != "off" and "no-store" not in directives
        plan = CachePlan(
            policy=policy,
            team_id=principal.team_id,
            wire=wire,
            model=model,
            scope=scope_of(policy, principal),
            read=enabled and "no-cache" not in directives,
            store=enabled,
        )
        if enabled:
            plan.exact_key = exact_key(wire, model, body, principal, policy, extra)
            if policy.mode == "semantic":
                plan.semantic, _reason = semantic_query(wire, model, body, policy, extra)
        return plan

    async def lookup(self, plan: CachePlan) -> CachePlan:
        """Fill plan.status (and plan.entry on a hit)."""
        if plan.read:
            # Without Redis the exact cache is bypassed; the semantic one may still answer.
            plan.entry = await self._get_exact(plan.exact_key)
            plan.status = "miss" if self.breaker.available() else "bypass"
            if plan.entry is not None:
                plan.status = "hit-exact"
            elif plan.semantic is not None:
                await self._find_similar(plan)
        usage = (plan.entry or {}).get("usage") or {}
        self.count(plan.team_id, plan.status, plan.model, usage)
        return plan

    async def _get_exact(self, key: str) -> dict | None:
        if not self.breaker.available():
            return None
        answer = asyncio.get_running_loop().create_future()
        self._exact_reads.append((key, answer))
        if self._exact_reader is None:
            self._exact_reader = asyncio.create_task(self._read_exact())
        try:
            raw = await answer
        except (redis.RedisError, OSError) as exc:
            self.breaker.failed(exc)
            return None
        self.breaker.succeeded()
        return json.loads(raw) if raw else None

    async def _read_exact(self) -> None:
        """The exact cache's lookups, in one pipeline for all that are waiting: those
        made in the same turn of the event loop, then those made while a pipeline was in
        flight. Under load, one round trip answers many requests."""
        try:
            while self._exact_reads:
                batch, self._exact_reads = self._exact_reads, []
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for key, _ in batch:
                            pipe.get(key)
                        values = await pipe.execute()
                except BaseException as exc:
                    # Every waiting request gets an answer: Redis trouble is a miss (as is
                    # this task's cancellation, at shutdown); anything else is raised.
                    failure = exc if isinstance(exc, Exception) else ConnectionError("stopped")
                    for _, answer in batch:
                        if not answer.done():  # its request may have gone meanwhile
                            answer.set_exception(failure)
                    if not isinstance(exc, (redis.RedisError, OSError)):
                        raise
                    continue
                for (_, answer), value in zip(batch, values, strict=True):
                    if not answer.done():
                        answer.set_result(value)
        finally:
            self._exact_reader = None

    async def _embed(self, plan: CachePlan) -> list[float] | None:
        if plan.embedding is None:
            try:
                plan.embedding = await self.embedder.embed(plan.semantic.text)
            except TooLong:
                plan.semantic = None  # longer than the embedder sees: exact matches only
            except Exception as exc:  # a failing embedder makes a miss, never an error
                self._trouble("embedder", exc)
                plan.semantic = None
        return plan.embedding

    async def _find_similar(self, plan: CachePlan) -> None:
        embedding = await self._embed(plan)
        if embedding is None:
            return
        try:
            row = await self.pool.fetchrow(
                "select * from api.semantic_cache_lookup($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                *self._semantic_key(plan, embedding),
                plan.policy.semantic_threshold,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            self._trouble("postgres", exc)
            return
        if row is not None:
            plan.status = "hit-semantic"
            plan.entry = {
                "response": json.loads(row["response"]),
                "usage": {
                    "input_tokens": row["input_tokens"],
                    "output_tokens": row["output_tokens"],
                },
            }

    def _semantic_key(self, plan: CachePlan, embedding: list[float]) -> tuple:
        """The arguments api.semantic_cache_lookup and _store share: tenant scope,
        context, signature and the embedding."""
        return (
            uuid.UUID(plan.team_id),
            plan.scope,
            plan.wire,
            plan.model,
            self.embedder.name,
            plan.semantic.context_hash,
            plan.semantic.guard_hash,
            embedding,
        )

    def store(self, plan: CachePlan, response: dict, usage) -> None:
        """Keep a successful answer (in the background)."""
        if not plan.store or plan.status.startswith("hit"):
            return
        if self.breaker.available():
            tokens = {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cached_input_tokens": usage.cached_input_tokens,
            }
            entry = json.dumps({"response": response, "usage": tokens})
            self._exact_writes.append((plan.exact_key, entry, plan.policy.ttl_s))
            if self._exact_writer is None:
                self._exact_writer = self._in_background(self._write_exact())
        if plan.semantic is not None:
            self._in_background(self._store(plan, response, usage))

    def _in_background(self, work) -> asyncio.Task:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _write_exact(self) -> None:
        """The exact cache's writes, in one pipeline for all that are waiting: under load
        the answers that finish while one pipeline is in flight go in the next, one round
        trip for many instead of one each."""
        try:
            while self._exact_writes:
                batch, self._exact_writes = self._exact_writes, []
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for key, entry, ttl_s in batch:
                            pipe.set(key, entry, ex=ttl_s)
                        await pipe.execute()
                except (redis.RedisError, OSError) as exc:
                    self.breaker.failed(exc)  # these answers are not cached; no error
        finally:
            self._exact_writer = None

    async def _store(self, plan: CachePlan, response: dict, usage) -> None:
        """The semantic cache's write: the answer with the embedding of its question."""
        if plan.semantic is None or (
            not plan.policy.semantic_tool_turns and answers_with_tools(response)
        ):
            return
        embedding = await self._embed(plan)
        if embedding is None:
            return
        try:
            await self.pool.execute(
                "select api.semantic_cache_store("
                "$1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13)",
                *self._semantic_key(plan, embedding),
                json.dumps(response),
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens,
                plan.policy.ttl_s,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            self._trouble("postgres", exc)

    # -- statistics --------------------------------------------------------------------

    def count(self, team_id: str, status: str, model: str, usage: dict) -> None:
        day = utc_day(int(time.time() // 86400))
        row = self._stats[(team_id, day, status, model if status.startswith("hit") else None)]
        row[0] += 1
        row[1] += int(usage.get("input_tokens") or 0)
        row[2] += int(usage.get("output_tokens") or 0)
        row[3] += int(usage.get("cached_input_tokens") or 0)

    async def flush(self) -> None:
        if not self._stats:
            return
        pending, self._stats = self._stats, defaultdict(lambda: [0, 0, 0, 0])
        rows = [
            {
                "team_id": team,
                "day": day,
                "status": status,
                "model": model,
                "count": c[0],
                "input_tokens": c[1],
                "output_tokens": c[2],
                "cached_input_tokens": c[3],
            }
            for (team, day, status, model), c in pending.items()
        ]
        try:
            await self.pool.execute("select api.record_cache_stats($1::jsonb)", json.dumps(rows))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            self._trouble("postgres", exc)
            # Put them back for the next flush, unless the backlog has grown too large.
            for key, c in pending.items():
                if len(self._stats) < MAX_PENDING_STATS or key in self._stats:
                    row = self._stats[key]
                    for i in range(4):
                        row[i] += c[i]
            return
        self._recovered("postgres")

    # -- degradation -------------------------------------------------------------------

    def _trouble(self, dependency: str, exc: BaseException) -> None:
        if dependency not in self._degraded:
            self._degraded.add(dependency)
            log.warning(
                "cache: %s unavailable (%s); requests go to the provider until it returns",
                dependency,
                type(exc).__name__,
            )

    def _recovered(self, dependency: str) -> None:
        if dependency in self._degraded:
            self._degraded.discard(dependency)
            log.warning("cache: %s is back", dependency)


def answers_with_tools(response: dict) -> bool:
    for choice in response.get("choices") or []:
        if (choice.get("message") or {}).get("tool_calls"):
            return True
    return any(b.get("type") == "tool_use" for b in response.get("content") or [])

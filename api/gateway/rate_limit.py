"""RPM and TPM limits in Redis, per team and per key, shared by every worker process.

One Lua script checks every limit that applies to a request and, only if all of them
allow it, counts the request against all of them: atomic, so concurrent workers can
never admit more than a limit between them. Windows are sliding-window counters (the
current minute's count plus the previous minute's, weighted by how much of it is still
inside the window), which smooths the burst a fixed window allows at its boundary.

Tokens are charged twice: an estimate of the prompt at admission (the output is not
known yet), then the difference to the real total when the response is complete
(`settle_tokens`).

Request limits are leased: a process takes a few requests of a limit at once (2 % of it,
at least 1) in one Redis call, and admits the next ones from memory until the lease is
spent or the minute ends. A lease is counted in Redis when taken, so the fleet can never
exceed a limit; at worst a process's unspent lease is unused capacity at the end of a
minute. With a limit of 60 the lease is 1 request, the exact behaviour; with 10,000 it
saves 199 of 200 round trips. Token limits are never leased: a request's cost varies.

When Redis cannot be reached, each process enforces its share of every limit by itself
(the limit divided by the number of gateway processes, AIGW_PROCESSES), counting what
Redis had already admitted for it in the window: the fleet as a whole stays near the
limit, and requests keep being served.
"""

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as redis

from api.gateway.breaker import Breaker

WINDOW_MS = 60_000
LEASE_FRACTION = 50  # a lease is 1/50 of a limit (per process), at least one request

# KEYS: per limit, the current and the previous window's counter.
# ARGV: now_ms, window_ms, number of limits, then per limit: its size and this request's cost.
# Returns: allowed (1/0), milliseconds until a retry can succeed, then per limit what
# remains of it after this request (or before it, when refused).
_ACQUIRE = """
local now, window, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local weight = 1 - (now % window) / window
local remaining, allowed, retry = {}, 1, 0
for i = 1, n do
  local limit, cost = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  local used = math.floor(previous * weight) + current
  if used + cost > limit then
    allowed = 0
    -- Wait until the current window ends; with a cost above the limit, never.
    local wait = window - (now % window)
    if cost > limit then wait = -1 end
    if wait < 0 or retry < 0 then retry = -1 elseif wait > retry then retry = wait end
    remaining[i] = math.max(limit - used, 0)
  else
    remaining[i] = limit - used - cost
  end
end
if allowed == 1 then
  for i = 1, n do
    local cost = tonumber(ARGV[3 + 2 * i])
    if cost > 0 then
      redis.call('INCRBY', KEYS[2 * i - 1], cost)
      redis.call('PEXPIRE', KEYS[2 * i - 1], window * 2)
    end
  end
end
local result = {allowed, retry}
for i = 1, n do result[#result + 1] = remaining[i] end
return result
"""

# Adjust token counters by a (possibly negative) difference, never below zero.
_ADJUST = """
for i = 1, #KEYS do
  local value = redis.call('INCRBY', KEYS[i], tonumber(ARGV[1]))
  if value < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
end
return 1
"""


@dataclass(frozen=True)
class Limit:
    """One limit: `scope` is 'team' or 'key', `kind` 'requests' or 'tokens'."""

    scope: str
    subject: str  # the team or key id
    kind: str
    per_minute: int


@dataclass
class Decision:
    allowed: bool
    retry_after_s: int | None = None  # None when waiting cannot help
    # The tightest limit and remainder, per kind, for the x-ratelimit-* headers.
    limits: dict[str, int] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    refused_by: Limit | None = None
    # The token counters charged at admission, to settle against real usage.
    token_keys: list[str] = field(default_factory=list)
    tokens_charged: int = 0
    local: bool = False  # decided in process memory, Redis being away

    def headers(self) -> dict[str, str]:
        out = {}
        for kind in ("requests", "tokens"):
            if kind in self.limits:
                out[f"x-ratelimit-limit-{kind}"] = str(self.limits[kind])
                out[f"x-ratelimit-remaining-{kind}"] = str(self.remaining[kind])
        if not self.allowed and self.retry_after_s is not None:
            out["retry-after"] = str(self.retry_after_s)
        return out


class LocalWindows:
    """The same sliding windows in process memory: the fallback while Redis is away."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def acquire(self, keys: list[str], args: list[int]) -> list[int]:
        now, window, n = args[0], args[1], args[2]
        if len(self.counts) > 100_000:
            self.counts.clear()
        weight = 1 - (now % window) / window
        allowed, retry, remaining = 1, 0, []
        for i in range(n):
            limit, cost = args[1 + 2 * (i + 1)], args[2 + 2 * (i + 1)]
            current = self.counts.get(keys[2 * i], 0)
            used = int(self.counts.get(keys[2 * i + 1], 0) * weight) + current
            if used + cost > limit:
                allowed = 0
                retry = -1 if cost > limit or retry < 0 else max(retry, window - now % window)
                remaining.append(max(limit - used, 0))
            else:
                remaining.append(limit - used - cost)
        if allowed:
            for i in range(n):
                cost = args[2 + 2 * (i + 1)]
                self.counts[keys[2 * i]] = self.counts.get(keys[2 * i], 0) + cost
        return [allowed, retry, *remaining]

    def record(self, keys: list[str], costs: list[int]) -> None:
        """Count what Redis admitted for this process, so that a fallback in the middle
        of a window starts from this process's own use of it, not from zero."""
        if len(self.counts) > 100_000:  # a new key per limit each minute: keep it bounded
            self.counts.clear()
        for i, cost in enumerate(costs):
            self.counts[keys[2 * i]] = self.counts.get(keys[2 * i], 0) + cost

    def adjust(self, keys: list[str], delta: int) -> None:
        for key in keys:
            self.counts[key] = max(0, self.counts.get(key, 0) + delta)


class RateLimiter:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "aigw:rl",
        window_ms: int = WINDOW_MS,
        breaker: Breaker | None = None,
        processes: int | None = None,
    ):
        self.client = client
        self.prefix = prefix
        self.window_ms = window_ms
        self.breaker = breaker or Breaker("redis")
        self.processes = processes or int(os.environ.get("AIGW_PROCESSES", "1"))
        self.local = LocalWindows()
        # (team, limits, window) -> [requests left in the lease, remaining after it]
        self._leases: dict[tuple, list[int]] = {}
        self._acquire = client.register_script(_ACQUIRE)
        self._adjust = client.register_script(_ADJUST)

    def _keys(self, tag: str, limit: Limit, window: int) -> tuple[str, str]:
        # The {tag} (the team) keeps all of a request's keys in one Redis Cluster slot.
        base = f"{self.prefix}:{{{tag}}}:{limit.scope}:{limit.subject}:{limit.kind}"
        return f"{base}:{window}", f"{base}:{window - 1}"

    async def acquire(
        self, limits: Sequence[Limit], *, tokens: int, tag: str, now_ms: int | None = None
    ) -> Decision:
        """Admit one request costing `tokens` (an estimate) against every limit, or none.

        `tag` groups the keys of one tenant (the team id) for Redis Cluster.
        """
        if not limits:
            return Decision(allowed=True)
        limits = tuple(limits)
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        window = now_ms // self.window_ms
        local = not self.breaker.available()
        # A lease is checked first: most requests are admitted from it, with no key built.
        lease_key = (tag, limits, window)
        lease = self._leases.get(lease_key) if not local else None
        if lease and lease[0] > 0:
            return self._from_lease(limits, lease)
        keys: list[str] = []
        args: list[int] = [now_ms, self.window_ms, len(limits)]
        for limit in limits:
            keys.extend(self._keys(tag, limit, window))
            args.extend([limit.per_minute, 1 if limit.kind == "requests" else tokens])
        size = self._lease_size(limits)
        if not local:
            try:
                leased, (allowed, retry_ms, *remaining) = await self._take(keys, args, limits, size)
                self.breaker.succeeded()
            except (redis.RedisError, OSError) as exc:
                self.breaker.failed(exc)
                local = True
            else:
                if allowed:
                    costs = [size if leased else args[4 + 2 * i] for i in range(len(limits))]
                    self.local.record(keys, costs)
                if allowed and leased:
                    if len(self._leases) > 10_000:
                        self._leases.clear()
                    # what Redis has left once the whole lease is spent
                    self._leases[lease_key] = [size - 1, min(remaining) - (size - 1)]
        if local:
            limits = [
                Limit(x.scope, x.subject, x.kind, max(1, x.per_minute // self.processes))
                for x in limits
            ]
            for i, limit in enumerate(limits):
                args[3 + 2 * i] = limit.per_minute
            allowed, retry_ms, *remaining = self.local.acquire(keys, args)

        decision = Decision(allowed=bool(allowed))
        for limit, left in zip(limits, remaining, strict=True):
            if limit.kind not in decision.remaining or left < decision.remaining[limit.kind]:
                decision.limits[limit.kind] = limit.per_minute
                decision.remaining[limit.kind] = int(left)
            cost = 1 if limit.kind == "requests" else tokens
            if not decision.allowed and decision.refused_by is None and left < cost:
                decision.refused_by = limit
        decision.local = local
        if decision.allowed:
            decision.token_keys = [
                self._keys(tag, limit, window)[0] for limit in limits if limit.kind == "tokens"
            ]
            decision.tokens_charged = tokens
        else:
            decision.retry_after_s = None if retry_ms < 0 else max(1, -(-retry_ms // 1000))
        return decision

    def _lease_size(self, limits: Sequence[Limit]) -> int:
        if any(limit.kind != "requests" for limit in limits):
            return 1
        smallest = min(limit.per_minute for limit in limits)
        return max(1, smallest // (LEASE_FRACTION * self.processes))

    async def _take(self, keys, args, limits, size: int) -> tuple[bool, list[int]]:
        """One Redis call: a lease of `size` requests when the limits have room for it,
        else (near a limit) exactly this one request. Says whether it took the lease."""
        if size > 1:
            leased = list(args)
            for i in range(len(limits)):
                leased[4 + 2 * i] = size
            result = await self._acquire(keys=keys, args=leased)
            if result[0]:
                return True, [1, result[1], *(left + size - 1 for left in result[2:])]
        return False, await self._acquire(keys=keys, args=args)

    @staticmethod
    def _from_lease(limits: Sequence[Limit], lease: list[int]) -> Decision:
        lease[0] -= 1
        left = lease[1] + lease[0]  # what the limit had after the lease, plus the unspent
        decision = Decision(allowed=True)
        decision.limits["requests"] = min(limit.per_minute for limit in limits)
        decision.remaining["requests"] = left
        return decision

    async def settle_tokens(self, decision: Decision, actual_tokens: int) -> None:
        """Replace the admission estimate by the real token count."""
        delta = actual_tokens - decision.tokens_charged
        if not (decision.token_keys and delta):
            return
        decision.tokens_charged = actual_tokens
        if decision.local or not self.breaker.available():
            self.local.adjust(decision.token_keys, delta)
            return
        try:
            await self._adjust(keys=decision.token_keys, args=[delta])
        except (redis.RedisError, OSError) as exc:
            self.breaker.failed(exc)

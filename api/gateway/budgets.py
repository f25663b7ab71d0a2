"""Budgets at wire speed: each gateway process leases slices of budgets and admits from
memory.

A reservation per request would put two PostgreSQL round trips on every budgeted call.
Instead a process leases a slice of the budgets a caller spends against
(`api.lease_budget`: at least the request's worst case, up to LEASE_SHARE of what the
tightest budget has left) and admits that caller's requests while each one's worst case
(bounds.py, priced as `api.reserve_budget` prices it) fits in what the lease has left.
When a request ends, its real cost is counted against the lease at once, in memory; every
FLUSH_S the counted costs go to the ledger (`api.settle_lease`, one call per lease), which
renews the lease. A lease that runs short is extended in the same call; one left idle for
IDLE_S is released, so money is not held where nobody spends it.

The guarantee is the ledger's, unchanged: a lease is reserved money, spent + reserved
never passes a hard limit, and no process admits more than its leases hold. A request
costs at most its bound, so the fleet never spends past a limit; a request that somehow
cost more is charged in full, and the difference is the only overspend there can be.

While PostgreSQL is away a lease cannot be renewed: a process admits from what it holds
for at most VALID_S after its last renewal, then refuses (503) until the database is
back. A process that dies leaves its leases to expire; `api.release_stale_reservations`
(run by every process every SWEEP_S) charges what they still held, as it does a dead
process's reservations.
"""

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import asyncpg

from api.gateway import errors
from api.gateway.bounds import Bound
from api.gateway.prices import ModelPrices

log = logging.getLogger("aigw.gateway.budgets")

LEASE_SHARE = Decimal("0.05")  # of what the tightest budget has left, per lease
FLUSH_S = 0.25
IDLE_S = 2.0
TTL = timedelta(seconds=30)  # in the database; renewed by each settlement
VALID_S = 10.0  # how long a process admits from a lease it cannot renew
SWEEP_S = 30.0
DATABASE_AWAY = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@dataclass
class Lease:
    lease_id: uuid.UUID
    budget_ids: tuple[str, ...]
    amount: Decimal  # what the ledger holds for it now
    renewed: float  # when the database last renewed it (monotonic)
    held: Decimal = Decimal(0)  # the worst cases of its requests in flight
    used: Decimal = Decimal(0)  # what its finished requests cost, not yet settled
    last_use: float = 0.0
    gone: bool = False  # released, or swept while this process could not renew it
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def left(self) -> Decimal:
        return self.amount - self.held - self.used

    def fits(self, amount: Decimal, now: float) -> bool:
        return not self.gone and now - self.renewed < VALID_S and self.left() >= amount


@dataclass
class Hold:
    """A request's worst case, held in a lease until the request ends."""

    lease: Lease
    amount: Decimal
    prices: ModelPrices
    settled: bool = False


class BudgetLeases:
    def __init__(self, pool: asyncpg.Pool, registry, clock=time.monotonic):
        """`registry`: the gateway's ModelRegistry, whose `prices` are kept current."""
        self.pool = pool
        self.registry = registry
        self.clock = clock
        self.leases: dict[tuple[str, ...], Lease] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}
        self._task: asyncio.Task | None = None
        self._away = False  # the database did not answer the last settlement

    # -- admission ---------------------------------------------------------------------

    async def admit(self, principal, model: str, bound: Bound) -> Hold:
        """Hold the request's worst case in a lease of the caller's budgets, or refuse:
        429 insufficient_quota when the budgets have not that much left, 503 when no
        lease can be had now."""
        prices = self.registry.prices.get(model)
        if prices is None or not prices.priced:
            raise errors.model_unpriced(model)
        worst = prices.worst_case(bound)
        key = principal.budget_ids
        lease = self.leases.get(key)
        now = self.clock()
        if lease is not None and lease.fits(worst, now):  # the common case: no await
            return self._hold(lease, worst, prices, now)
        async with self._locks.setdefault(key, asyncio.Lock()):
            return await self._lease_and_hold(principal, key, worst, prices)

    def _hold(self, lease: Lease, worst: Decimal, prices: ModelPrices, now: float) -> Hold:
        lease.held += worst
        lease.last_use = now
        return Hold(lease, worst, prices)

    async def _lease_and_hold(self, principal, key, worst: Decimal, prices) -> Hold:
        lease = self.leases.get(key)
        now = self.clock()
        if lease is not None and lease.fits(worst, now):  # extended meanwhile
            return self._hold(lease, worst, prices, now)
        try:
            # An open lease: settle what it has spent, and extend it by what this request
            # lacks.
            extended = lease is not None and not lease.gone
            if extended and await self._settle(lease, extend=worst - lease.left()) == "exhausted":
                raise errors.budget_exhausted(
                    "Budget exhausted: what is left of this period's budget does not "
                    f"cover this request's worst case ({worst:.6f} USD)."
                )
            if lease is None or lease.gone:  # none yet, or released or swept meanwhile
                lease = await self._new_lease(principal, key, worst)
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == "AIG07":
                raise errors.budget_exhausted(str(exc)) from None
            self._lost(exc)
            raise errors.dependency_unavailable("budget") from None
        except DATABASE_AWAY as exc:
            self._lost(exc)
            raise errors.dependency_unavailable("budget") from None
        if not lease.fits(worst, self.clock()):
            raise errors.dependency_unavailable("budget")
        return self._hold(lease, worst, prices, self.clock())

    async def _new_lease(self, principal, key, worst: Decimal) -> Lease:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "select * from api.lease_budget($1, $2::uuid[], $3, $4, $5)",
                uuid.UUID(principal.team_id),
                list(key),
                worst,
                LEASE_SHARE,
                TTL,
            )
        lease = Lease(row["lease_id"], key, Decimal(row["amount_usd"]), self.clock())
        self.leases[key] = lease
        return lease

    # -- settlement ----------------------------------------------------------------------

    def settle(self, hold: Hold, input_tokens: int, output_tokens: int, cached: int) -> Decimal:
        """The request's real cost, counted against its lease at once (sent to the ledger
        by the next flush); its worst case is no longer held. Once only."""
        if hold.settled:
            return Decimal(0)
        hold.settled = True
        cost = hold.prices.cost(input_tokens, output_tokens, cached)
        hold.lease.held -= hold.amount
        hold.lease.used += cost
        return cost

    async def _settle(self, lease: Lease, *, extend: Decimal = Decimal(0), release=False) -> str:
        """Send what the lease's requests cost to the ledger; renew, extend or release it.
        The caller holds no lock: this takes the lease's own."""
        async with lease.lock:
            spent = lease.used
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "select * from api.settle_lease($1, $2, $3, $4, $5, $6)",
                    lease.lease_id,
                    spent,
                    max(extend, Decimal(0)),
                    LEASE_SHARE,
                    release,
                    TTL,
                )
            lease.used -= spent
            lease.amount = Decimal(row["amount_usd"])
            lease.renewed = self.clock()
            if row["state"] in ("gone", "released"):
                lease.gone = True
                if self.leases.get(lease.budget_ids) is lease:
                    del self.leases[lease.budget_ids]
            return row["state"]

    # -- the background work ---------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Settle and release every lease (what a restart would otherwise leave held)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for lease in list(self.leases.values()):
            try:
                await self._settle(lease, release=True)
            except DATABASE_AWAY as exc:
                log.warning("budget lease left to expire: %s", type(exc).__name__)

    async def flush(self) -> None:
        """Settle what every lease's requests cost; renew them; release the idle ones."""
        now = self.clock()
        for lease in list(self.leases.values()):
            idle = lease.held == 0 and now - lease.last_use > IDLE_S
            if idle or lease.used or now - lease.renewed > VALID_S / 2:
                await self._settle(lease, release=idle)

    async def _run(self) -> None:
        swept = self.clock()
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                await self.flush()
                if self.clock() - swept > SWEEP_S:
                    swept = self.clock()
                    async with self.pool.acquire() as conn:
                        await conn.execute("select api.release_stale_reservations('1 minute')")
                if self._away:
                    log.warning("budget leases: the database answers again")
                    self._away = False
            except DATABASE_AWAY as exc:
                self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        """The database did not answer: said once until it answers again."""
        if not self._away:
            log.warning(
                "budget leases cannot be taken or settled (%s): admitting from what is "
                "leased for up to %.0f s, then refusing",
                type(exc).__name__,
                VALID_S,
            )
            self._away = True

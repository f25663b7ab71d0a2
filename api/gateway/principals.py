"""Who is calling: API keys (and identity tokens) resolved to principals, cached in the
process.

The warm path does no database round trip: a resolved principal is kept until the
database says something changed. Every function that changes what a key may do
(revoking it, suspending its owner, changing a policy, …) sends NOTIFY aigw_principals
at commit; each worker LISTENs and drops its cache, so a revoked key stops working on
every worker within milliseconds. If the listening connection is lost, entries are
looked up again after one second instead, until it is back. A change to the model
registry comes on the same channel (payload 'models'): it changes principals (the models
each may call) and what `on_models_changed` callbacks keep of the registry. A change to
the guardrails (payload 'guardrails') changes no principal: only `on_guardrails_changed`
callbacks hear of it.

If the database itself is away, that lookup fails. Nobody can revoke a key while it is
away either, so a principal cached before it went is still served, for at most
`stale_s` (AIGW_AUTH_STALE_S, default 5 minutes) after the listening connection was
lost: teams without a budget keep working through an outage. Teams with a budget still
fail closed, at their reservation (money is never spent unaccounted); a key never seen
before cannot be checked and is refused.
"""

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from api import keys
from api.cache.policy import CachePolicy
from api.database import principal_transaction
from api.gateway.rate_limit import Limit
from api.gateway.tokens import TokenError, TokenVerifier, looks_like_jwt

log = logging.getLogger("aigw.gateway.principals")

CHANNEL = "aigw_principals"
MODELS_CHANGED = "models"  # the payload of a change to the model registry
GUARDRAILS_CHANGED = "guardrails"  # ... of a change to the guardrails
TTL_LISTENING_S = 300.0  # a safety net; invalidation normally comes by NOTIFY
TTL_NOT_LISTENING_S = 1.0
STALE_S = 300.0  # the default of AIGW_AUTH_STALE_S
LOOKUP_TIMEOUT_S = 2.0  # a lookup while not listening: the database may be away
RETRY_DATABASE_S = 1.0  # after a failed lookup, serve what is cached before trying again
CACHE_MAX = 100_000
# The database cannot answer (as opposed to answering no): unreachable, connection lost,
# shutting down or out of connections.
DATABASE_AWAY = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


class AuthError(Exception):
    """Authentication failed; `message` is safe to show the caller."""

    def __init__(self, message: str, code: str = "invalid_api_key", status: int = 401):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Principal:
    key_id: str | None  # None for a signed-in user (identity token)
    key_name: str | None
    team_id: str
    team_name: str
    owner_user_id: str | None
    service_account_id: str | None
    scopes: frozenset[str]  # of keys.SCOPES only: anything else grants nothing
    allowed_models: frozenset[str]
    team_rpm_limit: int | None
    team_tpm_limit: int | None
    key_rpm_limit: int | None
    key_tpm_limit: int | None
    budget_ids: tuple[str, ...]  # the budgets its spend counts against, in locking order
    cache: CachePolicy = CachePolicy()
    # The RPM/TPM limits that apply (those set), built once from the fields above.
    limits: tuple[Limit, ...] = field(init=False)

    @property
    def has_budget(self) -> bool:
        return bool(self.budget_ids)

    def __post_init__(self) -> None:
        limits = tuple(
            Limit(scope, subject, kind, value)
            for scope, subject, kind, value in (
                ("team", self.team_id, "requests", self.team_rpm_limit),
                ("team", self.team_id, "tokens", self.team_tpm_limit),
                ("key", self.key_id, "requests", self.key_rpm_limit),
                ("key", self.key_id, "tokens", self.key_tpm_limit),
            )
            if value and subject
        )
        object.__setattr__(self, "limits", limits)  # frozen: set once, here


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key from `Authorization: Bearer …` or `x-api-key: …` (the Anthropic SDK's)."""
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


class KeyAuthenticator:
    """API keys, and identity tokens when a TokenVerifier is configured."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        app_url: str,
        tokens: TokenVerifier | None = None,
        *,
        stale_s: float = STALE_S,
        clock=time.monotonic,
    ):
        self.pool = pool
        self.app_url = app_url
        self.tokens = tokens
        self.stale_s = stale_s
        self.clock = clock
        self._cache: dict[object, tuple[Principal, float]] = {}
        self._lost_at: float | None = None  # when the listening connection was lost
        self._database_away_until = 0.0
        # Bumped whenever the cache is cleared: a lookup that started before a change
        # must not put its (possibly stale) answer back into the cache.
        self._generation = 0
        self._listener: asyncpg.Connection | None = None
        self._listening = False
        self._watch_task: asyncio.Task | None = None
        self._model_watchers: list[Callable[[], None]] = []
        self._guardrail_watchers: list[Callable[[], None]] = []

    def on_models_changed(self, callback: Callable[[], None]) -> None:
        """Call `callback` (in the event loop) when the model registry changes, and when
        the channel comes back after a loss (a change may have been missed)."""
        self._model_watchers.append(callback)

    def on_guardrails_changed(self, callback: Callable[[], None]) -> None:
        """Call `callback` when a guardrail is set or removed, and when the channel comes
        back after a loss."""
        self._guardrail_watchers.append(callback)

    async def start(self) -> None:
        self._watch_task = asyncio.create_task(self._watch())
        for _ in range(50):  # wait briefly for the first LISTEN, so tests see it at once
            if self._listening:
                break
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._watch_task:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
        if self._listener and not self._listener.is_closed():
            await self._listener.close()

    async def _watch(self) -> None:
        """Keep a LISTEN connection open; reconnect when it drops."""
        while True:
            try:
                self._listener = await asyncpg.connect(self.app_url)
                self._listener.add_termination_listener(lambda _: self._lost())
                await self._listener.add_listener(CHANNEL, self._notified)
                # anything may have changed while we were not listening
                self._notified(None, None, CHANNEL, MODELS_CHANGED)
                self._notified(None, None, CHANNEL, GUARDRAILS_CHANGED)
                self._listening, self._lost_at = True, None
                while not self._listener.is_closed():
                    await asyncio.sleep(1)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("principal invalidation channel unavailable: %s", type(exc).__name__)
            self._lost()
            await asyncio.sleep(1)

    def _lost(self) -> None:
        if self._listening or self._lost_at is None:
            self._lost_at = self.clock()
        self._listening = False

    def _notified(self, connection, pid, channel: str, payload: str) -> None:
        if payload == GUARDRAILS_CHANGED:
            for callback in self._guardrail_watchers:
                callback()
            return
        self.invalidate()
        if payload == MODELS_CHANGED:
            for callback in self._model_watchers:
                callback()

    def invalidate(self) -> None:
        self._generation += 1
        self._cache.clear()

    async def authenticate(self, key: str | None, team: str | None = None) -> Principal:
        """The principal for a credential: an sk-aigw- key, or an identity token (acting
        in `team`, from the x-aigw-team header, when the user belongs to several)."""
        if not key:
            raise AuthError(
                "Missing API key: send it as 'Authorization: Bearer sk-aigw-…' or 'x-api-key'.",
                "missing_api_key",
            )
        if self.tokens is not None and looks_like_jwt(key):
            try:
                identity = await self.tokens.verify(key)
            except TokenError as exc:
                raise AuthError(str(exc).capitalize() + ".", "invalid_token") from None
            return await self._cached(
                ("token", identity.issuer, identity.subject, team),
                "select * from api.authenticate_user_token($1, $2, $3)",
                identity.issuer,
                identity.subject,
                team,
            )
        # The cache is keyed by a BLAKE2b digest of the key: no key is kept in memory, and
        # CPython's own BLAKE2b costs less per request than a call into OpenSSL's SHA-256
        # (which the database's lookup takes, on a miss only).
        cache_key = hashlib.blake2b(key.encode(), digest_size=32).digest()
        if (principal := self._fresh(cache_key)) is not None:
            return principal  # only a well-formed key was ever looked up and cached
        if not keys.is_well_formed(key):
            # Rejected before any lookup: a typo, a truncated paste, or not our key at all.
            raise AuthError("Invalid API key format.", "invalid_api_key")
        digest = keys.digest(key)
        return await self._cached(cache_key, "select * from api.authenticate_key($1)", digest)

    def _fresh(self, cache_key) -> Principal | None:
        cached = self._cache.get(cache_key)
        ttl = TTL_LISTENING_S if self._listening else TTL_NOT_LISTENING_S
        if cached and self.clock() - cached[1] < ttl:
            return cached[0]
        return None

    def _stale(self, cache_key) -> Principal | None:
        """A principal cached before the database went away, within the stale window."""
        cached = self._cache.get(cache_key)
        if cached is None or self._listening or self._lost_at is None:
            return None
        return cached[0] if self.clock() - self._lost_at < self.stale_s else None

    async def _cached(self, cache_key, query: str, *args) -> Principal:
        if (principal := self._fresh(cache_key)) is not None:
            return principal
        if self.clock() < self._database_away_until and (stale := self._stale(cache_key)):
            return stale
        now = self.clock()
        generation = self._generation
        lookup = self._lookup(query, *args)
        try:
            # Not listening, the database may be away: wait for it briefly, not for a TCP
            # timeout (listening, it answers; a burst of lookups may queue for the pool).
            principal = await (
                lookup if self._listening else asyncio.wait_for(lookup, LOOKUP_TIMEOUT_S)
            )
        except DATABASE_AWAY:
            if (stale := self._stale(cache_key)) is None:
                raise
            self._database_away_until = self.clock() + RETRY_DATABASE_S
            return stale
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        if generation == self._generation:
            self._cache[cache_key] = (principal, now)
        return principal

    async def _lookup(self, query: str, *args) -> Principal:
        try:
            async with principal_transaction(self.pool, None) as conn:
                row = await conn.fetchrow(query, *args)
        except asyncpg.PostgresError as exc:
            message = str(exc).rstrip(".") + "." + (f" {exc.hint}" if exc.hint else "")
            if exc.sqlstate == "AIG01":
                raise AuthError("Invalid API key." if "key" in str(exc) else message) from None
            if exc.sqlstate == "AIG02":
                raise AuthError(message, "invalid_api_key") from None
            if exc.sqlstate == "AIG03":
                raise AuthError(message, "permission_denied", 403) from None
            if exc.sqlstate == "AIG06":
                raise AuthError(message, "team_required", 400) from None
            raise
        return Principal(
            key_id=str(row["key_id"]) if row["key_id"] else None,
            key_name=row["key_name"],
            team_id=str(row["team_id"]),
            team_name=row["team_name"],
            owner_user_id=str(row["owner_user_id"]) if row["owner_user_id"] else None,
            service_account_id=(
                str(row["service_account_id"]) if row["service_account_id"] else None
            ),
            scopes=frozenset(row["scopes"]) & keys.SCOPES,
            allowed_models=frozenset(row["allowed_models"]),
            team_rpm_limit=row["team_rpm_limit"],
            team_tpm_limit=row["team_tpm_limit"],
            key_rpm_limit=row["key_rpm_limit"],
            key_tpm_limit=row["key_tpm_limit"],
            budget_ids=tuple(str(b) for b in row["budget_ids"]),
            cache=CachePolicy.from_json(row["cache_policy"]),
        )

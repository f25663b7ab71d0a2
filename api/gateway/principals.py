"""Who is calling: API keys resolved to principals, cached in the process.

The warm path does no database round trip: a resolved principal is kept until the
database says something changed. Every function that changes what a key may do
(revoking it, suspending its owner, changing a policy, …) sends NOTIFY aigw_principals
at commit; each worker LISTENs and drops its cache, so a revoked key stops working on
every worker within milliseconds. If the listening connection is lost, entries expire
after one second instead, until it is back.
"""

import asyncio
import logging
import time
from dataclasses import dataclass

import asyncpg

from api import keys
from api.database import principal_transaction

log = logging.getLogger("aigw.gateway.principals")

CHANNEL = "aigw_principals"
TTL_LISTENING_S = 300.0  # a safety net; invalidation normally comes by NOTIFY
TTL_NOT_LISTENING_S = 1.0
CACHE_MAX = 100_000


class AuthError(Exception):
    """Authentication failed; `message` is safe to show the caller."""

    def __init__(self, message: str, code: str = "invalid_api_key"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Principal:
    key_id: str
    key_name: str
    team_id: str
    team_name: str
    owner_user_id: str | None
    service_account_id: str | None
    scopes: tuple[str, ...]
    allowed_models: frozenset[str]
    team_rpm_limit: int | None
    team_tpm_limit: int | None
    key_rpm_limit: int | None
    key_tpm_limit: int | None
    has_budget: bool


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key from `Authorization: Bearer …` or `x-api-key: …` (the Anthropic SDK's)."""
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


class KeyAuthenticator:
    def __init__(self, pool: asyncpg.Pool, app_url: str):
        self.pool = pool
        self.app_url = app_url
        self._cache: dict[bytes, tuple[Principal, float]] = {}
        self._listener: asyncpg.Connection | None = None
        self._listening = False
        self._watch_task: asyncio.Task | None = None

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
                await self._listener.add_listener(CHANNEL, lambda *_: self._cache.clear())
                self._cache.clear()  # anything may have changed while we were not listening
                self._listening = True
                while not self._listener.is_closed():
                    await asyncio.sleep(1)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("principal invalidation channel unavailable: %s", type(exc).__name__)
            self._lost()
            await asyncio.sleep(1)

    def _lost(self) -> None:
        self._listening = False

    async def authenticate(self, key: str | None) -> Principal:
        if not key:
            raise AuthError(
                "Missing API key: send it as 'Authorization: Bearer sk-aigw-…' or 'x-api-key'.",
                "missing_api_key",
            )
        if not keys.is_well_formed(key):
            # Rejected before any lookup: a typo, a truncated paste, or not our key at all.
            raise AuthError("Invalid API key format.", "invalid_api_key")
        digest = keys.digest(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        ttl = TTL_LISTENING_S if self._listening else TTL_NOT_LISTENING_S
        if cached and now - cached[1] < ttl:
            return cached[0]
        principal = await self._lookup(digest)
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (principal, now)
        return principal

    async def _lookup(self, digest: bytes) -> Principal:
        try:
            async with principal_transaction(self.pool, None) as conn:
                row = await conn.fetchrow("select * from api.authenticate_key($1)", digest)
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == "AIG01":
                raise AuthError("Invalid API key.") from None
            if exc.sqlstate == "AIG02":
                raise AuthError(str(exc) + ".", "invalid_api_key") from None
            raise
        return Principal(
            key_id=str(row["key_id"]),
            key_name=row["key_name"],
            team_id=str(row["team_id"]),
            team_name=row["team_name"],
            owner_user_id=str(row["owner_user_id"]) if row["owner_user_id"] else None,
            service_account_id=(
                str(row["service_account_id"]) if row["service_account_id"] else None
            ),
            scopes=tuple(row["scopes"]),
            allowed_models=frozenset(row["allowed_models"]),
            team_rpm_limit=row["team_rpm_limit"],
            team_tpm_limit=row["team_tpm_limit"],
            key_rpm_limit=row["key_rpm_limit"],
            key_tpm_limit=row["key_tpm_limit"],
            has_budget=row["has_budget"],
        )

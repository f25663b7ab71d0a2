"""Connections. The services connect as aigw_app and do everything inside a transaction
that first records who the caller is; operators connect with the administrative URL.

    async with principal_transaction(pool, {"user_id": str(user_id)}) as conn:
        rows = await conn.fetch("select * from api.list_teams()")
"""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

PRINCIPAL_SETTING = "app.principal"


async def create_pool(app_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(app_url, min_size=min_size, max_size=max_size)


@asynccontextmanager
async def principal_transaction(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection,
    principal: dict[str, Any] | None,
    *,
    rollback: bool = False,
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction in which row-level security sees `principal`.

    The setting is transaction-local (`set_config(..., true)`): it ends with the
    transaction, so a pooled connection never carries one caller into the next request.
    """
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn, _transaction(conn, principal, rollback) as c:
            yield c
    else:
        async with _transaction(pool_or_conn, principal, rollback) as c:
            yield c


@asynccontextmanager
async def _transaction(
    conn: asyncpg.Connection, principal: dict[str, Any] | None, rollback: bool
) -> AsyncIterator[asyncpg.Connection]:
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(
            "select set_config($1, $2, true)", PRINCIPAL_SETTING, json.dumps(principal or {})
        )
        yield conn
    except BaseException:
        await tx.rollback()
        raise
    else:
        if rollback:
            await tx.rollback()
        else:
            await tx.commit()

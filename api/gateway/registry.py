"""What the gateway keeps of the model registry: each model's most output tokens, which
a request's max_tokens may not pass (validation.py), and its limits and list prices, which
price what a budgeted request may cost and does (budgets.py).

Loaded at start, then again whenever the database says a model changed (api.register_model,
api.set_model_enabled and api.set_price notify the principals' channel with 'models') or
the channel came back after a loss: a model registered while the gateway runs is served
with its limits at once, without a restart.
"""

import asyncio
import logging

import asyncpg

from api.gateway.prices import ModelPrices, model_prices
from api.gateway.principals import DATABASE_AWAY

log = logging.getLogger("aigw.gateway.registry")


class ModelRegistry:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self.max_output_tokens: dict[str, int] = {}
        self.prices: dict[str, ModelPrices] = {}
        self._reload: asyncio.Task | None = None
        self._again = False

    async def load(self) -> list[asyncpg.Record]:
        """Read the registry now; its rows (api.gateway_models)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("select * from api.gateway_models()")
        self.max_output_tokens = {r["name"]: r["max_output_tokens"] for r in rows}
        self.prices = {r["name"]: model_prices(r) for r in rows}
        return rows

    def changed(self) -> None:
        """Reload in the background; a change during a reload makes one more after it."""
        if self._reload is not None and not self._reload.done():
            self._again = True
            return
        self._reload = asyncio.create_task(self._reloading())

    async def _reloading(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self.load()
            except DATABASE_AWAY as exc:  # the channel's return will bring a reload
                log.warning("model registry not reloaded: %s", type(exc).__name__)
                return

    async def stop(self) -> None:
        if self._reload is not None:
            self._reload.cancel()
            await asyncio.gather(self._reload, return_exceptions=True)

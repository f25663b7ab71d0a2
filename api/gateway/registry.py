"""What the gateway keeps of the model registry: each model's most output tokens, which
a request's max_tokens may not pass (validation.py), and its limits and list prices, which
price what a budgeted request may cost and does (budgets.py).

Loaded at start, then again whenever the database says a model changed (api.register_model,
api.set_model_enabled and api.set_price notify the principals' channel with 'models') or
the channel came back after a loss: a model registered while the gateway runs is served
with its limits at once, without a restart.
"""

import logging

import asyncpg

from api.gateway.prices import ModelPrices, model_prices
from api.gateway.reloading import Reloading

log = logging.getLogger("aigw.gateway.registry")


class ModelRegistry(Reloading):
    what = "model registry"
    log = log

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self.max_output_tokens: dict[str, int] = {}
        self.prices: dict[str, ModelPrices] = {}

    async def load(self) -> list[asyncpg.Record]:
        """Read the registry now; its rows (api.gateway_models)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("select * from api.gateway_models()")
        self.max_output_tokens = {r["name"]: r["max_output_tokens"] for r in rows}
        self.prices = {r["name"]: model_prices(r) for r in rows}
        return rows

"""A model's limits and list prices, and the two sums budgets make with them: what a
request within a bound can cost at most, and what its tokens did cost. Each is the same
arithmetic as its SQL twin (api.reserve_budget's worst case, policy.cost_usd), in
Decimal, so the gateway's figures and the ledger's agree to the digit.
"""

from dataclasses import dataclass
from decimal import Decimal

from api.gateway.bounds import Bound

MTOK = Decimal(1_000_000)


@dataclass(frozen=True)
class ModelPrices:
    """A model's registry limits and list prices (USD per million tokens)."""

    max_output_tokens: int
    context_window_tokens: int
    input: Decimal | None
    output: Decimal | None
    cached_input: Decimal | None

    @property
    def priced(self) -> bool:
        return self.input is not None

    def worst_case(self, bound: Bound) -> Decimal:
        """What a request within `bound` can cost: api.reserve_budget's arithmetic."""
        window = max(self.context_window_tokens, bound.context_window or 0)
        input_tokens = min(window if bound.input_tokens is None else bound.input_tokens, window)
        per_choice = self.max_output_tokens if bound.output_tokens is None else bound.output_tokens
        output_tokens = min(per_choice, window) * bound.choices
        input_price = max(self.input, self.cached_input)
        return (input_tokens * input_price + output_tokens * self.output) / MTOK

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int) -> Decimal:
        """What tokens cost: policy.cost_usd's arithmetic, to the same digit."""
        fresh = max(input_tokens - cached_input_tokens, 0)
        return (
            fresh * self.input
            + cached_input_tokens * self.cached_input
            + output_tokens * self.output
        ) / MTOK


def model_prices(row) -> ModelPrices:
    def price(name: str) -> Decimal | None:
        value = row[name]
        return None if value is None else Decimal(value)

    return ModelPrices(
        row["max_output_tokens"],
        row["context_window_tokens"],
        price("input_usd_per_mtok"),
        price("output_usd_per_mtok"),
        price("cached_input_usd_per_mtok"),
    )

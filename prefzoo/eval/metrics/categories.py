"""The world's category rates (e.g. harmful requests declined, benign ones refused), one column each."""
from typing import Any

from prefzoo.eval.metric import EvalContext, MetricBase, MetricValues


class CategoryRates(MetricBase):
    name = "categories"
    group = "rates"
    description = "the world's category rates (see the world's category_rates)"

    def columns(self, world: Any) -> tuple[str, ...]:
        return tuple(world.categories)

    def directions(self, world: Any) -> dict:
        known = getattr(world, "category_directions", None) or {}
        return {c: known.get(c, "none") for c in self.columns(world)}

    def compute(self, ctx: EvalContext) -> MetricValues:
        return MetricValues(dict(ctx.world.category_rates(ctx.rows, ctx.texts)))

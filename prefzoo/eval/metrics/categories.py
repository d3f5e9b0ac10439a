"""The world's category rates (e.g. harmful requests declined, benign ones refused), one column each.

Per prompt it also keeps each column's value on that prompt alone (``world.category_rates([row], [text])``:
1 or 0 where the prompt is of the column's category, NaN elsewhere), under the column's name in
samples.jsonl, so the report gives every column with a direction a CI and a paired verdict against the base
(``per_prompt_keys``; the world's ``deliverables`` name the columns a reader looks for first).
"""
import math
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

    def per_prompt_keys(self, world: Any) -> dict[str, str]:
        """column -> its samples.jsonl field (the column's own name)."""
        return {c: c for c in self.columns(world)}

    def compute(self, ctx: EvalContext) -> MetricValues:
        values = dict(ctx.world.category_rates(ctx.rows, ctx.texts))
        cols = self.columns(ctx.world)
        per_prompt: dict[str, list] = {c: [] for c in cols}
        for row, text in zip(ctx.rows, ctx.texts):
            one = ctx.world.category_rates([row], [text])
            for c in cols:
                v = one.get(c, math.nan)
                per_prompt[c].append(float(v) if isinstance(v, (int, float)) else math.nan)
        return MetricValues(values, per_prompt)

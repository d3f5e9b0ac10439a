"""Win rate against the base: the expected gold preference of the arm's sample over the base's sample
on the same prompt (0.5 for the base itself)."""
from prefzoo.eval.metric import EvalContext, MetricBase, MetricValues


class WinRateVsBase(MetricBase):
    name = "win_rate_vs_base"
    direction = "higher"
    group = "headline"
    per_prompt_key = "win_vs_base"
    description = "expected gold preference over the base's sample on the same prompt"

    def compute(self, ctx: EvalContext) -> MetricValues:
        wins = [ctx.world.gold_preference(r, a, b) for r, a, b in zip(ctx.rows, ctx.texts, ctx.base_texts)]
        return self.mean(wins)

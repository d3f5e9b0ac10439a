"""Gold reward: the world's gold rubric on the arm's samples (mean over held-out prompts)."""
from prefzoo.eval.metric import EvalContext, MetricBase, MetricValues


class GoldReward(MetricBase):
    name = "gold_reward"
    direction = "higher"
    group = "headline"
    ci = True  # the summary's gold_reward_mean / _ci_low / _ci_high
    per_prompt_key = "gold_reward"
    description = "the world's gold reward of the arm's samples, mean over held-out prompts"

    def compute(self, ctx: EvalContext) -> MetricValues:
        return self.mean(ctx.world.gold.score(ctx.rows, ctx.texts).tolist())

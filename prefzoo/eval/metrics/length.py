"""Mean response length in tokens (judges and rubrics can favour length, so it sits beside them)."""
from prefzoo.eval.metric import EvalContext, MetricBase, MetricValues


class MeanLength(MetricBase):
    name = "mean_length"
    direction = "none"
    per_prompt_key = "length"
    description = "mean response length (tokens)"

    def compute(self, ctx: EvalContext) -> MetricValues:
        lengths = [len(c) for c in ctx.completion_ids]
        return MetricValues({self.name: sum(lengths) / len(lengths)}, {self.per_prompt_key: lengths})

"""distinct-2 (Li et al. 2016): unique bigrams over all bigrams of the arm's responses (1.0: all different)."""
from prefzoo.eval.metric import EvalContext, MetricBase, MetricValues


def distinct_n(texts: list[str], n: int = 2) -> float:
    """Unique n-grams over all n-grams of the responses: 1.0 all different."""
    grams = [tuple(t.split()[i:i + n]) for t in texts for i in range(max(0, len(t.split()) - n + 1))]
    return len(set(grams)) / len(grams) if grams else 0.0


class Distinct2(MetricBase):
    name = "distinct_2"
    direction = "higher"
    description = "unique bigrams over all bigrams of the responses (diversity)"

    def compute(self, ctx: EvalContext) -> MetricValues:
        return MetricValues({self.name: distinct_n(ctx.texts)})

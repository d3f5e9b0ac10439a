"""Held-out pair accuracy: does the arm's implicit reward rank each test pair's chosen reply above its
rejected one? r(x, y) = beta * log(pi(y|x) / pi_base(y|x)) is the DPO family's implicit reward (Rafailov
et al. 2023, eq. 5); the ranking does not depend on beta > 0, so the metric needs none and is defined
for every arm, PPO's included. A tie (the base against itself) counts 1/2. Needs a world with test pairs
(``world: dataset``); elsewhere the column is NaN."""
import math

import torch

from prefzoo.eval.metric import EvalContext, MetricBase, MetricValues
from prefzoo.eval.metrics.kl import sequence_logps


class HeldoutAccuracy(MetricBase):
    name = "heldout_accuracy"
    direction = "higher"
    group = "headline"
    per_prompt_key = "heldout_accuracy"
    description = "share of held-out pairs whose chosen reply log(pi/pi_base) ranks above the rejected (ties 1/2)"

    def compute(self, ctx: EvalContext) -> MetricValues:
        pairs_of = getattr(ctx.world, "test_pairs_of", None)
        groups = pairs_of(ctx.rows) if pairs_of is not None else [[] for _ in ctx.rows]
        flat = [(i, p) for i, ps in enumerate(groups) for p in ps]
        if not flat:
            return MetricValues({self.name: math.nan}, {self.per_prompt_key: [math.nan] * len(ctx.rows)})
        policy = ctx.policy
        prompts = [policy.encode_prompt(p["prompt"]) for _, p in flat]
        room = [max(1, policy.max_length - len(e)) for e in prompts]
        chosen = [policy.encode_completion(p["chosen"])[:n] for (_, p), n in zip(flat, room)]
        rejected = [policy.encode_completion(p["rejected"])[:n] for (_, p), n in zip(flat, room)]
        if ctx.is_base:  # log(pi / pi_base) is 0 for the base itself: every pair is a tie
            margin = torch.zeros(2 * len(flat))
        else:
            margin = (sequence_logps(policy, prompts * 2, chosen + rejected)
                      - sequence_logps(ctx.base, prompts * 2, chosen + rejected))
        n = len(flat)
        hits = [1.0 if d > 0 else 0.5 if d == 0 else 0.0 for d in (margin[:n] - margin[n:]).tolist()]
        per_prompt = [[] for _ in ctx.rows]
        for (i, _), h in zip(flat, hits):
            per_prompt[i].append(h)
        values = [sum(h) / len(h) if h else math.nan for h in per_prompt]
        known = [v for v in values if not math.isnan(v)]  # the column: the mean over prompts, as for every metric
        return MetricValues({self.name: sum(known) / len(known)}, {self.per_prompt_key: values})

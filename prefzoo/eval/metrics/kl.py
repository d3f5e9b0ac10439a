"""KL(policy || base) per sequence, Monte Carlo over the policy's own samples:
E_y~pi[log pi(y|x) - log pi_base(y|x)] (the plain "k1" estimator; 0 for the base itself)."""
import torch

from prefzoo.eval.metric import EvalContext, MetricBase, MetricValues


@torch.no_grad()
def sequence_logps(policy, prompt_ids: list[list[int]], comp_ids: list[list[int]], batch_size: int = 100) -> torch.Tensor:
    """Summed log-prob of each completion given its prompt, [N]."""
    out = []
    was = policy.model.training
    policy.model.eval()
    for start in range(0, len(prompt_ids), batch_size):
        seqs = policy.sequences(prompt_ids[start:start + batch_size], [c or [policy.tokenizer.eos_token_id]
                                                                        for c in comp_ids[start:start + batch_size]])
        out.append(policy.forward_logps(seqs).sum(-1).float().cpu())
    policy.model.train(was)
    return torch.cat(out)


class KLToBase(MetricBase):
    name = "kl_to_base"
    direction = "lower"
    group = "headline"
    per_prompt_key = "kl"
    verdict = False  # 0 for the base by definition: "worse than the base" would only say the arm moved
    description = "KL(policy || base) per sequence, E[log pi - log pi_base] on the arm's own samples (nats)"

    def compute(self, ctx: EvalContext) -> MetricValues:
        if ctx.is_base:
            return self.mean([0.0] * len(ctx.rows))
        kls = (sequence_logps(ctx.policy, ctx.prompt_ids, ctx.completion_ids)
               - sequence_logps(ctx.base, ctx.prompt_ids, ctx.completion_ids)).tolist()
        return self.mean(kls)

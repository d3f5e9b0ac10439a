"""KL(policy || base) per sequence, Monte Carlo over the policy's own samples:
E_y~pi[log pi(y|x) - log pi_base(y|x)] (the plain "k1" estimator; 0 for the base itself).

A policy whose sampling is not the distribution of the log-probs it reports (best-of-n: its log-probs
are the wrapped policy's) says so with the ``sampling_kl(prompt_ids, completion_ids) -> [N]`` capability,
KL(its sampling || its reported distribution) per sample, which is added: KL(pi_s || pi_base) =
KL(pi_s || pi) + E_{pi_s}[log pi - log pi_base]."""
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
    description = ("KL(policy || base) per sequence, E[log pi - log pi_base] on the arm's own samples, plus the "
                   "policy's sampling_kl where it has one (best-of-n: KL(pi_bon || pi)) (nats)")

    def compute(self, ctx: EvalContext) -> MetricValues:
        if ctx.is_base:
            return self.mean([0.0] * len(ctx.rows))
        kls = (sequence_logps(ctx.policy, ctx.prompt_ids, ctx.completion_ids)
               - sequence_logps(ctx.base, ctx.prompt_ids, ctx.completion_ids))
        sampling_kl = getattr(ctx.policy, "sampling_kl", None)  # a capability, not a name
        if callable(sampling_kl):
            kls = kls + torch.as_tensor(sampling_kl(ctx.prompt_ids, ctx.completion_ids), dtype=kls.dtype)
        return self.mean(kls.tolist())

"""RPO: Pang et al. 2024, "Iterative Reasoning Preference Optimization", arXiv 2404.19733.

Intuition: DPO alone can lower the likelihood of the chosen completion too (both go down, the gap
grows); an NLL term on the chosen completion keeps it likely while the pair is separated.
Loss (sec. 2, "DPO+NLL"): -log sigma(beta * h) + alpha * NLL(y_w), h = r_w - r_l as in DPO.
NLL convention (``nll_norm``): "tokens" (default, TRL's: TRL 1.16 has no ``rpo_alpha`` left, RPO is
``loss_type=["sigmoid", "sft"]`` with ``loss_weights=[1, alpha]``): one token mean over every chosen
completion of the batch, -sum_i log pi(y_w,i) / sum_i |y_w,i|; "sequence" (the paper's): each chosen
completion's per-token mean, then the batch mean. They differ when chosen lengths differ. Soft labels
are refused: the NLL term needs a completion to imitate.
Shapes: every input [B] (summed completion log-probs, lengths in tokens); loss scalar.
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register, soft_sigmoid_loss

NLL_NORMS = ("tokens", "sequence")


def chosen_nll(policy: PairLogps, norm: str = "tokens"):
    """(scalar NLL of the chosen completions, [B] per-example NLL per token). ``norm`` "tokens": one token
    mean over the batch (TRL's ``sft`` term); "sequence": the mean of each completion's token mean."""
    per_example = -policy.chosen / policy.chosen_len.clamp(min=1)
    if norm == "sequence":
        return per_example.mean(), per_example
    return -policy.chosen.sum() / policy.chosen_len.sum().clamp(min=1), per_example


@register("rpo")
class RPO(Objective):
    summary = "DPO plus alpha times the NLL of the chosen completion"
    paper = "Pang et al. 2024, arXiv 2404.19733"

    @dataclass
    class Config:
        beta: float = 0.1        # DPO's KL strength
        alpha: float = 1.0       # weight of the NLL term (the paper uses 1; TRL's sft loss weight)
        nll_norm: str = "tokens"  # tokens: token mean over the batch (TRL) | sequence: per-completion mean (paper)

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if self.alpha < 0:
                raise ValueError(f"alpha must be >= 0, got {self.alpha}")
            if self.nll_norm not in NLL_NORMS:
                raise ValueError(f"nll_norm must be one of {', '.join(NLL_NORMS)}, not {self.nll_norm!r}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        if policy.p_chosen is not None:
            raise ValueError("rpo takes hard preference labels only (its NLL term needs a chosen completion); "
                             "drop p_chosen or use dpo/cdpo/ipo, which take soft labels")
        r_w, r_l = logratio(policy, reference)
        cfg = self.config
        dpo = soft_sigmoid_loss(cfg.beta * (r_w - r_l), None)
        nll, nll_each = chosen_nll(policy, cfg.nll_norm)
        loss = dpo.mean() + cfg.alpha * nll
        per_example = dpo + cfg.alpha * (nll_each if cfg.nll_norm == "sequence" else nll.expand_as(dpo))
        metrics = pair_metrics(cfg.beta * r_w, cfg.beta * r_l)
        metrics.update(dpo_loss=dpo.detach().mean(), nll_chosen=nll.detach())
        return LossOutput(loss, per_example.detach(), metrics)

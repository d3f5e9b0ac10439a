"""Loss mixtures: one objective over weighted, registered pairwise losses (TRL 1.16's multi-loss
``loss_type=[...]`` with ``loss_weights``). MPO (Wang et al. 2024, "Enhancing the Reasoning Ability of
Multimodal Large Language Models via Mixed Preference Optimization", arXiv 2411.10442) is
``losses: {dpo: 0.8, bco: 0.2, sft: 1.0}``; RPO is ``{dpo: 1, sft: 1}``.

Intuition: a preference term says which completion is better, a quality term (BCO) says how good each
is in absolute terms, a generation term (SFT) keeps the chosen one likely; summing them lets each cover
what the others miss.
Loss: sum_k w_k * L_k(policy, reference), each L_k a registered objective built from ``params[k]`` (its
defaults otherwise), every one fed the same ``PairLogps``. An objective of data_kind "sft" (``sft``) gets
the chosen completions as ``SeqLogps``: prefzoo's sft loss is TRL's ``sft`` term, one token mean over the
batch's chosen completions. Refused with an error when the recipe is read: anything that is not an
offline loss of the policy over pairs or SFT rows (unpaired data such as kto, a scalar-head reward model,
online algorithms). Capabilities are the union of the parts': a reference is used if any part needs one
(a reference-free part gets None), and the loop's per-token ``log_sum_sq_probs`` is filled if any part
asks for it (dpo with ``wpo``). Unlike TRL, each part keeps its own hyper-parameters (TRL shares one beta).
Shapes: every input [B]; loss scalar; per_example [B] the weighted sum of the parts' per_example.
Metrics: each part's, prefixed ``name/``, plus ``name/loss``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prefzoo import registry
from prefzoo.api import PAIRS, SFT, LossOutput, Objective, PairLogps, SeqLogps, register


def build_part(name: str, params: dict) -> Objective:
    """The registered objective ``name`` with ``params``, checked to be a pairwise or SFT loss of the policy."""
    cls = registry.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Objective)):
        raise ValueError(f"mixture part {name!r} is not an offline loss (an Objective); it cannot be mixed")
    if cls.model_kind != "policy":
        raise ValueError(f"mixture part {name!r} trains a {cls.model_kind!r} model, not the policy's log-probs")
    if cls.data_kind not in (PAIRS, SFT):
        raise ValueError(f"mixture part {name!r} needs data_kind {cls.data_kind!r}; a mixture feeds every part "
                         f"the same pairs (pairwise losses) or their chosen completions (sft losses)")
    try:
        return cls(cls.Config(**params))
    except TypeError as e:
        raise ValueError(f"mixture part {name!r}: bad params {params}: {e}") from e


@register("mixtures")
class Mixture(Objective):
    summary = "one objective over weighted registered losses (e.g. MPO = dpo + bco + sft)"
    paper = "TRL multi-loss; MPO: Wang et al. 2024, arXiv 2411.10442"

    @dataclass
    class Config:
        losses: dict[str, float] = field(default_factory=lambda: {"dpo": 1.0, "sft": 1.0})  # name -> weight
        params: dict[str, dict] = field(default_factory=dict)  # name -> that loss's Config params (else defaults)

        def __post_init__(self):
            if not self.losses:
                raise ValueError("losses must name at least one registered loss and its weight")
            if any(w < 0 for w in self.losses.values()) or not any(w > 0 for w in self.losses.values()):
                raise ValueError(f"weights must be >= 0 and not all 0, got {self.losses}")
            extra = sorted(set(self.params) - set(self.losses))
            if extra:
                raise ValueError(f"params for losses not in the mixture: {', '.join(extra)}")
            for name in self.losses:
                build_part(name, self.params.get(name, {}))

    def __init__(self, config=None):
        super().__init__(config)
        self.parts = [(name, float(w), build_part(name, self.config.params.get(name, {})))
                      for name, w in self.config.losses.items()]
        self.needs_reference = any(part.needs_reference for _, _, part in self.parts)

    @property
    def needs_sum_sq_probs(self) -> bool:
        return any(part.needs_sum_sq_probs for _, _, part in self.parts)

    def loss(self, policy: PairLogps, reference: PairLogps | None = None) -> LossOutput:
        total, per_example, metrics = 0.0, 0.0, {}
        for name, weight, part in self.parts:
            ref = reference if part.needs_reference else None
            if part.data_kind == SFT:
                out = part.loss(SeqLogps(policy.chosen, policy.chosen_len),
                                SeqLogps(ref.chosen, ref.chosen_len) if ref is not None else None)
            else:
                out = part.loss(policy, ref)
            total = total + weight * out.loss
            per_example = per_example + weight * out.per_example
            metrics[f"{name}/loss"] = out.loss.detach()
            metrics.update({f"{name}/{k}": v for k, v in out.metrics.items()})
        return LossOutput(total, per_example.detach(), metrics)

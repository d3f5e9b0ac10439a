"""``simulated:ACC``: an AI labeler of known accuracy, for labeler-accuracy studies (Lee et al. 2023,
arXiv 2309.00267, sec. 5: the labeler's alignment with humans drives RLAIF's outcome).

It compares two replies by the world's gold reward and reports the gold's pick with probability ACC,
the other reply otherwise (a hard label, 1.0 or 0.0); on a gold tie it picks one by a fair coin. The
coin and the flip are keyed by the (prompt, reply, reply) triple, so a pair gets the same label in
every process, run and order (``prefer(b, a) = 1 - prefer(a, b)``), and ACC is exactly the expected
agreement with gold on the pairs gold does not tie (what ``labeler_alignment`` measures).
"""
from __future__ import annotations

import torch

from prefzoo.feedback.base import Feedback
from prefzoo.feedback.cache import stable_hash
from prefzoo.feedback.spec import BuildContext, FeedbackSpec, FeedbackSpecError


def _uniform(*key) -> float:
    return int(stable_hash(list(key), size=8), 16) / 2.0 ** 64


class SimulatedLabeler(Feedback):
    def __init__(self, gold: Feedback, accuracy: float, salt: str = ""):
        self.gold, self.accuracy, self.salt = gold, accuracy, salt
        self.name = f"simulated labeler (accuracy {accuracy:g})"

    def prefer(self, prompts, a, b) -> torch.Tensor:
        ga = self.gold.score(prompts, a).tolist()
        gb = self.gold.score(prompts, b).tolist()
        out = []
        for p, x, y, sx, sy in zip(prompts, a, b, ga, gb):
            text = p if isinstance(p, str) else p.get("prompt", str(p))
            lo, hi = sorted((x, y))  # the key ignores the order the pair came in
            u = _uniform(self.salt, text, lo, hi)
            if sx == sy:  # no gold preference: a fair coin (uses the other half of the key's randomness)
                pick_lo = _uniform(self.salt, "tie", text, lo, hi) < 0.5
                x_wins = (x == lo) == pick_lo
            else:
                x_wins = (sx > sy) == (u < self.accuracy)
            out.append(1.0 if x_wins else 0.0)
        return torch.tensor(out)


class SimulatedBackend:
    """Registered as ``simulated`` in ``prefzoo.feedback.spec.BACKENDS``; ``simulated:0.8`` sets model="0.8"."""

    def check(self, spec: FeedbackSpec) -> None:
        _accuracy(spec)

    def build(self, spec: FeedbackSpec, ctx: BuildContext) -> Feedback:
        gold = getattr(ctx.world, "gold", None)
        if gold is None:
            raise FeedbackSpecError(f"{ctx.role} 'simulated' needs a world with a gold reward to simulate from")
        return SimulatedLabeler(gold, _accuracy(spec), salt=str(getattr(ctx.job, "seed", 0)))


def _accuracy(spec: FeedbackSpec) -> float:
    try:
        acc = float(spec.model)
    except (TypeError, ValueError):
        acc = float("nan")
    if not 0.0 <= acc <= 1.0:
        raise FeedbackSpecError(f"simulated labeler: give its accuracy in [0, 1] as simulated:ACC (e.g. "
                                f"simulated:0.8, or model: '0.8' in the mapping form), got {spec.model!r}")
    return acc

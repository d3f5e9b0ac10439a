"""Stage: rounds of an iterative method, and the feedback source they share.

Iterative methods (spin, sppo, iterative-dpo, raft) repeat one round: sample from the current policy,
build a dataset from the samples, train on it. ``run_rounds`` runs ``one_round(job, r)`` for
r = 0..rounds-1 and gathers the rounds' histories (each round logs as stage ``round-r`` of the
composite's one metrics.jsonl, steps continuing) and infos into one ``TrainResult``. Each round starts
from the policy the previous round left; where a round's learner needs a reference, it is the policy
at the start of that round (pi_t), which ``stages.learn.learn`` and ``fresh_reference`` arrange.

``round_feedback`` builds the feedback spec of an iterative method once for all rounds
(``prefzoo.feedback.spec``: judge | world | rule:FILE.py:FUNC | reward-model[:PATH] | local[:MODEL] |
http:URL); a local judge on ``policy`` is a frozen copy of the policy before round 0, so it never
drifts with the policy it labels.
"""
from __future__ import annotations

from typing import Callable

from prefzoo.job import Job, TrainResult


def round_feedback(job: Job, spec: str | dict, reward_model: dict | None = None, role: str = "judge"):
    """The ``Feedback`` named by ``spec`` for ``job`` (a local judge on the policy: frozen now)."""
    from prefzoo.feedback.local_judge import frozen_copy
    from prefzoo.feedback.spec import build_feedback, parse_spec

    parsed = parse_spec(spec, role)
    frozen = frozen_copy(job.policy) if parsed.backend == "local" and parsed.model == "policy" else None
    return build_feedback(parsed, job, role=role, frozen_policy=frozen, reward_model=reward_model or {})


def fresh_reference(job: Job) -> None:
    """Make the policy as it is now the reference of the next training stage (pi_t)."""
    job.policy.release_reference()


def run_rounds(job: Job, rounds: int, one_round: Callable[[Job, int], tuple[TrainResult, dict]]) -> TrainResult:
    """Run ``one_round(job, r)`` ``rounds`` times; it returns (the round's training result, its info).
    Returns the policy after the last round, every round's history in order, and
    ``info["rounds"]``: one dict per round (its info, plus ``final``: the round's last logged row)."""
    history: list[dict] = []
    infos: list[dict] = []
    artifacts: dict = {}
    for r in range(rounds):
        result, info = one_round(job, r)
        history.extend(result.history)
        artifacts.update(result.artifacts)
        infos.append({"round": r, **info, "final": result.final})
    return TrainResult(job.policy, history, {"rounds": infos, "n_rounds": rounds}, artifacts)


def round_name(r: int) -> str:
    return f"round-{r}"


__all__ = ["run_rounds", "round_feedback", "fresh_reference", "round_name"]

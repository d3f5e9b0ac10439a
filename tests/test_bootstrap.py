"""The compare harness's intervals: the crossed (pigeonhole) bootstrap when the seeds share their prompts."""
import numpy as np
import pytest

from prefzoo.eval.evaluator import bootstrap_ci, paired_verdict


def _misses(crossed: bool, datasets: int = 200, seeds: int = 3, prompts: int = 60) -> float:
    """Share of 95% intervals that miss the true mean 0, on data where each prompt carries an effect shared
    by every seed (its difficulty; in a paired difference, the base's one sample of it) plus seed noise."""
    rng = np.random.default_rng(7)
    misses = 0
    for i in range(datasets):
        prompt_effect = rng.normal(0.0, 1.0, prompts)
        values = prompt_effect + rng.normal(0.0, 0.3, (seeds, prompts))
        _, lo, hi = bootstrap_ci([list(v) for v in values], reps=400, seed=i, crossed=crossed)
        misses += not (lo <= 0.0 <= hi)
    return misses / datasets


def test_crossed_bootstrap_covers_shared_prompt_effects():
    # resampling prompts within each seed separately treats a prompt seen by 3 seeds as 3 independent ones:
    # its intervals are ~sqrt(3) too narrow and miss the mean far more often than 5%
    assert _misses(crossed=False) > 0.15
    assert _misses(crossed=True) <= 0.08


def test_crossed_is_the_default_for_equal_lengths_and_matches_a_plain_loop():
    per_seed = [[0.0, 1.0, 3.0, 2.0], [1.0, 1.0, 2.0, 0.0]]
    assert bootstrap_ci(per_seed) == bootstrap_ci(per_seed, crossed=True)
    # unequal lengths: the seeds cannot share prompts, so the nested design
    assert bootstrap_ci([[0.0, 1.0, 2.0], [1.0]]) == bootstrap_ci([[0.0, 1.0, 2.0], [1.0]], crossed=False)
    with pytest.raises(ValueError, match="same prompts"):
        bootstrap_ci([[0.0, 1.0, 2.0], [1.0]], crossed=True)
    # the vectorised draw against a loop over the same seed and prompt picks (counts are all the draw needs)
    values = np.asarray(per_seed)
    mean, lo, hi = bootstrap_ci(per_seed, reps=400, seed=3)
    rng = np.random.default_rng(3)
    picks = rng.integers(0, 2, size=(400, 2))
    stats = []
    for r in range(400):
        if r % 256 == 0:
            block = rng.multinomial(4, np.full(4, 0.25), size=min(256, 400 - r))
        counts = block[r % 256]
        stats.append(np.mean([np.repeat(values[s], counts).mean() for s in picks[r]]))
    stats.sort()
    assert mean == pytest.approx(values.mean())
    assert (lo, hi) == pytest.approx((stats[10], stats[390]))


def test_paired_verdict_aligns_prompts_across_seeds():
    # the same prompts in another order in the second seed: paired on one order, crossed
    arm = [{"a": 1.0, "b": 2.0, "c": 0.0}, {"c": 1.0, "a": 2.0, "b": 0.0}]
    base = [{"a": 0.0, "b": 0.0, "c": 0.0}] * 2
    aligned = [{"a": 1.0, "b": 2.0, "c": 0.0}, {"a": 2.0, "b": 0.0, "c": 1.0}]
    assert paired_verdict(arm, base, "higher") == paired_verdict(aligned, base, "higher")
    crossed = bootstrap_ci([[1.0, 2.0, 0.0], [2.0, 0.0, 1.0]], crossed=True)
    assert paired_verdict(arm, base, "higher")[:3] == crossed
    # a prompt missing from one seed: the seeds pair different prompts, so the nested design
    partial = [{"a": 1.0, "b": 2.0, "c": 0.0}, {"a": 2.0, "b": 0.0}]
    nested = bootstrap_ci([[1.0, 2.0, 0.0], [2.0, 0.0]], crossed=False)
    assert paired_verdict(partial, base, "higher")[:3] == nested

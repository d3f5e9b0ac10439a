"""RAFT: Dong et al. 2023, "RAFT: Reward rAnked FineTuning for Generative Foundation Model Alignment",
arXiv 2304.06767 (Algorithm 1; also called rejection-sampling fine-tuning).

Intuition: best-of-n, distilled: sample n replies per prompt, keep the one the reward ranks first,
and fine-tune on the kept ones; repeat with the improved model.
Each round t: n samples per prompt from pi_t (stages.selection.sample_k) -> scores from the ``reward``
feedback spec -> the best per prompt (ties: the first) -> ``sft`` on (prompt, best) (loss: token-mean
negative log-likelihood) -> pi_{t+1}.
Saved beside each round: round-t/raft_best.jsonl.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prefzoo import registry
from prefzoo.api import SFT, Algorithm
from prefzoo.data.loaders import records_from_list
from prefzoo.job import Job, JobError, TrainResult
from prefzoo.registry import register
from prefzoo.stages.learn import is_main, stage_job, stage_train
from prefzoo.stages.rounds import round_feedback, round_name, run_rounds
from prefzoo.stages.sampling import prompt_rows, save_jsonl
from prefzoo.stages.selection import best_index, sample_k, score_groups


@dataclass
class RAFTConfig:
    rounds: int = 2                   # sample-rank-finetune iterations
    n: int = 4                        # samples per prompt (the paper: K = 8 for HH-RLHF)
    reward: str = "judge"             # the ranker (prefzoo.feedback.spec), pointwise scores
    reward_model: dict = field(default_factory=dict)
    n_prompts: int | None = None      # prompts per round (a fresh seeded subset each round); None: all
    temperature: float = 1.0
    max_new_tokens: int = 32
    train: dict = field(default_factory=dict)  # overrides of the recipe's train section for each SFT round

    def __post_init__(self):
        if self.rounds < 1 or self.n < 1:
            raise ValueError("need rounds >= 1 and n >= 1")


@register("raft")
class RAFT(Algorithm):
    family = "sampling"
    data_kind = "prompts"
    needs_reference = False
    summary = "rounds of: n samples per prompt, keep the reward's best, SFT on them"
    paper = "Dong et al. 2023, arXiv 2304.06767"
    Config = RAFTConfig

    def run(self, job: Job) -> TrainResult:
        cfg = self.config
        feedback = round_feedback(job, cfg.reward, cfg.reward_model, role="reward")

        def one_round(job: Job, r: int):
            rows = prompt_rows(job, cfg.n_prompts, job.seed + r)
            prompts = [x["prompt"] for x in rows]
            groups = sample_k(job.policy, prompts, cfg.n, temperature=cfg.temperature,
                              max_new_tokens=cfg.max_new_tokens, seed=job.seed * 1009 + r)
            scores = score_groups(feedback, prompts, groups)
            best = [{"prompt": p, "completion": g[best_index(s)], "reward": max(s), "mean_reward": sum(s) / len(s)}
                    for p, g, s in zip(prompts, groups, scores)]
            best = [b for b in best if b["completion"].strip()]
            if is_main(job):
                save_jsonl(best, job.out_dir / round_name(r) / "raft_best.jsonl")
            if not best:
                raise JobError(f"round {r}: every best sample was empty; raise max_new_tokens")
            ds, _ = records_from_list([{"prompt": b["prompt"], "completion": b["completion"]} for b in best], SFT)
            sub = stage_job(job, round_name(r), data={SFT: ds}, train=stage_train(job.train, cfg.train, "params.train"))
            result = registry.get("sft")().run(sub)
            return result, {"kept": len(best), "best_reward": sum(b["reward"] for b in best) / len(best),
                            "sample_reward": sum(b["mean_reward"] for b in best) / len(best)}

        return run_rounds(job, cfg.rounds, one_round)

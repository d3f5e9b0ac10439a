"""Reward model: the Bradley-Terry loss by hand, the score read at EOS, normalisation, save/load,
learning a rule, and the `prefzoo train recipes/tiny-rm.yaml` run. Fast; nothing downloaded."""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from prefzoo.data import records_from_list
from prefzoo.feedback.reward_model import RewardModel, ScalarHeadModel, at_last_token
from prefzoo.job import Job
from prefzoo.recipe import LoraConfig, TrainConfig
from prefzoo.stages.reward import RewardModelConfig, bt_loss, split_pairs, train_reward_model

from conftest import build_policy

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- the loss
def test_bt_loss_hand_worked():
    chosen = torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64)
    rejected = torch.tensor([1.0, 1.5, 3.0], dtype=torch.float64)   # delta = 1, -1, 0
    # -log sigma(1) = log(1 + e^-1); -log sigma(-1) = log(1 + e); -log sigma(0) = log 2
    expected = torch.tensor([0.31326168751822286, 1.3132616875182228, 0.6931471805599453], dtype=torch.float64)
    torch.testing.assert_close(bt_loss(chosen, rejected), expected, atol=1e-6, rtol=0)


def test_bt_loss_soft_label_hand_worked():
    chosen = torch.tensor([2.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    rejected = torch.tensor([1.0, 1.0, 1.5, 1.0], dtype=torch.float64)   # delta = 1, 1, -1, 2
    p = torch.tensor([0.75, 0.5, 0.25, 1.0], dtype=torch.float64)
    # -p log sigma(d) - (1-p) log sigma(-d), with log(1+e^-1) = 0.313262, log(1+e) = 1.313262
    expected = torch.tensor([0.75 * 0.31326168751822286 + 0.25 * 1.3132616875182228,   # 0.563262
                             0.5 * 0.31326168751822286 + 0.5 * 1.3132616875182228,     # 0.813262
                             0.25 * 1.3132616875182228 + 0.75 * 0.31326168751822286,   # 0.563262 (mirror)
                             0.12692801104297263],                                    # log(1 + e^-2)
                            dtype=torch.float64)
    torch.testing.assert_close(bt_loss(chosen, rejected, p), expected, atol=1e-6, rtol=0)
    # p = 1 is the hard label
    torch.testing.assert_close(bt_loss(chosen, rejected, torch.ones(4, dtype=torch.float64)),
                               bt_loss(chosen, rejected), atol=1e-12, rtol=0)


# ---------------------------------------------------------------- the model
def test_at_last_token_reads_last_attended_position():
    values = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    assert at_last_token(values, mask).tolist() == [1.0, 7.0, 8.0]


def test_head_init_and_independence_from_policy(tiny_policy):
    m = ScalarHeadModel.from_policy(tiny_policy)
    hidden = tiny_policy.model.config.hidden_size
    assert m.head.in_features == hidden and m.head.out_features == 1
    assert 0.0 < m.head.weight.std().item() < 3.0 / math.sqrt(hidden + 1)
    assert float(m.head.bias.detach().abs().sum()) == 0.0
    z = ScalarHeadModel.from_policy(tiny_policy, zero_head=True)
    ids = torch.tensor([tiny_policy.encode_prompt("color of the sea ?")])
    assert z(ids, torch.ones_like(ids)).abs().max().item() == 0.0
    # a deep copy: changing the reward model leaves the policy alone
    before = tiny_policy.weights_hash()
    with torch.no_grad():
        for q in m.backbone.parameters():
            q.add_(1.0)
    assert tiny_policy.weights_hash() == before


def test_from_lora_policy_merges_into_an_independent_backbone(tiny_pairs):
    policy = build_policy(tiny_pairs)
    policy.add_lora(LoraConfig(r=4, alpha=8))
    m = ScalarHeadModel.from_policy(policy)
    assert not any("lora" in n for n, _ in m.named_parameters())
    assert type(m.backbone).__name__ == "LlamaModel"
    ids = torch.tensor([policy.encode_prompt("color of the sea ?")])
    assert m(ids, torch.ones_like(ids)).shape == ids.shape
    assert policy.is_lora  # the policy keeps its adapter


def test_score_is_read_at_eos(tiny_policy):
    rm = RewardModel.from_policy(tiny_policy)
    tok = tiny_policy.tokenizer
    prompt = tiny_policy.encode_prompt("color of the sea ?")
    short = tiny_policy.encode_completion("blue")                  # ends with <eos>
    long = tiny_policy.encode_completion("the sea is blue , mostly .")
    assert short[-1] == tok.eos_token_id
    seqs_prompts, seqs_comps = [prompt, prompt], [short, long]     # row 0 is right-padded
    base = rm.values_of_ids(seqs_prompts, seqs_comps).detach()
    eos_pos = len(prompt) + len(short) - 1

    from prefzoo.models.policy import pad_sequences

    batch = pad_sequences(seqs_prompts, seqs_comps, tok.pad_token_id)
    assert batch.attention_mask[0, eos_pos] == 1 and batch.attention_mask[0, eos_pos + 1] == 0
    with torch.no_grad():
        full = rm.module(batch.input_ids, batch.attention_mask)
        assert full[0, eos_pos].item() == pytest.approx(base[0].item(), abs=1e-6)
        # a different token in the padding after EOS: same score
        ids = batch.input_ids.clone()
        ids[0, eos_pos + 1:] = tok.convert_tokens_to_ids("blue")
        after_pad = at_last_token(rm.module(ids, batch.attention_mask), batch.attention_mask)
        assert after_pad[0].item() == pytest.approx(base[0].item(), abs=1e-6)
        # a different token at the EOS position: a different score
        ids = batch.input_ids.clone()
        ids[0, eos_pos] = tok.convert_tokens_to_ids("sea")
        at_eos = at_last_token(rm.module(ids, batch.attention_mask), batch.attention_mask)
        assert abs(at_eos[0].item() - base[0].item()) > 1e-4
    # score() on text reads the same value as the hand-built batch
    raw = rm.raw_scores(["color of the sea ?"] * 2, ["blue", "the sea is blue , mostly ."])
    torch.testing.assert_close(raw, base, atol=1e-5, rtol=0)


def test_normalise_gives_mean_zero_std_one(tiny_policy, tiny_pairs):
    rm = RewardModel.from_policy(tiny_policy)
    prompts = [p["prompt"] for p in tiny_pairs] * 2
    responses = [p["chosen"] for p in tiny_pairs] + [p["rejected"] for p in tiny_pairs]
    rm.normalise(rm.raw_scores(prompts, responses))
    s = rm.score(prompts, responses)
    assert s.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert s.std(correction=0).item() == pytest.approx(1.0, abs=1e-5)


def test_save_load_roundtrip_gives_identical_scores(tiny_policy, tiny_pairs, tmp_path):
    rm = RewardModel.from_policy(tiny_policy, offset=0.3, scale=2.0)
    prompts = [p["prompt"] for p in tiny_pairs]
    responses = [p["chosen"] for p in tiny_pairs]
    rm.save(tmp_path / "rm")
    meta = json.loads((tmp_path / "rm" / "reward_model.json").read_text())
    assert meta["offset"] == 0.3 and meta["scale"] == 2.0 and meta["base"] == "tiny"
    back = RewardModel.load(tmp_path / "rm")
    assert torch.equal(back.score(prompts, responses), rm.score(prompts, responses))
    assert torch.equal(back.raw_scores(prompts, responses), rm.raw_scores(prompts, responses))


# ---------------------------------------------------------------- training
WORDS = ["good", "bad", "fine", "meh", "red", "blue", "ok"]


def rule_pairs(n: int, seed: int = 0) -> list[dict]:
    """Responses of 3-6 random words; the one with more "good" is preferred (ties skipped)."""
    rng = random.Random(seed)
    rows = []
    while len(rows) < n:
        a = [rng.choice(WORDS) for _ in range(rng.randint(3, 6))]
        b = [rng.choice(WORDS) for _ in range(rng.randint(3, 6))]
        if a.count("good") == b.count("good"):
            continue
        win, lose = (a, b) if a.count("good") > b.count("good") else (b, a)
        rows.append({"prompt": "say something good .", "chosen": " ".join(win), "rejected": " ".join(lose)})
    return rows


def make_job(policy, tmp_path) -> Job:
    return Job(policy=policy, train=TrainConfig(progress=False), out_dir=tmp_path / "rm", seed=0)


def test_split_is_seeded_and_keeps_training_rows():
    tr, ev = split_pairs(10, 0.2, seed=3)
    assert len(ev) == 2 and sorted(tr + ev) == list(range(10)) and split_pairs(10, 0.2, 3) == (tr, ev)
    assert split_pairs(1, 0.5, 0) == ([0], [])
    assert split_pairs(5, 0.0, 0) == ([0, 1, 2, 3, 4], [])


def test_learns_a_rule_to_high_heldout_accuracy(tmp_path):
    rows = rule_pairs(80, seed=0)
    policy = build_policy(rows, seed=0)
    pairs, _ = records_from_list(rows, "pairs")
    cfg = RewardModelConfig(lr=2e-3, epochs=3, batch_size=16, eval_fraction=0.25, normalise_on=0, seed=0)
    rm, info = train_reward_model(make_job(policy, tmp_path), pairs, cfg)
    assert info["heldout_pairs"] == 20 and info["train_pairs"] == 60
    assert info["heldout_accuracy"] > 0.8, info
    assert info["train_accuracy"] > 0.8, info
    assert info["steps"] == 3 * 4
    rows_logged = [json.loads(line) for line in (tmp_path / "rm" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows_logged] == list(range(1, 13)) and "loss" in rows_logged[0]
    # normalise_on=0: the training pairs' chosen+rejected score mean 0, std 1
    train_rows = [rows[i] for i in split_pairs(80, 0.25, 0)[0]]
    s = rm.score([r["prompt"] for r in train_rows] * 2,
                 [r["chosen"] for r in train_rows] + [r["rejected"] for r in train_rows])
    assert s.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert s.std(correction=0).item() == pytest.approx(1.0, abs=1e-4)
    # the policy was left untouched and the RM is frozen feedback
    assert not any(q.requires_grad for q in rm.module.parameters())
    assert rm.prefer(["say something good ."], ["good good good"], ["bad meh red"]).item() > 0.5


def test_soft_labels_train_and_normalise_on_sft_samples(tiny_pairs, tmp_path):
    rows = [dict(r, p_chosen=0.9) for r in tiny_pairs]
    policy = build_policy(rows, seed=0)
    pairs, _ = records_from_list(rows, "pairs")
    before = policy.weights_hash()
    cfg = RewardModelConfig(lr=1e-3, epochs=2, batch_size=2, eval_fraction=0.25, normalise_on=6,
                            max_new_tokens=4, seed=0)
    rm, info = train_reward_model(make_job(policy, tmp_path), pairs, cfg)
    assert policy.weights_hash() == before
    assert info["normalised_on"] == "6 SFT samples" and info["scale"] > 0
    assert info["steps"] == 2 * 2 and math.isfinite(info["train_loss"])


def test_cli_train_tiny_rm_recipe(tmp_path):
    from prefzoo.cli import main

    out = tmp_path / "tiny-rm"
    assert main(["train", str(ROOT / "recipes" / "tiny-rm.yaml"), "--out", str(out), "--set", "train.progress=false"]) == 0
    assert (out / "reward_model" / "reward_model.json").exists()
    assert (out / "reward_model" / "head.pt").exists()
    info = json.loads((out / "reward_model.json").read_text())
    assert info["heldout_accuracy"] >= 0.8, info
    assert info["heldout_pairs"] == 13
    rm = RewardModel.load(out / "reward_model")
    s = rm.score(["color of the sea ?", "color of the sea ?"], ["the sea is blue .", "i do not know ."])
    assert s[0] > s[1]
    result = json.loads((out / "result.json").read_text())
    assert result["info"]["heldout_accuracy"] == info["heldout_accuracy"]


# ---------------------------------------------------------------- through the offline loop
def test_bradley_terry_objective_hand_worked():
    """BradleyTerry.loss on values r_w = [2, 0.5, 3], r_l = [1, 1.5, 3] (delta = 1, -1, 0):
    per pair log(1+e^-1) = 0.313262, log(1+e) = 1.313262, log 2 = 0.693147; mean 0.773223;
    accuracy 1/3 (only delta > 0 counts), margin 0, chosen 11/6, rejected 11/6."""
    from prefzoo.api import PairLogps
    from prefzoo.stages.reward import BradleyTerry

    c = torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64, requires_grad=True)
    r = torch.tensor([1.0, 1.5, 3.0], dtype=torch.float64)
    obj = BradleyTerry()
    assert obj.model_kind == "scalar" and not obj.needs_reference and obj.data_kind == "pairs"
    out = obj.loss(PairLogps(c, r, torch.ones(3), torch.ones(3)), None)
    per = [0.31326168751822286, 1.3132616875182228, 0.6931471805599453]
    assert out.loss.item() == pytest.approx(sum(per) / 3, abs=1e-6)
    torch.testing.assert_close(out.per_example, torch.tensor(per, dtype=torch.float64), atol=1e-6, rtol=0)
    assert out.metrics["accuracy"].item() == pytest.approx(1 / 3, abs=1e-6)
    assert out.metrics["margin"].item() == pytest.approx(0.0, abs=1e-6)
    assert out.metrics["chosen_reward"].item() == pytest.approx(11 / 6, abs=1e-6)
    assert out.metrics["rejected_reward"].item() == pytest.approx(11 / 6, abs=1e-6)
    out.loss.backward()  # d/dr_w mean(-log sigma(delta)) = -sigma(-delta) / 3
    torch.testing.assert_close(c.grad, -torch.sigmoid(-(c - r)).detach() / 3, atol=1e-6, rtol=0)


def plain_bt_loop(policy, pairs, cfg: RewardModelConfig):
    """An independent transcription of the reward model's training, as the stage ran it before it moved
    onto the offline loop: seeded split, head drawn under seed cfg.seed, per epoch a permutation keyed
    by cfg.seed * 100003 + epoch, AdamW, -log sigma(r_w - r_l) averaged, clip at 1. -> (rm, losses)."""
    encoded, _ = policy.encode(pairs, "pairs")
    train_set = [encoded[i] for i in split_pairs(len(encoded), cfg.eval_fraction, cfg.seed)[0]]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        rm = RewardModel.from_policy(policy)
    model = rm.module.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), weight_decay=0.0)
    losses = []
    for epoch in range(cfg.epochs):
        g = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
        order = torch.randperm(len(train_set), generator=g).tolist()
        for start in range(0, len(order), cfg.batch_size):
            batch = [train_set[i] for i in order[start: start + cfg.batch_size]]
            b = len(batch)
            v = rm.values_of_ids([e.prompt for e in batch] * 2,
                                 [e.completions[0] for e in batch] + [e.completions[1] for e in batch])
            loss = bt_loss(v[:b], v[b:]).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
    return rm, losses


def test_offline_loop_trains_the_same_reward_model_as_a_plain_loop(tmp_path):
    """The stage runs the offline loop on a scalar head: every step's loss and every final weight are
    bit-identical to the plain loop above (the numbers the stage gave before it used the loop)."""
    rows = rule_pairs(40, seed=2)
    pairs, _ = records_from_list(rows, "pairs")
    cfg = RewardModelConfig(lr=2e-3, epochs=2, batch_size=8, eval_fraction=0.2, normalise_on=0, seed=4)
    ref, ref_losses = plain_bt_loop(build_policy(rows, seed=0), pairs, cfg)
    rm, info = train_reward_model(make_job(build_policy(rows, seed=0), tmp_path), pairs, cfg)
    assert [r["loss"] for r in info["history"]] == ref_losses and len(ref_losses) == 8
    got, want = rm.module.state_dict(), ref.module.state_dict()
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    for key in ("accuracy", "margin", "chosen_reward", "rejected_reward", "grad_norm", "lr", "epoch"):
        assert key in info["history"][0], key


class Interrupted(Exception):
    """Stands in for a killed process: raised from inside a step, after earlier steps completed."""


def test_reward_model_resumes_like_any_objective(tmp_path, monkeypatch):
    """8 steps (32 training pairs / 8, two epochs), checkpoints every 3, killed during step 6: the resumed
    run restarts from step-3 and ends with the per-step metrics, weights and normalisation of a run that
    was never interrupted. A linear schedule with warm-up makes the schedule state matter."""
    from dataclasses import replace

    from prefzoo.engine.tracking import read_metrics
    from prefzoo.stages.reward import BradleyTerry

    rows = rule_pairs(40, seed=1)
    pairs, _ = records_from_list(rows, "pairs")
    cfg = RewardModelConfig(lr=2e-3, epochs=2, batch_size=8, eval_fraction=0.2, normalise_on=0, seed=0)
    train = TrainConfig(progress=False, checkpoint_every=3, schedule="linear", warmup_steps=2)

    def job(out: str, **changes) -> Job:
        return Job(policy=build_policy(rows, seed=0), train=replace(train, **changes), out_dir=tmp_path / out, seed=0)

    straight_rm, straight = train_reward_model(job("straight"), pairs, cfg)
    real, calls = BradleyTerry.loss, {"n": 0}

    def loss(self, policy, reference=None):
        calls["n"] += 1
        if calls["n"] == 6:
            raise Interrupted("killed during step 6")
        return real(self, policy, reference)

    with monkeypatch.context() as m:
        m.setattr(BradleyTerry, "loss", loss)
        with pytest.raises(Interrupted):
            train_reward_model(job("cut"), pairs, cfg)
    assert sorted(p.name for p in (tmp_path / "cut" / "checkpoints").iterdir()) == ["step-3"]
    rm, resumed = train_reward_model(job("cut", resume=True), pairs, cfg)
    assert [r["step"] for r in resumed["history"]] == [4, 5, 6, 7, 8]  # only the steps after the checkpoint ran

    timing = {"step_s", "tokens_per_s"}
    a = [{k: v for k, v in r.items() if k not in timing} for r in read_metrics(tmp_path / "straight")]
    b = [{k: v for k, v in r.items() if k not in timing} for r in read_metrics(tmp_path / "cut")]
    assert [r["step"] for r in b] == list(range(1, 9)) and a == b
    got, want = rm.module.state_dict(), straight_rm.module.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    for key in ("offset", "scale", "train_accuracy", "heldout_accuracy", "train_loss", "heldout_loss", "steps"):
        assert resumed[key] == straight[key], key

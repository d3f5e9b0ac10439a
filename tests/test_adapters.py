"""compare saves every trained LoRA arm's adapter in its folder (issue 12 item 5), compactly (fp16, no tokenizer
copy), so that anyone can re-evaluate the trained models; the base arm has none."""
from __future__ import annotations

import json

import torch
from peft import PeftModel
from safetensors.torch import load_file

import prefzoo.compare as compare
from prefzoo.compare import ADAPTER_FILE, compare_table, save_adapter
from prefzoo.recipe import LoraConfig

from conftest import build_policy

QUIET = lambda *_: None  # noqa: E731
RECORDS = [{"prompt": "what color is the sea ?", "chosen": "the sea is blue .", "rejected": "no ."}]


def test_save_adapter_writes_a_compact_adapter_that_reloads(tmp_path):
    policy = build_policy(RECORDS)
    bare = policy.clone()  # the base without the adapter, to load it back onto
    policy.add_lora(LoraConfig(r=4, alpha=8))
    with torch.no_grad():  # a trained adapter: lora_B is zero at init
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.05)
    save_adapter(policy, tmp_path / "adapter")
    files = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"adapter_config.json", ADAPTER_FILE, "prefzoo_base.json"} <= files
    assert not any(f.startswith("tokenizer") for f in files)  # Policy.load_saved takes the base's tokenizer
    assert json.loads((tmp_path / "adapter" / "prefzoo_base.json").read_text()) == {"base": policy.base_name}
    tensors = load_file(str(tmp_path / "adapter" / ADAPTER_FILE))
    assert tensors and all(t.dtype == torch.float16 for t in tensors.values())
    ids = torch.tensor([policy.encode_prompt("what color is the sea ?")])
    with torch.no_grad():
        untrained = bare.model(input_ids=ids).logits
        want = policy.model(input_ids=ids).logits
        got = PeftModel.from_pretrained(bare.model, str(tmp_path / "adapter"))(input_ids=ids).logits
    assert (want - untrained).abs().max() > 1e-2  # the adapter matters
    torch.testing.assert_close(got, want, atol=2e-3, rtol=0)  # fp16 rounding of the adapter only


def test_compare_saves_each_lora_arms_adapter_and_none_for_the_base(tmp_path, monkeypatch):
    built = compare.build_base

    def lora_base(recipe, world):  # the dataset world's tiny stand-in base, with a LoRA adapter
        policy, info = built(recipe, world)
        policy.add_lora(LoraConfig(r=4, alpha=8))
        return policy, info

    monkeypatch.setattr(compare, "build_base", lora_base)
    recipe = {"name": "adapters", "world": "dataset", "data": {"test_fraction": 0.1}, "label_budget": 16,
              "base": {"epochs": 1}, "seeds": [0], "train": {"batch_size": 8, "epochs": 1, "progress": False},
              "eval": {"prompts": 4, "max_new_tokens": 4, "metrics": ["gold_reward"]},
              "arms": [{"name": "base", "algorithm": "base"}, {"name": "dpo", "algorithm": "dpo"}]}
    out, rows = compare_table(recipe, tmp_path / "out", log=QUIET)
    assert [r["status"] for r in rows] == ["ok", "ok"], [r.get("error") for r in rows]
    assert (out / "arms" / "dpo" / "seed-0" / "adapter" / ADAPTER_FILE).is_file()
    assert (out / "arms" / "dpo" / "seed-0" / "adapter" / "adapter_config.json").is_file()
    assert not (out / "arms" / "base" / "seed-0" / "adapter").exists()

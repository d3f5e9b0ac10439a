"""Build a tiny local reward model, a Hugging Face ``AutoModelForSequenceClassification`` folder, for
``recipes/your-data.yaml`` (``eval.gold: reward-model:.cache/prefzoo/tiny-rm``) and the tests.

A small ``LlamaForSequenceClassification`` (``num_labels=1``, 2 layers, width 64) with a word-level tokenizer
of its own: lower-cased, punctuation split off, ``[PAD]``/``[UNK]``/``[EOS]`` specials and a plain
``role: content`` chat template. Its vocabulary differs from the policy's tiny tokenizer
(``prefzoo.models.tiny``: case kept, whitespace words, ``<pad>``/``<|user|>`` specials), so a gold that
re-tokenises the text with its own tokenizer is exercised. Trained for a few seconds with a plain torch loop
on the Bradley-Terry loss ``-log sigmoid(r(chosen) - r(rejected))`` over ``recipes/data/hh_example.jsonl``
(or any pairs file prefzoo's loaders read), full batch, seeded: the same folder every run.

The reward of a reply is the score at the last token of
``tokenizer.apply_chat_template([{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}])``
(the template ends an assistant turn with ``[EOS]``); ``prompt`` is the prompt as the loader gives it
(for Anthropic-HH transcripts, the ``"\\n\\nHuman: ...\\n\\nAssistant:"`` text).

Run: ``python recipes/make_tiny_reward_model.py [--out DIR] [--data FILE] [--steps N] [--seed S]``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

from prefzoo.data.loaders import load_records

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "recipes" / "data" / "hh_example.jsonl"
DEFAULT_OUT = ROOT / ".cache" / "prefzoo" / "tiny-rm"
SPECIALS = ["[PAD]", "[UNK]", "[EOS]"]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}"
    "{% if m['role'] == 'assistant' %} {{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
)
MODEL_SIZE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4, max_position_embeddings=512)
MAX_TOKENS = 256


def _pre_tokenizer():
    return pre_tokenizers.Whitespace()  # words and runs of punctuation: "can't" -> "can", "'", "t"


def _normalizer():
    return normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])


def build_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """A lower-cased word-level tokenizer over the words of ``texts`` plus the chat template's role words."""
    norm, pre = _normalizer(), _pre_tokenizer()
    words: set[str] = {"user", "assistant", "system", ":"}
    for t in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(norm.normalize_str(t)))
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for w in sorted(words - set(SPECIALS)):
        vocab[w] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = MAX_TOKENS
    return fast


def _messages(prompt) -> list[dict]:
    return [dict(m) for m in prompt] if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]


def _reply(completion) -> str:
    if isinstance(completion, list):
        return " ".join(str(m.get("content", "")) for m in completion)
    return str(completion)


def conversation_text(tokenizer, prompt, reply) -> str:
    """The text the reward model scores: the chat template over the prompt and one assistant reply."""
    msgs = _messages(prompt) + [{"role": "assistant", "content": _reply(reply)}]
    return tokenizer.apply_chat_template(msgs, tokenize=False)


def load_pairs(path: str | Path) -> list[dict]:
    ds, _ = load_records(str(path), "pairs")
    return [dict(r) for r in ds]


@torch.no_grad()
def score(model, tokenizer, texts: list[str], batch_size: int = 64) -> torch.Tensor:
    """Rewards of already-templated ``texts`` (one float each)."""
    model.eval()
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i: i + batch_size], return_tensors="pt", padding=True, truncation=True,
                        max_length=MAX_TOKENS)
        out.append(model(**enc).logits[:, 0].float())
    return torch.cat(out) if out else torch.zeros(0)


def pair_accuracy(model, tokenizer, pairs: list[dict]) -> float:
    """Share of pairs whose chosen reply gets the higher reward."""
    chosen = score(model, tokenizer, [conversation_text(tokenizer, p["prompt"], p["chosen"]) for p in pairs])
    rejected = score(model, tokenizer, [conversation_text(tokenizer, p["prompt"], p["rejected"]) for p in pairs])
    return float((chosen > rejected).float().mean()) if pairs else float("nan")


def _new_model(tokenizer, seed: int) -> LlamaForSequenceClassification:
    cfg = LlamaConfig(vocab_size=len(tokenizer), num_labels=1, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=False,
                      **MODEL_SIZE)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return LlamaForSequenceClassification(cfg)


def train(pairs: list[dict], steps: int = 30, seed: int = 0, lr: float = 3e-3):
    """A tokenizer and a reward model fitted to ``pairs`` with the Bradley-Terry loss (full batch)."""
    chosen_raw = [(p["prompt"], p["chosen"]) for p in pairs]
    rejected_raw = [(p["prompt"], p["rejected"]) for p in pairs]
    tokenizer = build_tokenizer([_reply(x) if isinstance(x, list) else str(x)
                                 for p in pairs for x in (p["prompt"], p["chosen"], p["rejected"])])
    chosen = [conversation_text(tokenizer, p, r) for p, r in chosen_raw]
    rejected = [conversation_text(tokenizer, p, r) for p, r in rejected_raw]
    enc = tokenizer(chosen + rejected, return_tensors="pt", padding=True, truncation=True, max_length=MAX_TOKENS)
    model = _new_model(tokenizer, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    n = len(pairs)
    losses = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model.train()
        for _ in range(steps):
            r = model(**enc).logits[:, 0]
            loss = -torch.nn.functional.logsigmoid(r[:n] - r[n:]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    model.eval()
    return model, tokenizer, losses


def build_reward_model(out: str | Path = DEFAULT_OUT, data: str | Path = DEFAULT_DATA, steps: int = 30,
                       seed: int = 0) -> dict:
    """Train on ``data`` and save the model and tokenizer to ``out`` (``save_pretrained``); returns stats."""
    t0 = time.perf_counter()
    pairs = load_pairs(data)
    model, tokenizer, losses = train(pairs, steps=steps, seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    stats = {"data": Path(data).name, "pairs": len(pairs), "steps": steps, "seed": seed,
             "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
             "train_accuracy": pair_accuracy(model, tokenizer, pairs), "vocab_size": len(tokenizer),
             "seconds": round(time.perf_counter() - t0, 2)}
    (out / "prefzoo_reward_model.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return stats


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="folder to save the model in (default: %(default)s)")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="preference pairs to fit (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=30, help="full-batch optimiser steps (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    stats = build_reward_model(args.out, args.data, args.steps, args.seed)
    print(f"saved a tiny reward model to {args.out}: train accuracy {stats['train_accuracy']:.2f}, "
          f"loss {stats['first_loss']:.3f} -> {stats['final_loss']:.3f}, {stats['seconds']} s")


if __name__ == "__main__":
    main()

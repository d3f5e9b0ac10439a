"""Tiny local models for tests, the toy world and benchmarks: a word-level tokenizer with a chat
template, and a small Llama built from a config. Nothing is downloaded."""
from __future__ import annotations

from typing import Iterable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<pad>", "<unk>", "<eos>", "<|user|>", "<|assistant|>", "<|system|>"]

# The chat template of every word-level tokenizer: role tokens, contents, <eos> after assistant turns.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} "
    "{% if m['role'] == 'assistant' %}<eos> {% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

TINY_DEFAULTS = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=4, max_position_embeddings=512, tie_word_embeddings=True)


def words_of(texts: Iterable) -> list[str]:
    """All whitespace-separated words in ``texts`` (strings or chat-message lists), sorted."""
    out: set[str] = set()

    def add(x):
        if isinstance(x, str):
            out.update(x.split())
        elif isinstance(x, dict):
            add(x.get("content", ""))
        elif isinstance(x, (list, tuple)):
            for y in x:
                add(y)

    for t in texts:
        add(t)
    return sorted(out)


def word_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer over a closed vocabulary (unknown words -> <unk>)."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for w in sorted(set(words)):
        if w not in vocab:
            vocab[w] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   eos_token="<eos>")
    fast.add_special_tokens({"additional_special_tokens": SPECIALS[3:]})  # already in vocab: no new ids
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_llama(vocab_size: int, seed: int = 0, **overrides) -> LlamaForCausalLM:
    """A small Llama (2 layers, width 64 by default), initialised deterministically from ``seed``."""
    cfg = LlamaConfig(vocab_size=vocab_size, **{**TINY_DEFAULTS, **overrides})
    cfg.pad_token_id, cfg.eos_token_id = 0, 2
    gen = torch.random.fork_rng()
    with gen:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = 2
    return model

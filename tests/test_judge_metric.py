"""The judge_win_rate metric (eval.judge): each arm against the base's sample and against the dataset's chosen
reply, both orders averaged, from a local judge and from an HTTP judge on 127.0.0.1 (port 0, run by the test).

HTTP: the server answers the slot whose response contains "good" (neither or both: slot 1), with top
log-probs ln 0.8 / ln 0.2. So P(a better), both orders averaged, is 0.8 when only a holds "good", 0.2 when
only b does, and 0.5 when both or neither do (the slot wins each order, the average cancels it).

Local: a tiny Llama whose answer logits are planted (as in test_judge.py): slot bias 3 on option "1" plus 1
on the slot holding "good". With a good and b not: G = (sig(4) + sig(-2)) / 2; the other way round:
B = (sig(2) + 1 - sig(4)) / 2 = 1 - G.
"""
from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from prefzoo.config import ConfigError, from_dict
from prefzoo.eval.evaluator import EvalConfig
from prefzoo.eval.metric import EvalContext, resolve_metrics
from prefzoo.eval.metrics.judge import COLUMNS, JudgeWinRate
from prefzoo.models.policy import Policy
from prefzoo.models.tiny import tiny_llama, word_tokenizer

# --------------------------------------------------------------------------- the HTTP judge


class Server:
    def __init__(self):
        self.mode = "ok"
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with state.lock:
                    state.bodies.append(body)
                text = body["messages"][-1]["content"]
                if state.mode == "broken" and "broken" in text:
                    data = b"not json"
                else:
                    data = json.dumps(state.answer(text)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def requests(self) -> int:
        return len(self.bodies)

    @staticmethod
    def answer(text: str) -> dict:
        slot = "1" if text.find("good") < text.find("Answer 2:") else "2"
        other = "2" if slot == "1" else "1"
        top = [{"token": slot, "logprob": math.log(0.8)}, {"token": other, "logprob": math.log(0.2)}]
        choice = {"index": 0, "message": {"role": "assistant", "content": slot},
                  "logprobs": {"content": [{"token": slot, "logprob": math.log(0.8), "top_logprobs": top}]}}
        return {"id": "x", "object": "chat.completion", "choices": [choice]}


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture(autouse=True)
def fresh_process():
    """Each test starts as a new process would: no judge built yet."""
    JudgeWinRate._judges.clear()
    yield
    JudgeWinRate._judges.clear()


class World:
    """Test pairs by prompt (the dataset world's ``test_pairs_of``), and optionally a judge model and template."""

    def __init__(self, refs: dict[str, list[str]], **attrs):
        self.refs = refs
        self.__dict__.update(attrs)

    def test_pairs_of(self, rows):
        return [[{"prompt": r["prompt"], "chosen": c, "rejected": "x"} for c in self.refs.get(r["prompt"], [])]
                for r in rows]


def context(world, cfg, prompts, texts, base_texts=None) -> EvalContext:
    """An arm's context (``base_texts`` given) or the base's (``base_texts`` None: policy is base)."""
    base = object()
    policy = base if base_texts is None else object()
    rows = [{"id": i, "prompt": p} for i, p in enumerate(prompts)]
    return EvalContext(policy, base, world, rows, cfg, texts, [[] for _ in texts], [[] for _ in texts],
                       base_texts_given=base_texts)


def http_cfg(server, cache_dir, **http) -> EvalConfig:
    conn = dict(url=server.url, model="judge", timeout_s=5.0, retries=1, backoff_s=0.0, concurrency=2)
    conn.update(http)
    return EvalConfig(metrics=["judge_win_rate"],
                      judge={"backend": "http", "http": conn, "cache_dir": str(cache_dir), "batch_size": 8})


PROMPTS = ["q1", "q2", "q3", "q4"]
ARM = ["good one", "bad one", "good too", "good a"]
BASE = ["bad one", "good one", "meh", "good b"]
REFS = {"q1": ["so so", "so so"], "q2": ["good ref", "so so"], "q4": ["good c"]}  # q3: no reference; q1 twice


def test_http_judge_vs_base_and_vs_reference_both_orders_hand_computed(server, tmp_path):
    metric = resolve_metrics(["judge_win_rate"])[0]
    assert isinstance(metric, JudgeWinRate) and metric.columns(None) == COLUMNS
    world, cfg = World(REFS), http_cfg(server, tmp_path)
    out = metric.compute(context(world, cfg, PROMPTS, ARM, BASE))
    # vs base: 0.8, 0.2, 0.8, 0.5 (both hold "good");  vs ref: q1 0.8, q2 (0.2 + 0.5) / 2, q3 none, q4 0.5
    assert out.per_prompt["judge_win_vs_base"] == pytest.approx([0.8, 0.2, 0.8, 0.5])
    ref = out.per_prompt["judge_win_vs_ref"]
    assert ref[:2] == pytest.approx([0.8, 0.35]) and math.isnan(ref[2]) and ref[3] == pytest.approx(0.5)
    v = out.values
    assert v["judge_win_vs_base"] == pytest.approx((0.8 + 0.2 + 0.8 + 0.5) / 4)
    assert v["judge_win_vs_base_discrete"] == pytest.approx((1 + 0 + 1 + 0.5) / 4)
    assert v["judge_win_vs_ref"] == pytest.approx((0.8 + 0.35 + 0.5) / 3)
    assert v["judge_win_vs_ref_discrete"] == pytest.approx((1 + (0 + 0.5) / 2 + 0.5) / 3)
    assert v["judge_mean_length"] == 2.0 and v["judge_failed"] == 0
    # 4 pairs vs base + 4 vs references (q1's duplicate reply asked once), each in both orders
    assert server.requests == 16
    asked = [b["messages"][-1]["content"] for b in server.bodies]
    assert any("Answer 1: good one\n\nAnswer 2: bad one" in t for t in asked)
    assert any("Answer 1: bad one\n\nAnswer 2: good one" in t for t in asked)
    # never paying twice: the same process (the judge is built once) and a new one (the label cache on disk)
    judge = JudgeWinRate.judge_for(context(world, cfg, PROMPTS, ARM, BASE))
    assert resolve_metrics(["judge_win_rate"])[0].compute(context(world, cfg, PROMPTS, ARM, BASE)).values == v
    assert server.requests == 16 and len(JudgeWinRate._judges) == 1
    JudgeWinRate._judges.clear()
    again = JudgeWinRate().compute(context(world, cfg, PROMPTS, ARM, BASE))
    assert server.requests == 16 and again.values == v
    assert JudgeWinRate.judge_for(context(world, cfg, PROMPTS, ARM, BASE)) is not judge


def test_the_base_against_itself_is_a_tie_without_a_call_but_meets_the_reference(server, tmp_path):
    out = JudgeWinRate().compute(context(World(REFS), http_cfg(server, tmp_path), PROMPTS, BASE))
    assert out.per_prompt["judge_win_vs_base"] == [0.5] * 4
    assert out.values["judge_win_vs_base"] == 0.5 and out.values["judge_win_vs_base_discrete"] == 0.5
    # vs ref: q1 bad/so so 0.5; q2 good/good 0.5 and good/so so 0.8 -> 0.65; q4 good/good 0.5
    assert out.values["judge_win_vs_ref"] == pytest.approx((0.5 + 0.65 + 0.5) / 3)
    assert out.values["judge_win_vs_ref_discrete"] == pytest.approx((0.5 + 0.75 + 0.5) / 3)
    assert server.requests == 8  # the 4 reference pairs in both orders; nothing against itself
    assert all("good b\n\nAnswer 2: good b" not in b["messages"][-1]["content"] for b in server.bodies)


def test_a_failed_label_is_counted_missing_not_fatal(server, tmp_path):
    server.mode = "broken"
    world, cfg = World({}), http_cfg(server, tmp_path)
    prompts, arm, base = ["q1", "broken q2"], ["good one", "good two"], ["bad one", "bad two"]
    out = JudgeWinRate().compute(context(world, cfg, prompts, arm, base))
    vs = out.per_prompt["judge_win_vs_base"]
    assert vs[0] == pytest.approx(0.8) and math.isnan(vs[1])
    assert out.values["judge_failed"] == 1 and out.values["judge_win_vs_base"] == pytest.approx(0.8)
    assert out.values["judge_win_vs_base_discrete"] == 1.0 and math.isnan(out.values["judge_win_vs_ref"])
    assert server.requests == 2 + 2 * 2  # q1 in both orders; the broken pair's two orders, each retried once
    JudgeWinRate._judges.clear()
    again = JudgeWinRate().compute(context(world, cfg, prompts, arm, base))
    assert again.values["judge_failed"] == 1 and server.requests == 6 + 4  # only the failed label asked again


def test_an_unset_or_non_llm_judge_is_refused_clearly():
    with pytest.raises(ValueError, match="judge_win_rate but eval.judge is unset"):
        EvalConfig(metrics=["gold_reward", "judge_win_rate"])
    with pytest.raises(ConfigError, match="eval.judge is unset"):
        from_dict(EvalConfig, {"metrics": ["judge_win_rate"]}, "eval")
    with pytest.raises(ValueError, match="unknown eval.judge spec"):
        EvalConfig(judge="lcoal:x")
    cfg = EvalConfig()
    cfg.metrics = ["judge_win_rate"]  # set behind the config's back: the metric itself refuses
    with pytest.raises(ConfigError, match="needs eval.judge"):
        JudgeWinRate().compute(context(World({}), cfg, ["q"], ["a"], ["b"]))
    cfg.judge = "world"
    world = World({}, gold=lambda prompt, response: 0.0)
    with pytest.raises(ConfigError, match="not an LLM judge"):
        JudgeWinRate().compute(context(world, cfg, ["q"], ["a"], ["b"]))


def test_through_evaluate_on_a_dataset_world(server, tmp_path):
    """The evaluator's path: a dataset world's test pairs are the references, samples.jsonl fields are filled,
    every column is a float, and the base (evaluated first) pays only for its reference pairs."""
    from prefzoo.eval.evaluator import evaluate
    from prefzoo.testing import tiny_policy
    from prefzoo.worlds.dataset import DatasetWorld, DataSource

    data = [{"prompt": f"question {i} ?", "chosen": f"good answer {i} .", "rejected": "no ."} for i in range(20)]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    world = DatasetWorld(DataSource(path=str(tmp_path / "pairs.jsonl"), test_fraction=0.3))
    base = tiny_policy(data, max_length=48)
    policy = base.clone()
    for p in policy.model.parameters():
        p.data.add_(0.05)
    rows = world.prompts("eval", None, 0)
    cfg = http_cfg(server, tmp_path / "labels")
    cfg.prompts, cfg.max_new_tokens = len(rows), 4
    ev = evaluate(base, base, world, rows, cfg, metrics=resolve_metrics(cfg.metrics))
    assert list(ev.values) == list(COLUMNS) and all(isinstance(v, float) for v in ev.values.values())
    assert ev.values["judge_win_vs_base"] == 0.5 and server.requests == 2 * len(rows)  # one reference each
    assert all(p["judge_win_vs_base"] == 0.5 and 0 <= p["judge_win_vs_ref"] <= 1 for p in ev.per_prompt)
    arm = evaluate(policy, base, world, rows, cfg, metrics=resolve_metrics(cfg.metrics))
    same = sum(a["response"] == b["response"] for a, b in zip(arm.per_prompt, ev.per_prompt))
    # a reply identical to the base's: vs base a tie (no call), vs the reference the base's label (cached)
    assert server.requests == 2 * len(rows) + 2 * 2 * (len(rows) - same)
    assert len(JudgeWinRate._judges) == 1                                    # one judge for both arms


# --------------------------------------------------------------------------- local judges

TEMPLATE = "which is better ? q : {prompt} first : {a} second : {b} answer :"
WORDS = TEMPLATE.split() + ["good", "bad", "meh", "answer", "hi", "why", "1", "2"]


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def planted_policy(bias: float = 3.0, pref: float = 1.0) -> Policy:
    tok = word_tokenizer(WORDS)
    model = tiny_llama(len(tok), seed=0)
    one, two, good, second = (tok.convert_tokens_to_ids(w) for w in ("1", "2", "good", "second"))

    def hook(module, args, kwargs, output):
        ids = kwargs["input_ids"]
        planted = torch.zeros_like(output.logits)
        planted[..., one] += bias
        for row in range(ids.shape[0]):
            seq = ids[row].tolist()
            if second in seq and good in seq:
                planted[row, :, one if seq.index(good) < seq.index(second) else two] += pref
        output.logits = planted
        return output

    model.register_forward_hook(hook, with_kwargs=True)
    return Policy(model, tok, max_length=128)


def test_local_judge_hand_computed_both_orders_and_cached(tmp_path):
    world = World({"hi": ["meh"]}, feedback_policy=planted_policy(), judge_template=TEMPLATE, judge_options=("1", "2"))
    cfg = EvalConfig(metrics=["judge_win_rate"], judge={"backend": "local", "model": "world",
                                                        "cache_dir": str(tmp_path)})
    ctx = context(world, cfg, ["hi", "why"], ["good answer", "bad answer"], ["bad answer", "good answer"])
    out = JudgeWinRate().compute(ctx)
    g = (sig(4.0) + sig(-2.0)) / 2
    b = (sig(2.0) + 1 - sig(4.0)) / 2
    assert out.per_prompt["judge_win_vs_base"] == pytest.approx([g, b], abs=1e-6)
    assert out.values["judge_win_vs_base"] == pytest.approx((g + b) / 2, abs=1e-6)
    assert out.values["judge_win_vs_base_discrete"] == 0.5            # one win (g > 0.5), one loss
    assert out.values["judge_win_vs_ref"] == pytest.approx(g, abs=1e-6)  # "hi": good answer vs meh; "why": none
    assert out.values["judge_win_vs_ref_discrete"] == 1.0
    judge = JudgeWinRate.judge_for(ctx)
    assert judge.calls == 3 * 2                                       # 3 pairs, both orders
    JudgeWinRate().compute(ctx)
    assert judge.calls == 6                                           # the same judge, no new call
    JudgeWinRate._judges.clear()
    JudgeWinRate().compute(ctx)
    assert JudgeWinRate.judge_for(ctx).calls == 0                     # a new process: from the cache on disk


def test_local_judge_from_a_model_path(tmp_path):
    tok = word_tokenizer(WORDS)
    Policy(tiny_llama(len(tok), seed=3), tok, max_length=128).save(tmp_path / "judge")
    world = World({"hi": ["meh"]}, judge_template=TEMPLATE, judge_options=("1", "2"))
    cfg = EvalConfig(metrics=["judge_win_rate"], judge={"backend": "local", "model": str(tmp_path / "judge"),
                                                        "cache_dir": str(tmp_path / "labels")})
    prompts, arm, base = ["hi", "why"], ["good answer", "meh"], ["bad answer", "good answer"]
    out = JudgeWinRate().compute(context(world, cfg, prompts, arm, base))
    judge = JudgeWinRate.judge_for(context(world, cfg, prompts, arm, base))
    assert judge.calls == 3 * 2
    direct = judge.judge_pairs(prompts, arm, base)                    # the same labels, from the cache
    assert judge.calls == 6 and all(j.cached and j.p_a_second is not None for j in direct)
    assert out.per_prompt["judge_win_vs_base"] == pytest.approx([j.p_a for j in direct])
    assert 0.0 < out.values["judge_win_vs_ref"] < 1.0 and out.values["judge_failed"] == 0

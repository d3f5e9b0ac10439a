"""The OpenAI-compatible HTTP judge against a real HTTP server on 127.0.0.1 (port 0) run by the test.

The server prefers the response containing "good": it answers that slot, with top log-probs
ln 0.8 / ln 0.2 in "logprobs" mode, so both orders give P(a = good) = 0.8 and the average is 0.8.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prefzoo.feedback.http import HttpConfig, HttpJudge, HttpJudgeError
from prefzoo.feedback.judge import JudgeSettings
from prefzoo.feedback.llm_judge import JudgeError

KEY = "sk-test-5ecret-do-not-print"
ENV = "PREFZOO_TEST_JUDGE_KEY"


class Server:
    def __init__(self):
        self.mode = "logprobs"
        self.requests = 0
        self.auth: list[str | None] = []
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with state.lock:
                    state.requests += 1
                    n = state.requests
                    state.auth.append(self.headers.get("Authorization"))
                    state.bodies.append(body)
                if state.mode == "sleep":
                    time.sleep(1.0)
                if state.mode == "500-once" and n == 1:
                    return self._send(500, b'{"error": "overloaded"}')
                if state.mode == "trickle":  # a valid answer, one byte every 0.1 s: 2 s in all
                    return self._trickle(json.dumps(state.answer(body)).encode().ljust(20))
                if state.mode == "malformed-once" and n == 1:
                    return self._send(200, b"not json")
                if state.mode == "broken-prompt" and "broken" in body["messages"][-1]["content"]:
                    return self._send(200, b'{"object": "error"}')
                if state.mode == "malformed":  # echoes the Authorization header: the client must redact it
                    return self._send(200, b"<html>gateway error " + self.headers["Authorization"].encode())
                if state.mode == "no-choices":
                    return self._send(200, b'{"object": "error"}')
                self._send(200, json.dumps(state.answer(body)).encode())

            def _trickle(self, data):
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    for k in range(len(data)):
                        self.wfile.write(data[k:k + 1])
                        self.wfile.flush()
                        time.sleep(0.1)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, code, data):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, body: dict) -> dict:
        text = body["messages"][-1]["content"]
        slot = "1" if text.find("good") < text.find("Answer 2:") else "2"
        other = "2" if slot == "1" else "1"
        choice = {"index": 0, "message": {"role": "assistant", "content": f"Answer {slot}."}}
        if self.mode == "logprobs":
            top = [{"token": slot, "logprob": math.log(0.8)}, {"token": " " + other, "logprob": math.log(0.2)},
                   {"token": "Answer", "logprob": -9.0}]
            choice["logprobs"] = {"content": [{"token": slot, "logprob": math.log(0.8), "top_logprobs": top}]}
        return {"id": "x", "object": "chat.completion", "choices": [choice]}


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(ENV, KEY)


def make(server, cache_dir=None, **kw) -> HttpJudge:
    cfg = dict(url=server.url, model="judge-model", api_key_env=ENV, timeout_s=5.0, retries=2, backoff_s=0.01,
               concurrency=4)
    cfg.update(kw)
    return HttpJudge(HttpConfig(**cfg), JudgeSettings(batch_size=4), cache_dir)


PROMPTS, A, B = ["q1", "q2", "q3"], ["good one", "bad one", "meh"], ["bad one", "good one", "good one"]


def test_logprobs_give_soft_labels_and_key_goes_in_the_header(server, key):
    j = make(server)
    res = j.judge_pairs(PROMPTS, A, B)
    assert [r.p_a for r in res] == pytest.approx([0.8, 0.2, 0.2], abs=1e-9)
    assert res[0].p_a_first == pytest.approx(0.8) and res[0].p_a_second == pytest.approx(0.8)
    assert server.requests == 6 and set(server.auth) == {f"Bearer {KEY}"}
    body = server.bodies[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["model"] == "judge-model"
    assert body["temperature"] == 0.0
    assert KEY not in repr(j) and ENV in repr(j)


def test_text_only_answer_is_parsed(server, key):
    server.mode = "text"
    res = make(server).judge_pairs(PROMPTS, A, B)
    assert [r.p_a for r in res] == [1.0, 0.0, 0.0]
    no_logprobs = make(server, logprobs=False)
    assert no_logprobs.prefer(PROMPTS[:1], A[:1], B[:1]).tolist() == [1.0]
    assert "logprobs" not in server.bodies[-1]


def test_timeout_is_retried_then_a_clear_error(server, key, caplog):
    server.mode = "sleep"
    j = make(server, timeout_s=0.2, retries=1, concurrency=1)
    with caplog.at_level(logging.WARNING), pytest.raises(HttpJudgeError) as err:
        j.prefer(["q"], ["good"], ["bad"])
    msg = str(err.value)
    assert "timed out" in msg and "after 2 attempts" in msg and server.url in msg
    assert server.requests == 2
    assert KEY not in msg and KEY not in caplog.text


def test_server_error_then_success_is_retried(server, key):
    server.mode = "500-once"
    j = make(server, concurrency=1)
    assert j.prefer(["q"], ["good"], ["bad"]).item() == 1.0  # text answers in this mode
    assert server.requests == 3  # the 500, its retry, then the swapped order


def test_malformed_body_names_the_problem_and_hides_the_key(server, key):
    """Online (prefer) there is no label to skip: after its retries a malformed answer is an error."""
    server.mode = "malformed"
    with pytest.raises(JudgeError, match="malformed response .* not JSON") as err:
        make(server, backoff_s=0.0).prefer(["q"], ["good"], ["bad"])
    assert KEY not in str(err.value) and "***" in str(err.value)
    server.mode = "no-choices"
    with pytest.raises(JudgeError, match=r"expected choices\[0\]\.message"):
        make(server, backoff_s=0.0).prefer(["q"], ["good"], ["bad"])


def test_timeout_is_a_deadline_for_the_whole_request(server, key):
    """A server trickling a valid answer (one byte every 0.1 s, ~2 s in all) never stalls a single read for
    0.5 s, so urllib's per-read timeout never fires; the deadline ends the request at 0.5 s."""
    server.mode = "trickle"
    j = make(server, timeout_s=0.5, retries=0, concurrency=1)
    t = time.time()
    with pytest.raises(HttpJudgeError, match="timed out"):
        j.prefer(["q"], ["good"], ["bad"])
    assert time.time() - t < 1.5


def test_a_malformed_answer_is_asked_again(server, key):
    server.mode = "malformed-once"
    j = make(server, backoff_s=0.0, concurrency=1)
    assert j.prefer(["q"], ["good"], ["bad"]).item() == 1.0  # text answers in this mode
    assert server.requests == 3  # the malformed one, its retry, the swapped order


def test_a_label_that_stays_malformed_is_counted_not_fatal_and_the_rest_are_cached(server, key, tmp_path):
    """One of three pairs always gets an unreadable answer: after its retries that label is failed (counted
    by label_pairs), the other two are labelled and cached, and a rerun pays only for the failed one."""
    from prefzoo.stages.sampling import label_pairs

    server.mode = "broken-prompt"
    pairs = [{"prompt": p, "a": x, "b": y} for p, x, y in zip(["q1", "broken q2", "q3"], A, B)]
    records, stats = label_pairs(make(server, tmp_path, backoff_s=0.0, retries=1), pairs)
    assert [r["prompt"] for r in records] == ["q1", "q3"]
    assert stats["dropped"]["judge_failed"] == 1 and stats["labelled"] == 2
    before = server.requests  # 2 pairs x 2 orders + the broken pair's 2 orders x 2 attempts
    assert before == 8
    again = make(server, tmp_path, backoff_s=0.0, retries=1).judge_pairs([p["prompt"] for p in pairs], A, B)
    assert [j.cached for j in again] == [True, False, True] and again[1].failed
    assert server.requests == before + 4


def test_missing_key_variable_is_named_not_guessed(server, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(HttpJudgeError, match=ENV):
        make(server)


def test_resumed_run_reuses_cached_labels(server, key, tmp_path):
    first = make(server, tmp_path)
    first.judge_pairs(PROMPTS[:2], A[:2], B[:2])  # "interrupted" after two of three pairs
    assert server.requests == 4
    resumed = make(server, tmp_path)              # a new run, same judge: pays only for the third pair
    res = resumed.judge_pairs(PROMPTS, A, B)
    assert server.requests == 6 and [r.cached for r in res] == [True, True, False]
    again = make(server, tmp_path)
    again.judge_pairs(PROMPTS, A, B)
    assert server.requests == 6                   # nothing new: 0 requests
    assert KEY not in (tmp_path.glob("*.jsonl").__next__()).read_text()

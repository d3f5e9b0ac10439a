"""An AI judge behind any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, a
hosted API), using the standard library only (urllib + concurrent.futures).

Each request asks for one short answer at temperature 0 with ``logprobs: true, top_logprobs: K``.
Where the server returns log-probs, the options' probabilities come from the first answer token's
top log-probs (variants such as " 1" and "1" pooled; an option absent from the top K gets 0);
where it does not (or none of the options is among them), the answer text is parsed and the first
option found gets probability 1. Connection errors, timeouts, 429 and 5xx are retried with
exponential backoff (``backoff_s * 2**attempt``); other 4xx fail at once. ``timeout_s`` is a deadline
for the whole request, not for each socket read. An answer that arrives but cannot be read as a label
(not JSON, no choices, no option named) is asked again ``retries`` times, then that label is recorded as
failed (``JudgeFailure``: counted by the labelling stage, never cached) instead of ending the run. At most ``concurrency``
requests are in flight. The API key is read from the environment variable ``api_key_env`` names,
sent as ``Authorization: Bearer ...``, and never logged, written, cached or shown in a repr or
error (every message passes through ``redact``).

CoT continuation: the rationale is sent back as a final assistant message with vLLM's
``continue_final_message`` flag, so the server continues the turn where the rationale ends.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from prefzoo.feedback.llm_judge import JudgeError, JudgeFailure, JudgeSettings, LLMJudge, Request, normalise

log = logging.getLogger(__name__)


class HttpJudgeError(JudgeError):
    pass


class MalformedResponse(HttpJudgeError):
    """A response that arrived but cannot be read as a label; retried, then a ``JudgeFailure``."""


@dataclass
class HttpConfig:
    url: str                          # base URL (".../v1") or the full ".../chat/completions" URL
    model: str = ""                   # the served model's name (sent as "model")
    api_key_env: str | None = None    # name of the environment variable holding the key; None: no key
    timeout_s: float = 60.0           # per request
    retries: int = 3                  # extra attempts after a connection error, timeout, 429 or 5xx
    backoff_s: float = 1.0            # first wait; doubles each retry
    concurrency: int = 4              # requests in flight at once
    logprobs: bool = True             # ask for top_logprobs (soft labels); false: parse the text only
    top_logprobs: int = 20            # OpenAI allows up to 20
    max_tokens: int = 8               # answer length (the option should come first)
    extra_body: dict | None = None    # merged into every request (server-specific switches)

    def __post_init__(self):
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"judge.http.url must start with http:// or https://, got {self.url!r}")
        if self.retries < 0 or self.concurrency < 1 or self.timeout_s <= 0 or self.backoff_s < 0:
            raise ValueError("judge.http: retries >= 0, concurrency >= 1, timeout_s > 0, backoff_s >= 0")

    @property
    def endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"


class HttpJudge(LLMJudge):
    name = "http-judge"

    def __init__(self, config: HttpConfig, settings: JudgeSettings | None = None, cache_dir: str | Path | None = None):
        super().__init__(settings, cache_dir)
        self.config = config
        self.__key: str | None = None
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise HttpJudgeError(f"judge.http.api_key_env names {config.api_key_env!r}, "
                                     f"but that environment variable is not set")
            self.__key = key

    def __repr__(self) -> str:  # the key never appears
        key = f"${self.config.api_key_env}" if self.config.api_key_env else "none"
        return f"HttpJudge(endpoint={self.config.endpoint!r}, model={self.config.model!r}, key={key})"

    def redact(self, text: str) -> str:
        return text.replace(self.__key, "***") if self.__key else text

    def backend_identity(self) -> dict:
        c = self.config
        return {"kind": "http", "endpoint": c.endpoint, "model": c.model, "logprobs": c.logprobs,
                "max_tokens": c.max_tokens, "extra_body": c.extra_body}

    # ------------------------------------------------------------------ transport
    def _payload(self, r: Request, max_tokens: int, logprobs: bool) -> dict:
        messages = list(r.messages)
        body = {"model": self.config.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0}
        if r.prefix:
            messages.append({"role": "assistant", "content": r.prefix})
            body.update(continue_final_message=True, add_generation_prompt=False)
        if logprobs:
            body.update(logprobs=True, top_logprobs=self.config.top_logprobs)
        body.update(self.config.extra_body or {})
        return body

    def post(self, body: dict) -> dict:
        """POST one request; retries as the module docstring says; returns the parsed JSON."""
        c = self.config
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.__key:
            headers["Authorization"] = f"Bearer {self.__key}"
        last = ""
        for attempt in range(c.retries + 1):
            if attempt:
                time.sleep(c.backoff_s * 2 ** (attempt - 1))
            try:
                raw = self._fetch(urllib.request.Request(c.endpoint, data=data, headers=headers, method="POST"))
                break
            except urllib.error.HTTPError as e:
                detail = self.redact(e.read()[:300].decode("utf-8", "replace"))
                if e.code == 429 or e.code >= 500:
                    last = f"HTTP {e.code} {detail!r}"
                else:
                    raise HttpJudgeError(f"judge endpoint {c.endpoint} answered HTTP {e.code}: {detail!r}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                reason = getattr(e, "reason", e)
                kind = "timed out" if isinstance(reason, TimeoutError) or "timed out" in str(reason) else "failed"
                last = f"{kind} ({type(reason).__name__}: {self.redact(str(reason))}; timeout_s={c.timeout_s})"
            log.warning("judge request to %s: %s (attempt %d of %d)", c.endpoint, last, attempt + 1, c.retries + 1)
        else:
            raise HttpJudgeError(f"judge endpoint {c.endpoint}: request {last} after {c.retries + 1} attempts "
                                 f"(judge.http.retries={c.retries})")
        return self._parse(raw)

    def _fetch(self, req) -> bytes:
        """The whole response within ``timeout_s``, a deadline for the request: urllib's own timeout bounds
        each socket read, so a server that trickles bytes could hold a request far longer. The read runs
        in a daemon thread that is abandoned (and ends with its socket) when the deadline passes."""
        box: dict = {}

        def read():
            try:
                with urllib.request.urlopen(req, timeout=self.config.timeout_s) as resp:
                    box["raw"] = resp.read()
            except BaseException as e:  # handed to the caller's thread
                box["error"] = e

        worker = threading.Thread(target=read, daemon=True)
        worker.start()
        worker.join(self.config.timeout_s)
        if worker.is_alive():
            raise TimeoutError(f"no complete response within the deadline of {self.config.timeout_s} s")
        if "error" in box:
            raise box["error"]
        return box["raw"]

    def _parse(self, raw: bytes) -> dict:
        c = self.config
        try:
            out = json.loads(raw)
        except ValueError:
            raise MalformedResponse(f"malformed response from {c.endpoint}: not JSON; body starts with "
                                    f"{self.redact(raw[:200].decode('utf-8', 'replace'))!r}") from None
        try:
            out["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            raise MalformedResponse(f"malformed response from {c.endpoint}: expected choices[0].message (OpenAI "
                                    f"chat-completions format); got {self.redact(json.dumps(out)[:200])}") from None
        return out

    def _answer(self, body: dict, parse):
        """``parse(response)`` of one request. A malformed response (not JSON, no choices, no option named) is
        asked again up to ``retries`` times; after that the label is a ``JudgeFailure`` (counted by the
        caller), not an exception that would lose the batch. Transport failures still raise (see ``post``)."""
        c = self.config
        for attempt in range(c.retries + 1):
            if attempt:
                time.sleep(c.backoff_s * 2 ** (attempt - 1))
            try:
                return parse(self.post(body))
            except MalformedResponse as e:
                failure = JudgeFailure(str(e))
                log.warning("judge request to %s: %s (attempt %d of %d)", c.endpoint, e, attempt + 1, c.retries + 1)
        return failure

    def _map(self, fn, items):
        if self.config.concurrency == 1 or len(items) == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            return list(pool.map(fn, items))

    # ------------------------------------------------------------------ answers
    def option_probs(self, requests, options):
        c = self.config

        def parse(out: dict) -> list[float]:
            choice = out["choices"][0]
            probs = from_logprobs(choice, options) if c.logprobs else None
            if probs is None:
                text = choice["message"].get("content") or ""
                probs = from_text(text, options)
                if probs is None:
                    raise MalformedResponse(f"judge answer names none of the options {list(options)}: "
                                            f"{self.redact(text[:200])!r}")
            return probs

        return self._map(lambda r: self._answer(self._payload(r, c.max_tokens, c.logprobs), parse), requests)

    def generate(self, requests, max_new_tokens):
        def parse(out: dict) -> str:
            return (out["choices"][0]["message"].get("content") or "").strip()

        texts = self._map(lambda r: self._answer(self._payload(r, max_new_tokens, False), parse), requests)
        return ["" if isinstance(t, JudgeFailure) else t for t in texts]  # a lost rationale: the answer still counts


def from_logprobs(choice: dict, options: tuple[str, ...]) -> list[float] | None:
    """Option probabilities from the first answer token's top log-probs, or None when absent."""
    try:
        top = choice["logprobs"]["content"][0]["top_logprobs"]
    except (KeyError, IndexError, TypeError):
        return None
    logps = []
    for o in options:
        found = [float(t["logprob"]) for t in top if str(t.get("token", "")).strip() == o]
        logps.append(math.log(sum(math.exp(v) for v in found)) if found else -math.inf)
    if all(v == -math.inf for v in logps):
        return None
    return normalise(logps)


def from_text(text: str, options: tuple[str, ...]) -> list[float] | None:
    """Probability 1 on the option that appears first as a whole word ("10" is not "1")."""
    best, where = None, len(text) + 1
    for k, o in enumerate(options):
        m = re.search(r"(?<![0-9A-Za-z])" + re.escape(o) + r"(?![0-9A-Za-z])", text)
        if m and m.start() < where:
            best, where = k, m.start()
    if best is None:
        return None
    return [1.0 if k == best else 0.0 for k in range(len(options))]


class HttpBackend:
    """``http:URL`` or ``{backend: http, http: {url: ..., ...}}`` (``HttpConfig``)."""

    def shorthand(self, arg: str) -> dict:
        return {"http": {"url": arg}}

    def check(self, spec) -> None:
        from prefzoo.config import from_dict

        if not spec.http:
            raise ValueError("judge.backend http needs judge.http (at least url)")
        from_dict(HttpConfig, spec.http, "judge.http")

    def build(self, spec, ctx) -> HttpJudge:
        from prefzoo.config import from_dict

        return HttpJudge(from_dict(HttpConfig, spec.http, "judge.http"), ctx.judge_settings(spec),
                         ctx.label_cache_dir(spec))


__all__ = ["HttpConfig", "HttpJudge", "HttpJudgeError", "HttpBackend", "from_logprobs", "from_text"]

"""LLM-as-judge of strategy-level diversity through the ``openai`` client (any OpenAI-compatible endpoint).

Protocol (docs/judge.md): one chat-completion call per problem and view. The judge sees the problem and the
solutions of the view (``correct``: the samples with reward > 0, the default; ``all``: all k; ``both``: two
calls), each in full (a solution longer than ``max_chars`` keeps its first two thirds and last third of that
budget around an omission marker), partitions them into strategy classes and gives FlowRL's 1–5 diversity
rubric with thresholds scaled to their number (methods.md §1.11). It answers in JSON:
``{"classes": [label per solution], "strategies": {label: short name}, "score": 1-5}``.

Failures are recorded as *missing* with a reason, never as a default score. Transient failures (429,
408/409, 5xx, timeouts, connection errors) and malformed judge output are retried with exponential backoff
up to ``max_attempts`` attempts; other 4xx fail at once. Successful answers are cached on disk keyed by
(model, prompt-template hash, hash of the rendered messages, temperature), so a re-run makes no call.
The API key is read from the environment variable named ``api_key_env`` and is never logged or written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .offline import dominant_share, normalized_entropy

TEMPLATE_VERSION = "disa-bench-judge-v1"
JUDGE_VIEWS = ("correct", "all", "both")

SYSTEM_PROMPT = (
    "You are an expert mathematician evaluating the DIVERSITY of solution approaches (strategies) "
    "that several independent solutions take to the same problem. Focus on the approach, not on "
    "correctness, wording, formatting or the order of steps."
)

USER_TEMPLATE = """Problem:
{problem}

Below are {k} solutions, numbered 1 to {k}.

{solutions}

Task 1 - partition. Group the {k} solutions into strategy classes: two solutions are in the same class
when they use essentially the same approach (same variable setup, same technique family such as
algebraic / geometric / analytic / enumeration, same decomposition into sub-problems, same way of
handling the constraints). Solutions that differ only in wording, arithmetic order or final answer are
the same strategy. Give every solution a class label (an integer starting at 1) and every class a short
name (at most 8 words).

Task 2 - score. Rate the diversity of the {k} solutions on this 1-5 scale, where "dominant" is the
number of solutions in the largest class:
{rubric}

Answer with ONLY a JSON object, no other text:
{{"classes": [<class label of solution 1>, ..., <class label of solution {k}>], "strategies": {{"<label>": "<short name>", ...}}, "score": <1-5>}}"""

# FlowRL's rubric at k = 16, as (score, minimum number of solutions in the dominant class, description).
FLOWRL_K = 16
FLOWRL_RUBRIC = (
    (1, 14, "essentially identical approaches"),
    (2, 11, "most share the main approach, with minor variations"),
    (3, 7, "moderate diversity: 2-3 alternative approaches"),
    (4, 4, "high diversity: 3-4 distinct strategies"),
    (5, 0, "very high diversity: 4 or more distinct strategies, no approach dominates"),
)


def rubric_thresholds(k: int) -> list[tuple[int, int, str]]:
    """FlowRL's thresholds scaled to k: score s needs dominant >= ceil(t_s * k / 16) (exact at k = 16).

    At k = 8 this gives 1: >= 7/8, 2: 6/8, 3: 4-5/8, 4: 2-3/8, 5: 1/8 (all different).
    """
    return [(s, math.ceil(t * k / FLOWRL_K) if t else 0, d) for s, t, d in FLOWRL_RUBRIC]


def rubric_text(k: int) -> str:
    """The rubric lines for k solutions; levels that no partition of k can reach (small k) are left out."""
    rows, upper = [], k
    for s, lo, d in rubric_thresholds(k):
        lo = max(lo, 1)
        if lo > upper:
            continue
        span = f"{lo}/{k}" if lo == upper else f"{lo}-{upper}/{k}"
        rows.append(f"{s} = dominant {span} - {d}")
        upper = lo - 1
    return "\n".join(rows)


def rubric_from_partition(labels: list) -> int | None:
    """The rubric score implied by a partition (largest class share, thresholds scaled to its size); None below 2."""
    if len(labels) < 2:  # one solution has no diversity to rate
        return None
    m = len(labels)
    d = round(dominant_share(labels) * m)
    for s, lo, _ in rubric_thresholds(m):
        if d >= max(lo, 1):
            return s
    return 5


def template_hash() -> str:
    blob = json.dumps([TEMPLATE_VERSION, SYSTEM_PROMPT, USER_TEMPLATE, FLOWRL_RUBRIC])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def truncate(text: str, max_chars: int) -> str:
    """Keep ``text`` whole up to ``max_chars``; beyond, its first 2/3 and last 1/3 of the budget."""
    text = text or ""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    head = max_chars * 2 // 3
    tail = max_chars - head
    return f"{text[:head]}\n[... {len(text) - max_chars} characters omitted ...]\n{text[-tail:]}"


def render_messages(problem: str, responses: list[str], max_chars: int) -> list[dict]:
    sols = "\n\n".join(f"### Solution {i}\n{truncate(r, max_chars)}" for i, r in enumerate(responses, 1))
    k = len(responses)
    user = USER_TEMPLATE.format(problem=problem, k=k, solutions=sols, rubric=rubric_text(k))
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


class MalformedJudgeOutput(ValueError):
    pass


def parse_verdict(content: str | None, k: int) -> dict:
    """Validate the judge's JSON: ``{"classes": [k labels], "strategies": {label: name}, "score": 1..5}``."""
    if not content or not content.strip():
        raise MalformedJudgeOutput("empty judge output")
    text = content.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fence:
        text = fence.group(1).strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        raise MalformedJudgeOutput(f"judge output is not JSON: {content[:120]!r}") from None
    if not isinstance(obj, dict):
        raise MalformedJudgeOutput("judge output is not a JSON object")
    classes = obj.get("classes")
    if not isinstance(classes, list) or len(classes) != k:
        raise MalformedJudgeOutput(f"'classes' must be a list of {k} labels, got {json.dumps(classes)[:80]}")
    if not all(isinstance(c, (int, str)) and not isinstance(c, bool) for c in classes):
        raise MalformedJudgeOutput("'classes' labels must be integers or strings")
    labels = [str(c) for c in classes]
    names = obj.get("strategies")
    if isinstance(names, list):  # tolerate [{"label": .., "name": ..}] or a plain list of names
        names = {str(n.get("label", n.get("id", i + 1))) if isinstance(n, dict) else str(i + 1):
                 (n.get("name") if isinstance(n, dict) else n) for i, n in enumerate(names)}
    if not isinstance(names, dict):
        raise MalformedJudgeOutput("'strategies' must map each class label to a short name")
    names = {str(a): str(b) for a, b in names.items()}
    missing = sorted(set(labels) - set(names))
    if missing:
        raise MalformedJudgeOutput(f"'strategies' has no name for class(es) {', '.join(missing)}")
    score = obj.get("score")
    if isinstance(score, str) and score.strip().isdigit():
        score = int(score.strip())
    if isinstance(score, float) and score.is_integer():
        score = int(score)
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise MalformedJudgeOutput(f"'score' must be an integer 1-5, got {score!r}")
    return {"classes": labels, "strategies": {l: names[l] for l in dict.fromkeys(labels)}, "score": score}


def partition_view(labels: list[str]) -> dict:
    return {"n": len(labels), "n_classes": len(set(labels)) if labels else None,
            "entropy": normalized_entropy(labels), "dominant_share": dominant_share(labels),
            "rubric_from_partition": rubric_from_partition(labels)}


@dataclass
class JudgeConfig:
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.0
    max_tokens: int = 1024
    timeout: float = 120.0  # seconds per HTTP attempt
    max_attempts: int = 4  # total attempts per problem (1 = no retry)
    backoff: float = 2.0  # seconds before the 2nd attempt; doubles each time
    backoff_max: float = 60.0
    max_chars: int = 8000  # per solution; longer ones keep head 2/3 + tail 1/3
    json_mode: bool = True  # send response_format={"type": "json_object"}
    concurrency: int = 4
    stop_after: int = 5  # stop calling after this many consecutive problems fail on the endpoint
    cache_dir: str | None = None  # default $DISA_BENCH_HOME/judge-cache
    view: str = "correct"  # which samples the judge rates: correct (reward > 0), all, or both (two calls)

    @property
    def configured(self) -> bool:
        return bool(self.base_url)

    def check(self) -> None:
        from ..errors import UserError

        if self.base_url and not self.model:
            raise UserError("--judge-model is required with --judge-base-url")
        if self.max_attempts < 1:
            raise UserError(f"--judge-max-attempts must be >= 1, got {self.max_attempts}")
        if not self.timeout > 0:
            raise UserError(f"--judge-timeout must be > 0, got {self.timeout}")
        if self.temperature < 0:
            raise UserError(f"--judge-temperature must be >= 0, got {self.temperature}")
        if self.concurrency < 1:
            raise UserError(f"--judge-concurrency must be >= 1, got {self.concurrency}")
        if self.view not in JUDGE_VIEWS:
            raise UserError(f"unknown --judge-view {self.view!r}; valid: {', '.join(JUDGE_VIEWS)}")

    @property
    def views(self) -> tuple[str, ...]:
        """The views judged, the claim's view (correct) first."""
        return ("correct", "all") if self.view == "both" else (self.view,)

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir)
        home = Path(os.environ.get("DISA_BENCH_HOME", Path.home() / ".cache" / "disa-bench"))
        return home / "judge-cache"

    def public(self) -> dict:
        """Config for the manifest: the key's variable name only, never its value."""
        from dataclasses import asdict

        d = asdict(self)
        d["cache_dir"] = str(self.resolved_cache_dir())
        d["template_hash"] = template_hash()
        d["template_version"] = TEMPLATE_VERSION
        return d


@dataclass
class Outcome:
    status: str  # "ok" or "missing"
    attempts: int = 0  # HTTP attempts made for this problem (0 when cached or skipped)
    cached: bool = False
    reason: str | None = None
    verdict: dict | None = None
    fatal: bool = False  # an endpoint failure (not the judge's answer): counts toward stop_after
    errors: list = field(default_factory=list)


class Judge:
    """Calls the judge with retries and an on-disk cache; thread-safe."""

    def __init__(self, cfg: JudgeConfig, sleep=time.sleep):
        from openai import OpenAI

        self.cfg = cfg
        self._key = os.environ.get(cfg.api_key_env) or ""
        # max_retries=0: the retry loop is ours, so attempts are counted and bounded in one place.
        self.client = OpenAI(base_url=cfg.base_url, api_key=self._key or "not-set", timeout=cfg.timeout,
                             max_retries=0)
        self.cache = cfg.resolved_cache_dir()
        self.sleep = sleep
        self.http_attempts = 0
        self._lock = threading.Lock()
        self._consecutive = 0
        self._stopped: str | None = None

    @property
    def api_key_set(self) -> bool:
        return bool(self._key)

    def _scrub(self, s: str) -> str:
        return s.replace(self._key, "***") if self._key else s

    def cache_key(self, messages: list[dict]) -> str:
        blob = json.dumps({"model": self.cfg.model, "template": template_hash(),
                           "messages": hashlib.sha256(json.dumps(messages).encode()).hexdigest(),
                           "temperature": self.cfg.temperature}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _cache_path(self, key: str) -> Path:
        return self.cache / key[:2] / f"{key}.json"

    def judge(self, problem: str, responses: list[str]) -> Outcome:
        k = len(responses)
        messages = render_messages(problem, responses, self.cfg.max_chars)
        key = self.cache_key(messages)
        path = self._cache_path(key)
        if path.exists():
            try:
                return Outcome("ok", cached=True, verdict=parse_verdict(json.loads(path.read_text())["content"], k))
            except (OSError, ValueError, KeyError):
                pass  # unreadable cache entry: call again
        if self._stopped:
            return Outcome("missing", reason=f"not attempted: {self._stopped}", fatal=True)
        out = self._call(messages, k)
        with self._lock:
            if out.status == "ok":
                self._consecutive = 0
            elif out.fatal:
                self._consecutive += 1
                if self._consecutive >= self.cfg.stop_after and not self._stopped:
                    self._stopped = f"endpoint failed on {self._consecutive} problems in a row (last: {out.reason})"
        if out.status == "ok":
            from ..io import write_json

            write_json(path, {"model": self.cfg.model, "template_hash": template_hash(),
                              "temperature": self.cfg.temperature, "content": out.verdict.pop("_content")})
        return out

    def _call(self, messages: list[dict], k: int) -> Outcome:
        import openai

        cfg, errors, fatal = self.cfg, [], False
        kwargs = {"model": cfg.model, "messages": messages, "temperature": cfg.temperature,
                  "max_tokens": cfg.max_tokens}
        if cfg.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        for attempt in range(1, cfg.max_attempts + 1):
            with self._lock:
                self.http_attempts += 1
            retry = True
            try:
                resp = self.client.chat.completions.create(**kwargs)
                content = resp.choices[0].message.content if resp.choices else None
                verdict = parse_verdict(content, k)
                verdict["_content"] = content
                return Outcome("ok", attempts=attempt, verdict=verdict, errors=errors)
            except MalformedJudgeOutput as e:
                reason, fatal = f"malformed judge output: {e}", False
            except openai.APITimeoutError:
                reason, fatal = f"timeout after {cfg.timeout:g} s", True
            except openai.APIConnectionError as e:
                reason, fatal = f"connection error: {e.__cause__ or e}", True
            except openai.APIStatusError as e:
                code = e.status_code
                reason, fatal = f"HTTP {code}: {_short(e.message)}", True
                retry = code in (408, 409, 429) or code >= 500
            except openai.APIError as e:  # e.g. a response body the client cannot validate
                reason, fatal = f"API error: {type(e).__name__}: {_short(str(e))}", False
            except (AttributeError, IndexError, TypeError) as e:  # a 200 that is not a chat completion
                reason, fatal = f"malformed response: {type(e).__name__}: {e}", False
            except ValueError as e:  # a 200 whose body is not JSON (the client's JSONDecodeError): an endpoint fault
                reason, fatal = f"malformed response: the body is not JSON ({_short(str(e))})", True
            reason = self._scrub(reason)
            errors.append(reason)
            if not retry or attempt == cfg.max_attempts:
                return Outcome("missing", attempts=attempt,
                               reason=reason + (f" (after {attempt} attempts)" if attempt > 1 else ""),
                               fatal=fatal, errors=errors)
            self.sleep(min(cfg.backoff * 2 ** (attempt - 1), cfg.backoff_max))
        raise AssertionError("unreachable")


def _short(s: str, n: int = 160) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[:n] + "..."

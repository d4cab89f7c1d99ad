"""Offline (no-endpoint) diversity measures of the k samples per problem of an eval dir.

Pure functions over ``samples.jsonl`` rows (see :mod:`disa_bench.eval.grading`), usable by the report code:

- ``distinct_answers``: number of distinct extracted final answers (``answer`` field; samples with no
  answer, ``None``, are not counted as an answer).
- ``distinct_strategies``: number of distinct strategy keys (``strategy`` field; exact on the embedded
  countdown task, ``None`` on tasks without one, in which case all strategy measures are ``None``).
  Samples without a key are left out of the strategy measures.
- ``strategy_entropy``: normalized entropy of the strategy classes, H / log m, where m is the number of
  samples with a key in that view (m = k when every sample has one); 0 = one strategy, 1 = all distinct;
  ``None`` when m < 2.
- ``distinct_n``: for n = 1..4, distinct n-grams / total n-grams pooled over the responses of the view
  (tokens: ``\\w+`` runs and single punctuation characters); ``distinct_mean`` is their average.

Every measure is given for two views: ``all`` (all k samples) and ``correct`` (samples with reward > 0);
an empty view (no correct sample) has ``None`` for every measure, so dataset means skip it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

VIEWS = ("all", "correct")
NGRAMS = (1, 2, 3, 4)
_TOKEN = re.compile(r"\w+|[^\w\s]")


def load_samples(path: str | Path) -> dict[str, list[dict]]:
    """Rows of a ``samples.jsonl`` grouped by ``prompt_id`` (file order kept, rows sorted by ``sample``).
    A bad line is a UserError naming the file and line."""
    from ..errors import UserError
    from ..io import read_jsonl_rows

    groups: dict[str, list[dict]] = {}
    for i, row in read_jsonl_rows(path, "a sample row (JSON object)"):
        if "prompt_id" not in row or "response" not in row:
            raise UserError(f"{path}:{i}: a sample row needs 'prompt_id' and 'response'")
        groups.setdefault(str(row["prompt_id"]), []).append(row)
    for rows in groups.values():
        rows.sort(key=lambda r: r.get("sample", 0))
    return groups


def is_correct(row: dict) -> bool:
    return (row.get("reward") or 0) > 0


def view_rows(rows: list[dict], view: str) -> list[dict]:
    if view == "all":
        return list(rows)
    if view == "correct":
        return [r for r in rows if is_correct(r)]
    raise ValueError(f"unknown view {view!r}; valid: {', '.join(VIEWS)}")


def distinct_answers(rows: list[dict]) -> int:
    return len({str(r["answer"]) for r in rows if r.get("answer") is not None})


def normalized_entropy(labels: list) -> float | None:
    """Entropy of the label distribution divided by log(len(labels)); None for fewer than 2 labels."""
    m = len(labels)
    if m < 2:
        return None
    h = -sum(c / m * math.log(c / m) for c in Counter(labels).values())
    return max(0.0, h / math.log(m))


def dominant_share(labels: list) -> float | None:
    """Fraction of the labels in the largest class."""
    if not labels:
        return None
    return Counter(labels).most_common(1)[0][1] / len(labels)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text or "")


def distinct_n(texts: list[str], n: int) -> float | None:
    """Distinct n-grams / total n-grams pooled over ``texts``; None when there is no n-gram at all."""
    total, seen = 0, set()
    for t in texts:
        toks = tokens(t)
        grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else None


def view_measures(rows: list[dict]) -> dict:
    """Offline measures of one view (a list of sample rows of one problem)."""
    keys = [r["strategy"] for r in rows if r.get("strategy") is not None]
    dn = {str(n): distinct_n([r.get("response", "") for r in rows], n) for n in NGRAMS}
    vals = [v for v in dn.values() if v is not None]
    return {
        "n": len(rows),
        "distinct_answers": distinct_answers(rows) if rows else None,
        "distinct_strategies": len(set(keys)) if keys else None,
        "strategy_entropy": normalized_entropy(keys),
        "distinct_n": dn,
        "distinct_mean": sum(vals) / len(vals) if vals else None,
    }


def problem_measures(rows: list[dict]) -> dict:
    """``{"all": {...}, "correct": {...}}`` offline measures of the k sample rows of one problem."""
    return {v: view_measures(view_rows(rows, v)) for v in VIEWS}


def _flat(m: dict) -> dict:
    out = {k: v for k, v in m.items() if k != "distinct_n"}
    out.update({f"distinct_{n}": v for n, v in m.get("distinct_n", {}).items()})
    return out


def mean_of(values) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def dataset_means(per_problem: list[dict]) -> dict:
    """Mean of every measure over problems, per view, ignoring ``None`` (with the count that had a value).

    ``per_problem`` is a list of :func:`problem_measures` results.
    """
    out = {}
    for v in VIEWS:
        flats = [_flat(p[v]) for p in per_problem if v in p]
        names = sorted({k for f in flats for k in f})
        out[v] = {k: mean_of(f.get(k) for f in flats) for k in names}
        out[v]["problems_with_samples"] = sum(1 for f in flats if f.get("n"))
    return out

"""The trajectory store as the engine reads it: the training prompts, the rows a method trains on, offline batches.

The store defines the training prompt set (so every method trains on the same prompts). When the engine reads
the store (``--data offline``, or a method with ``uses_rollouts = False``) the method picks its rows
(``Method.select_store_rows``: SFT keeps correct ones by default) and names the ``data_source``. Offline ratios
need the stored behaviour log-probs of every row (checked once, up front).
"""

from __future__ import annotations

import time

from ..errors import UserError


class StoreData:
    """Rows of one store indexed by prompt; ``problems`` are the task's train problems they belong to, in store order."""

    def __init__(self, path, task):
        from ..store.schema import read_store

        self.path = path
        self.table = read_store(path)
        t = self.table
        tasks = set(t.column("task").to_pylist())
        if tasks != {task.name}:
            raise UserError(f"{path}: store holds task(s) {sorted(tasks)}, but --task is {task.name!r}")
        pids = t.column("prompt_id").to_pylist()
        self.rows_by_prompt: dict[str, list[int]] = {}
        for i, p in enumerate(pids):
            self.rows_by_prompt.setdefault(p, []).append(i)
        by_id = {p.prompt_id: p for p in task.problems("train")}
        missing = [p for p in self.rows_by_prompt if p not in by_id]
        if missing:
            raise UserError(f"{path}: prompt_id {missing[0]!r} is not a train problem of task {task.name!r}")
        self.problems = [by_id[p] for p in self.rows_by_prompt]
        texts = t.column("prompt").to_pylist()
        for p in self.problems:  # a store proposed with another prompt format would be scored on other text
            stored = texts[self.rows_by_prompt[p.prompt_id][0]]
            if stored != p.prompt:
                raise UserError(f"{path}: the stored prompt of {p.prompt_id!r} differs from the task's rendering for "
                                f"this model (was the store proposed with another --template or model?)")

    def select(self, method) -> str:
        """Keep the rows ``method`` trains on (prompts left without a row drop out); returns its data_source label."""
        rows = method.select_store_rows(self.table, self.rows_by_prompt, str(self.path))
        rows = {p: r for p, r in rows.items() if r}
        if not rows:
            raise UserError(f"{self.path}: method {method.name!r} selected no store rows to train on")
        self.rows_by_prompt = rows
        self.problems = [p for p in self.problems if p.prompt_id in rows]
        return method.store_source()

    def check_behavior(self) -> None:
        """Offline ratios need the stored behaviour log-probs of every trajectory."""
        col = self.table.column("behavior_logprobs").to_pylist()
        ids = self.table.column("completion_ids").to_pylist()
        for i, (b, c) in enumerate(zip(col, ids)):
            if b is None or len(b) == 0 or len(b) != len(c):
                raise UserError(f"{self.path}: row {i} has no behavior_logprobs (got {0 if b is None else len(b)} for "
                                f"{len(c)} tokens); --data offline needs the behaviour log-probs of every trajectory")

    def batch(self, problems, n: int, rng, timings: dict) -> list[dict]:
        """Up to ``n`` stored rows per prompt (a random ``n`` of them, drawn from ``rng``, when there are more)."""
        t0 = time.time()
        t = self.table
        seqs = []
        for gi, p in enumerate(problems):
            rows = self.rows_by_prompt[p.prompt_id]
            take = rows if len(rows) <= n else rng.sample(rows, n)
            for i in take:
                seqs.append({"problem": p, "group": gi, "ids": t.column("completion_ids")[i].as_py(),
                             "reward": t.column("reward")[i].as_py(),
                             "behavior": t.column("behavior_logprobs")[i].as_py(),
                             "strategy": None})
        timings["data"] += time.time() - t0  # store reads (no sampling)
        return seqs

"""A benchmark family is a class; what all families share (rows, prompt templates, seeded subsets) is here once.

A family module (``math_bench.py``, ``humaneval.py``, ``train_sets.py``, ...) subclasses :class:`Benchmark`,
writes only its own bits and registers its benchmarks with :func:`register`:

* ``family`` -- the data sub-directory (``math``, ``code``; ``data_dir`` overrides it, e.g. ``train``), also
  the word in a bad-template error; ``split`` -- the one split it serves (``test`` for eval benchmarks,
  ``train`` for training sets);
* ``system`` and ``plain(system, user)`` -- the instruction and the ``plain`` prompt layout;
* ``parse(rows)`` -- the rows as a list of :class:`Item` (one per gradable row; rows it leaves out as
  ungradable go to ``self.excluded``); a bad row is a UserError naming ``file:line`` and the field;
* ``grade(problem, response)`` and ``grader_version``; optionally ``meta(item)`` and ``grade_batch``.

Prompt (``template=``, resolved by ``get_task``): see :mod:`disa_bench.tasks.prompts` (``plain``, ``chat``,
``hf:<tokenizer>`` over :meth:`Benchmark.messages`). Data (``data=``): see :mod:`disa_bench.tasks.data`.
``n`` draws a subset seeded by (name, split, seed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import UserError
from ..types import Grade, Problem
from .base import TASKS
from .data import Rows, load_rows, locate
from .prompts import render_prompt


@dataclass(frozen=True)
class Spec:
    """One registered benchmark of a family: its file under ``<data root>/<family>/`` (families may extend it)."""

    file: str
    hf_split: str = field(default="test", kw_only=True)  # the split read when data= is a Hugging Face id
    hf_id: str | None = field(default=None, kw_only=True)  # read when there is no local copy (and data= unset)
    hf_config: str | None = field(default=None, kw_only=True)  # the dataset config of hf_id (e.g. gsm8k "main")


@dataclass
class Item:
    """One parsed row: the problem id, its line, the user part of the prompt and what grading needs."""

    pid: str
    line: int
    text: str  # the user part of the prompt (the question)
    kind: str = ""  # a family's row format, e.g. function / stdin / functional
    data: dict = field(default_factory=dict)  # kept off Problem.meta to keep problems small
    answer: object = None  # Problem.answer
    extra: dict = field(default_factory=dict)  # added to Problem.meta


@dataclass
class Benchmark:
    name: str
    spec: Spec = field(repr=False)
    data: str | None = None
    template: str = "plain"
    max_new_tokens: int = 4096
    reward_range: tuple[float, float] = (0.0, 1.0)
    _items: list | None = field(default=None, init=False, repr=False)
    excluded: list = field(default_factory=list, init=False, repr=False)  # ids of rows left out as ungradable

    family: ClassVar[str]
    system: ClassVar[str]
    split: ClassVar[str] = "test"  # the one split this benchmark serves
    data_dir: ClassVar[str | None] = None  # sub-directory of the data root (default: family)
    default_eval_prompts = None  # eval every problem unless --n-prompts says otherwise

    def __post_init__(self):
        if not self.template.startswith("hf:"):
            self.render("q")  # an unknown template fails here, not at the first prompt

    # -------- the family's bits
    def plain(self, system: str, user: str) -> str:
        raise NotImplementedError

    def parse(self, rows: Rows) -> list[Item]:
        raise NotImplementedError

    def grade(self, problem: Problem, response: str) -> Grade:
        raise NotImplementedError

    def messages(self, system: str, user: str) -> list[dict]:
        """The chat messages for ``hf:`` templates (default: system + user)."""
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def meta(self, it: Item) -> dict:
        return {"question": it.text, "line": it.line, **it.extra}

    # -------- prompts
    def render(self, user: str) -> str:
        if self.template == "auto":
            raise UserError(f"template 'auto' of {self.name!r} is resolved by get_task(name, model=...); "
                            f"construct the task with get_task")
        return render_prompt(self.template, self.system, user, self.plain(self.system, user),
                             self.messages(self.system, user), kind=self.family)

    # -------- data
    def source(self) -> str:
        """Where the rows come from: a file path or a Hugging Face dataset id."""
        return locate(self.name, self.data, self.subdir, self.spec.file, self.spec.hf_id)[1]

    @property
    def subdir(self) -> str:
        return self.data_dir or self.family

    def items(self) -> list[Item]:
        """All gradable rows, parsed and validated (loaded once)."""
        if self._items is None:
            sp = self.spec
            rows = load_rows(self.name, self.data, self.subdir, sp.file, sp.hf_split, sp.hf_id, sp.hf_config)
            self.excluded = []
            items = self.parse(rows)
            self._dir, self._by_id = rows.dir, {it.pid: it for it in items}
            self._items = items
        return self._items

    def item(self, problem: Problem) -> Item:
        self.items()
        it = self._by_id.get(problem.prompt_id)
        if it is None:
            raise UserError(f"problem {problem.prompt_id!r} is not in task {self.name!r} ({self.source()})")
        return it

    @property
    def n_excluded(self) -> int:
        """How many rows were left out as ungradable (e.g. codeforces' interactive problems)."""
        self.items()
        return len(self.excluded)

    # -------- Task protocol
    def problems(self, split: str | None = None, n: int | None = None, seed: int = 0) -> list[Problem]:
        split = split or self.split
        if split != self.split:
            kind = "a benchmark" if self.split == "test" else "a training set"
            raise UserError(f"task {self.name!r} is {kind} with only a {self.split!r} split (got {split!r})")
        items = self.items()
        idx = list(range(len(items)))
        if n is not None and n < len(idx):
            idx = sorted(random.Random(f"{self.name}|{split}|{seed}").sample(idx, n))
        return [Problem(prompt_id=items[i].pid, task=self.name, prompt=self.render(items[i].text),
                        answer=items[i].answer, meta=self.meta(items[i])) for i in idx]


def register(cls: type[Benchmark], specs: dict[str, Spec]) -> None:
    """Register each ``name: spec`` as a task: ``get_task(name, **options)`` = ``cls(name, spec, **options)``."""
    for name, spec in specs.items():
        TASKS.add(name, _factory(cls, name, spec))


def _factory(cls: type[Benchmark], name: str, spec: Spec):
    def make(**kwargs) -> Benchmark:
        return cls(name, spec, **kwargs)

    make.__name__ = f"{cls.__name__}[{name}]"
    make.templated = True  # type: ignore[attr-defined]  (get_task resolves template= for it)
    return make

"""The method contract, the method registry and method options.

A method receives a :class:`Batch` of padded per-token tensors and returns ``(loss, metrics)``. It declares
which inputs it needs (``needs``) so the engine computes only those, and every other hook the engine, the
run pipeline or the report may call is declared on :class:`Method` with a default: a new method overrides only
what it uses. It knows nothing about batching, rollouts, optimizers or LoRA.

Discovery: every module of this package (except ``base`` and names starting with ``_``) is imported on
first use and registers its class with ``@METHODS.register(name)``; a module that fails to import is a
:class:`UserError` naming it, never a silent skip. So a new method is one file in ``methods/``.

Options: a method's ``Config`` dataclass is its option list. ``method_config`` builds it from a dict (unknown
keys: one error listing the valid ones; values type-checked like flags by ``config.check_type``; then the
Config's own ``check()`` when it has one), ``parse_method_args`` converts ``key=value`` strings by the fields'
types (``--method-arg``), and ``method_options`` lists name, type, default and a one-line help taken from the
field's ``metadata["help"]`` or else from the comment after the field in the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import UserError
from ..registry import Registry

METHODS: Registry = Registry("method")


@dataclass
class Batch:
    logp: Any  # (B, T) policy token log-probs, with grad
    mask: Any  # (B, T) 1 on completion tokens
    reward: Any  # (B,)
    group: Any  # (B,) prompt index: samples of one prompt share it
    old_logp: Any = None  # (B, T) behaviour / pi_old token log-probs (no grad)
    ref_logp: Any = None  # (B, T) pi_ref token log-probs (no grad)
    log_z: Any = None  # (B,) frozen anchor log Z (DISA)
    prompt_hidden: Any = None  # (B, d) mean-pooled policy hidden states over the prompt (FlowRL head)
    extra: dict = field(default_factory=dict)


class Method:
    """Base class: subclasses set ``name``, ``Config`` and ``needs`` and implement ``loss``; the rest is optional."""

    name: ClassVar[str]
    Config: ClassVar[type]
    needs: ClassVar[frozenset] = frozenset()  # subset of {"old", "ref", "anchor", "hidden"}; an instance may narrow it
    supports_offline: ClassVar[bool] = True  # False: ``--data offline`` is an error
    uses_rollouts: ClassVar[bool] = True  # False: never samples, trains on store rows in both --data modes (SFT)
    default_mini_batches: ClassVar[int] = 1  # optimizer steps per rollout batch when --mini-batches is not given
    state_file: ClassVar[str | None] = None  # file next to the adapter for state_dict(); None = <name>_params.safetensors
    order: ClassVar[int] = 1000  # position in the default method list and the report's rows (ties: by name)
    # True: a trajectory-balance objective whose IS weights use pi_old scored at temperature 1 on the full
    # vocabulary; online sampling must then be from that same distribution (temperature 1, top_p 1), see
    # check_sampling
    requires_full_support: ClassVar[bool] = False
    # (metric, what it counts): the per-mini-batch metric of samples whose update is clipped, which the report
    # shows per mini-batch and flags when more than half are clipped after the first mini-batch; None = none
    clip_metric: ClassVar[tuple[str, str] | None] = None

    def __init__(self, cfg=None):
        self.cfg = cfg if cfg is not None else self.Config()

    # ----------------------------------------------------------------- training
    def parameters(self) -> list:
        """Trainable parameters the method owns besides the policy (e.g. FlowRL's log Z head)."""
        return []

    def setup(self, policy, hidden_size: int) -> None:
        """Called once by the engine before training (e.g. to build a head of the right width)."""

    def advantages(self, reward, group):
        """Per-sequence advantages over the whole rollout batch, or None (not used). The engine calls it once per
        rollout batch, before the mini-batch split, and passes the slice as ``batch.extra["advantage"]``."""
        return None

    def loss(self, batch: Batch):
        raise NotImplementedError

    # ----------------------------------------------------------------- state saved next to the adapter
    def state_dict(self) -> dict:
        """Tensors the engine saves in ``state_file`` beside the adapter (only if the method owns parameters);
        empty = nothing to save."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Inverse of :meth:`state_dict` (after :meth:`setup`)."""

    # ----------------------------------------------------------------- data
    def select_store_rows(self, table, rows_by_prompt: dict, where: str) -> dict:
        """Store rows to train on when the engine reads the store (``--data offline``, or always when
        ``uses_rollouts`` is False): ``{prompt_id: [row, ...]}`` -> a subset. Default: every row. ``where`` names
        the store for error messages."""
        return rows_by_prompt

    def store_source(self) -> str:
        """The summary's ``data_source`` when the method trains on the store (SFT: ``store:correct``)."""
        return "store"

    # ----------------------------------------------------------------- anchor
    def check_anchor(self, anchor_rows: dict, where: str) -> None:
        """With ``"anchor"`` in ``needs``: check the anchor's rows (``{prompt_id: {"log_z", "beta", "units", ...}}``)
        suit this config; raise UserError if not. The engine checks that every training prompt has a row."""

    @classmethod
    def check_sampling(cls, temperature: float, top_p: float) -> None:
        """Online rollouts: refuse sampler settings the loss cannot correct for (one UserError line).

        With ``requires_full_support`` the sampler must be the untempered, untruncated policy: top_p < 1 gives
        zero probability to sequences the target pi* gives mass (trajectory balance needs a full-support
        sampler), and temperature != 1 makes the sampler differ from the pi_old the engine scores for the IS
        ratios (teacher-forced at temperature 1), so w would correct toward the wrong distribution. Scoring
        pi_old under the processed (tempered, truncated) distribution is the alternative that was not built."""
        if cls.requires_full_support and (temperature != 1.0 or top_p < 1.0):
            raise UserError(f"method {cls.name!r} needs online rollouts from the full, untempered policy "
                            f"(temperature 1, top_p 1), got temperature {temperature:g}, top_p {top_p:g}: its IS "
                            f"ratios use pi_old at temperature 1 and trajectory balance needs full support")

    @classmethod
    def run_defaults(cls, anchor_cfg) -> dict:
        """Method options the run pipeline fills in from the run's anchor config unless given (DISA: beta, units)."""
        return {}

    def anchor_settings(self) -> dict:
        """With ``"anchor"`` in ``needs``: the anchor config fields this config's anchor must have (DISA: units,
        beta). The run pipeline builds one anchor per distinct setting its rows need, from the same store."""
        return {}


# --------------------------------------------------------------------------- discovery
_discovered = False


def discover() -> None:
    """Import every method module of this package once, so each registers itself (``registry.discover``: a
    module that fails to import is a UserError naming it)."""
    global _discovered
    if _discovered:
        return
    import importlib

    from ..registry import discover as discover_modules

    discover_modules(__package__, importlib.import_module(__package__).__path__, skip=("base",))
    _discovered = True


def get_method(name: str) -> type[Method]:
    discover()
    return METHODS.get(name)


def method_names() -> list[str]:
    """Every registered method, in report order: the classes' ``order``, then by name."""
    discover()
    return sorted(METHODS.names(), key=lambda n: (METHODS.get(n).order, n))


# --------------------------------------------------------------------------- options
def method_config(method_cls, args: dict):
    """The method's Config from ``args``; unknown keys are one error line listing the valid ones."""
    import dataclasses

    from ..config import check_type, field_types

    names = {f.name for f in dataclasses.fields(method_cls.Config)}
    if not isinstance(args, dict):
        raise UserError(f"options of method {method_cls.name!r} must be a mapping of option: value, got {args!r}")
    unknown = sorted(set(args) - names)
    if unknown:
        raise UserError(f"unknown option(s) {', '.join(unknown)} for method {method_cls.name!r}; valid: {', '.join(sorted(names))}")
    hints = field_types(method_cls.Config)
    for k, v in args.items():  # typed like a flag: beta: "five" or nan is one line naming the option
        if v is not None:
            check_type(k, v, hints.get(k, Any), f"method {method_cls.name!r}")
    cfg = method_cls.Config(**args)
    if hasattr(cfg, "check"):
        cfg.check()
    return cfg


def parse_method_args(method_cls, pairs: list[str]) -> dict:
    """``["key=value", ...]`` -> ``{key: value}`` converted by the Config field types (``none`` for optional fields)."""
    import dataclasses
    import typing

    fields = {f.name: f for f in dataclasses.fields(method_cls.Config)}
    try:
        hints = typing.get_type_hints(method_cls.Config)
    except Exception:  # an annotation that does not evaluate: take values as strings
        hints = {}
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UserError(f"--method-arg {pair!r}: expected key=value")
        if key not in fields:
            raise UserError(f"unknown option {key!r} for method {method_cls.name!r}; valid: {', '.join(sorted(fields))}")
        out[key] = _convert(value.strip(), hints.get(key, str), f"--method-arg {pair!r}", _type_name(fields[key]))
    return out


def _convert(value: str, tp, where: str, tname: str):
    import types
    import typing

    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    alts = typing.get_args(tp) if union else (tp,)
    if type(None) in alts and value.lower() in ("none", "null"):
        return None
    for t in alts:
        if t is type(None):
            continue
        try:
            return _as(t, value)
        except ValueError:
            continue
    raise UserError(f"{where}: expected {tname}")


def _as(t, value: str):
    if t is bool:
        low = value.lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        raise ValueError(value)
    if t in (int, float, str):
        return t(value)
    import yaml  # lists, dicts: YAML syntax

    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise ValueError(value) from e


def _type_name(f) -> str:
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def method_options(method_cls) -> list[tuple[str, str, Any, str]]:
    """``(name, type, default, help)`` per Config field."""
    import dataclasses

    comments = _field_comments(method_cls.Config)
    rows = []
    for f in dataclasses.fields(method_cls.Config):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        rows.append((f.name, _type_name(f), default, f.metadata.get("help") or comments.get(f.name, "")))
    return rows


def _field_comments(cls) -> dict[str, str]:
    """``{field: the comment after it}`` from the class source (empty where the source is unavailable)."""
    import inspect
    import io
    import tokenize

    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    line_field: dict[int, str] = {}
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError):
        return {}
    for i, t in enumerate(toks):
        if t.type == tokenize.NAME and i + 1 < len(toks) and toks[i + 1].string == ":" and t.start[1] > 0 \
                and t.start[0] not in line_field and (i == 0 or toks[i - 1].type in (tokenize.INDENT, tokenize.NEWLINE,
                                                                                    tokenize.NL, tokenize.DEDENT)):
            line_field[t.start[0]] = t.string
        elif t.type == tokenize.COMMENT and t.start[0] in line_field:
            out[line_field[t.start[0]]] = t.string.lstrip("#").strip()
    return out


# --------------------------------------------------------------------------- loss helpers
def seq_sum(x, mask):
    return (x * mask).sum(-1)


def tb_residual(log_z, logp, ref_logp, mask, reward, beta: float, units: str):
    """The trajectory-balance residual shared by DISA (frozen log Z) and FlowRL (learned log Z): ``(delta, per_seq)``.

        EXACT units: delta = log Z + log pi_theta(y|x) - log pi_ref(y|x) - beta r,     per_seq = delta^2 / |y|
        LN units:    delta = log Z + (1/|y|) log pi_theta - beta r - (1/|y|) log pi_ref,  per_seq = delta^2

    (sequence sums over the completion mask; |y| >= 1). The LN line keeps the released FlowRL code's order of
    operations, so FlowRL's numbers do not depend on this function being shared."""
    n = mask.sum(-1).clamp(min=1)
    lp = seq_sum(logp, mask)
    ref = seq_sum(ref_logp, mask)
    if units == "ln":
        delta = log_z + lp / n - beta * reward - ref / n
        return delta, delta**2
    delta = log_z + lp - ref - beta * reward
    return delta, delta**2 / n


def is_weight(logp, old_logp, mask, w_max: float | None, w_min: float | None = None):
    """Detached sequence-level IS weight clamp(exp(sum_t log pi_theta - log pi_old), w_min, w_max)."""
    import torch

    log_w = seq_sum(logp.detach() - old_logp, mask).clamp(-20, 20)
    raw = torch.exp(log_w)
    w = raw.clamp(min=w_min, max=w_max) if (w_min is not None or w_max is not None) else raw
    clipped = (w != raw).float().mean()
    return w, raw, clipped

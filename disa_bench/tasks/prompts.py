"""The one place a prompt string is made: (a problem's parts, a tokenizer, a template choice) -> the text the
model sees. Turning that text into token ids is ``disa_bench.rollout.tokens.prompt_ids``.

Templates (``--template``; a task option):

* ``auto`` (the default): the chat template of the model the command runs on, when its tokenizer has one,
  else ``plain``. :func:`resolve_template` turns it into one of the three below, once, when the task is built
  (``get_task(name, model=M)``);
* ``plain``: the task's own text layout (no chat markup);
* ``chat``: fixed ChatML, the task's instruction as the system message (the Qwen2.5-Math layout);
* ``hf:<tokenizer dir or id>``: that tokenizer's own chat template (``apply_chat_template`` with the
  generation prompt) over the task's messages.

propose renders with the reference model (pi_ref), train with the policy's initial model (the same model),
eval with the evaluated model; all build their task with ``get_task(name, model=..., template=...)``, so a
store is sampled, scored and trained on one prompt text. Tasks with one fixed prompt format (Countdown, the
enumerable worlds) have no template: ``auto`` and ``plain`` leave them as they are.
"""

from __future__ import annotations

from ..errors import UserError

TEMPLATES = "auto, plain, chat, hf:<tokenizer dir or id>"

_TOKENIZERS: dict = {}


def tokenizer(name: str):
    """The tokenizer of a model dir / id / ``PREFIX:NAME`` (loaded once per process)."""
    if name not in _TOKENIZERS:
        from ..models import load_tokenizer

        _TOKENIZERS[name] = load_tokenizer(name)
    return _TOKENIZERS[name]


def has_chat_template(model: str) -> bool:
    return bool(getattr(tokenizer(model), "chat_template", None))


def resolve_template(template: str | None, model: str | None) -> str:
    """``auto`` (or None) -> ``hf:<model>`` when ``model``'s tokenizer has a chat template, else ``plain``
    (also without a model); any other template is returned as is (the task checks it when it renders).
    ``model`` is resolved first (``tiny:qwen2`` -> its directory)."""
    t = (template or "auto").strip()
    if t != "auto":
        return t
    if model is None:
        return "plain"
    from ..models import resolve

    path = resolve(model)
    return f"hf:{path}" if has_chat_template(path) else "plain"


def chatml(system: str, user: str) -> str:
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n")


def render_prompt(template: str, system: str, user: str, plain: str, messages: list[dict], kind: str = "") -> str:
    """The prompt text under a resolved ``template``: ``plain`` -> ``plain`` (the task's layout of system +
    user); ``chat`` -> ChatML of (system, user); ``hf:X`` -> X's chat template over ``messages``. ``kind``
    names the task family in the error for an unknown template."""
    if template == "plain":
        return plain
    if template == "chat":
        return chatml(system, user)
    if template.startswith("hf:") and len(template) > 3:
        tok = tokenizer(template[3:])
        if not getattr(tok, "chat_template", None):
            raise UserError(f"tokenizer {template[3:]!r} has no chat template; use template 'plain' or 'chat'")
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    raise UserError(f"unknown {kind + ' ' if kind else ''}prompt template {template!r}; valid: {TEMPLATES}")

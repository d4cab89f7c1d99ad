"""The embedded world: building the project's own tiny models (Countdown SFT; enumerable-world GPT-2s; the tiny
Qwen2 of the real-model tests).

Importing it registers the ``embedded:`` model-name prefix with ``disa_bench.models`` (``embedded:base``,
``embedded:teacher``) and ``tiny:`` (``tiny:qwen2``, ``tiny:qwen2-chat``), so every command accepts those names.
"""

from ..models import register_prefix
from .embedded import ensure_embedded
from .tiny_qwen import ensure_tiny

register_prefix("embedded", ensure_embedded)
register_prefix("tiny", ensure_tiny)

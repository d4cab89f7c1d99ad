"""The embedded world: building the project's own tiny models (Countdown SFT; enumerable-world GPT-2s).

Importing it registers the ``embedded:`` model-name prefix with ``disa_bench.models`` (``embedded:base``,
``embedded:teacher``), so every command accepts those names.
"""

from ..models import register_prefix
from .embedded import ensure_embedded

register_prefix("embedded", ensure_embedded)

"""Methods: each is one short module of loss math over the shared engine (``disa_bench.train``), discovered
automatically (see ``base.py``: the hooks a method may override, the registry, method options)."""

from .base import (METHODS, Batch, Method, discover, get_method, method_config, method_names, method_options,
                   parse_method_args)

__all__ = ["METHODS", "Batch", "Method", "discover", "get_method", "method_config", "method_names", "method_options",
           "parse_method_args"]

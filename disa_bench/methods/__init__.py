"""Method registry: each method is one short module of loss math over the shared engine (train.py)."""

from .base import METHODS, Batch, Method, get_method, method_names

__all__ = ["METHODS", "Batch", "Method", "get_method", "method_names"]

"""``python -m disa_bench`` = the ``disa-bench`` command."""

from .cli import main

main()

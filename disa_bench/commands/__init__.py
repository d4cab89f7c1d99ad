"""Extra CLI commands, one module each. Every module here is imported by ``disa_bench.cli`` at start-up and
registers its commands on ``disa_bench.cli.app`` (``from ..cli import app, user_errors``). Keep imports of
heavy libraries inside the command functions so ``disa-bench --help`` stays fast."""

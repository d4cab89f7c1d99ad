"""The ``disa-bench`` command line: one small module per command (parse, resolve config, call the stage).

Config precedence for every command: built-in defaults < ``--config FILE.yaml`` < explicit flags. Each command
module registers itself on ``app`` when imported; they are imported here, explicitly, in ``--help`` order.
"""

from .app import app
from . import base, propose, store, anchor, train, eval, run, tune, grade, judge, report, sweep  # noqa: F401,E402  (register commands)


def main():
    app()


if __name__ == "__main__":
    main()

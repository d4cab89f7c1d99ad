"""User-facing errors.

A :class:`UserError` is a mistake in what the user asked for (a bad file, field or value). The CLI prints
it as one line and exits with status 2; it never shows a traceback for these.
"""


class UserError(Exception):
    """One-line, user-fixable error. The message names the file/field/value and what was expected."""

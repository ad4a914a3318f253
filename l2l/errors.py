"""Exceptions that carry a message meant for the user (the CLI prints them without a traceback)."""


class L2LError(Exception):
    """Base class: anything raised as an L2LError is reported as `error: <message>` with exit code 2."""

    exit_code = 2


class InputError(L2LError):
    """Bad user input: empty question, unreadable file, question too long, unknown option."""


class ModelNotAvailable(L2LError):
    """A named model's files are not installed or cannot be assembled."""

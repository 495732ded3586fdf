"""Errors that mean bad input, not a bug: run.py prints their one line and exits non-zero."""


class LinpathError(Exception):
    """Base of every error whose message alone tells the user what to fix."""

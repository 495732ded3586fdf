"""Errors that mean bad input, not a bug: run.py prints their one line and exits non-zero."""

import argparse


class LinpathError(Exception):
    """Base of every error whose message alone tells the user what to fix."""


class OneLineParser(argparse.ArgumentParser):
    """argparse with linpath's contract: a bad command line is one `linpath: error:` line
    (the usage stays on --help), exit 2."""

    def error(self, message: str):
        self.exit(2, f"linpath: error: {message} (see {self.prog} --help)\n")

"""The data a run asked for is missing or unreadable: one line that names the file or folder."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from landscape.errors import LinpathError


class MissingDataError(LinpathError):
    """Raised at setup, before anything is written, when files under `data.root` are missing."""


class DataFileError(MissingDataError):
    """A data file is there but cannot be read: truncated, garbage or of another format."""


def unreadable_file(
    files: Iterable[Path], read: Callable[[Path], object], error: Exception, what: str
) -> DataFileError:
    """The error that names the first of `files` that `read` fails on (else all of them):
    torchvision's own errors (EOFError, UnpicklingError, ...) do not say which file it was."""
    files = list(files)
    culprit = None
    for path in files:
        try:
            read(path)
        except Exception:
            culprit = path
            break
    named = culprit or f"one of {[str(p) for p in files]}"
    return DataFileError(
        f"{named} cannot be read as {what} ({type(error).__name__}): truncated or not that "
        "format; replace it with an intact copy"
    )

"""The data set a run asked for is not on disk: one line that names the folder and the fix."""

from landscape.errors import LinpathError


class MissingDataError(LinpathError):
    """Raised at setup, before anything is written, when files under `data.root` are missing."""

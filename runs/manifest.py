"""What a finished run's files were when it finished: results.json's `manifest`.

Reuse hard-links a run's weights into new runs and re-evaluation reads them, so both check
the files against the sha256 recorded beside the results first: a truncated, replaced or
hand-edited theta file is refused in one line instead of silently giving other numbers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from landscape.errors import LinpathError

# the files a run's numbers come from (trajectory.pt: the kept states of beyond=trajectory)
MANIFEST_FILES = ("theta_i.pt", "theta_f.pt", "trajectory.pt")
THETA_FILES = ("theta_i.pt", "theta_f.pt")


class ManifestError(LinpathError):
    """A run's file that is not the one its results.json recorded."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_of(directory: Path) -> dict:
    """results.json's `manifest`: the sha256 of each of `MANIFEST_FILES` the folder holds."""
    return {
        "files": {
            name: sha256_of(directory / name)
            for name in MANIFEST_FILES
            if (directory / name).is_file()
        }
    }


def verify_files(directory: Path, results: dict, names=THETA_FILES) -> None:
    """Refuse unless each of `names` is the file results.json's manifest recorded; a run
    from before manifests were written has nothing to check against and passes."""
    recorded = (results.get("manifest") or {}).get("files")
    if recorded is None:
        return
    for name in names:
        path = directory / name
        if name not in recorded:
            raise ManifestError(f"{path}: its results.json records no such file")
        if not path.is_file():
            raise ManifestError(f"{path} is missing (its results.json records it)")
        if sha256_of(path) != recorded[name]:
            raise ManifestError(
                f"{path} is not the file its run finished with (sha256 differs from the "
                "manifest in its results.json): it was changed or truncated since"
            )

"""Files a run leaves are complete or absent: write beside, then rename over."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch


def _umask() -> int:
    """The process's umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomic(path: Path, write: Callable[[str], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide it from the group
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_json_atomic(data: dict, path: Path) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, allow_nan=False)

    _write_atomic(path, write)


def save_torch_atomic(obj, path: Path) -> None:
    def write(tmp: str) -> None:
        # through a file object, so the archive inside is not named after the random temp
        # file: equal states give equal bytes
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    _write_atomic(path, write)

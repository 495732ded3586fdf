"""One writer per run folder, and a folder that says what it holds.

A run claims its folder before it writes anything: a lock file naming its pid and host
(taken over when that process is gone), then a look at what the folder holds. A finished
run (results.json) or an unfinished one (theta files, a checkpoint, a config) is never
written over: the new run is refused unless it continues that run (`ckpt_path=auto`) or
asks for `overwrite=true`, which first moves the whole old folder aside. results.json is
the last file a run writes, so a folder without it never looks complete, whatever stopped
the run (a signal, a full disk).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from landscape.errors import LinpathError

LOCK_FILE = ".linpath.lock"
ERROR_FILE = "error.txt"  # a failed sweep job's one line (sweeps.sweep_failures counts them)
RESULTS_FILE = "results.json"
LOG_FILE = "run.log"
REPLACED = ".replaced-"  # an old run moved aside by `overwrite=true`: kept, no longer counted
# what a run writes before its results: any of them makes a folder an unfinished run
RUN_MARKERS = ("theta_i.pt", "theta_f.pt", "trained.json", "checkpoints", ".hydra")
EMPTY, UNFINISHED, FINISHED = "empty", "unfinished", "finished"
# linpath's own lines for run.log (run.py prints them itself): no console handler
logging.getLogger("linpath").propagate = False
logging.getLogger("linpath").setLevel(logging.INFO)


class FolderError(LinpathError):
    """A run folder held by another process, or holding a run this command must not touch."""


def folder_state(directory: Path) -> str:
    """`finished` (results.json), `unfinished` (a run's files but no results) or `empty`
    (absent, or nothing a run writes)."""
    if (directory / RESULTS_FILE).is_file():
        return FINISHED
    if any((directory / name).exists() for name in RUN_MARKERS):
        return UNFINISHED
    return EMPTY


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@dataclass
class Lock:
    """This process's hold on a run folder; `release` is safe to call twice."""

    path: Path

    def release(self) -> None:
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)


def _holder(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # half-written by a writer that died at once: stale


def _refuse_if_held(directory: Path, holder: dict | None) -> None:
    """Refuse while the lock's holder runs (same host: its pid lives; another host: always)."""
    if not holder:
        return
    if holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", -1))):
        return
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    raise FolderError(
        f"{directory} is being written by pid {holder.get('pid')} on {holder.get('host')} "
        f"since {since}; wait for it, or remove {directory / LOCK_FILE} if that process is gone"
    )


def acquire(directory: Path) -> Lock:
    """Hold `directory` for this process, or refuse while a live process holds it; a lock
    left by a process that is gone (same host, pid not running) is taken over."""
    path = directory / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    for _ in range(3):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            _refuse_if_held(directory, holder)
            if holder is not None:
                path.unlink(missing_ok=True)  # stale: its writer died without releasing it
            continue
        with os.fdopen(handle, "w") as f:
            json.dump(me, f)
        return Lock(path)
    raise FolderError(f"{path}: another process keeps taking it; try again")


def check_claimable(directory: Path, overwrite: bool = False, continues: bool = False) -> None:
    """What `claim` would refuse, asked before any work (nothing is held or written)."""
    _refuse_if_held(directory, _holder(directory / LOCK_FILE))
    _refuse_if_taken(directory, overwrite, continues)


def _refuse_if_taken(directory: Path, overwrite: bool, continues: bool) -> bool:
    """Whether the folder's old run must be moved aside first; refused without `overwrite`."""
    state = folder_state(directory)
    if state == EMPTY or (state == UNFINISHED and continues):
        return False
    if not overwrite:
        what = "a finished run (results.json)" if state == FINISHED else "an unfinished run"
        raise FolderError(
            f"{directory} holds {what}; overwrite=true moves it aside and starts again"
            + ("" if state == FINISHED else ", ckpt_path=auto continues it")
        )
    return True


def move_aside(directory: Path) -> Path:
    """Rename the whole folder to a free `NAME.replaced-TIME[-N]` beside it."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    for n in range(1000):
        suffix = f"{REPLACED}{stamp}" + (f"-{n}" if n else "")
        aside = directory.with_name(directory.name + suffix)
        if not aside.exists():
            directory.rename(aside)
            return aside
    raise FolderError(f"{directory}: no free name to move it aside")


def claim(directory: Path, *, overwrite: bool = False, continues: bool = False) -> Lock:
    """Hold `directory` for a run that writes there; `continues`: the run resumes or
    finishes the unfinished run in it. A finished or unfinished run is otherwise refused,
    or moved aside first with `overwrite`."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = acquire(directory)
    try:
        if not _refuse_if_taken(directory, overwrite, continues):
            return lock
        aside = move_aside(directory)
        (aside / LOCK_FILE).unlink(missing_ok=True)
        print(f"linpath: overwrite: the old run is now {aside}", flush=True)
        directory.mkdir()
        return acquire(directory)
    except BaseException:
        lock.release()
        raise


def missing_directories(directory: Path) -> list[Path]:
    """`directory` and its ancestors that do not exist yet, deepest first."""
    missing = []
    for path in [directory, *directory.parents]:
        if path.exists():
            break
        missing.append(path)
    return missing


def remove_if_empty(directories: list[Path]) -> None:
    """Undo a folder made for a run that was then refused: empty ones only, deepest first."""
    for path in directories:
        try:
            path.rmdir()
        except OSError:
            return


def attach_log(directory: Path) -> logging.Handler:
    """Lightning's messages (epochs, the summary) and linpath's own lines (the `linpath`
    logger, which prints nothing itself) also go to the run's run.log."""
    handler = logging.FileHandler(directory / LOG_FILE)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("lightning.pytorch", "linpath"):
        logging.getLogger(name).addHandler(handler)
    return handler


def detach_log(handler: logging.Handler) -> None:
    for name in ("lightning.pytorch", "linpath"):
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def record_job_failure(job_dir: Path, message: str) -> None:
    """A sweep job's failure, left in its folder for the sweep's summary."""
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / ERROR_FILE).write_text(message + "\n")


def clear_job_failure(job_dir: Path) -> None:
    """A job run again into its folder starts without the last attempt's error."""
    (job_dir / ERROR_FILE).unlink(missing_ok=True)

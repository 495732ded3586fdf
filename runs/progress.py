"""How far a stage of a run is (training, then each path evaluation), shown where a person
looks: a bar with the total and ETA on a terminal, and in a file or pipe a line every ~10 s
(a redrawn bar there is thousands of carriage returns, a line per epoch a thousand lines)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping

from landscape.errors import LinpathError
from lightning_modules.config_checks import PROGRESS_MODES

LINE_EVERY_S = 10.0  # lines mode: at most one line per this many seconds, besides first and last


def progress_mode(setting: str | bool, stream=None) -> str:
    """`auto` (or true) is `bar` on an interactive terminal and `lines` otherwise (a file, a
    pipe, a sweep job's output.log); false is `none`; the other settings are taken as they are."""
    setting = {True: "auto", False: "none"}.get(setting, setting)
    if setting not in PROGRESS_MODES:
        raise LinpathError(f"unknown progress {setting!r}; expected one of {list(PROGRESS_MODES)}")
    if setting != "auto":
        return setting
    stream = sys.stdout if stream is None else stream
    return "bar" if stream.isatty() else "lines"


def clock_time(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class StageProgress:
    """`done` of `total` units of one stage ("fit", "paths test/interpolate").

    `bar`: a tqdm bar (total, rate, ETA; `values` as its postfix). `lines`: a line at the
    first update, then whenever `every_s` seconds have passed, and at the last unit, each
    with the total, the elapsed time and the ETA. `none`: nothing. `done` starts a resumed
    stage part way; the ETA counts only the units done since this object was made.
    """

    def __init__(
        self,
        stage: str,
        total: int | None,
        unit: str,
        mode: str,
        done: int = 0,
        every_s: float = LINE_EVERY_S,
        stream=None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stage, self.total, self.unit, self.mode = stage, total, unit, mode
        self.done, self.first_done = done, done
        self.every_s, self.clock = every_s, clock
        self.stream = sys.stdout if stream is None else stream
        self.began = self.last_line = clock()
        self.lines_written = 0
        self.bar = None
        if mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, desc=stage, unit=unit, dynamic_ncols=True)

    def update(self, n: float = 1, values: Mapping[str, str] | None = None) -> bool:
        """Counts `n` more units; whether `values` were shown (in lines mode, only when a
        line was written)."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            if values:
                self.bar.set_postfix(values, refresh=False)
            return True
        if self.mode != "lines":
            return True
        now = self.clock()
        last = self.total is not None and self.done >= self.total - 1e-6  # float shares
        if not (self.lines_written == 0 or last or now - self.last_line >= self.every_s):
            return False
        print(self.line(values or {}), file=self.stream, flush=True)
        self.last_line, self.lines_written = now, self.lines_written + 1
        return True

    def eta(self) -> float | None:
        counted = self.done - self.first_done
        if self.total is None or counted <= 0:
            return None
        return (self.clock() - self.began) / counted * max(self.total - self.done, 0)

    def line(self, values: Mapping[str, str]) -> str:
        done = f"{self.done:.0f}" + ("" if self.total is None else f"/{self.total}")
        eta = self.eta()
        parts = [f"{self.stage} {done} {self.unit}s", *(f"{k} {v}" for k, v in values.items())]
        parts.append(f"elapsed {clock_time(self.clock() - self.began)}")
        if eta is not None and self.done < (self.total or 0) - 1e-6:
            parts.append(f"ETA {clock_time(eta)}")
        return "  ".join(parts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

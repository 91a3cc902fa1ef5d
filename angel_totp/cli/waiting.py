"""Saying why a run pauses for the next code, and the clock the commands go by."""

from __future__ import annotations

import math
import sys
import time

from ..codes import Code
from . import console
from .console import err


class Clock:
    """The time the commands go by (read as ``waiting.clock`` at each use, so that
    a test can put a fake one there)."""

    now = staticmethod(time.time)
    monotonic = staticmethod(time.monotonic)  # for a pause: unaffected by clock changes
    sleep = staticmethod(time.sleep)


clock = Clock()

NOTE_START = "the current code expires in "  # scripts and tests may filter the note out

_TICK = 0.001  # less than this left of a countdown's second: that second is over


class Waiter:
    """Says why a run pauses for the next code: a countdown on a terminal (stderr), else
    one note; ``writing``: a code must also outlast the write."""

    def __init__(self, min_validity: float, writing: bool = False) -> None:
        self.min_validity = min_validity
        self.writing = writing
        self.live = console.is_terminal(sys.stderr)
        self.drawn = False

    def announce(self, code: Code, wait: float) -> None:
        if self.live:
            return  # the countdown in sleep() says it
        left = code.seconds_left
        if left < self.min_validity or not self.writing:
            why = f"under --min-validity {self.min_validity:g}"
        else:
            why = f"too soon to be written with --min-validity {self.min_validity:g} left"
        err(f"{NOTE_START}{_floor_seconds(left)} ({why}); waiting {_floor_seconds(wait)} "
            "for the next one")

    def sleep(self, seconds: float) -> None:
        if not self.live:
            clock.sleep(seconds)
            return
        end = clock.monotonic() + seconds
        while (left := end - clock.monotonic()) > _TICK:
            whole = math.ceil(left - _TICK)  # 3 s, 2 s, 1 s
            console.redraw(f"waiting {whole} s for the next code "
                           f"(--min-validity {self.min_validity:g})", on_stdout=False)
            self.drawn = True
            clock.sleep(left - (whole - 1))  # to the next whole second of the countdown
        if left > 0:
            clock.sleep(left)

    def done(self) -> None:
        if self.drawn:
            console.redraw("", on_stdout=False)
            self.drawn = False


def _floor_seconds(value: float) -> str:
    # Rounded down, so that it never overstates; never "0 s".
    whole = math.floor(value)
    return "less than 1 s" if whole < 1 else f"{whole} s"

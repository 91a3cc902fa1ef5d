"""Saying why a run pauses for the next code."""

from __future__ import annotations

import math
import sys
import time

from ..codes import Code
from . import console
from .console import err


class Waiter:
    """Says why a run pauses for the next code: a countdown on a terminal, else one note."""

    def __init__(self, min_validity: int) -> None:
        self.min_validity = min_validity
        self.live = console.is_terminal(sys.stderr)
        self.drawn = False

    def announce(self, code: Code, wait: float) -> None:
        left = _seconds(code.seconds_left)
        message = (f"the current code expires in {left} (under --min-validity "
                   f"{self.min_validity}); waiting {_seconds(wait)} for the next one")
        if not self.live:
            err(message)

    def sleep(self, seconds: float) -> None:
        if not self.live:
            time.sleep(seconds)
            return
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            console.err_redraw(f"waiting {_seconds(left)} for the next code "
                               f"(--min-validity {self.min_validity})")
            self.drawn = True
            time.sleep(min(left, left % 1 or 1))

    def done(self) -> None:
        if self.drawn:
            console.err_redraw("")
            self.drawn = False


def _seconds(value: float) -> str:
    whole = math.ceil(value)
    return "less than 1 s" if whole < 1 else f"{whole} s"

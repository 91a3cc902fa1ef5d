"""angel-totp in-process, with a fake clock and fake terminals; faults for real runs.

:func:`run_main` runs the command's ``main()`` through the console, as the
installed command does, and checks what every test must hold: no secret and
no control character in the output, no traceback. Its clock is
:class:`FakeClock`, so a wait for the next code takes no time and a test
chooses where in a code's 30 seconds it starts.

For the few real processes (signals, terminals, exit statuses),
:func:`fault_env` puts ``tests/faults/sitecustomize.py`` on PYTHONPATH: see
that module for the faults it can inject.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import ANGEL_SECRET, assert_clean_output, assert_no_leak, clean_env

from angel_totp.cli import console, generate

FAULTS = Path(__file__).resolve().parent / "faults"
STEP = 30
# A time well inside a 30-second step: 1111111080 is a step's start.
STEP_START = 1111111080.0


class FakeClock:
    """A clock that only moves when told to, or when slept on."""

    def __init__(self, now: float) -> None:
        self.time = now
        self.mono = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[FakeClock], None] | None = None

    def now(self) -> float:
        return self.time

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.time += seconds
        self.mono += seconds

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.advance(seconds)
        if self.on_sleep is not None:
            self.on_sleep(self)


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Outcome:
    """What a run did: its exit status, stdout and stderr, and how much of stdin it read."""

    def __init__(self, status: int, out: str, err: str, stdin_read: int) -> None:
        self.status, self.out, self.err, self.stdin_read = status, out, err, stdin_read

    def __repr__(self) -> str:
        return f"Outcome({self.status}, out={self.out!r}, err={self.err!r})"


def run_main(*argv: str, stdin: str = "", stdin_terminal: bool = False,
             stderr_terminal: bool = False, stdout_terminal: bool = False,
             stderr_closed: bool = False, secrets: tuple[str, ...] = (ANGEL_SECRET,),
             redraws: bool = False) -> Outcome:
    """``angel-totp ARGV`` in this process, as the installed command runs it.

    ``redraws``: the output may hold the \\r and ESC [K of a line redrawn
    in place (a countdown, --watch on a terminal); nothing else is allowed.
    """
    stdout = Terminal() if stdout_terminal else io.StringIO()
    stderr = Terminal() if stderr_terminal else io.StringIO()
    streams = (sys.stdin, sys.stdout, sys.stderr)
    given = sys.stdin = Terminal(stdin) if stdin_terminal else io.StringIO(stdin)
    sys.stdout = stdout
    sys.stderr = None if stderr_closed else stderr  # type: ignore[assignment]
    try:
        status = console.run(generate.main, list(argv))
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
    outcome = Outcome(status, stdout.getvalue(), stderr.getvalue(), given.tell())
    shown = outcome.out + outcome.err
    assert_no_leak(shown, *secrets)
    assert "Traceback" not in shown
    assert_clean_output(without_redraws(shown) if redraws else shown)
    return outcome


def without_redraws(text: str) -> str:
    """The text without what redraws a line in place: \\r and ESC [K."""
    return text.replace("\x1b[K", "").replace("\r", "")


def fault_env(*paths: str, **faults: str) -> dict[str, str]:
    """A clean environment with the faults of tests/faults/sitecustomize.py
    (and ``paths`` on PYTHONPATH too)."""
    env = clean_env(**faults)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAULTS), *paths,
                                                       env.get("PYTHONPATH", "")]))
    return env


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))

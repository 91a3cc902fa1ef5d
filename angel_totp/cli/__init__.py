"""The two commands, ``angel-totp`` and ``angel-login-check``: options, prompts, output
and exit codes. A signal while Python still loads a command ends it as it would later."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import signal as signal  # "as signal": re-exported, for the console
else:
    try:  # signal's C core: the signal module builds three enums at import, 0.7 ms a run
        import _signal as signal
    except ImportError:  # a Python other than CPython
        import signal

EXIT_INTERRUPTED = 130  # Ctrl-C: what a shell shows for SIGINT
EXIT_CLOSED_OUTPUT = 141  # what a shell shows for SIGPIPE


def problem(errorcode: str, message: str, hint: str) -> dict[str, Any]:
    """The login check's --json object for a run that ended before any verdict."""
    return {"ok": False, "errorcode": errorcode, "message": message, "hint": hint}


class Signalled(BaseException):
    """A signal that ends the run, raised like Ctrl-C so that every ``finally`` cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = 128 + signum  # as a shell shows it: SIGTERM 143, SIGHUP 129...
        from signal import Signals
        name = Signals(signum).name
        self.words = "terminated" if name == "SIGTERM" else f"terminated by {name}"


def _terminated(signum: int, frame: object) -> None:
    raise Signalled(signum)


def _start(command: str) -> int:
    as_json = command == "login_check" and "--json" in sys.argv[1:]
    try:
        try:  # the console replaces this handler as soon as it runs
            signal.signal(signal.SIGTERM, _terminated)
        except (ValueError, OSError):  # not the main thread
            pass
        from .console import run
        if command == "login_check":
            from .login_check import main
        else:
            from .generate import main
    except KeyboardInterrupt:
        return ended("INTERRUPTED", "interrupted", EXIT_INTERRUPTED, as_json)
    except Signalled as signalled:
        return ended("TERMINATED", signalled.words, signalled.exit_code, as_json)
    return run(main)


def ended(errorcode: str, words: str, status: int, as_json: bool = False) -> int:
    """A run ended by a signal: its one JSON object with ``as_json``, the words on stderr."""
    if as_json:
        import json
        try:
            sys.stdout.write(json.dumps(problem(errorcode, words, "")) + "\n")
            sys.stdout.flush()
        except (OSError, ValueError, AttributeError):  # closed, or its reader went away
            silence()
            return EXIT_CLOSED_OUTPUT
    try:
        print(f"\n{words}", file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        silence("stderr")
    return status


def silence(name: str = "stdout") -> None:
    """Point a standard stream whose write failed at the null device: what stayed in its
    buffer must not make Python's last flush fail (exit 120 instead of the run's)."""
    import os
    stream = getattr(sys, name)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno() if stream is not None else 1 + (name == "stderr"))
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def angel_totp() -> int:
    return _start("generate")


def angel_login_check() -> int:
    return _start("login_check")

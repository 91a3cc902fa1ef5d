"""The two commands, ``angel-totp`` and ``angel-login-check``: options, prompts, output
and exit codes. A signal while Python still loads a command ends it as it would later."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import signal as signals
else:
    try:  # signal's C core, as the console uses it: cheaper to import
        import _signal as signals
    except ImportError:  # a Python other than CPython
        import signal as signals

EXIT_INTERRUPTED = 130  # Ctrl-C: what a shell shows for SIGINT
EXIT_TERMINATED = 143   # SIGTERM
EXIT_CLOSED_OUTPUT = 141  # what a shell shows for SIGPIPE


def problem(errorcode: str, message: str, hint: str) -> dict[str, Any]:
    """The login check's --json object for a run that ended before any verdict."""
    return {"ok": False, "errorcode": errorcode, "message": message, "hint": hint}


class _Terminated(BaseException):
    pass


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated()


def _start(command: str) -> int:
    as_json = command == "login_check" and "--json" in sys.argv[1:]
    try:
        try:  # the console replaces this handler as soon as it runs
            signals.signal(signals.SIGTERM, _terminated)
        except (ValueError, OSError):  # not the main thread
            pass
        from .console import run
        if command == "login_check":
            from .login_check import main
        else:
            from .generate import main
    except KeyboardInterrupt:
        return ended("INTERRUPTED", "interrupted", EXIT_INTERRUPTED, as_json)
    except _Terminated:
        return ended("TERMINATED", "terminated", EXIT_TERMINATED, as_json)
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

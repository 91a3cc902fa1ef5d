"""The two commands, ``angel-totp`` and ``angel-login-check``: options, prompts,
output and exit codes, which the library beside them knows nothing of.

Each entry point imports its command inside a ``try``: Ctrl-C or SIGTERM while
Python is still loading modules ends as ``interrupted`` (130) or ``terminated``
(143), with the login check's one JSON object under ``--json``, not as a
traceback or a process killed outright.
"""

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


def interrupted() -> int:
    return _ended("INTERRUPTED", "interrupted", EXIT_INTERRUPTED, as_json=False)


def problem(errorcode: str, message: str, hint: str) -> dict[str, Any]:
    """The login check's --json object for a run that ended before any verdict."""
    return {"ok": False, "errorcode": errorcode, "message": message, "hint": hint}


class _Terminated(BaseException):
    """SIGTERM while a command loads, before the console has set its own handlers."""


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated()


def _start(command: str) -> int:
    """Load the command and run it; a signal while loading ends the run as it would later."""
    as_json = command == "login_check" and "--json" in sys.argv[1:]
    try:
        try:  # the console replaces this handler as soon as it runs
            signals.signal(signals.SIGTERM, _terminated)
        except (ValueError, OSError):  # not the main thread
            pass
        if command == "login_check":
            from .login_check import run
        else:
            from .generate import run
    except KeyboardInterrupt:
        return _ended("INTERRUPTED", "interrupted", EXIT_INTERRUPTED, as_json)
    except _Terminated:
        return _ended("TERMINATED", "terminated", EXIT_TERMINATED, as_json)
    return run()


def _ended(errorcode: str, words: str, status: int, as_json: bool) -> int:
    if as_json:
        import json
        try:
            sys.stdout.write(json.dumps(problem(errorcode, words, "")) + "\n")
            sys.stdout.flush()
        except (OSError, ValueError, AttributeError):  # closed, or its reader went away
            silence()
            return EXIT_CLOSED_OUTPUT
    _say(f"\n{words}")
    return status


def _say(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        silence("stderr")


def silence(name: str = "stdout") -> None:
    """A standard stream ("stdout" or "stderr") to the null device, once a write to it
    failed: what stayed in its buffer must not follow at exit, nor make Python's last
    flush fail (exit status 120 instead of the run's)."""
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

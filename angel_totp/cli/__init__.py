"""The two commands, ``angel-totp`` and ``angel-login-check``: options, prompts,
output and exit codes, which the library beside them knows nothing of.

Each entry point imports its command inside a ``try``: Ctrl-C while Python is
still loading modules ends as ``interrupted`` (130), not as a traceback.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # Ctrl-C: what a shell shows for SIGINT


def interrupted() -> int:
    try:
        print("\ninterrupted", file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_INTERRUPTED


def angel_totp() -> int:
    try:
        from .generate import run
    except KeyboardInterrupt:
        return interrupted()
    return run()


def angel_login_check() -> int:
    try:
        from .login_check import run
    except KeyboardInterrupt:
        return interrupted()
    return run()

"""The two commands, ``angel-totp`` and ``angel-login-check``: options, prompts,
output and exit codes, which the library beside them knows nothing of.

Every entry point comes through :func:`angel_totp` or :func:`angel_login_check`,
which import their command inside a ``try``: Ctrl-C while Python is still
loading modules ends as ``interrupted`` (130), not as a traceback.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # Ctrl-C: what a shell shows for SIGINT


def interrupted() -> int:
    """Say a run was interrupted, on stderr if it is still there; the exit code."""
    try:
        print("\ninterrupted", file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_INTERRUPTED


def angel_totp() -> int:
    """``angel-totp`` / ``generate_totp.py``: print the current code."""
    try:
        from .generate import run
    except KeyboardInterrupt:
        return interrupted()
    return run()


def angel_login_check() -> int:
    """``angel-login-check`` / ``test_api_connection.py``: check a login."""
    try:
        from .login_check import run
    except KeyboardInterrupt:
        return interrupted()
    return run()

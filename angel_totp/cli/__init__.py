"""The two commands, ``angel-totp`` and ``angel-login-check``.

This layer holds what only people see: options, prompts, output formats,
exit codes, and the wording that names flags and files. The library
beside it knows none of that.

The entry points (the console scripts, ``python -m angel_totp`` and the
root scripts) all come through :func:`angel_totp` and
:func:`angel_login_check`, which import their command inside a ``try``:
Ctrl-C while Python is still loading modules ends as ``interrupted``
(130), not as a traceback. This is the one place that is handled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_INTERRUPTED = 130  # Ctrl-C: what a shell shows for SIGINT


def interrupted() -> int:
    """Say a run was interrupted, on stderr if it is still there; the exit code."""
    try:
        print("\ninterrupted", file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_INTERRUPTED


def _start(load: Callable[[], Callable[[], int]]) -> int:
    try:
        run = load()
    except KeyboardInterrupt:
        return interrupted()
    return run()


def _load_generate() -> Callable[[], int]:
    from .generate import run
    return run


def _load_login_check() -> Callable[[], int]:
    from .login_check import run
    return run


def angel_totp() -> int:
    """``angel-totp`` / ``generate_totp.py``: print the current code."""
    return _start(_load_generate)


def angel_login_check() -> int:
    """``angel-login-check`` / ``test_api_connection.py``: check a login."""
    return _start(_load_login_check)

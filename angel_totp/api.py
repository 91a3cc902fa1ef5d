"""The Python API for bots: a fresh code without going through ``.env``'s TOTP.

A bot that logs in at 09:14 needs a code that is still valid when its login
request lands. Writing ``TOTP=`` to ``.env`` and reading it later gives a
code that may have expired; these functions make the code at the moment of
the login instead, with the same validation and ``min_validity`` wait as
``generate_totp.py``::

    from angel_totp import code_from_env
    code = code_from_env()          # TOTP_SECRET from the environment, else .env
    smart_api.generateSession(client_code, pin, code.totp)

Errors: :class:`MissingSecret` (no TOTP_SECRET anywhere),
:class:`~angel_totp.secret.InvalidSecret` (says what is wrong, never the
secret), :class:`~angel_totp.envfile.EnvFileError` (the env file could not
be read or parsed). None of their messages contains the secret.
"""

from __future__ import annotations

import os
from typing import Callable

from .codes import DEFAULT_MIN_VALIDITY, Code, fresh_code
from .envfile import read_env_file


class MissingSecret(LookupError):
    """TOTP_SECRET is set neither in the environment nor in the env file."""


def code_from_env(env_file: str | os.PathLike | None = ".env",
                  min_validity: float = DEFAULT_MIN_VALIDITY, *,
                  key: str = "TOTP_SECRET",
                  on_wait: Callable[[Code, float], None] | None = None) -> Code:
    """A fresh code from ``key`` in the environment, else in ``env_file``.

    The environment wins, as with ``load_dotenv()``. ``env_file=None`` reads
    only the environment; a missing file counts as an empty one. The code
    is valid for at least ``min_validity`` more seconds (this may sleep up
    to that long; ``on_wait(code, seconds)`` is called first).
    """
    secret = os.environ.get(key)
    where = "the environment"
    if secret is None and env_file is not None:
        found = read_env_file(os.fspath(env_file))
        if found is not None:
            secret = found.values().get(key)
        where = f"the environment or {os.fspath(env_file)}"
    if secret is None:
        raise MissingSecret(f"{key} is not set in {where}")
    return fresh_code(secret, min_validity, on_wait=on_wait)

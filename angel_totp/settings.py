"""Settings: the process environment first, then the env file.

The same precedence as python-dotenv's ``load_dotenv()``: a variable set in
the environment wins. An empty value counts as missing, wherever it is
read: a fresh copy of ``.env.example`` has empty values, and those must
lead to "missing", not to "invalid". The env file is read at most once,
and only when a setting is looked up there.

This is the one place that rule lives; the commands and the Python API
both use :class:`Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .codes import DEFAULT_MIN_VALIDITY, Code, fresh_code
from .errors import MissingSecretError

if TYPE_CHECKING:  # the env-file reader loads when a file is read (start-up of --secret-stdin)
    from .envfile import EnvFile

DEFAULT_ENV_FILE = ".env"

ENVIRONMENT = "environment"
ENV_FILE = "env file"


class Setting:
    """One setting's value and where it came from.

    ``value`` is None when the setting is missing or empty. ``source`` is
    ``"environment"``, ``"env file"`` or ``""`` (found nowhere); ``empty``
    says it was set, but to nothing (or only spaces).
    """

    __slots__ = ("name", "value", "source", "empty")

    name: str
    value: str | None
    source: str
    empty: bool

    def __init__(self, name: str, value: str | None, source: str, empty: bool = False) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "empty", empty)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _key(self) -> tuple[str, str | None, str, bool]:
        return (self.name, self.value, self.source, self.empty)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Setting) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:  # a setting may be a secret: never show the value
        shown = "None" if self.value is None else "<hidden>"
        return (f"Setting(name={self.name!r}, value={shown}, source={self.source!r}, "
                f"empty={self.empty})")

    @property
    def found(self) -> bool:
        return self.value is not None


class Settings:
    """Where settings are looked up: a mapping (the environment), then a file.

    ``env_file=None`` reads only the environment. A missing env file counts
    as an empty one; whether that is acceptable is the caller's decision
    (see :meth:`file`). Errors reading or parsing the file are
    :class:`~angel_totp.errors.EnvFileError`.
    """

    def __init__(self, env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
                 environ: Mapping[str, str] | None = None) -> None:
        self.env_file = None if env_file is None else os.fspath(env_file)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self._file: EnvFile | None = None
        self._read = False
        self._values: dict[str, str | None] | None = None

    def file(self) -> EnvFile | None:
        """The env file as read (once), or None when there is none."""
        if not self._read and self.env_file is not None:
            from .envfile import read_env_file
            self._file = read_env_file(self.env_file)
            self._read = True
        return self._file

    def get(self, name: str) -> Setting:
        """``name`` from the environment, else the env file; empty is missing."""
        if name in self.environ:
            return _setting(name, self.environ[name], ENVIRONMENT)
        found = self.file()
        if found is not None:
            if self._values is None:
                self._values = found.values()
            if name in self._values:
                return _setting(name, self._values[name], ENV_FILE)
        return Setting(name, None, "")

    def value(self, name: str, default: str | None = None) -> str | None:
        found = self.get(name).value
        return default if found is None else found


def _setting(name: str, raw: str | None, source: str) -> Setting:
    if raw is None or not raw.strip():
        return Setting(name, None, source, empty=True)
    return Setting(name, raw, source)


def code_from_env(env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
                  min_validity: float = DEFAULT_MIN_VALIDITY, *,
                  key: str = "TOTP_SECRET",
                  on_wait: Callable[[Code, float], None] | None = None) -> Code:
    """A fresh code from ``key`` in the environment, else in ``env_file``.

    The environment wins, as with ``load_dotenv()``; an empty value counts
    as missing. ``env_file=None`` reads only the environment; a missing file
    counts as an empty one. The code is valid for at least ``min_validity``
    more seconds (this may sleep up to that long; ``on_wait(code, seconds)``
    is called first).

    Raises :class:`~angel_totp.errors.MissingSecretError` when the secret is
    set nowhere, :class:`~angel_totp.errors.InvalidSecretError` when it is
    not a secret, :class:`~angel_totp.errors.EnvFileError` when the file
    cannot be read or parsed. No message contains the secret.
    """
    setting = Settings(env_file).get(key)
    if setting.value is None:
        where = "the environment" if env_file is None else \
            f"the environment or {os.fspath(env_file)}"
        state = "empty" if setting.empty else "not set"
        raise MissingSecretError(f"{key} is {state} in {where}",
                                 hint="set it to the secret shown beside the QR code "
                                      "at smartapi.angelbroking.com/enable-totp",
                                 names=[key])
    return fresh_code(setting.value, min_validity, on_wait=on_wait)

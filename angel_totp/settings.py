"""Settings: the process environment first, then the env file, as ``load_dotenv()``;
an empty value counts as missing wherever it is read (a fresh copy of ``.env.example``
is "missing", not "invalid")."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from .checks import check_environ, check_path, check_text
from .codes import DEFAULT_MIN_VALIDITY, Code, fresh_code
from .errors import MissingSecretError, MissingSettingError
from .hidden import Hidden
from .secret import SECRET_AT

if TYPE_CHECKING:  # the env-file reader loads when a file is read (start-up of --secret-stdin)
    from .envfile import EnvFile

DEFAULT_ENV_FILE = ".env"


class Setting(NamedTuple):
    """One setting: ``hidden`` is its value as :class:`~angel_totp.hidden.Hidden`, None
    when missing or empty; ``source`` is ``"environment"``, ``"env file"`` or ``""``;
    ``empty`` says it was set, but to nothing (or only spaces)."""

    name: str
    hidden: Hidden | None
    source: str
    empty: bool = False

    @property
    def value(self) -> str | None:
        return None if self.hidden is None else self.hidden.reveal()


class Settings:
    """Settings looked up in ``environ`` (default ``os.environ``), then in ``env_file``
    (None: none; a missing file counts as empty), read once, when first needed."""

    def __init__(self, env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
                 environ: Mapping[str, str] | None = None) -> None:
        self.env_file = None if env_file is None else check_path(env_file, "env_file")
        self.environ = check_environ(environ)
        self._file: EnvFile | None = None
        self._values: dict[str, str | None] | None = None  # None until the file is read

    def file(self) -> EnvFile | None:
        """The env file as read, or None; expanded at once: a bad ``${VAR}`` fails here."""
        if self._values is None and self.env_file is not None:
            from .envfile import read_env_file
            self._file = read_env_file(self.env_file)
            self._values = {} if self._file is None else self._file.values(self.environ)
        return self._file

    def get(self, name: str) -> Setting:
        """``name`` from the environment, else the env file; empty is missing."""
        name = check_text(name, "name")
        if name in self.environ:
            return _setting(name, self.environ[name], "environment")
        self.file()
        if self._values is not None and name in self._values:
            return _setting(name, self._values[name], "env file")
        return Setting(name, None, "")

    def value(self, name: str) -> str | None:
        return self.get(name).value


def blank(value: str) -> bool:
    """Whether a value counts as missing, wherever it is read: empty, or only spaces."""
    return not value.strip()


def _setting(name: str, raw: str | None, source: str) -> Setting:
    if raw is None or blank(raw):
        return Setting(name, None, source, empty=True)
    return Setting(name, Hidden(raw), source)


def absolute_path(path: str | os.PathLike[str]) -> str:
    """``path`` made absolute, as errors name files; as given if the current folder is gone.
    Its folder's links resolved before "..": "link/.." names what the kernel opens."""
    try:
        folder, name = os.path.split(os.path.join(os.getcwd(), path))
        return os.path.join(os.path.realpath(folder), name)
    except OSError:
        return os.fspath(path)


def missing_settings_error(names: list[str], env_file: str | os.PathLike[str] | None, *,
                           empty: bool = False) -> MissingSettingError:
    """The error for settings set nowhere (``empty``: set to nothing), naming the env
    file's absolute path: a bot that cron starts elsewhere learns which file."""
    where = "the environment"
    if env_file is not None:
        where += " or " + absolute_path(env_file)
    state = "empty" if empty else "not set"
    if list(names) == ["TOTP_SECRET"]:
        return MissingSecretError(names, f"TOTP_SECRET is {state} in {where}",
                                  hint=f"set it to {SECRET_AT}")
    if len(names) == 1:
        return MissingSettingError(names, f"{names[0]} is {state} in {where}",
                                   hint="see .env.example for what it is")
    return MissingSettingError(names, f"missing settings: {', '.join(names)} ({state} in {where})",
                               hint="see .env.example for what each one is")


def code_from_env(env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
                  min_validity: float = DEFAULT_MIN_VALIDITY, *,
                  key: str = "TOTP_SECRET",
                  on_wait: Callable[[Code, float], None] | None = None) -> Code:
    """A fresh code from ``key`` in the environment, else in ``env_file``, valid for
    ``min_validity`` more seconds (this may sleep; ``on_wait(code, seconds)`` is called
    first)."""
    setting = Settings(env_file).get(check_text(key, "key"))
    if setting.hidden is None:
        raise missing_settings_error([setting.name], env_file, empty=setting.empty)
    return fresh_code(setting.hidden, min_validity, on_wait=on_wait)

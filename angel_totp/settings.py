"""Settings: the process environment first, then the env file.

The same precedence as python-dotenv's ``load_dotenv()``: a variable set in
the environment wins, even when it is empty. The env file is read at most
once, and only when a setting is actually looked up there.
"""

from __future__ import annotations

import os

from .console import EXIT_FAILED, EXIT_USAGE, CliError, fail, note, warn

DEFAULT_ENV_FILE = ".env"


class EnvSource:
    """The env file, read at most once and only when something needs it."""

    def __init__(self, path: str | None, will_create: bool = False,
                 missing_hint: str = "check the path"):
        self.named_by_user = path is not None
        self.path = path if path is not None else DEFAULT_ENV_FILE
        self.will_create = will_create
        self.missing_hint = missing_hint
        self._loaded = False
        self._file = None
        self._values = None

    def file(self):
        """The parsed file, or None when it does not exist."""
        if not self._loaded:
            from .envfile import EnvFileError, read_env_file, readable_by_others
            self._loaded = True
            try:
                self._file = read_env_file(self.path, self.named_by_user)
            except EnvFileError as error:
                raise env_error(error) from None
            if self._file is None and self.named_by_user and not self.will_create:
                fail(f"env file {self.path} does not exist", hint=self.missing_hint)
            if self._file is not None and readable_by_others(self._file):
                warn_permissions(self.path, self._file.mode)
        return self._file

    def from_file(self, key: str) -> str | None:
        found = self.file()
        if found is None:
            return None
        if self._values is None:
            self._values = found.values()
        return self._values.get(key)

    def lookup(self, key: str) -> tuple[str | None, str]:
        """(value, where it came from); the environment wins."""
        if key in os.environ:
            return os.environ[key], f"{key} in the environment"
        return self.from_file(key), f"{key} in {self.path}"


def warn_permissions(path: str, mode: int) -> None:
    warn(f"{path} can be read by other users (mode {mode:04o}) and it holds secrets")
    note(f"hint: chmod 600 {path}")


def env_error(error) -> CliError:
    return CliError(str(error), error.hint, EXIT_USAGE if error.usage else EXIT_FAILED)

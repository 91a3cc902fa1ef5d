"""One family of errors, so that a bot can catch everything with one clause.

Every error the library raises is an :class:`AngelTotpError`. The leaves are
also the built-in error a Python programmer would expect: an error about
input is a ``ValueError``, a missing secret a ``LookupError``, a file error
an ``OSError``. Messages suit a program: they name parameters and settings,
never command-line options, and never contain a secret, a PIN, an API key
or a token. ``hint`` says what to do next, where that helps.
"""

from __future__ import annotations


class AngelTotpError(Exception):
    """The root of every error this package raises."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidInputError(AngelTotpError, ValueError):
    """A value given to the library is not usable.

    ``what`` names the parameter or setting at fault (``"secret"``,
    ``"min_validity"``, ``"time"``, ``"ANGEL_PIN"``...), so that a command
    can reword the message for its own options.
    """

    def __init__(self, message: str, hint: str | None = None, *, what: str = "") -> None:
        super().__init__(message, hint)
        self.what = what


class InvalidSecretError(InvalidInputError):
    """The text is not a usable TOTP secret. The message never contains it."""

    def __init__(self, message: str, hint: str | None = None, *, what: str = "secret") -> None:
        super().__init__(message, hint, what=what)


class InvalidSettingError(InvalidInputError):
    """A setting (``ANGEL_PIN``, ``ANGEL_BASE_URL``...) has an unusable value.

    ``what`` is the setting's name; its value is never in the message.
    """


class MissingSettingError(AngelTotpError, LookupError):
    """Settings are set neither in the environment nor in the env file.

    ``names`` lists every missing one, so that all can be fixed at once.
    """

    def __init__(self, names: list[str], message: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message or "missing settings: " + ", ".join(names), hint)
        self.names = list(names)


class MissingSecretError(MissingSettingError):
    """``TOTP_SECRET`` is set neither in the environment nor in the env file."""

    def __init__(self, message: str = "TOTP_SECRET is not set", hint: str | None = None,
                 names: list[str] | None = None) -> None:
        super().__init__(names or ["TOTP_SECRET"], message, hint)


class FileError(AngelTotpError, OSError):
    """A file of ours could not be used; it was left untouched.

    ``path`` is the file. ``reason`` is a stable word a program can test
    (each subclass lists its own).
    """

    def __init__(self, message: str, hint: str | None = None, *, path: str = "",
                 reason: str = "io") -> None:
        AngelTotpError.__init__(self, message, hint)
        self.path = path
        self.reason = reason


class EnvFileError(FileError):
    """An env file could not be read, parsed or written; it was left untouched.

    ``reason``: ``missing``, ``not_a_file``, ``not_utf8``, ``syntax``,
    ``too_large``, ``permission``, ``read_only``, ``hard_linked``, ``mount``,
    ``locked``, ``changing``, ``no_folder``, ``value``, ``io``.
    """


class LoginError(AngelTotpError):
    """A login, profile or logout did not succeed.

    ``errorcode`` is Angel One's code (``AB1050``...) or one of ours for a
    failure with no usable answer (``TIMEOUT``, ``DNS``...). ``message`` is
    what the server said (cleaned of control characters and credentials),
    ``cause`` one line on what went wrong, ``hint`` what to do next.
    ``stage`` is the request that failed (``clock``, ``login``, ``profile``),
    ``clock`` Angel One's clock as measured so far (a ``ClockOffset`` or
    None), ``proxy_variable`` the proxy setting at fault, if any.
    """

    def __init__(self, errorcode: str, message: str, cause: str, hint: str, *,
                 stage: str = "login", clock: object = None,
                 proxy_variable: str | None = None) -> None:
        super().__init__(cause, hint)
        self.errorcode = errorcode
        self.message = message
        self.cause = cause
        self.stage = stage
        self.clock = clock
        self.proxy_variable = proxy_variable

    def __str__(self) -> str:
        return f"{self.cause} [{self.errorcode}]" if self.errorcode else self.cause


class LoginRefusedError(LoginError):
    """Angel One answered, and said no (a wrong code, PIN, key, IP...)."""


class NoAnswerError(LoginError):
    """No usable answer came: network, DNS, TLS, timeout, rate limit, a bad reply."""


class SessionStoreError(FileError):
    """Today's session store cannot be used safely: its tokens were not used.

    ``reason``: ``unsafe`` (others may read or write it, or another user
    owns it), ``not_a_file``, ``locked`` (another process held it too
    long), ``io``.
    """

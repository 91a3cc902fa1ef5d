"""Every error the library raises is an :class:`AngelTotpError`, and also the built-in
one a program expects (``ValueError``, ``LookupError``, ``OSError``). Messages name
parameters and settings, never options or a credential; ``hint`` says what to do next."""


class AngelTotpError(Exception):
    """The root of every error this package raises."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # not args[0]: a copy or an unpickled error rebuilds those
        return self.message


class InvalidInputError(AngelTotpError, ValueError):
    """A value given is not usable; ``what`` names the parameter or setting at fault."""

    def __init__(self, message: str, hint: str | None = None, *, what: str = "") -> None:
        super().__init__(message, hint)
        self.what = what


class InvalidSecretError(InvalidInputError):
    """The text is not a usable TOTP secret. The message never contains it."""

    def __init__(self, message: str, hint: str | None = None, *, what: str = "secret") -> None:
        super().__init__(message, hint, what=what)


class InvalidSettingError(InvalidInputError):
    """A setting (``what``: ``ANGEL_PIN``...) has an unusable value, never shown."""


class MissingSettingError(AngelTotpError, LookupError):
    """Settings set neither in the environment nor in the env file: all in ``names``."""

    def __init__(self, names: list[str], message: str = "", hint: str | None = None) -> None:
        super().__init__(message or "missing settings: " + ", ".join(names), hint)
        self.names = list(names)


class MissingSecretError(MissingSettingError):
    """``TOTP_SECRET`` is set neither in the environment nor in the env file."""


class FileError(AngelTotpError, OSError):
    """The file ``path`` could not be used, and was left untouched; ``reason`` says why."""

    def __init__(self, message: str, hint: str | None = None, *, path: str = "",
                 reason: str = "io") -> None:
        super().__init__(message, hint)
        self.path = path
        self.reason = reason


class EnvFileError(FileError):
    """An env file could not be read, parsed or written; it was left untouched.
    ``reason``: ``missing``, ``not_a_file``, ``not_utf8``, ``syntax``, ``too_large``,
    ``permission``, ``read_only``, ``hard_linked``, ``mount``, ``locked``, ``changing``,
    ``no_folder``, ``value``, ``io``."""


class LoginError(AngelTotpError):
    """A login, profile or logout did not succeed: ``errorcode`` is Angel One's
    (``AB1050``...) or ours (``TIMEOUT``...), ``message`` what the server said, ``cause``
    what went wrong, ``stage`` the request that failed, ``clock`` Angel One's clock if
    measured (a ``ClockOffset``), ``proxy_variable`` the proxy setting at fault."""

    # Defaults so that a copy, or pickle (a bot's worker pool), can rebuild it from args.
    def __init__(self, errorcode: str, message: str = "", cause: str = "", hint: str = "", *,
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
    ``reason``: ``unsafe`` (others may use it, or another user owns it), ``locked``
    (another process held it too long), else as :class:`EnvFileError`'s."""

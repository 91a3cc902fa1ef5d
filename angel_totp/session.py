"""Logging in to Angel One SmartAPI without the SDK: :func:`login` and :class:`Session`.

One call logs in with a fresh code, reads the profile, and hands back the
tokens; leaving a ``with`` block logs out::

    import angel_totp
    with angel_totp.login_from_env() as session:
        smart_api.setAccessToken(session.jwt_token)
        ...

It sends exactly one login request per call and never retries on its own
(Angel One allows one login a second). It never prints, logs or writes a
file, and no error message, ``repr`` or ``str`` shows a credential or a
token. Angel One saying no raises :class:`~angel_totp.errors.LoginRefusedError`;
no usable answer raises :class:`~angel_totp.errors.NoAnswerError`; both
carry ``errorcode``, ``message``, ``cause`` and ``hint``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping

from . import protocol
from .checks import check_min_validity
from .clock import ClockOffset, combine, offset_from_reply
from .codes import DEFAULT_MIN_VALIDITY, Code, fresh_code
from .connection import Connection, TransportError
from .diagnosis import diagnose_refusal, diagnose_transport, reword, staged
from .errors import (
    InvalidInputError,
    InvalidSecretError,
    InvalidSettingError,
    LoginError,
    LoginRefusedError,
    MissingSettingError,
    NoAnswerError,
)
from .redact import clean
from .secret import TotpSecret, parse_secret
from .servertime import check_room, code_for_server, measure
from .settings import DEFAULT_ENV_FILE, Settings

# After Ctrl-C (or any other interruption) with a session open: how long
# the one logout may take before the run ends anyway.
LOGOUT_AFTER_INTERRUPT_S = 2.0

# How errors name login()'s inputs; login_from_env() names the settings instead.
PARAMETER_NAMES = {"api_key": "api_key", "client_code": "client_code", "pin": "pin",
                   "secret": "secret", "totp": "totp", "base_url": "base_url"}
SETTING_NAMES = {"api_key": "ANGEL_API_KEY", "client_code": "ANGEL_CLIENT_CODE",
                 "pin": "ANGEL_PIN", "secret": "TOTP_SECRET", "totp": "TOTP",
                 "base_url": "ANGEL_BASE_URL"}


class Token(str):
    """A session token: the text itself, but its ``repr`` never shows it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Token(<{len(self)} characters, hidden>)" if self else "Token('')"


# Checking what a login sends, before anything is sent.

class Credentials:
    """What a login sends, checked. ``hidden`` lists what must never be shown."""

    __slots__ = ("api_key", "client_code", "pin", "secret", "totp", "hidden")

    def __init__(self, api_key: str, client_code: str, pin: str, secret: TotpSecret | None,
                 totp: str | None, hidden: list[str]) -> None:
        self.api_key = api_key
        self.client_code = client_code
        self.pin = pin
        self.secret = secret
        self.totp = totp
        self.hidden = hidden

    def __repr__(self) -> str:
        return f"Credentials(client_code={self.client_code!r}, <the rest hidden>)"


def check_credentials(api_key: str | None, client_code: str | None, pin: str | None,
                      secret: TotpSecret | str | None = None, *, totp: str | None = None,
                      names: Mapping[str, str] | None = None) -> Credentials:
    """The checks every login makes before sending anything; errors name, never show.

    Raises :class:`~angel_totp.errors.MissingSettingError` naming every
    missing value at once, :class:`~angel_totp.errors.InvalidSettingError`
    or :class:`~angel_totp.errors.InvalidSecretError`. ``names`` says how
    errors name each value (``PARAMETER_NAMES`` by default). With a
    ``secret``, ``totp`` is not used.
    """
    named = {**PARAMETER_NAMES, **(names or {})}
    given = {"api_key": api_key, "client_code": client_code, "pin": pin}
    missing = [named[key] for key, value in given.items() if _blank(value)]
    if _blank(secret) and _blank(totp):
        missing.append(named["secret"])
    if missing:
        raise MissingSettingError(missing, "missing: " + ", ".join(missing),
                                  hint="give each of them; the TOTP secret is the one shown "
                                       "beside the QR code at smartapi.angelbroking.com/"
                                       "enable-totp")
    hidden: list[str] = []
    checked = {key: _checked(key, value, named[key], hidden) for key, value in given.items()}
    code = ("secret", secret) if not _blank(secret) else ("totp", totp)
    made_from = _checked(*code, named[code[0]], hidden)
    return Credentials(str(checked["api_key"]), str(checked["client_code"]),
                       str(checked["pin"]),
                       made_from if isinstance(made_from, TotpSecret) else None,
                       made_from if isinstance(made_from, str) else None, hidden)


def check_value(key: str, value: str, names: Mapping[str, str] | None = None) -> None:
    """Check one input as :func:`check_credentials` does, e.g. as soon as it is read.

    ``key`` is ``api_key``, ``client_code``, ``pin``, ``secret`` or ``totp``.
    """
    _checked(key, value, {**PARAMETER_NAMES, **(names or {})}[key], [])


def _checked(key: str, value: object, name: str, hidden: list[str]) -> str | TotpSecret:
    """One input, checked; what must never be shown is added to ``hidden``."""
    if not isinstance(value, (str, TotpSecret)) or (
            isinstance(value, TotpSecret) and key != "secret"):
        raise InvalidSettingError(f"{name} must be text", what=name)
    if key == "secret":
        return _parsed_secret(value, name, hidden)
    assert isinstance(value, str)
    if key == "api_key":
        checked = protocol.check_header_value(name, value)
    elif key == "client_code":
        return protocol.check_client_code(value, name)  # shown, so not hidden
    elif key == "pin":
        checked = protocol.check_setting(name, value)
    else:
        checked = protocol.check_totp(value, name)
    hidden.append(checked)
    return checked


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parsed_secret(secret: TotpSecret | str, name: str, hidden: list[str]) -> TotpSecret:
    if isinstance(secret, TotpSecret):
        hidden.append(secret.base32)
        return secret
    hidden.append(secret.strip())
    try:
        parsed = parse_secret(secret)
    except InvalidSecretError as error:
        raise InvalidSecretError(f"{name} is not a valid TOTP secret: {error.message}",
                                 error.hint, what=name) from None
    hidden.append(parsed.base32)
    return parsed


def _check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or not math.isfinite(timeout) or timeout <= 0:
        raise InvalidInputError("timeout must be a number of seconds above 0",
                                hint="10 is a good value", what="timeout")
    return float(timeout)


# The requests of one login, on one connection.

class _Exchange:
    """One login's connection, what it must never show, and Angel One's clock so far.

    Every request goes through :meth:`send`, which turns whatever happens
    into an answer or a :class:`~angel_totp.errors.LoginError` with its
    diagnosis; each reply's Date header narrows the clock bound.
    """

    def __init__(self, url: str, timeout: float, environ: Mapping[str, str] | None,
                 hidden: list[str], server_time: bool) -> None:
        self.url = url
        self.environ = environ
        self.hidden = hidden
        self.server_time = server_time
        self.bounds: list[ClockOffset] = []
        self.local_ip = ""
        self.connection = self.connect(timeout)

    def connect(self, timeout: float) -> Connection:
        return Connection(self.url, timeout=timeout, environ=self.environ)

    @property
    def clock(self) -> ClockOffset | None:
        return combine(self.bounds)

    def measure_clock(self) -> ClockOffset:
        """Angel One's clock, from a request with no credential (see servertime)."""
        bound = measure(self.connection)
        self.bounds.append(bound)
        return bound

    def connect_now(self) -> None:
        """Open the connection (if not yet) and learn this end's IPv4 address."""
        try:
            self.local_ip = self.connection.local_ipv4()
        except TransportError as error:
            raise self.no_answer(error, "login") from None

    def send(self, request: protocol.Request, stage: str) -> protocol.Answer:
        """Send one request; a refusal or no usable answer raises a LoginError."""
        try:
            reply = self.connection.request(request.method, request.path, request.headers,
                                            request.body_bytes())
        except TransportError as error:
            raise self.no_answer(error, stage) from None
        bound = offset_from_reply(reply.sent, reply.received, reply.date)
        if bound is not None:
            self.bounds.append(bound)
        try:
            answer = protocol.read_reply(reply.status, reply.header("Content-Type") or "",
                                         reply.body)
        except protocol.BadReply as bad:
            raise self.bad_reply(bad, stage) from None
        if not answer.ok:
            raise self.refused(answer, stage)
        return answer

    def no_answer(self, error: TransportError, stage: str) -> NoAnswerError:
        return self._no_answer(error.errorcode, clean(error.detail, self.hidden),
                               error.proxy_variable, stage)

    def bad_reply(self, bad: protocol.BadReply, stage: str) -> NoAnswerError:
        said = clean(bad.said, self.hidden, 80)
        return self._no_answer(bad.errorcode, f"{bad.detail}, {said}" if said else bad.detail,
                               None, stage)

    def _no_answer(self, errorcode: str, detail: str, proxy_variable: str | None,
                   stage: str) -> NoAnswerError:
        found = diagnose_transport(errorcode, detail, proxy_variable)
        return NoAnswerError(found.errorcode, found.message, staged(found, stage), found.hint,
                             stage=stage, clock=self.clock, proxy_variable=proxy_variable)

    def refused(self, answer: protocol.Answer, stage: str) -> LoginRefusedError:
        message = clean(answer.message, self.hidden)
        found = diagnose_refusal(clean(answer.errorcode, self.hidden, 40), message, self.clock,
                                 server_time=self.server_time)
        return LoginRefusedError(found.errorcode, message, staged(found, stage, refused=True),
                                 found.hint, stage=stage, clock=self.clock)


# The session.

class Session:
    """A logged-in SmartAPI session: its tokens, the profile's name, the clock.

    ``clock_offset`` is this machine's clock minus Angel One's, in seconds,
    or None if no reply carried a usable Date header (``clock`` has its
    bound). :meth:`logout` ends the session; leaving a ``with`` block does
    too, also when the block raised. Logging out twice is harmless.
    """

    def __init__(self, exchange: _Exchange, credentials: Credentials,
                 tokens: protocol.Tokens) -> None:
        self._exchange = exchange
        self._credentials = credentials
        self.client_code = credentials.client_code
        self.name = ""
        self.exchanges: tuple[str, ...] = ()
        self.products: tuple[str, ...] = ()
        self.jwt_token = Token(tokens.jwt.reveal())
        self.refresh_token = Token(tokens.refresh.reveal())
        self.feed_token = Token(tokens.feed.reveal())
        self.logged_out = False
        self.logout_error: LoginError | None = None

    @property
    def clock(self) -> ClockOffset | None:
        return self._exchange.clock

    @property
    def clock_offset(self) -> float | None:
        clock = self.clock
        return None if clock is None else clock.estimate

    def __repr__(self) -> str:
        state = "logged out" if self.logged_out else "open"
        return (f"Session(client_code={self.client_code!r}, name={self.name!r}, "
                f"tokens=<hidden>, {state})")

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        interrupted = kind is not None and not issubclass(kind, Exception)
        self.logout(LOGOUT_AFTER_INTERRUPT_S if interrupted else None)

    def logout(self, timeout: float | None = None) -> bool:
        """End the session; True when Angel One confirmed it.

        Never raises for a failed logout (the session then expires on its
        own); ``logout_error`` says why, and calling again tries again.
        Once logged out, calling again does nothing. ``timeout`` bounds the
        logout on a fresh connection (after Ctrl-C: a short wait).
        """
        if self.logged_out:
            return True
        exchange = self._exchange
        if timeout is not None:
            exchange.connection.close()
            exchange.connection = exchange.connect(_check_timeout(timeout))
        credentials = self._credentials
        request = protocol.logout_request(credentials.api_key, exchange.local_ip,
                                          self.jwt_token, credentials.client_code)
        try:
            exchange.send(request, "logout")
            self.logged_out = True
            self.logout_error = None
        except LoginError as error:
            self.logout_error = error
        finally:
            exchange.connection.close()
        return self.logged_out

    def _finish_login(self, tokens: protocol.Tokens) -> None:
        """Check the other tokens and read the profile; on any failure, log out first."""
        try:
            try:
                protocol.check_tokens(tokens)
            except protocol.BadReply as bad:
                raise self._exchange.bad_reply(bad, "login") from None
            self._read_profile()
        except Exception:
            self.logout()
            raise
        except BaseException:  # Ctrl-C, SIGTERM: one short try, then go
            self.logout(LOGOUT_AFTER_INTERRUPT_S)
            raise

    def _read_profile(self) -> None:
        exchange, credentials = self._exchange, self._credentials
        request = protocol.profile_request(credentials.api_key, exchange.local_ip,
                                           self.jwt_token)
        profile = protocol.read_profile(exchange.send(request, "profile").data)
        self.name = clean(profile.name or "", exchange.hidden)
        self.exchanges = tuple(clean(item, exchange.hidden, 40) for item in profile.exchanges)
        self.products = tuple(clean(item, exchange.hidden, 40) for item in profile.products)


# Logging in.

def login(api_key: str, client_code: str, pin: str, secret: TotpSecret | str | None = None,
          *, totp: str | None = None, base_url: str = protocol.DEFAULT_BASE_URL,
          timeout: float = 10.0, min_validity: float = DEFAULT_MIN_VALIDITY,
          server_time: bool = False, environ: Mapping[str, str] | None = None,
          on_wait: Callable[[Code, float], None] | None = None,
          on_clock: Callable[[ClockOffset], None] | None = None,
          sleep: Callable[[float], None] = time.sleep,
          names: Mapping[str, str] | None = None) -> Session:
    """Log in once with a fresh code made from ``secret``, and read the profile.

    ``secret`` takes any form :func:`~angel_totp.fresh_code` takes; ``totp``
    is a ready 6-digit code, for when there is no secret. ``min_validity``
    and ``server_time`` choose the code as the scripts do: with
    ``server_time``, Angel One's clock is read first (on the same
    connection, from a request with no credential) and the code is made for
    it, and handed out only if it keeps ``min_validity`` seconds even at
    the far edge of the measurement's uncertainty. ``on_clock(offset)`` is
    told the measurement; ``on_wait(code, seconds)`` a wait for the next
    code, which ``sleep`` then waits. ``timeout`` bounds each request in
    wall-clock time. ``environ`` is where proxy settings are read (default
    ``os.environ``). ``names`` renames the inputs in error messages.

    Everything is checked before anything is sent. Raises
    :class:`~angel_totp.errors.LoginRefusedError` when Angel One says no,
    :class:`~angel_totp.errors.NoAnswerError` when no usable answer came,
    and :class:`~angel_totp.errors.InvalidInputError` or
    :class:`~angel_totp.errors.MissingSettingError` for bad input.
    """
    named = {**PARAMETER_NAMES, **(names or {})}
    credentials = check_credentials(api_key, client_code, pin, secret, totp=totp, names=named)
    url = protocol.check_base_url(base_url, named["base_url"])
    timeout = _check_timeout(timeout)
    if credentials.secret is not None:
        check_min_validity(min_validity, credentials.secret.period)
        if server_time:
            check_room(min_validity, credentials.secret.period)
    exchange = _Exchange(url, timeout, environ, credentials.hidden, server_time)
    try:
        tokens = _log_in(exchange, credentials, min_validity, on_wait, on_clock, sleep)
    except BaseException:
        exchange.connection.close()
        raise
    session = Session(exchange, credentials, tokens)
    session._finish_login(tokens)
    return session


def _log_in(exchange: _Exchange, credentials: Credentials, min_validity: float,
            on_wait: Callable[[Code, float], None] | None,
            on_clock: Callable[[ClockOffset], None] | None,
            sleep: Callable[[float], None]) -> protocol.Tokens:
    """The clock (if asked), then the one login request; the session's tokens."""
    clock = None
    if exchange.server_time:
        clock = exchange.measure_clock()
        if on_clock is not None:
            on_clock(clock)
    exchange.connect_now()  # before the code is made: connecting must not eat its validity
    totp = credentials.totp
    if credentials.secret is not None:
        totp = _fresh(credentials.secret, min_validity, clock, on_wait, sleep).totp
        exchange.hidden.append(totp)
    assert totp is not None
    request = protocol.login_request(credentials.api_key, exchange.local_ip,
                                     credentials.client_code, credentials.pin, totp)
    answer = exchange.send(request, "login")
    try:
        tokens = protocol.read_tokens(answer.data)
    except protocol.BadReply as bad:
        raise exchange.bad_reply(bad, "login") from None
    exchange.hidden.extend(token.reveal() for token in tokens if token)
    return tokens


def _fresh(secret: TotpSecret, min_validity: float, clock: ClockOffset | None,
           on_wait: Callable[[Code, float], None] | None,
           sleep: Callable[[float], None]) -> Code:
    """A fresh code for this machine's clock, or for Angel One's as measured."""
    if clock is None:
        return fresh_code(secret, min_validity, on_wait=on_wait, sleep=sleep)
    return code_for_server(secret, min_validity, clock, on_wait=on_wait, sleep=sleep)


def login_from_env(env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE, *,
                   base_url: str | None = None, timeout: float = 10.0,
                   min_validity: float = DEFAULT_MIN_VALIDITY, server_time: bool = False,
                   environ: Mapping[str, str] | None = None,
                   on_wait: Callable[[Code, float], None] | None = None,
                   on_clock: Callable[[ClockOffset], None] | None = None,
                   sleep: Callable[[float], None] = time.sleep) -> Session:
    """:func:`login` with the settings the scripts use, from the environment, then ``env_file``.

    ``ANGEL_API_KEY``, ``ANGEL_CLIENT_CODE``, ``ANGEL_PIN``, ``TOTP_SECRET``
    (or a ready ``TOTP``), and ``ANGEL_BASE_URL`` unless ``base_url`` is
    given. An empty value counts as missing; every missing one is named at
    once in a :class:`~angel_totp.errors.MissingSettingError`. A file that
    cannot be read or parsed raises :class:`~angel_totp.errors.EnvFileError`.
    ``env_file=None`` reads only the environment (``environ``, default
    ``os.environ``, also where proxy settings are read).
    """
    values = _settings(env_file, environ)
    missing = [name for name in ("ANGEL_API_KEY", "ANGEL_CLIENT_CODE", "ANGEL_PIN")
               if values[name] is None]
    if values["TOTP_SECRET"] is None and values["TOTP"] is None:
        missing.append("TOTP_SECRET")
    if missing:
        source = ("not set in the environment" if env_file is None else
                  f"set neither in the environment nor in {os.fspath(env_file)}")
        raise MissingSettingError(missing, f"missing settings: {', '.join(missing)} ({source})",
                                  hint="see .env.example for what each one is")
    names = SETTING_NAMES if base_url is None else {**SETTING_NAMES, "base_url": "base_url"}
    return login(values["ANGEL_API_KEY"] or "", values["ANGEL_CLIENT_CODE"] or "",
                 values["ANGEL_PIN"] or "", values["TOTP_SECRET"], totp=values["TOTP"],
                 base_url=base_url or values["ANGEL_BASE_URL"] or protocol.DEFAULT_BASE_URL,
                 timeout=timeout, min_validity=min_validity, server_time=server_time,
                 environ=environ, on_wait=on_wait, on_clock=on_clock, sleep=sleep,
                 names=names)


def _settings(env_file: str | os.PathLike[str] | None,
              environ: Mapping[str, str] | None) -> dict[str, str | None]:
    settings = Settings(env_file, environ)
    return {name: settings.get(name).value for name in SETTING_NAMES.values()}


def reworded(error: LoginError, terms: dict[str, str]) -> LoginError:
    """The same failure with its hint in other words (a command's option names)."""
    return type(error)(error.errorcode, error.message, error.cause,
                       reword(error.hint or "", terms), stage=error.stage, clock=error.clock,
                       proxy_variable=error.proxy_variable)

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

import os
import time
from typing import Callable, Mapping

from . import protocol
from .clock import ClockOffset, combine, offset_from_reply
from .codes import DEFAULT_MIN_VALIDITY, Code, fresh_code
from .connection import Connection, TransportError
from .diagnosis import PROGRAM_TERMS, Diagnosis, diagnose_refusal, diagnose_transport
from .errors import (InvalidSecretError, LoginError, LoginRefusedError, MissingSettingError,
                     NoAnswerError)
from .redact import clean
from .secret import TotpSecret, parse_secret
from .servertime import measure
from .settings import DEFAULT_ENV_FILE, Settings

LOGOUT_AFTER_INTERRUPT_S = 2.0
_PROFILE_FAILED = "login worked, but reading the profile failed: "


class Token(str):
    """A session token: the text itself, but its ``repr`` never shows it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Token(<{len(self)} characters, hidden>)" if self else "Token('')"


class Session:
    """A logged-in SmartAPI session: its tokens, the profile's name, the clock.

    ``clock_offset`` is this machine's clock minus Angel One's, in seconds,
    or None if no reply carried a usable Date header (``clock`` has its
    bound). :meth:`logout` ends the session; leaving a ``with`` block does
    too, also when the block raised. Logging out twice is harmless.
    """

    def __init__(self, connection: Connection, reconnect: Callable[[float], Connection],
                 api_key: str, client_code: str, name: str,
                 tokens: protocol.Tokens, profile: protocol.Profile,
                 bounds: list[ClockOffset], hidden: list[str]) -> None:
        self._connection = connection
        self._reconnect = reconnect
        self._api_key = api_key
        self._bounds = bounds
        self._hidden = hidden
        self.client_code = client_code
        self.name = name
        self.jwt_token = Token(tokens.jwt)
        self.refresh_token = Token(tokens.refresh)
        self.feed_token = Token(tokens.feed)
        self.exchanges = profile.exchanges
        self.products = profile.products
        self.logged_out = False
        self.logout_error: LoginError | None = None

    @property
    def clock(self) -> ClockOffset | None:
        return combine(self._bounds)

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

    def __exit__(self, *exc_info: object) -> None:
        self.logout()

    def logout(self, timeout: float | None = None) -> bool:
        """End the session; True when Angel One confirmed it.

        Never raises for a failed logout (the session then expires on its
        own); ``logout_error`` says why. A second call does nothing.
        """
        if self.logged_out or self.logout_error is not None:
            return self.logged_out
        connection = self._connection
        if timeout is not None:
            connection.close()
            connection = self._reconnect(timeout)
        try:
            request = protocol.logout_request(self._api_key, connection.local_ipv4(),
                                              self.jwt_token, self.client_code)
            _answer(connection, request, self._bounds, self._hidden, "logout")
            self.logged_out = True
        except LoginError as error:
            self.logout_error = error
        finally:
            connection.close()
            self._connection.close()
        return self.logged_out


def login(api_key: str, client_code: str, pin: str, secret: TotpSecret | str | None = None,
          *, totp: str | None = None, base_url: str = protocol.DEFAULT_BASE_URL,
          timeout: float = 10.0, min_validity: float = DEFAULT_MIN_VALIDITY,
          server_time: bool = False, environ: Mapping[str, str] | None = None,
          on_wait: Callable[[Code, float], None] | None = None,
          on_clock: Callable[[ClockOffset], None] | None = None,
          names: Mapping[str, str] | None = None) -> Session:
    """Log in once with a fresh code made from ``secret``, and read the profile.

    ``secret`` takes any form :func:`~angel_totp.fresh_code` takes; ``totp``
    is a ready 6-digit code, for when there is no secret. ``min_validity``
    and ``server_time`` choose the code as the scripts do: with
    ``server_time``, Angel One's clock is read first (on the same
    connection, from a request with no credential) and the code is made for
    it; ``on_clock(offset)`` is told the measurement, ``on_wait(code,
    seconds)`` a wait for the next code. ``timeout`` bounds each request in
    wall-clock time. ``names`` renames the parameters in error messages
    (``login_from_env`` names the settings).
    """
    named = {"api_key": "api_key", "client_code": "client_code", "pin": "pin",
             "secret": "secret", "totp": "totp", "base_url": "base_url", **(names or {})}
    api_key = protocol.check_setting(named["api_key"], api_key)
    client_code = protocol.check_client_code(client_code, named["client_code"])
    pin = protocol.check_setting(named["pin"], pin)
    url = protocol.check_base_url(base_url, named["base_url"])
    hidden = [api_key, pin]
    if secret is not None:
        if isinstance(secret, str):
            hidden.append(secret.strip())
            try:
                secret = parse_secret(secret)
            except InvalidSecretError as error:
                raise InvalidSecretError(f"{named['secret']} is not a valid TOTP secret: "
                                         f"{error.message}", error.hint,
                                         what=named["secret"]) from None
        hidden.append(secret.base32)
    elif totp is not None:
        totp = protocol.check_totp(totp, named["totp"])
    else:
        raise MissingSettingError([named["secret"]], f"{named['secret']} is missing",
                                  hint="give the TOTP secret, so that a fresh code is made")

    def connect(seconds: float) -> Connection:
        return Connection(url, timeout=seconds, environ=environ)

    connection = connect(timeout)
    bounds: list[ClockOffset] = []
    try:
        clock = None
        if server_time:
            clock = measure(connection)
            bounds.append(clock)
            if on_clock is not None:
                on_clock(clock)
        local_ip = _local_ip(connection, bounds)
        if secret is not None:
            code = _fresh(secret, min_validity, clock, on_wait)
            totp = code.totp
        assert totp is not None
        hidden.append(totp)
        answer = _answer(connection, protocol.login_request(api_key, local_ip, client_code,
                                                            pin, totp),
                         bounds, hidden, "login")
        try:
            tokens = protocol.read_tokens(answer.data)
        except protocol.BadReply as bad:
            raise _no_answer(bad.errorcode, bad.detail, None, bounds, "login") from None
        hidden += [tokens.jwt, tokens.refresh, tokens.feed]
    except BaseException:
        connection.close()
        raise
    try:
        request = protocol.profile_request(api_key, local_ip, tokens.jwt)
        profile = protocol.read_profile(
            _answer(connection, request, bounds, hidden, "profile").data)
    except KeyboardInterrupt:
        _logout_quietly(connection, connect, api_key, client_code, tokens, bounds, hidden,
                        LOGOUT_AFTER_INTERRUPT_S)
        raise
    except BaseException:
        _logout_quietly(connection, connect, api_key, client_code, tokens, bounds, hidden,
                        None)
        raise
    name = clean(profile.name or "", hidden) or "(no name in the profile)"
    code_shown = profile.client_code if profile.client_code and \
        profile.client_code.isalnum() else client_code
    return Session(connection, connect, api_key, code_shown, name, tokens, profile, bounds,
                   hidden)


def login_from_env(env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE, *,
                   base_url: str | None = None, timeout: float = 10.0,
                   min_validity: float = DEFAULT_MIN_VALIDITY, server_time: bool = False,
                   environ: Mapping[str, str] | None = None,
                   on_wait: Callable[[Code, float], None] | None = None,
                   on_clock: Callable[[ClockOffset], None] | None = None) -> Session:
    """:func:`login` with the settings the scripts use, from the environment, then ``env_file``.

    ``ANGEL_API_KEY``, ``ANGEL_CLIENT_CODE``, ``ANGEL_PIN``, ``TOTP_SECRET``
    (or a ready ``TOTP``), and ``ANGEL_BASE_URL`` unless ``base_url`` is
    given. Every missing one is named at once in a
    :class:`~angel_totp.errors.MissingSettingError`.
    """
    settings = Settings(env_file, environ)
    values = {name: settings.get(name).value
              for name in ("ANGEL_API_KEY", "ANGEL_CLIENT_CODE", "ANGEL_PIN", "TOTP_SECRET",
                           "TOTP", "ANGEL_BASE_URL")}
    missing = [name for name in ("ANGEL_API_KEY", "ANGEL_CLIENT_CODE", "ANGEL_PIN")
               if values[name] is None]
    if values["TOTP_SECRET"] is None and values["TOTP"] is None:
        missing.append("TOTP_SECRET")
    if missing:
        where = "the environment" + (f" or {os.fspath(env_file)}" if env_file else "")
        raise MissingSettingError(missing, f"missing settings: {', '.join(missing)} "
                                           f"(set neither in {where})",
                                  hint="see .env.example for what each one is")
    return login(values["ANGEL_API_KEY"] or "", values["ANGEL_CLIENT_CODE"] or "",
                 values["ANGEL_PIN"] or "", values["TOTP_SECRET"], totp=values["TOTP"],
                 base_url=base_url or values["ANGEL_BASE_URL"] or protocol.DEFAULT_BASE_URL,
                 timeout=timeout, min_validity=min_validity, server_time=server_time,
                 environ=environ, on_wait=on_wait, on_clock=on_clock,
                 names=SETTING_NAMES if base_url is None else
                 {**SETTING_NAMES, "base_url": "base_url"})


SETTING_NAMES = {"api_key": "ANGEL_API_KEY", "client_code": "ANGEL_CLIENT_CODE",
                 "pin": "ANGEL_PIN", "secret": "TOTP_SECRET", "totp": "TOTP",
                 "base_url": "ANGEL_BASE_URL"}


def reworded(error: LoginError, terms: dict[str, str]) -> LoginError:
    """The same failure with its hint in other words (a command's option names)."""
    clock = error.clock if isinstance(error.clock, ClockOffset) else None
    found = _diagnosis(error, clock, terms)
    copy = type(error)(error.errorcode, error.message, error.cause,
                       found.hint if found is not None else error.hint or "",
                       stage=error.stage, clock=error.clock,
                       proxy_variable=error.proxy_variable)
    return copy


def _diagnosis(error: LoginError, clock: ClockOffset | None,
               terms: dict[str, str]) -> Diagnosis | None:
    if isinstance(error, LoginRefusedError):
        return diagnose_refusal(error.errorcode, error.message, clock, terms)
    if error.stage == "clock" or error.errorcode == "NO_DATE":
        return None
    return diagnose_transport(error.errorcode, error.message, error.proxy_variable, terms)


# The exchanges.

def _answer(connection: Connection, request: protocol.Request, bounds: list[ClockOffset],
            hidden: list[str], stage: str) -> protocol.Answer:
    """Send one request; a refusal or no usable answer raises a LoginError."""
    try:
        reply = connection.request(request.method, request.path, request.headers,
                                   request.body_bytes())
    except TransportError as error:
        raise _no_answer(error.errorcode, clean(error.detail, hidden), error.proxy_variable,
                         bounds, stage) from None
    bound = offset_from_reply(reply.sent, reply.received, reply.date)
    if bound is not None:
        bounds.append(bound)
    try:
        answer = protocol.read_reply(reply.status, reply.header("Content-Type") or "",
                                     reply.body)
    except protocol.BadReply as bad:
        raise _no_answer(bad.errorcode, bad.detail, None, bounds, stage) from None
    if not answer.ok:
        message = clean(answer.message, hidden)
        found = diagnose_refusal(clean(answer.errorcode, hidden, 40), message,
                                 combine(bounds))
        raise LoginRefusedError(found.errorcode, message, _staged(found.cause, stage),
                                found.hint, stage=stage, clock=combine(bounds))
    return answer


def _no_answer(errorcode: str, detail: str, proxy_variable: str | None,
               bounds: list[ClockOffset], stage: str) -> NoAnswerError:
    found = diagnose_transport(errorcode, detail, proxy_variable)
    return NoAnswerError(found.errorcode, found.message, _staged(found.cause, stage),
                         found.hint, stage=stage, clock=combine(bounds),
                         proxy_variable=proxy_variable)


def _staged(cause: str, stage: str) -> str:
    if stage == "login":
        return f"the login failed: {cause}"
    if stage == "profile":
        return _PROFILE_FAILED + cause
    return f"the {stage} failed: {cause}"


def _logout_quietly(connection: Connection, reconnect: Callable[[float], Connection],
                    api_key: str, client_code: str,
                    tokens: protocol.Tokens, bounds: list[ClockOffset], hidden: list[str],
                    timeout: float | None) -> None:
    """After a failed profile or Ctrl-C: leave no session open, if we can."""
    profile = protocol.Profile(client_code, None, (), ())
    Session(connection, reconnect, api_key, client_code, "", tokens, profile, bounds,
            hidden).logout(timeout)


def _local_ip(connection: Connection, bounds: list[ClockOffset]) -> str:
    try:
        return connection.local_ipv4()
    except TransportError as error:
        raise _no_answer(error.errorcode, error.detail, error.proxy_variable, bounds,
                         "login") from None


def _fresh(secret: TotpSecret, min_validity: float, clock: ClockOffset | None,
           on_wait: Callable[[Code, float], None] | None) -> Code:
    if clock is None:
        return fresh_code(secret, min_validity, on_wait=on_wait)
    offset = clock.estimate
    return fresh_code(secret, min_validity, on_wait=on_wait,
                      clock=lambda: time.time() - offset, uncertainty=clock.uncertainty)

"""Logging in to Angel One SmartAPI without the SDK: :func:`login` and :class:`Session`.

One call logs in with a fresh code, reads the profile, and hands back the
tokens; leaving a ``with`` block logs out::

    import angel_totp
    with angel_totp.login_from_env() as session:
        smart_api.setAccessToken(session.jwt_token)
        ...

It sends exactly one login request per call and never retries on its own
(Angel One allows one login a second), and no two logins of a process use
one code's time step (Angel One accepts each code once). A bot of several
processes shares one session a day through :mod:`angel_totp.store`
(:func:`angel_totp.daily_session`). It never prints, logs or writes a
file, and no error message, ``repr`` or ``str`` shows a credential or a
token; once checked, the credentials live in its frames only as
:class:`~angel_totp.hidden.Hidden`, for error trackers record locals.
Angel One saying no raises :class:`~angel_totp.errors.LoginRefusedError`;
no usable answer raises :class:`~angel_totp.errors.NoAnswerError`; both
carry ``errorcode``, ``message``, ``cause`` and ``hint``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from . import protocol
from .checks import (
    check_environ,
    check_function,
    check_min_validity,
    check_path,
    check_text,
    check_timeout,
)
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
from .hidden import Hidden
from .redact import clean
from .secret import TotpSecret, parse_secret
from .servertime import check_room, code_for_server, measure
from .settings import DEFAULT_ENV_FILE, Settings, missing_settings_error

# After Ctrl-C (or any other interruption) with a session open: how long
# the one logout may take before the run ends anyway.
LOGOUT_AFTER_INTERRUPT_S = 2.0
# Past a step boundary, so that the clock is surely in the next step.
_STEP_MARGIN_S = 0.05

# What a secure request answers for a session that has ended: log in again.
ENDED_CODES = frozenset({"AG8001", "AG8002", "AB1010", "AB1011"})

# How login_from_env() names its inputs in errors (login() names its parameters).
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
    """What a login sends, checked: the API key, PIN and a ready code only as Hidden.

    ``hidden`` lists the texts a mask must hide; it is an attribute, which
    error trackers show only through this class's ``repr``.
    """

    __slots__ = ("api_key", "client_code", "pin", "secret", "totp", "hidden")

    def __init__(self, api_key: Hidden, client_code: str, pin: Hidden, secret: TotpSecret | None,
                 totp: Hidden | None, given_secret: Hidden | None = None) -> None:
        self.api_key = api_key
        self.client_code = client_code
        self.pin = pin
        self.secret = secret
        self.totp = totp
        self.hidden: list[Hidden] = [Hidden(value.reveal().strip())
                                     for value in (api_key, pin, totp, given_secret)
                                     if value is not None]
        if secret is not None:
            self.hidden.append(secret.key)

    def __repr__(self) -> str:
        return f"Credentials(client_code={self.client_code!r}, <the rest hidden>)"


def _hide(value: object) -> object:
    """Text as Hidden at once; anything else as it is, for the checks to refuse or take.

    A Hidden that holds anything but text is taken for what it holds.
    """
    while isinstance(value, Hidden) and not isinstance(value.reveal(), str):
        value = value.reveal()
    return Hidden(value) if isinstance(value, str) else value


def check_credentials(api_key: object, client_code: object, pin: object,
                      secret: object = None, *, totp: object = None,
                      names: Mapping[str, str] | None = None) -> Credentials:
    """The checks every login makes before sending anything; errors name, never show.

    Each credential may be text or :class:`~angel_totp.hidden.Hidden`, the
    secret also a :class:`~angel_totp.secret.TotpSecret`. Raises
    :class:`~angel_totp.errors.MissingSettingError` naming every missing
    value at once, :class:`~angel_totp.errors.InvalidSettingError` or
    :class:`~angel_totp.errors.InvalidSecretError`. ``names`` says how
    errors name each value (the parameter's name by default). With a
    ``secret``, ``totp`` is not used.
    """
    api_key, pin, secret, totp = _hide(api_key), _hide(pin), _hide(secret), _hide(totp)
    if names is not None:
        check_environ(names, "names")  # a mapping of text to text, as an environment is
    named = names or {}
    given = {"api_key": api_key, "client_code": client_code, "pin": pin}
    missing = [named.get(key, key) for key, value in given.items() if _blank(value)]
    if _blank(secret) and _blank(totp):
        missing.append(named.get("secret", "secret"))
    if missing:
        raise MissingSettingError(missing, "missing: " + ", ".join(missing),
                                  hint="give each of them; the TOTP secret is the one shown "
                                       "beside the QR code at smartapi.angelbroking.com/"
                                       "enable-totp")
    checked = {key: _checked(key, value, named.get(key, key)) for key, value in given.items()}
    with_secret = not _blank(secret)
    made_from = _checked("secret", secret, named.get("secret", "secret")) if with_secret \
        else _checked("totp", totp, named.get("totp", "totp"))
    assert isinstance(checked["api_key"], Hidden) and isinstance(checked["pin"], Hidden)
    return Credentials(checked["api_key"], str(checked["client_code"]), checked["pin"],
                       made_from if isinstance(made_from, TotpSecret) else None,
                       made_from if isinstance(made_from, Hidden) else None,
                       secret if with_secret and isinstance(secret, Hidden) else None)


def check_value(key: str, value: object, names: Mapping[str, str] | None = None) -> None:
    """Check one input as :func:`check_credentials` does, e.g. as soon as it is read.

    ``key`` is ``api_key``, ``client_code``, ``pin``, ``secret`` or ``totp``.
    """
    _checked(key, _hide(value) if key != "client_code" else value, (names or {}).get(key, key))


def _checked(key: str, value: object, name: str) -> str | Hidden | TotpSecret:
    """One input, checked: a credential comes back Hidden, the client code as text.

    An error is raised again here, from None, so that no frame below it,
    which held the plain text while checking, is part of its traceback.
    """
    if key == "secret" and isinstance(value, TotpSecret):
        return value
    if not isinstance(value, Hidden if key != "client_code" else str):
        raise InvalidSettingError(f"{name} must be text", what=name)
    try:
        return _check(key, value, name)
    except InvalidSecretError as error:
        raise InvalidSecretError(f"{name} is not a valid TOTP secret: {error.message}",
                                 error.hint, what=name) from None
    except InvalidInputError as error:
        raise InvalidSettingError(error.message, error.hint, what=error.what) from None


def _check(key: str, value: object, name: str) -> str | Hidden | TotpSecret:
    if isinstance(value, str):
        return protocol.check_client_code(value, name)  # shown, so not hidden
    assert isinstance(value, Hidden)
    if key == "secret":
        return parse_secret(value.reveal())
    if key == "api_key":
        return Hidden(protocol.check_header_value(name, value.reveal()))
    if key == "pin":
        return Hidden(protocol.check_setting(name, value.reveal()))
    return Hidden(protocol.check_totp(value.reveal(), name))


def _blank(value: object) -> bool:
    if isinstance(value, Hidden):
        return not value.reveal().strip()
    return value is None or (isinstance(value, str) and not value.strip())


class Options(NamedTuple):
    """A login's checked options (never a credential, nor the environment)."""

    url: str
    timeout: float
    min_validity: float
    server_time: bool


def check_options(credentials: Credentials, base_url: object, timeout: object,
                  min_validity: object, server_time: object, environ: object,
                  names: Mapping[str, str] | None = None,
                  callbacks: Mapping[str, object] | None = None) -> Options:
    """The checks of a login's other arguments: any bad one is an InvalidInputError.

    ``callbacks`` maps parameter names to what must be callable (or None).
    """
    for what, callback in (callbacks or {}).items():
        if callback is not None:
            check_function(callback, what)
    name = (names or {}).get("base_url", "base_url")
    url = protocol.check_base_url(check_text(base_url, name), name)
    if not isinstance(server_time, bool):
        raise InvalidInputError("server_time must be True or False", what="server_time")
    check_environ(environ)  # the value stays as given: None means os.environ, not a copy
    period = credentials.secret.period if credentials.secret is not None else 30
    validity = check_min_validity(min_validity, period)
    if server_time and credentials.secret is not None:
        check_room(validity, period)
    return Options(url, check_timeout(timeout), validity, server_time)


# The requests of one login, on one connection.

class _Exchange:
    """One login's connection, what it must never show, and Angel One's clock so far.

    Every request goes through :meth:`send`, which turns whatever happens
    into an answer or a :class:`~angel_totp.errors.LoginError` with its
    diagnosis; each reply's Date header narrows the clock bound.
    """

    def __init__(self, url: str, timeout: float, environ: Mapping[str, str] | None,
                 hidden: list[Hidden], server_time: bool) -> None:
        self.url = url
        self.environ = environ
        self.hidden = hidden
        self.server_time = server_time
        self.bounds: list[ClockOffset] = []
        self.local_ip = ""
        self.step: int | None = None  # the step of the code it logged in with
        self.previous_step: int | None = None
        # The login was refused (not for its code), or never written: its code opened
        # no session, and may be sent again.
        self.code_unused = False
        self.connection = self.connect(timeout)
        self.hidden.extend(self.connection.hidden)  # a proxy may echo its password

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

    def send(self, request: protocol.Request, stage: str, last: bool = False) -> protocol.Answer:
        """Send one request; a refusal or no usable answer raises a LoginError.

        ``last`` ends the connection and checks that its replies were in step.
        """
        try:
            reply = self.connection.request(request.method, request.path, request.headers,
                                            request.body_bytes(), last=last)
        except TransportError as error:
            self.code_unused = stage == "login" and not error.sent
            raise self.no_answer(error, stage) from None
        bound = offset_from_reply(reply.sent, reply.received, reply.date)
        if bound is not None:
            self.bounds.append(bound)
        answer: protocol.Answer | protocol.BadReply
        try:
            answer = protocol.read_reply(reply.status, reply.header("Content-Type") or "",
                                         reply.body)
        except protocol.BadReply as bad:  # without the frames that read the reply
            answer = bad.with_traceback(None)
        if stage == "login" and (isinstance(answer, protocol.BadReply) or not answer.ok):
            # No logout follows a failed login to show the replies out of step, so look
            # behind this one now (out of the except: Ctrl-C here chains no reply).
            self.check_in_step(stage)
        if isinstance(answer, protocol.BadReply):
            raise self.bad_reply(answer, stage)
        if not answer.ok:
            # AB1050 says this very code is not accepted (most often: used already):
            # sent again, it is refused again for certain, so its step stays taken.
            self.code_unused = stage == "login" and answer.errorcode != "AB1050"
            raise self.refused(answer, stage)
        return answer

    def check_in_step(self, stage: str) -> None:
        """The connection ends here: first, was its last reply the answer to this request?"""
        try:
            self.connection.check_in_step()
        except TransportError as error:
            raise self.no_answer(error, stage) from None

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
    too, also when the block raised, unless the session is today's shared
    one (``store_path`` is its store, see :func:`angel_totp.daily_session`),
    which only :meth:`logout` ends. ``reused`` says it came from the store
    rather than from a login. Logging out twice is harmless.
    """

    def __init__(self, exchange: _Exchange, credentials: Credentials,
                 tokens: protocol.Tokens, *, reused: bool = False) -> None:
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
        self.reused = reused
        self.store_path: str | None = None
        # Set by the store: removes the store file if it still holds this session.
        self._after_logout: Callable[[Session], None] | None = None

    @property
    def clock(self) -> ClockOffset | None:
        return self._exchange.clock

    @property
    def clock_offset(self) -> float | None:
        clock = self.clock
        return None if clock is None else clock.estimate

    def __repr__(self) -> str:
        state = "logged out" if self.logged_out else "open"
        shared = f", reused={self.reused}, store_path={self.store_path!r}" \
            if self.store_path is not None else ""
        return (f"Session(client_code={self.client_code!r}, name={self.name!r}, "
                f"tokens=<hidden>{shared}, {state})")

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if self.store_path is not None:
            return  # today's shared session: other processes use it too
        interrupted = kind is not None and not issubclass(kind, Exception)
        self.logout(LOGOUT_AFTER_INTERRUPT_S if interrupted else None)

    def logout(self, timeout: float | None = None) -> bool:
        """End the session; True when Angel One confirmed it.

        Never raises for a failed logout (the session then expires on its
        own); ``logout_error`` says why, and calling again tries again.
        Once logged out, calling again does nothing. ``timeout`` bounds the
        logout on a fresh connection (after Ctrl-C: a short wait). A shared
        session's store file is removed if it still holds this session.
        """
        if self.logged_out:
            return True
        exchange = self._exchange
        if timeout is not None:
            exchange.connection.close()
            exchange.connection = exchange.connect(check_timeout(timeout))
        credentials = self._credentials
        try:
            if not exchange.local_ip:  # a stored session used without a request yet
                exchange.connect_now()
            exchange.send(protocol.logout_request(
                credentials.api_key, exchange.local_ip,
                Hidden(self.jwt_token), credentials.client_code), "logout", last=True)
            self.logged_out = True
            self.logout_error = None
        except LoginError as error:
            self.logout_error = error
        finally:
            exchange.connection.close()
        ended = isinstance(self.logout_error, LoginRefusedError) and \
            self.logout_error.errorcode in ENDED_CODES
        if (self.logged_out or ended) and self._after_logout is not None:
            self._after_logout(self)
        return self.logged_out

    def _finish_login(self, tokens: protocol.Tokens, keep_open: bool) -> None:
        """Check the other tokens and read the profile; on any failure, log out first."""
        try:
            try:
                protocol.check_tokens(tokens)
            except protocol.BadReply as bad:
                raise self._exchange.bad_reply(bad, "login") from None
            self._read_profile("profile", last=not keep_open)
        except Exception:
            self.logout()
            raise
        except BaseException:  # Ctrl-C, SIGTERM: one short try, then go
            self.logout(LOGOUT_AFTER_INTERRUPT_S)
            raise

    def _read_profile(self, stage: str, last: bool) -> None:
        exchange, credentials = self._exchange, self._credentials
        request = protocol.profile_request(credentials.api_key, exchange.local_ip,
                                           Hidden(self.jwt_token))
        profile = protocol.read_profile(exchange.send(request, stage, last).data)
        self.name = clean(profile.name or "", exchange.hidden)
        self.exchanges = tuple(clean(item, exchange.hidden, 40) for item in profile.exchanges)
        self.products = tuple(clean(item, exchange.hidden, 40) for item in profile.products)


# Logging in.

def login(api_key: str | Hidden, client_code: str, pin: str | Hidden,
          secret: TotpSecret | str | Hidden | None = None, *, totp: str | Hidden | None = None,
          base_url: str = protocol.DEFAULT_BASE_URL,
          timeout: float = 10.0, min_validity: float = DEFAULT_MIN_VALIDITY,
          server_time: bool = False, environ: Mapping[str, str] | None = None,
          on_wait: Callable[[Code, float], None] | None = None,
          on_clock: Callable[[ClockOffset], None] | None = None,
          sleep: Callable[[float], None] = time.sleep,
          names: Mapping[str, str] | None = None, _keep_open: bool = False) -> Session:
    """Log in once with a fresh code made from ``secret``, and read the profile.

    ``secret`` takes any form :func:`~angel_totp.fresh_code` takes; ``totp``
    is a ready 6-digit code, for when there is no secret. ``min_validity``
    and ``server_time`` choose the code as the scripts do: with
    ``server_time``, Angel One's clock is read first (on the same
    connection, from a request with no credential) and the code is made for
    it, and handed out only if it keeps ``min_validity`` seconds even at
    the far edge of the measurement's uncertainty. ``on_clock(offset)`` is
    told the measurement; ``on_wait(code, seconds)`` a wait for the next
    code, which ``sleep`` then waits. No two logins of this process for one
    client code use the same code's time step: a login that would waits for
    the next one (Angel One accepts each code once). ``timeout`` bounds each
    request in wall-clock time. ``environ`` is where proxy settings are read
    (default ``os.environ``). ``names`` renames the inputs in error messages.
    The profile request ends the connection, and a byte the server sends
    after its reply means the replies were out of step: NoAnswerError
    ``BAD_REPLY``, after one logout.
    The credentials may also be given as :class:`~angel_totp.hidden.Hidden`.

    Everything is checked before anything is sent. Raises
    :class:`~angel_totp.errors.LoginRefusedError` when Angel One says no,
    :class:`~angel_totp.errors.NoAnswerError` when no usable answer came,
    and :class:`~angel_totp.errors.InvalidInputError` or
    :class:`~angel_totp.errors.MissingSettingError` for bad input.
    """
    given = (_hide(api_key), _hide(pin), _hide(secret), _hide(totp))
    del api_key, pin, secret, totp  # from here on, only as Hidden
    credentials = check_credentials(given[0], client_code, given[1], given[2], totp=given[3],
                                    names=names)
    options = check_options(credentials, base_url, timeout, min_validity, server_time, environ,
                            names, {"on_wait": on_wait, "on_clock": on_clock, "sleep": sleep})
    return log_in(credentials, options, environ, on_wait, on_clock, sleep, keep_open=_keep_open)


def log_in(credentials: Credentials, options: Options, environ: Mapping[str, str] | None,
           on_wait: Callable[[Code, float], None] | None,
           on_clock: Callable[[ClockOffset], None] | None, sleep: Callable[[float], None],
           last_step: int | None = None, keep_open: bool = False) -> Session:
    """:func:`login` with checked inputs; ``last_step`` is another record's last login step.

    The session's ``_exchange.step`` is the step of the code it logged in with.
    The profile request ends the connection, unless ``keep_open`` keeps it
    for a logout at once; that logout then checks the replies were in step.
    """
    exchange = _Exchange(options.url, options.timeout, environ, credentials.hidden,
                         options.server_time)
    try:
        tokens = _log_in(exchange, credentials, options.min_validity, on_wait, on_clock, sleep,
                         last_step)
    except BaseException:
        exchange.connection.close()
        if exchange.code_unused:
            _release_step(exchange, credentials)
        raise
    session = Session(exchange, credentials, tokens)
    session._finish_login(tokens, keep_open)
    return session


def resume(credentials: Credentials, options: Options, environ: Mapping[str, str] | None,
           tokens: protocol.Tokens, verify: bool) -> Session:
    """A session from tokens kept earlier; with ``verify``, after one profile request.

    A refusal of that request raises :class:`~angel_totp.errors.LoginRefusedError`
    (``stage="session"``); the session is not logged out.
    """
    exchange = _Exchange(options.url, options.timeout, environ, credentials.hidden,
                         options.server_time)
    exchange.hidden.extend(token for token in (tokens.jwt, tokens.refresh, tokens.feed)
                           if token)
    session = Session(exchange, credentials, tokens, reused=True)
    if verify:
        try:
            exchange.connect_now()
            session._read_profile("session", last=True)
        except BaseException:
            exchange.connection.close()
            raise
    return session


def _log_in(exchange: _Exchange, credentials: Credentials, min_validity: float,
            on_wait: Callable[[Code, float], None] | None,
            on_clock: Callable[[ClockOffset], None] | None,
            sleep: Callable[[float], None], last_step: int | None) -> protocol.Tokens:
    """The clock (if asked), then the one login request; the session's tokens."""
    clock = None
    if exchange.server_time:
        clock = exchange.measure_clock()
        if on_clock is not None:
            on_clock(clock)
    exchange.connect_now()  # before the code is made: connecting must not eat its validity
    totp = credentials.totp
    if credentials.secret is not None:
        totp = _unused_code(exchange, credentials, min_validity, clock, on_wait, sleep,
                            last_step)
    assert totp is not None
    exchange.hidden.append(totp)
    request = protocol.login_request(credentials.api_key, exchange.local_ip,
                                     credentials.client_code, credentials.pin,
                                     totp)
    answer = exchange.send(request, "login")
    try:
        tokens = protocol.read_tokens(answer.data)
    except protocol.BadReply as bad:
        raise exchange.bad_reply(bad, "login") from None
    exchange.hidden.extend(token for token in tokens if token)
    return tokens


# Never the same code twice: per server and client code, the step of this
# process's last login (taken before it is sent, given back if it fails).
_last_steps: dict[tuple[str, str], int] = {}
_steps_lock = threading.Lock()


def _unused_code(exchange: _Exchange, credentials: Credentials, min_validity: float,
                 clock: ClockOffset | None, on_wait: Callable[[Code, float], None] | None,
                 sleep: Callable[[float], None], last_step: int | None) -> Hidden:
    """A fresh code of a step no login of ours for this client code has used.

    Angel One accepts each code once (and one step either side of its
    clock): a code of the last login's step, or of the one before it, waits
    for the step after the last one. A step far behind means another
    clock, and such a code is refused anyway: no wait for it. The step is
    taken before the login is sent, so that two threads never share it.
    """
    secret = credentials.secret
    assert secret is not None
    period = secret.period
    account = (exchange.url, credentials.client_code)
    while True:
        code = _fresh(secret, min_validity, clock, on_wait, sleep)
        step = code.valid_from // period
        with _steps_lock:
            used = max(_last_steps.get(account, -1), -1 if last_step is None else last_step)
            if not used - 1 <= step <= used:
                exchange.previous_step = _last_steps.get(account)
                _last_steps[account] = exchange.step = step
                return Hidden(code.totp)
        wait = (used + 1) * period - code.at + _STEP_MARGIN_S + (
            clock.uncertainty if clock is not None else 0.0)
        if on_wait is not None:
            on_wait(code, wait)
        del code  # an old code, but a code
        sleep(wait)


def last_login_step(url: str, client_code: str) -> int | None:
    """The step of this process's last login for the account, failed ones included
    unless their code surely opened no session."""
    with _steps_lock:
        return _last_steps.get((url, client_code))


def _release_step(exchange: _Exchange, credentials: Credentials) -> None:
    """A login refused (not for its code, AB1050), or never written, gives its step back:
    its code opened nothing. One whose answer never came keeps it: the server may have
    taken the code."""
    account = (exchange.url, credentials.client_code)
    with _steps_lock:
        if exchange.step is not None and _last_steps.get(account) == exchange.step:
            if exchange.previous_step is None:
                del _last_steps[account]
            else:
                _last_steps[account] = exchange.previous_step
    exchange.step = None


def _fresh(secret: TotpSecret, min_validity: float, clock: ClockOffset | None,
           on_wait: Callable[[Code, float], None] | None,
           sleep: Callable[[float], None]) -> Code:
    """A fresh code for this machine's clock, or for Angel One's as measured."""
    if clock is None:  # the clock read now, so that a test's fake clock is the one used
        return fresh_code(secret, min_validity, clock=time.time, on_wait=on_wait, sleep=sleep)
    return code_for_server(secret, min_validity, clock, on_wait=on_wait, sleep=sleep)


def login_from_env(env_file: object = DEFAULT_ENV_FILE, *,
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
    found = login_settings(env_file, base_url, environ)
    environ = without_credentials(environ)  # trackers record this frame's locals
    return login(**found, timeout=timeout, min_validity=min_validity, server_time=server_time,
                 environ=environ, on_wait=on_wait, on_clock=on_clock, sleep=sleep)


_CREDENTIAL_SETTINGS = frozenset({"ANGEL_API_KEY", "ANGEL_PIN", "TOTP_SECRET", "TOTP"})


def without_credentials(environ: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """``environ`` without the credentials, once :func:`login_settings` has read them.

    What is read later (proxy settings, the store's folder) stays. A caller's
    mapping would otherwise sit, PIN and all, in the locals of every frame
    below (error trackers walk dicts); None (``os.environ``) stays None.
    """
    if environ is None:
        return None
    return {name: value for name, value in environ.items() if name not in _CREDENTIAL_SETTINGS}


def login_settings(env_file: object, base_url: object,
                   environ: Mapping[str, str] | None) -> dict[str, Any]:
    """:func:`login`'s inputs as :func:`login_from_env` reads them; credentials as Hidden."""
    path = None if env_file is None else check_path(env_file, "env_file")
    if base_url is not None:
        check_text(base_url, "base_url")
    check_environ(environ)
    settings = Settings(path, environ)
    found = {key: _hide(settings.get(name).value) for key, name in SETTING_NAMES.items()}
    missing = [SETTING_NAMES[key] for key in ("api_key", "client_code", "pin")
               if found[key] is None]
    if found["secret"] is None and found["totp"] is None:
        missing.append("TOTP_SECRET")
    if missing:
        raise missing_settings_error(missing, path)
    stored_url = found.pop("base_url")
    url = base_url if base_url is not None else (
        stored_url.reveal() if isinstance(stored_url, Hidden) else protocol.DEFAULT_BASE_URL)
    names = SETTING_NAMES if base_url is None else {**SETTING_NAMES, "base_url": "base_url"}
    client_code = found.pop("client_code")
    assert isinstance(client_code, Hidden)
    return {**found, "client_code": client_code.reveal(), "base_url": url, "names": names}


def reworded(error: LoginError, terms: dict[str, str]) -> LoginError:
    """The same failure with its hint in other words (a command's option names)."""
    return type(error)(error.errorcode, error.message, error.cause,
                       reword(error.hint or "", terms), stage=error.stage, clock=error.clock,
                       proxy_variable=error.proxy_variable)

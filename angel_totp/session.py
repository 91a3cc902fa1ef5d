"""Logging in to Angel One SmartAPI without the SDK: :func:`login` and :class:`Session`.

One login request per call, never retried, never with the step of an earlier
login's code (Angel One accepts each code once); leaving a ``with`` block logs out.
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
from .secret import SECRET_AT, TotpSecret, parse_secret
from .servertime import check_room, code_for_server, measure
from .settings import DEFAULT_ENV_FILE, Settings, blank, missing_settings_error

# After Ctrl-C with a session open: how long its one logout may take.
LOGOUT_AFTER_INTERRUPT_S = 2.0

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


class Credentials(NamedTuple):
    """What a login sends, checked; ``hidden`` lists the texts a mask must hide."""

    api_key: Hidden
    client_code: str
    pin: Hidden
    secret: TotpSecret | None
    totp: Hidden | None
    hidden: list[Hidden]


def _hide(value: object) -> Any:
    # Text as Hidden at once; a Hidden of anything else as what it holds, for the checks.
    while isinstance(value, Hidden) and not isinstance(value.reveal(), str):
        value = value.reveal()
    return Hidden(value) if isinstance(value, str) else value


def check_credentials(api_key: object, client_code: object, pin: object,
                      secret: object = None, *, totp: object = None,
                      names: Mapping[str, str] | None = None) -> Credentials:
    """Check a login's credentials (text or Hidden) before anything is sent; errors name
    each (as ``names`` says; every missing one at once), never show it. With a
    ``secret``, ``totp`` is not used."""
    api_key, pin, secret, totp = _hide(api_key), _hide(pin), _hide(secret), _hide(totp)
    if names is not None:
        check_environ(names, "names")  # a mapping of text to text, as an environment is
    named = names or {}
    given = {"api_key": api_key, "client_code": client_code, "pin": pin}
    missing = [named.get(key, key) for key, value in given.items() if _blank(value)]
    if not _blank(secret):
        given["secret"] = secret
    elif not _blank(totp):
        given["totp"] = totp
    else:
        missing.append(named.get("secret", "secret"))
    if missing:
        raise MissingSettingError(missing, "missing: " + ", ".join(missing),
                                  hint=f"give each of them; the TOTP secret is {SECRET_AT}")
    checked = {key: _checked(key, value, named.get(key, key)) for key, value in given.items()}
    made = checked.get("secret")
    to_mask = (checked["api_key"], checked["pin"], checked.get("totp"), given.get("secret"))
    hidden = [Hidden(value.reveal().strip()) for value in to_mask if isinstance(value, Hidden)]
    if made is not None:
        hidden.append(made.key)
    return Credentials(checked["api_key"], checked["client_code"], checked["pin"], made,
                       checked.get("totp"), hidden)


def check_value(key: str, value: object, names: Mapping[str, str] | None = None) -> None:
    """Check one input as :func:`check_credentials` does (``key``: one of its parameters)."""
    _checked(key, _hide(value) if key != "client_code" else value, (names or {}).get(key, key))


def _checked(key: str, value: object, name: str) -> Any:
    # A credential comes back Hidden, the client code as text. Errors are raised again
    # from None: the frames below held the plain text.
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
    if isinstance(value, Hidden):  # of anything but text: not blank, refused as not text
        return isinstance(value.reveal(), str) and blank(value.reveal())
    return value is None or (isinstance(value, str) and blank(value))


class Options(NamedTuple):
    url: str
    timeout: float
    min_validity: float
    server_time: bool


def check_options(credentials: Credentials, base_url: object, timeout: object,
                  min_validity: object, server_time: object, environ: object,
                  names: Mapping[str, str] | None = None,
                  callbacks: Mapping[str, object] | None = None) -> Options:
    """Check a login's other arguments (``callbacks``: name to function or None)."""
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


class _Exchange:
    # One login's connection, the texts it must never show, and Angel One's clock so far.

    def __init__(self, credentials: Credentials, options: Options,
                 environ: Mapping[str, str] | None) -> None:
        self.url = options.url
        self.environ = environ
        self.hidden = credentials.hidden
        self.server_time = options.server_time
        self.bounds: list[ClockOffset] = []
        self.local_ip = ""
        self.step: int | None = None  # the step of the code it logged in with
        self.previous_step: int | None = None
        # The login was refused (not for its code), or never written: its code opened
        # no session, and may be sent again.
        self.code_unused = False
        self.connection = Connection(self.url, timeout=options.timeout, environ=environ)
        self.hidden.extend(self.connection.hidden)  # a proxy may echo its password

    @property
    def clock(self) -> ClockOffset | None:
        return combine(self.bounds)

    def connect_now(self) -> None:
        try:
            self.local_ip = self.connection.local_ipv4()
        except TransportError as error:
            raise self.no_answer(error, "login") from None

    def send(self, request: protocol.Request, stage: str, last: bool = False) -> protocol.Answer:
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
        except BaseException as error:  # Ctrl-C: those frames hold the reply's tokens
            raise error.with_traceback(None) from None
        if stage == "login" and (isinstance(answer, protocol.BadReply) or not answer.ok):
            # No logout follows a failed login to show the replies out of step, so look
            # behind this one now (out of the except: Ctrl-C here chains no reply).
            try:
                self.connection.check_in_step()
            except TransportError as error:
                raise self.no_answer(error, stage) from None
        if isinstance(answer, protocol.BadReply):
            raise self.no_answer(answer, stage)
        if not answer.ok:
            # AB1050 says this very code is not accepted (most often: used already):
            # sent again, it is refused again for certain, so its step stays taken.
            self.code_unused = stage == "login" and answer.errorcode != "AB1050"
            message = clean(answer.message, self.hidden)
            found = diagnose_refusal(clean(answer.errorcode, self.hidden, 40), message,
                                     self.clock, server_time=self.server_time)
            raise LoginRefusedError(found.errorcode, message, staged(found, stage, refused=True),
                                    found.hint, stage=stage, clock=self.clock)
        return answer

    def no_answer(self, error: TransportError | protocol.BadReply, stage: str) -> NoAnswerError:
        proxy_variable = error.proxy_variable if isinstance(error, TransportError) else None
        if isinstance(error, TransportError):
            detail = clean(error.detail, self.hidden)
        else:
            said = clean(error.said, self.hidden, 80)
            detail = f"{error.detail}, {said}" if said else error.detail
        found = diagnose_transport(error.errorcode, detail, proxy_variable)
        return NoAnswerError(found.errorcode, found.message, staged(found, stage), found.hint,
                             stage=stage, clock=self.clock, proxy_variable=proxy_variable)


class Session:
    """A logged-in SmartAPI session: its tokens, the profile's name, Angel One's clock.

    ``clock_offset`` is this machine's clock minus Angel One's, in seconds (None
    without a usable Date header). Leaving a ``with`` block logs out, unless this is
    today's shared session (``store_path``, see :func:`angel_totp.daily_session`;
    ``reused``: taken from the store). Logging out twice is harmless.
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
        """End the session; True when Angel One confirmed it. Never raises: ``logout_error``
        says why it failed (call again to retry). ``timeout`` bounds it on a new connection.
        A shared session's store is removed if it still holds this session."""
        if self.logged_out:
            return True
        exchange = self._exchange
        if timeout is not None:
            exchange.connection.close()
            exchange.connection = Connection(exchange.url, timeout=check_timeout(timeout),
                                             environ=exchange.environ)
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

    def _read_profile(self, stage: str, last: bool) -> None:
        exchange, credentials = self._exchange, self._credentials
        request = protocol.profile_request(credentials.api_key, exchange.local_ip,
                                           Hidden(self.jwt_token))
        profile = protocol.read_profile(exchange.send(request, stage, last).data)
        self.name = clean(profile.name or "", exchange.hidden)
        self.exchanges = tuple(clean(item, exchange.hidden, 40) for item in profile.exchanges)
        self.products = tuple(clean(item, exchange.hidden, 40) for item in profile.products)


def login(api_key: str | Hidden, client_code: str, pin: str | Hidden,
          secret: TotpSecret | str | Hidden | None = None, *, totp: str | Hidden | None = None,
          base_url: str = protocol.DEFAULT_BASE_URL,
          timeout: float = 10.0, min_validity: float = DEFAULT_MIN_VALIDITY,
          server_time: bool = False, environ: Mapping[str, str] | None = None,
          on_wait: Callable[[Code, float], None] | None = None,
          on_clock: Callable[[ClockOffset], None] | None = None,
          sleep: Callable[[float], None] = time.sleep,
          names: Mapping[str, str] | None = None, _keep_open: bool = False) -> Session:
    """Log in once with a fresh code made from ``secret`` (or a ready ``totp``), and read
    the profile. The credentials may be text or :class:`~angel_totp.hidden.Hidden`.

    The code keeps ``min_validity`` seconds: a wait for the next one calls
    ``on_wait(code, seconds)``, then ``sleep``. With ``server_time`` it is made for
    Angel One's clock, read first by a request with no credential (``on_clock(offset)``
    is told). No two logins of this process for one client code use one code's step.
    ``timeout`` bounds each request; ``environ`` (default ``os.environ``) holds the proxy
    settings; ``names`` renames the inputs in errors. All is checked before anything is
    sent. Raises LoginRefusedError (Angel One said no), NoAnswerError (no usable answer;
    ``BAD_REPLY`` for replies out of step, after one logout), InvalidInputError or
    MissingSettingError.
    """
    api_key, pin, secret, totp = _hide(api_key), _hide(pin), _hide(secret), _hide(totp)
    credentials = check_credentials(api_key, client_code, pin, secret, totp=totp, names=names)
    options = check_options(credentials, base_url, timeout, min_validity, server_time, environ,
                            names, {"on_wait": on_wait, "on_clock": on_clock, "sleep": sleep})
    return log_in(credentials, options, environ, on_wait, on_clock, sleep, keep_open=_keep_open)


def log_in(credentials: Credentials, options: Options, environ: Mapping[str, str] | None,
           on_wait: Callable[[Code, float], None] | None,
           on_clock: Callable[[ClockOffset], None] | None, sleep: Callable[[float], None],
           last_step: int | None = None, keep_open: bool = False) -> Session:
    # ``last_step``: another record's last login step; ``keep_open``: for a logout at once.
    exchange = _Exchange(credentials, options, environ)
    try:
        clock = None
        if options.server_time:
            clock = measure(exchange.connection)
            exchange.bounds.append(clock)
            if on_clock is not None:
                on_clock(clock)
        exchange.connect_now()  # before the code is made: connecting must not eat its validity
        totp = credentials.totp
        if credentials.secret is not None:
            totp = _unused_code(exchange, credentials, options.min_validity, clock, on_wait,
                                sleep, last_step)
        assert totp is not None
        exchange.hidden.append(totp)
        request = protocol.login_request(credentials.api_key, exchange.local_ip,
                                         credentials.client_code, credentials.pin, totp)
        try:
            tokens = protocol.read_tokens(exchange.send(request, "login").data)
        except protocol.BadReply as bad:
            raise exchange.no_answer(bad, "login") from None
        except BaseException as error:  # Ctrl-C: read_tokens' frames hold the tokens
            raise error.with_traceback(None) from None
        exchange.hidden.extend(token for token in tokens if token)
    except BaseException:
        exchange.connection.close()
        if exchange.code_unused:
            _release_step(exchange, credentials)
        raise
    session = Session(exchange, credentials, tokens)
    try:  # the other tokens checked, and the profile read; on any failure, log out first
        try:
            protocol.check_tokens(tokens)
        except protocol.BadReply as bad:
            raise exchange.no_answer(bad, "login") from None
        session._read_profile("profile", last=not keep_open)
    except Exception:
        session.logout()
        raise
    except BaseException:  # Ctrl-C, SIGTERM: one short try, then go
        session.logout(LOGOUT_AFTER_INTERRUPT_S)
        raise
    return session


def resume(credentials: Credentials, options: Options, environ: Mapping[str, str] | None,
           tokens: protocol.Tokens, verify: bool) -> Session:
    # With ``verify``, after one profile request (refused: stage "session", no logout).
    exchange = _Exchange(credentials, options, environ)
    exchange.hidden.extend(token for token in tokens if token)
    session = Session(exchange, credentials, tokens, reused=True)
    if verify:
        try:
            exchange.connect_now()
            session._read_profile("session", last=True)
        except BaseException:
            exchange.connection.close()
            raise
    return session


# Never the same code twice: per server and client code, the step of this
# process's last login (taken before it is sent, given back if it fails).
_last_steps: dict[tuple[str, str], int] = {}
_steps_lock = threading.Lock()


def _unused_code(exchange: _Exchange, credentials: Credentials, min_validity: float,
                 clock: ClockOffset | None, on_wait: Callable[[Code, float], None] | None,
                 sleep: Callable[[float], None], last_step: int | None) -> Hidden:
    # Angel One accepts each code once, and one step either side of its clock: a code of
    # the last login's step, or of the one before, waits for the step after (a step far
    # behind means another clock: no wait). The step is taken before the login is sent,
    # so that two threads never share it.
    secret = credentials.secret
    assert secret is not None
    account = (exchange.url, credentials.client_code)
    while True:
        if clock is None:  # time.time read now, so that a test's fake clock is the one used
            code = fresh_code(secret, min_validity, clock=time.time, on_wait=on_wait,
                              sleep=sleep)
        else:
            code = code_for_server(secret, min_validity, clock, on_wait=on_wait, sleep=sleep)
        step = code.valid_from // secret.period
        with _steps_lock:
            used = max(_last_steps.get(account, -1), -1 if last_step is None else last_step)
            if not used - 1 <= step <= used:
                exchange.previous_step = _last_steps.get(account)
                _last_steps[account] = exchange.step = step
                return Hidden(code.totp)
        # 0.05 s past the boundary, so that the clock is surely in the next step
        wait = (used + 1) * secret.period - code.at + 0.05 + (
            clock.uncertainty if clock is not None else 0.0)
        if on_wait is not None:
            on_wait(code, wait)
        del code  # an old code, but a code
        sleep(wait)


def last_login_step(url: str, client_code: str) -> int | None:
    # Failed logins included, unless their code surely opened no session.
    with _steps_lock:
        return _last_steps.get((url, client_code))


def _release_step(exchange: _Exchange, credentials: Credentials) -> None:
    # A login whose code opened nothing gives its step back; one whose answer never
    # came keeps it (the server may have taken the code).
    account = (exchange.url, credentials.client_code)
    with _steps_lock:
        if exchange.step is not None and _last_steps.get(account) == exchange.step:
            if exchange.previous_step is None:
                del _last_steps[account]
            else:
                _last_steps[account] = exchange.previous_step
    exchange.step = None


def login_from_env(env_file: object = DEFAULT_ENV_FILE, *,
                   base_url: str | None = None, timeout: float = 10.0,
                   min_validity: float = DEFAULT_MIN_VALIDITY, server_time: bool = False,
                   environ: Mapping[str, str] | None = None,
                   on_wait: Callable[[Code, float], None] | None = None,
                   on_clock: Callable[[ClockOffset], None] | None = None,
                   sleep: Callable[[float], None] = time.sleep) -> Session:
    """:func:`login` with the scripts' settings, from ``environ`` (default ``os.environ``),
    then ``env_file`` (None: none): ``ANGEL_API_KEY``, ``ANGEL_CLIENT_CODE``,
    ``ANGEL_PIN``, ``TOTP_SECRET`` (or ``TOTP``), ``ANGEL_BASE_URL`` unless ``base_url``
    is given. Every missing or empty one is named at once (MissingSettingError); a file
    that cannot be read or parsed raises EnvFileError."""
    found, environ = login_settings(env_file, base_url, environ)
    return login(**found, timeout=timeout, min_validity=min_validity, server_time=server_time,
                 environ=environ, on_wait=on_wait, on_clock=on_clock, sleep=sleep)


def login_settings(env_file: object, base_url: object, environ: Mapping[str, str] | None
                   ) -> tuple[dict[str, Any], Mapping[str, str] | None]:
    # login()'s inputs as login_from_env() reads them, credentials as Hidden, and environ
    # without them: else it would hold the PIN in every frame below (trackers walk dicts).
    path = None if env_file is None else check_path(env_file, "env_file")
    if base_url is not None:
        check_text(base_url, "base_url")
    settings = Settings(path, environ)
    found: dict[str, Any] = {key: settings.get(SETTING_NAMES[key]).hidden
                             for key in ("api_key", "pin", "secret", "totp")}
    found["client_code"] = settings.value("ANGEL_CLIENT_CODE")
    try:  # what login() finds missing, in words that name the file looked in
        check_credentials(**found, names=SETTING_NAMES)
    except MissingSettingError as error:
        raise missing_settings_error(error.names, path) from None
    found["base_url"] = base_url if base_url is not None else (
        settings.value("ANGEL_BASE_URL") or protocol.DEFAULT_BASE_URL)
    names = SETTING_NAMES if base_url is None else {**SETTING_NAMES, "base_url": "base_url"}
    if environ is not None:
        environ = {name: value for name, value in environ.items()
                   if name not in ("ANGEL_API_KEY", "ANGEL_PIN", "TOTP_SECRET", "TOTP")}
    return {**found, "names": names}, environ


def reworded(error: LoginError, terms: dict[str, str]) -> LoginError:
    """The same failure with its hint in other words (a command's option names)."""
    return type(error)(error.errorcode, error.message, error.cause,
                       reword(error.hint or "", terms), stage=error.stage, clock=error.clock,
                       proxy_variable=error.proxy_variable)

"""Red team: the login path against a hostile server, a broken proxy and an error tracker.

Each test does what an attacker (or a broken network) would, against the Python API
in process: a scripted raw server on 127.0.0.1 port 0 answers each request with the
bytes a test gives. Every error that escapes is walked as an error tracker walks it
(conftest's assert_no_plain_credentials), and its text is checked for credentials
and control characters.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import json
import socket
import threading
import time

import pytest
from conftest import (
    ANGEL_SECRET,
    API_KEY,
    CLIENT_CODE,
    PIN,
    Stopwatch,
    assert_clean_output,
    assert_no_leak,
    assert_no_plain_credentials,
)

import angel_totp
from angel_totp import AngelTotpError, Hidden, InvalidInputError

JWT = "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJBMTIzNDU2In0.c2lnbmF0dXJlLXRva2Vu"
REFRESH = "rfr-" + "q7Lm2" * 8
PROXY_PASSWORD = "pxPass9Wq4"
CREDENTIALS = (API_KEY, PIN, ANGEL_SECRET, JWT, REFRESH)


# A server that answers the n-th request with what a test says.

def http_reply(body: object, status: int = 200, extra: bytes = b"") -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (f"HTTP/1.1 {status} X\r\nDate: {email.utils.formatdate(usegmt=True)}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n").encode() \
        + extra + b"\r\n" + data


LOGIN_OK = http_reply({"status": True, "message": "SUCCESS", "errorcode": "", "data": {
    "jwtToken": JWT, "refreshToken": REFRESH, "feedToken": "feed-token-0123"}})
PROFILE_OK = http_reply({"status": True, "message": "SUCCESS", "errorcode": "",
                         "data": {"clientcode": CLIENT_CODE, "name": "Test User"}})
DONE = http_reply({"status": True, "message": "SUCCESS", "errorcode": "", "data": ""})


def refusal(message: str, errorcode: str = "AB1007", status: int = 200) -> bytes:
    return http_reply({"status": False, "message": message, "errorcode": errorcode,
                       "data": None}, status)


class Scripted:
    """Answers request i with ``steps[i]``: bytes to send, a float to wait, "close" or "hang".

    Requests past the end get DONE. After a request that says ``Connection: close``
    it closes, unless ``honours_close`` is off. Bounded: everything stops with the test.
    """

    def __init__(self, *steps: object, honours_close: bool = True) -> None:
        self.steps = [step if isinstance(step, list) else [step] for step in steps]
        self.honours_close = honours_close  # as RFC 9112 9.6 says a server must
        self.requests: list[bytes] = []
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> Scripted:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()

    def lines(self) -> list[str]:
        return [request.split(b" ")[0].decode() + " " + request.split(b" ")[1].decode()
                .rsplit("/", 1)[-1] for request in self.requests]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(0.05)
        buffer = b""
        try:
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    if self._stop.is_set():
                        return
                    try:
                        data = sock.recv(65536)
                    except TimeoutError:
                        continue
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buffer) < length and not self._stop.is_set():
                    try:
                        buffer += sock.recv(65536)
                    except TimeoutError:
                        continue
                buffer = buffer[length:]
                index = len(self.requests)
                self.requests.append(head)
                for step in self.steps[index] if index < len(self.steps) else [DONE]:
                    if step == "close":
                        return
                    if step == "hang":
                        self._stop.wait(30)
                        return
                    if isinstance(step, float):
                        self._stop.wait(step)
                    else:
                        sock.sendall(step)
                if self.honours_close and b"\r\nconnection: close" in head.lower():
                    return
        except OSError:
            pass
        finally:
            sock.close()


def settings(url: str, **extra: str) -> dict[str, str]:
    return {"ANGEL_API_KEY": API_KEY, "ANGEL_CLIENT_CODE": CLIENT_CODE, "ANGEL_PIN": PIN,
            "TOTP_SECRET": ANGEL_SECRET, "ANGEL_BASE_URL": url, **extra}


def caught(call, *args, **kwargs) -> BaseException:
    """The error ``call`` raises, its traceback from the library's first frame on (the
    test's own frames hold the credentials it passed); the test fails if none is raised."""
    try:
        call(*args, **kwargs)
    except BaseException as error:  # KeyboardInterrupt too: that is the point
        tb = error.__traceback__
        while tb is not None and "angel_totp" not in tb.tb_frame.f_code.co_filename:
            tb = tb.tb_next
        return error.with_traceback(tb)
    pytest.fail("no error was raised")


def assert_safe(error: BaseException, *also: str) -> None:
    """What a tracker or a log would record of ``error`` holds no credential, no control.

    ``also`` (a proxy's password) is never in the error's text; as the caller's own
    setting it may stay in the proxy settings the caller passed (environ).
    """
    assert_no_plain_credentials(error, *CREDENTIALS)
    text = " ".join(str(part) for part in (
        error, getattr(error, "message", ""), getattr(error, "cause", ""),
        getattr(error, "hint", "")))
    assert_no_leak(text, *CREDENTIALS, *also)
    assert_clean_output(text)


def login_from(url: str, **extra: str) -> None:
    angel_totp.login_from_env(None, environ=settings(url, **extra), min_validity=0,
                              timeout=0.5)


# (c) An error tracker records every frame's locals.

@pytest.mark.time_bound(5)
def test_login_from_env_frames_do_not_hold_the_environ_it_was_given():
    """Broke: login_from_env(environ={...}) kept the mapping, credentials and all, as a
    local of login_from_env, login and log_in: Sentry showed environ={'ANGEL_PIN': ...}."""
    with Scripted(refusal("Invalid totp", "AB1050")) as server:
        error = caught(login_from, server.url)
    assert isinstance(error, angel_totp.LoginRefusedError)
    assert_safe(error)


@pytest.mark.time_bound(5)
def test_daily_session_frames_do_not_hold_the_environ_it_was_given(tmp_path):
    with Scripted(refusal("Invalid totp", "AB1050")) as server:
        error = caught(angel_totp.daily_session, None, environ=settings(server.url),
                       store=str(tmp_path / "session.json"), min_validity=0, timeout=0.5)
    assert isinstance(error, angel_totp.LoginRefusedError)
    assert_safe(error)


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("failure", ["refused", "hang", "garbage", "proxy"])
def test_no_answer_errors_hold_no_credential(failure):
    extra: dict[str, str] = {}
    if failure == "refused":
        with Scripted() as server:
            url = server.url  # closed once the block ends: nothing listens there
    elif failure == "proxy":
        url, extra = "https://angel.test", {"HTTPS_PROXY": f"http://u:{PROXY_PASSWORD}@[::1"}
    if failure in ("hang", "garbage"):
        with Scripted(["hang"] if failure == "hang" else [b"\x1b]0;x\x07 garbage\r\n\r\n",
                                                          "close"]) as server:
            error = caught(login_from, server.url)
    else:
        error = caught(login_from, url, **extra)
    assert isinstance(error, angel_totp.NoAnswerError)
    assert_safe(error, PROXY_PASSWORD)


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("path,sent", [
    (b"getProfile", ["POST loginByPassword", "GET getProfile", "POST logout"]),
    (b"loginByPassword", ["POST loginByPassword"]),  # no token yet: nothing to log out
    # Ctrl-C during the logout itself ends the one try.
    (b"logout", ["POST loginByPassword", "GET getProfile", "POST logout"]),
])
def test_ctrl_c_while_a_reply_is_read_leaks_nothing_and_logs_out(monkeypatch, path, sent):
    """Ctrl-C in the middle of a reply: the KeyboardInterrupt's traceback holds no
    credential, and a session the login opened is logged out (one short try)."""
    from angel_totp import connection
    original = connection._Link.recv_into
    reads = {"profile": False}

    def interrupted(self, buffer, wait=True):
        if reads["profile"] and wait:
            reads["profile"] = False
            raise KeyboardInterrupt
        return original(self, buffer, wait)

    original_send = connection._Link.send_all

    def send_all(self, payload):
        reads["profile"] = path in payload.data and not reads.get("done")
        reads["done"] = reads["done"] or reads["profile"]
        return original_send(self, payload)

    reads["done"] = False
    monkeypatch.setattr(connection._Link, "recv_into", interrupted)
    monkeypatch.setattr(connection._Link, "send_all", send_all)

    def log_in_and_out() -> None:
        with angel_totp.login_from_env(None, environ=settings(server.url), min_validity=0,
                                       timeout=0.5):
            pass

    with Scripted(LOGIN_OK, PROFILE_OK, DONE, DONE) as server:
        error = caught(log_in_and_out)
        assert isinstance(error, KeyboardInterrupt)
        assert_safe(error)
        waited = time.monotonic() + 3  # the server may not have read the last one yet
        while len(server.requests) < len(sent) and time.monotonic() < waited:
            time.sleep(0.01)
        # The logout goes on a new connection: the server may read it before the
        # profile request, which came on the first one.
        assert sorted(server.lines()) == sorted(sent)


# (a) A hostile server.

def _echoes() -> dict[str, str]:
    key = API_KEY
    return {
        "hex": key.encode().hex(),
        "hex upper": key.encode().hex().upper(),
        "html decimal": "".join(f"&#{ord(c)};" for c in key),
        "html hex": "".join(f"&#x{ord(c):x};" for c in key),
        "pin hex": f"pin {PIN.encode().hex()} refused",
        "secret hex": ANGEL_SECRET.encode().hex(),
    }


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("form", sorted(_echoes()))
def test_an_echo_in_hex_or_html_entities_is_masked(form):
    """Broke: URL, JSON, base64 and full-width echoes were masked, hex and HTML
    character references were shown as they came."""
    echo = _echoes()[form]
    with Scripted(refusal(f"denied {echo} here")) as server:
        error = caught(login_from, server.url)
    assert echo.lower() not in str(error).lower() and echo.lower() not in error.message.lower()
    assert_safe(error)


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("name,steps,errorcode", [
    ("endless slow 1xx", [[b"HTTP/1.1 103 Early Hints\r\n\r\n"]
                          + [0.05, b"HTTP/1.1 102 Processing\r\n\r\n"] * 200], "TIMEOUT"),
    ("endless fast 1xx", [[b"HTTP/1.1 102 Processing\r\nX-A: b\r\n\r\n" * 20000]],
     "BAD_REPLY"),
    ("101", [[b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + LOGIN_OK]], "BAD_REPLY"),
    ("chunk size not hex", [[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"ZZ\r\n{}\r\n0\r\n\r\n"]], "NETWORK"),
    ("chunk size negative", [[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"-5\r\n{}\r\n0\r\n\r\n"]], "BAD_REPLY"),
    ("chunk size huge", [[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"FFFFFFFFFFFFFFFF\r\n{}\r\n", "hang"]], "TIMEOUT"),
    ("body shorter than Content-Length", [[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                                           b"{}", "hang"]], "TIMEOUT"),
    ("body cut by close", [[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", "close"]],
     "NETWORK"),
    ("gzip body", [http_reply(gzip.compress(json.dumps({"status": False, "errorcode": "X",
                                                        "message": API_KEY}).encode()),
                              extra=b"Content-Encoding: gzip\r\n")], "NOT_JSON"),
    ("1,000,000-character message", [refusal("x" * 1_000_000)], "AB1007"),
    ("1,000,000-character errorcode", [refusal("m", "E" * 1_000_000)], None),
])
def test_a_hostile_reply_ends_within_the_timeout_and_shows_nothing(name, steps, errorcode):
    with Scripted(*steps) as server:
        watch = Stopwatch()
        error = caught(login_from, server.url)
        elapsed = watch.seconds
    assert isinstance(error, AngelTotpError), repr(error)
    assert elapsed < 0.5 + 1
    if errorcode is not None:
        assert error.errorcode == errorcode
    assert len(str(error)) < 1000
    assert_safe(error)


@pytest.mark.time_bound(5)
def test_a_million_character_token_echoed_by_the_profile_stays_linear():
    token = "A" * 900_000
    login = http_reply({"status": True, "message": "", "errorcode": "",
                        "data": {"jwtToken": token}})
    with Scripted(login, refusal("bad " + token[:100_000], "XX1")) as server:
        watch = Stopwatch()
        error = caught(login_from, server.url)
        elapsed = watch.seconds
        assert server.lines()[-1] == "POST logout"
    assert elapsed < 0.5 + 1
    assert token[:40] not in str(error)
    assert_safe(error, token[:40])


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("date", ["garbage", "Mon, 01 Jan 1900 00:00:00 GMT",
                                  "Fri, 31 Dec 9999 23:59:59 GMT", "99999999999999999999",
                                  "Mon, 32 Foo 2024 99:99:99 +9999"])
def test_a_garbage_or_far_date_is_no_usable_clock(date):
    reply = refusal("Invalid totp", "AB1050").replace(b"Date: ", b"Date: " + date.encode()
                                                      + b"\r\nX-Was: ", 1)
    with Scripted(reply, reply) as server:
        error = caught(login_from, server.url)
        assert error.clock is None
        measured = caught(angel_totp.measure_server_clock, server.url, 0.5)
    assert isinstance(measured, angel_totp.NoAnswerError) and measured.errorcode == "NO_DATE"
    assert_safe(error)


@pytest.mark.time_bound(5)
def test_http10_and_connection_close_replies_work():
    close = b"Connection: close\r\n"
    with Scripted([LOGIN_OK.replace(b"HTTP/1.1", b"HTTP/1.0"), "close"],
                  [http_reply(json.loads(PROFILE_OK.split(b"\r\n\r\n")[1]), extra=close),
                   "close"], [DONE, "close"]) as server:
        session = angel_totp.login_from_env(None, environ=settings(server.url),
                                            min_validity=0, timeout=0.5)
        assert session.name == "Test User"
        assert session.logout()
        assert server.connections == 3


@pytest.mark.time_bound(5)
def test_a_session_whose_profile_hangs_is_logged_out(tmp_path):
    with Scripted(LOGIN_OK, "hang", DONE) as server:
        error = caught(angel_totp.daily_session, None, environ=settings(server.url),
                       store=str(tmp_path / "s.json"), min_validity=0, timeout=0.3)
        assert error.errorcode == "TIMEOUT"
        assert server.lines() == ["POST loginByPassword", "GET getProfile", "POST logout"]
    assert not (tmp_path / "s.json").exists()
    assert_safe(error)


# (b) A broken proxy.

@pytest.mark.time_bound(5)
def test_a_proxy_that_echoes_its_password_has_it_masked():
    """Broke: through HTTP_PROXY to an http:// base URL, a proxy's JSON error echoing
    the password it was given (or its Basic credentials) was shown as it came."""
    basic = base64.b64encode(f"user:{PROXY_PASSWORD}".encode()).decode()
    with Scripted(refusal(f"proxy saw {PROXY_PASSWORD} / {basic}", "PX1", 502),
                  refusal(f"proxy saw {PROXY_PASSWORD} / {basic}", "PX1")) as proxy:
        proxied = f"http://user:{PROXY_PASSWORD}@{proxy.url.removeprefix('http://')}"
        for _ in range(2):
            error = caught(login_from, "http://angel.test", HTTP_PROXY=proxied)
            assert PROXY_PASSWORD not in str(error) and basic not in str(error)
            assert_safe(error, PROXY_PASSWORD, basic)


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_a_tunnel_that_carries_no_tls_is_the_proxys_fault(variable):
    """Broke: a proxy that answered CONNECT with 200 and then sent anything but TLS (its
    own error page) was blamed on TLS, with a certificate hint."""
    with Scripted([b"HTTP/1.1 200 Connection established\r\n\r\n<html>blocked</html>\r\n",
                   0.5, "close"]) as proxy:
        proxied = f"http://user:{PROXY_PASSWORD}@{proxy.url.removeprefix('http://')}"
        error = caught(login_from, "https://angel.test", **{variable: proxied})
    assert error.errorcode == "PROXY_ERROR", error
    assert error.proxy_variable == variable and variable in error.hint
    assert_safe(error, PROXY_PASSWORD)


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("proxy", ["http://user:{pw}@127.0.0.1:{port}/", "127.0.0.1:{port}"])
@pytest.mark.parametrize("answer,errorcode", [
    ([b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"],
     "PROXY_AUTH"),
    (["close"], "PROXY_ERROR"),
    ([b"HTTP/1.1 200 OK\r\n\r\n", "close"], "PROXY_ERROR"),
    ([b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"], "PROXY_ERROR"),
    # Read a byte at a time (what follows is the server's TLS): on a busy machine the
    # 64 KiB cap may take longer than the timeout. Either way it ends.
    ([b"HTTP/1.1 100 Continue\r\n\r\n" * 20000], ("PROXY_ERROR", "TIMEOUT")),
    ([b"HTTP/1.1 103 Early Hints\r\n\r\n"] + [0.05, b"HTTP/1.1 102 P\r\n\r\n"] * 100,
     "TIMEOUT"),
])
def test_a_broken_proxy_is_named_and_its_password_never_shown(proxy, answer, errorcode):
    with Scripted(answer) as server:
        setting = proxy.format(pw=PROXY_PASSWORD, port=server.url.rsplit(":", 1)[1])
        error = caught(login_from, "https://angel.test", HTTPS_PROXY=setting)
    allowed = errorcode if isinstance(errorcode, tuple) else (errorcode,)
    assert error.errorcode in allowed and error.proxy_variable == "HTTPS_PROXY"
    assert_safe(error, PROXY_PASSWORD)


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("setting", ["https://u:{pw}@127.0.0.1:3128", "socks5://u:{pw}@h:1080",
                                     "http://u:{pw}@pro xy:80", "http://u:{pw}@proxy:99999",
                                     "http://u:{pw}@", "http://u:{pw}@[::1:80"])
def test_an_unusable_proxy_setting_is_refused_before_anything_is_sent(setting):
    error = caught(login_from, "https://angel.test",
                   HTTPS_PROXY=setting.format(pw=PROXY_PASSWORD))
    assert error.errorcode == "PROXY_UNREACHABLE" and "HTTPS_PROXY" in str(error)
    assert_safe(error, PROXY_PASSWORD)
    error = caught(angel_totp.measure_server_clock, "https://angel.test", 0.5,
                   environ={"HTTPS_PROXY": setting.format(pw=PROXY_PASSWORD)})
    assert_safe(error, PROXY_PASSWORD)


# (d) Wrong argument types.

class _BadPath:
    def __fspath__(self):
        return 3


_WEIRD = [None, 3, -1, 3.5, True, float("nan"), float("inf"), 10 ** 400, b"x", [], {}, (),
          object(), "", "\x00", "a\udc80", _BadPath(), {"HTTPS_PROXY": None}, {1: "a"},
          lambda *a: None, 3j, {"api_key": 3}, {"pin": b"x"}, {"base_url": None}]


def _calls(tmp):
    url = "http://127.0.0.1:9"
    base = dict(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN, secret=ANGEL_SECRET,
                base_url=url, timeout=0.2, min_validity=0)
    from_env = dict(env_file=None, base_url=url, timeout=0.2, min_validity=0,
                    environ=settings(url))
    yield angel_totp.login, base, list(base) + ["totp", "server_time", "environ", "on_wait",
                                               "on_clock", "sleep", "names"]
    for missing in ("api_key", "pin", "base_url"):  # the names are used in the error
        yield angel_totp.login, {**base, missing: None if missing != "base_url" else "x"}, \
            ["names"]
    yield angel_totp.login_from_env, from_env, list(from_env) + ["server_time", "on_wait",
                                                                 "on_clock", "sleep"]
    store = dict(from_env, store=str(tmp / "s.json"))
    yield angel_totp.daily_session, store, list(store) + ["verify", "server_time"]
    yield angel_totp.measure_server_clock, dict(base_url=url, timeout=0.2), \
        ["base_url", "timeout", "environ"]


@pytest.mark.time_bound(30)
def test_a_wrong_argument_type_is_an_angel_totp_error(tmp_path):
    wrong = []
    for function, given, parameters in _calls(tmp_path):
        for parameter in parameters:
            for value in _WEIRD:
                error = caught(function, **{**given, parameter: value})
                if isinstance(error, AngelTotpError):
                    # An input error may come before the settings are read and checked:
                    # only its text is looked at.
                    assert_no_leak(str(error), *CREDENTIALS)
                    assert_clean_output(str(error))
                else:
                    wrong.append(f"{function.__name__}({parameter}={type(value).__name__}): "
                                 f"{type(error).__name__}")
    assert wrong == []


def test_a_wrong_logout_timeout_is_an_invalid_input_error():
    with Scripted(LOGIN_OK, PROFILE_OK, DONE) as server:
        session = angel_totp.login_from_env(None, environ=settings(server.url),
                                            min_validity=0, timeout=0.5)
        for value in ("3", -1, float("nan"), True, [], object()):
            with pytest.raises(InvalidInputError):
                session.logout(value)
        assert session.logout()



@pytest.mark.time_bound(5)
def test_a_fresh_session_whose_profile_says_ended_is_logged_out_and_not_stored(tmp_path):
    ended = http_reply({"success": False, "message": "Invalid Token " + JWT,
                        "errorCode": "AG8001", "data": ""}, 401)
    with Scripted(LOGIN_OK, ended, DONE) as server:
        error = caught(angel_totp.daily_session, None, environ=settings(server.url),
                       store=str(tmp_path / "s.json"), min_validity=0, timeout=0.5)
        assert server.lines() == ["POST loginByPassword", "GET getProfile", "POST logout"]
    assert isinstance(error, angel_totp.LoginRefusedError) and error.errorcode == "AG8001"
    assert not (tmp_path / "s.json").exists()
    assert_safe(error)


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("setting", ["https://u:{pw}@127.0.0.1:3128", "http://u:{pw}@proxy:99999"])
def test_an_unusable_proxy_errors_traceback_holds_neither_password_nor_environment(
        setting, monkeypatch):
    """Broke: the connection kept the error its proxy setting gave, with the frames that
    read it: the proxy URL (password and all) and os.environ (a bot's PIN)."""
    from angel_totp.connection import Connection, TransportError
    monkeypatch.setenv("ANGEL_PIN", PIN)
    monkeypatch.setenv("HTTPS_PROXY", setting.format(pw=PROXY_PASSWORD))
    connection = Connection("https://angel.test", timeout=0.5)
    error = caught(connection.request, "GET", "/", [])
    assert isinstance(error, TransportError) and error.proxy_variable == "HTTPS_PROXY"
    assert_no_plain_credentials(error, PROXY_PASSWORD, PIN)


FORGED_PROFILE = http_reply({"status": True, "message": "SUCCESS", "errorcode": "",
                             "data": {"clientcode": CLIENT_CODE, "name": "FORGED"}})


@pytest.mark.time_bound(5)
def test_a_stray_reply_waiting_before_the_profile_is_sent_is_never_its_answer(monkeypatch):
    """A forged second reply 50 ms after the login's, already in our socket when the
    profile is asked for: the connection is out of step, so a new one is opened."""
    from angel_totp import session as session_module
    read_profile = session_module.Session._read_profile

    def late(self, stage, last):
        time.sleep(0.2)  # the stray has arrived by now
        return read_profile(self, stage, last)

    monkeypatch.setattr(session_module.Session, "_read_profile", late)
    with Scripted([LOGIN_OK, 0.05, FORGED_PROFILE], PROFILE_OK, DONE) as server:
        session = angel_totp.login_from_env(None, environ=settings(server.url),
                                            min_validity=0, timeout=0.5)
        assert session.name == "Test User" and server.connections == 2
        assert session.logout()


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("profile_delay", [0.0, 0.3])
def test_a_stray_reply_in_flight_is_never_taken_as_the_profile(profile_delay):
    """Broke (issue 16 item 11, as filed): a forged second reply 50 ms after the login's
    came once the profile request was written, and became the profile: "FORGED". The
    profile request now ends the connection, and the real answer behind the forged one
    shows the replies were out of step."""
    with Scripted([LOGIN_OK, 0.05, FORGED_PROFILE], [profile_delay, PROFILE_OK], DONE) as server:
        error = caught(angel_totp.login_from_env, None, environ=settings(server.url),
                       min_validity=0, timeout=1)
    assert isinstance(error, angel_totp.NoAnswerError) and error.errorcode == "BAD_REPLY"
    assert "FORGED" not in str(error) and error.stage == "profile"
    assert server.lines()[-1] == "POST logout"  # the session it opened is ended
    assert_safe(error)


@pytest.mark.time_bound(5)
def test_the_login_ends_its_connection_with_the_profile_and_keeps_one_connection():
    with Scripted(LOGIN_OK, PROFILE_OK) as server:
        session = angel_totp.login_from_env(None, environ=settings(server.url), min_validity=0,
                                            timeout=1)
    assert session.name == "Test User" and server.connections == 1
    assert [b"connection: close" in head.lower() for head in server.requests] == [False, True]


@pytest.mark.time_bound(5)
def test_a_server_that_ignores_connection_close_costs_at_most_a_second():
    with Scripted(LOGIN_OK, PROFILE_OK, honours_close=False) as server:
        session = angel_totp.login_from_env(None, environ=settings(server.url), min_validity=0,
                                            timeout=3)
    assert session.name == "Test User"  # within the time bound: the wait for a close is short


OTHERS_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJ1IjoiQjk5In0.abcDEF_ghi-jklMNOpqr"


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("form", [
    OTHERS_JWT.replace(".", "%2E"), OTHERS_JWT.replace(".", "\\u002e"),
    OTHERS_JWT.replace(".", ".\n", 1), OTHERS_JWT[:30] + " " + OTHERS_JWT[30:],
    OTHERS_JWT.replace(".", "\uff0e"), OTHERS_JWT.replace(".", "&#46;"),
    "".join(chr(ord(c) + 0xFEE0) for c in OTHERS_JWT)])
def test_someone_elses_token_escaped_or_split_is_masked(form):
    """Broke: a JWT-shaped token was masked only as it stood; with its dots escaped,
    split over two lines or in full-width letters it was shown whole."""
    with Scripted(refusal(f"session {form} expired", "AB1010")) as server:
        error = caught(login_from, server.url)
    assert "session ******** expired" in error.message
    assert_safe(error, "eyJ1IjoiQjk5In0", "jklMNOpqr")


def test_text_that_merely_starts_like_a_token_is_left_alone():
    from angel_totp.redact import clean
    assert clean("see eyJ docs. then retry.") == "see eyJ docs. then retry."
    assert clean("xeyJa.b.c") == "xeyJa.b.c"


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("text", ["eyJ" * 20000, "eyJ " * 15000, "eyJ a.b. " * 6000,
                                  "eyJ%2E" * 10000, ("eyJ a.b. " + "c " * 50) * 500])
def test_looking_for_tokens_stays_linear(text):
    from angel_totp.redact import scrub
    watch = Stopwatch()
    scrub(text, [API_KEY])
    assert watch.seconds < 1.0  # quadratic: several seconds


@pytest.mark.parametrize("variables", [
    {"https_proxy": "", "HTTPS_PROXY": "http://p1:3128"},
    {"https_proxy": "http://p2:3128", "HTTPS_PROXY": "http://p1:3128"},
    {"Https_Proxy": "http://p1:3128"},
    {"HTTPS_PROXY": "http://p1:3128", "NO_PROXY": "angel.test", "no_proxy": ""},
    {"HTTPS_PROXY": "http://p1:3128", "no_proxy": "angel.test"},
    {"HTTPS_PROXY": "http://p1:3128", "NO_PROXY": "*"},
    {"http_proxy": "http://p1:3128", "REQUEST_METHOD": "GET", "HTTP_PROXY": "http://p2:1"},
    {"HTTP_PROXY": "http://p2:1", "REQUEST_METHOD": "GET"},
])
@pytest.mark.parametrize("scheme", ["https", "http"])
def test_proxy_variables_are_read_as_the_standard_library_reads_them(variables, scheme,
                                                                      monkeypatch):
    """Broke: an empty https_proxy (how a user turns the proxy off) fell back to
    HTTPS_PROXY, and an empty no_proxy to NO_PROXY, where urllib does neither."""
    import urllib.request

    from angel_totp.connection import Connection
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    proxies = urllib.request.getproxies_environment()
    wanted = proxies.get(scheme)
    if wanted and urllib.request.proxy_bypass_environment("angel.test", proxies):
        wanted = None
    shown = repr(Connection(f"{scheme}://angel.test", timeout=1))
    if wanted is None:
        assert " via " not in shown
    else:
        variable = shown.rsplit(" via ", 1)[1].rstrip(">")
        assert variables[variable] == wanted


@pytest.mark.parametrize("parameter", ["api_key", "pin", "secret", "totp"])
@pytest.mark.parametrize("inside", [3, b"x", None, ["a"], Hidden(3)])
def test_a_hidden_that_holds_no_text_is_an_input_error(parameter, inside):
    """Broke: Hidden(3) or Hidden(b"...") as a credential raised AttributeError/TypeError."""
    given = dict(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN, secret=ANGEL_SECRET,
                 base_url="http://127.0.0.1:9", timeout=0.2, min_validity=0)
    if parameter == "totp":
        given["secret"] = None
    given[parameter] = Hidden(inside)
    # Hidden(None) is a credential not given, as None is.
    with pytest.raises(angel_totp.MissingSettingError if inside is None else InvalidInputError):
        angel_totp.login(**given)


@pytest.mark.time_bound(5)
def test_a_reply_cut_short_of_its_content_length_is_not_taken():
    """Broke: a body shorter than its Content-Length, the connection then closed, was
    taken as the whole reply (http.client's read(n) does not complain): a login reply
    cut after its JSON logged in."""
    head, _, body = LOGIN_OK.partition(b"\r\n\r\n")
    longer = head.replace(f"Content-Length: {len(body)}".encode(),
                          f"Content-Length: {len(body) + 10}".encode())
    with Scripted([longer + b"\r\n\r\n" + body, "close"]) as server:
        error = caught(login_from, server.url)
    assert error.errorcode == "NETWORK" and "cut short" in str(error)
    assert_safe(error)


@pytest.mark.time_bound(5)
def test_a_reply_with_two_lengths_is_malformed():
    login = LOGIN_OK.replace(b"Content-Length:", b"Content-Length: 2\r\nContent-Length:", 1)
    with Scripted(login) as server:
        error = caught(login_from, server.url)
    assert error.errorcode == "BAD_REPLY" and "two different lengths" in str(error)


@pytest.mark.time_bound(5)
def test_a_reply_with_a_length_and_chunks_ends_the_connection():
    """RFC 9112 6.3: a reply framed both ways may be read differently by whoever sent it;
    the next request goes on a new connection."""
    body = LOGIN_OK.partition(b"\r\n\r\n")[2]
    login = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(body):x}".encode() + b"\r\n"
             + body + b"\r\n0\r\n\r\n")
    with Scripted(login, PROFILE_OK, DONE) as server:
        session = angel_totp.login_from_env(None, environ=settings(server.url),
                                            min_validity=0, timeout=0.5)
        assert session.name == "Test User" and server.connections == 2
        assert session.logout()


@pytest.mark.time_bound(10)
def test_a_profile_of_a_megabyte_of_tiny_items_is_read_within_the_timeout():
    """Broke: 200,000 one-letter exchanges (a 1 MiB reply) were each cleaned and masked:
    3 s with a 0.5 s timeout. Only the first few of a list are kept."""
    profile = http_reply({"status": True, "message": "", "errorcode": "", "data": {
        "clientcode": CLIENT_CODE, "name": "N", "exchanges": ["a"] * 209_000,
        "products": ["%41"] * 10}})
    with Scripted(LOGIN_OK, profile) as server:
        watch = Stopwatch()
        session = angel_totp.login_from_env(None, environ=settings(server.url),
                                            min_validity=0, timeout=0.5)
        elapsed = watch.seconds
        session.logout()
    assert elapsed < 0.5 + 1
    assert 0 < len(session.exchanges) <= 100 and session.products == ("%41",) * 10


@pytest.mark.time_bound(10)
@pytest.mark.parametrize("unit", ["%41", "\\u0041", "&#65;"])
def test_a_megabyte_long_escaped_token_is_masked_within_the_timeout(unit):
    token = unit * ((1 << 20) // len(unit) - 200)
    login = http_reply({"status": True, "message": "", "errorcode": "",
                        "data": {"jwtToken": JWT, "refreshToken": token}})
    with Scripted(login, refusal("bad " + token[:3000], "XX1")) as server:
        watch = Stopwatch()
        error = caught(login_from, server.url)
        elapsed = watch.seconds
    assert elapsed < 0.5 + 1
    assert token[:300] not in str(error)
    assert_safe(error)

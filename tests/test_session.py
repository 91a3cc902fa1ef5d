"""The login API for bots (issue 11): angel_totp.login, login_from_env and Session.

Against the stand-in, in-process. A bot gets the same diagnosis as the
login check (the check is a thin command over this API: tested by comparing
the two on every refusal and failure), nothing printed, no file written,
tokens never in a repr, one login request per call and never a retry.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest
from conftest import ANGEL_SECRET, API_KEY, CLIENT_CODE, PIN
from hostile_server import HostileServer
from login_helpers import run_in_process, settings_for, without_numbers
from smartapi_standin import LOGIN, LOGOUT, PROFILE, StandIn, gateway, usual

import angel_totp
from angel_totp import session as session_module
from angel_totp.cli.network import TERMS
from angel_totp.connection import Connection
from angel_totp.diagnosis import PROGRAM_TERMS
from angel_totp.session import reworded


def log_in(server, **options) -> angel_totp.Session:
    """angel_totp.login with the stand-in's good credentials, and no wait for the next code."""
    values = {"api_key": API_KEY, "client_code": CLIENT_CODE, "pin": PIN,
              "secret": ANGEL_SECRET, "base_url": server.url, "min_validity": 0,
              "timeout": 2, **options}
    return angel_totp.login(values.pop("api_key"), values.pop("client_code"), values.pop("pin"),
                            values.pop("secret"), **values)


@pytest.fixture
def quiet(capfd, workdir):
    """Asserts, after the test, that nothing was printed and no file was written."""
    before = set(os.listdir(workdir))
    yield
    assert capfd.readouterr() == ("", ""), "the library printed something"
    written = set(os.listdir(workdir)) - before - {".env"}  # a test may write its own .env
    assert written == set(), "the library wrote a file (logs/?)"


# A good login.

def test_a_good_login_gives_a_session_with_its_tokens_and_profile(standin, quiet):
    session = log_in(standin)
    assert session.client_code == CLIENT_CODE and session.name == "Test User"
    assert session.exchanges == ("nse_cm", "bse_cm", "nse_fo")
    assert session.jwt_token == standin.issued[0] and session.jwt_token in standin.sessions
    assert session.refresh_token and session.feed_token
    assert isinstance(session.clock_offset, float) and abs(session.clock_offset) < 2
    assert session.clock is not None and session.clock.uncertainty < 1
    assert len(standin.calls(LOGIN)) == 1 and len(standin.calls(PROFILE)) == 1
    assert standin.calls(LOGOUT) == [] and not session.logged_out
    assert session.logout() is True and session.logged_out
    assert session.logout() is True  # twice is harmless: nothing more is sent
    assert len(standin.calls(LOGOUT)) == 1 and standin.sessions == set()
    # The profile request ends the login's connection (its replies are checked to be
    # in step); a bot's logout, hours later as a rule, opens its own.
    assert standin.connections == 2 and standin.violations == []


def test_reprs_never_show_a_token(standin, quiet):
    with log_in(standin) as session:
        shown = " ".join([repr(session), str(session), repr(session.jwt_token),
                          repr(session.refresh_token), repr(session.feed_token),
                          repr(vars(session).get("_credentials"))])
        for token in (session.jwt_token, session.refresh_token, session.feed_token):
            assert token[-12:] not in shown
        for secret in (API_KEY, PIN, ANGEL_SECRET):
            assert secret not in shown
        assert "hidden" in repr(session.jwt_token)
        assert session.jwt_token.startswith("eyJ")  # still the token itself, for the SDK


def test_the_with_block_logs_out(standin, quiet):
    with log_in(standin) as session:
        assert standin.sessions == {session.jwt_token}
    assert session.logged_out and standin.sessions == set()


def test_the_with_block_logs_out_when_the_bots_code_raises(standin, quiet):
    with pytest.raises(ZeroDivisionError), log_in(standin) as session:
        raise ZeroDivisionError("the bot's own bug")
    assert session.logged_out and standin.sessions == set()


def test_ctrl_c_in_the_with_block_still_logs_out(standin, quiet):
    with pytest.raises(KeyboardInterrupt), log_in(standin) as session:
        raise KeyboardInterrupt
    assert session.logged_out and standin.sessions == set()


def test_a_failed_logout_never_raises_and_can_be_tried_again(standin, quiet):
    session = log_in(standin)
    standin.fail_with("logout", gateway("AG8002", "Token Expired"), 401)
    assert session.logout() is False
    assert isinstance(session.logout_error, angel_totp.LoginRefusedError)
    assert session.logout_error.errorcode == "AG8002"
    del standin.force["logout"]
    assert session.logout() is True and standin.sessions == set()


def test_a_failed_profile_logs_out_before_raising(standin, quiet):
    standin.fail_with("profile", usual("AB2001", "Internal Error"))
    with pytest.raises(angel_totp.LoginRefusedError) as refused:
        log_in(standin)
    assert refused.value.stage == "profile"
    assert refused.value.cause.startswith("login worked, but reading the profile failed: ")
    assert len(standin.calls(LOGOUT)) == 1 and standin.sessions == set()


def test_login_from_env_reads_the_environment_then_the_file(standin, monkeypatch, workdir, quiet):
    (workdir / ".env").write_text(f"ANGEL_API_KEY={API_KEY}\nANGEL_CLIENT_CODE={CLIENT_CODE}\n"
                                  f"ANGEL_PIN=000000\nTOTP_SECRET={ANGEL_SECRET}\n"
                                  f"ANGEL_BASE_URL={standin.url}\n")
    monkeypatch.setenv("ANGEL_PIN", PIN)  # the environment wins
    with angel_totp.login_from_env(min_validity=0) as session:
        assert session.client_code == CLIENT_CODE
    assert session.logged_out


# Refusals: LoginRefusedError, with the login check's code, message, cause and hint.

def _refusal_setups():
    wrong_secret = "JBSWY3DPEHPK3PXPJBSWY3DPXX"
    return [
        ("AB1050", {"secret": wrong_secret}, None),
        ("AB7001", {"pin": "Trading@2024"}, None),
        ("AB1007", {"pin": "111111"}, None),
        ("AB1032", {"client_code": "B999999"}, None),
        ("AG8001", {"api_key": "wrongkey1"}, None),
        ("AB1006", {}, "blocked"),
        ("AG7002", {}, gateway("AG7002", "Access denied: Unregistered IP address. Register "
                                         "your IP before retrying.")),
        ("AB1004", {}, usual("AB1004", "Something Went Wrong, Please Try After Sometime")),
        ("AB9999", {}, usual("AB9999", "Something new")),
    ]


SETTING_OF = {"secret": "TOTP_SECRET", "pin": "ANGEL_PIN", "client_code": "ANGEL_CLIENT_CODE",
              "api_key": "ANGEL_API_KEY"}


@pytest.mark.parametrize("code,change,reply", _refusal_setups(),
                         ids=[setup[0] for setup in _refusal_setups()])
def test_every_refusal_is_a_login_refused_error_as_the_check_says_it(
        standin, monkeypatch, capsys, code, change, reply):
    standin.enforce_rate_limit = False  # the API, then the check, at once
    if reply == "blocked":
        standin.blocked = True
    elif reply is not None:
        standin.fail_with("login", reply, 403 if code == "AG7002" else 200)
    with pytest.raises(angel_totp.LoginRefusedError) as raised:
        log_in(standin, **change)
    error = raised.value
    assert isinstance(error, angel_totp.AngelTotpError)
    assert error.errorcode == code and error.message and error.cause and error.hint
    assert len(standin.calls(LOGIN)) == 1  # never a retry
    assert capsys.readouterr() == ("", "")
    settings = settings_for(standin, **{SETTING_OF[key]: value for key, value in change.items()})
    result = run_in_process(monkeypatch, capsys, "--json", "--timeout", "2", settings=settings)
    assert result.returncode == 1
    _assert_same(result.json(), error)


def _assert_same(printed: dict, error: angel_totp.LoginError) -> None:
    """What the check printed is what the API raised, the hint in the check's words."""
    assert printed["errorcode"] == error.errorcode
    assert printed["message"] == error.message
    assert without_numbers(printed["cause"]) == without_numbers(error.cause)
    assert without_numbers(printed["hint"]) == without_numbers(reworded(error, TERMS).hint)
    for words in PROGRAM_TERMS.values():  # the check speaks of its options, not parameters
        assert words not in printed["hint"]


def test_the_static_ip_refusal_says_where_to_register_the_ip(standin, quiet):
    standin.fail_with("login", gateway("AG7002", "Access denied: Unregistered IP address. "
                                                 "Register your IP before retrying."), 403)
    with pytest.raises(angel_totp.LoginRefusedError) as refused:
        log_in(standin)
    hint = refused.value.hint
    assert "My Apps at smartapi.angelbroking.com" in hint
    assert "primary" in hint and "secondary" in hint and "static IP" in hint
    assert "router" in hint and "VPN" in hint and "laptop" in hint
    assert "X-ClientPublicIP header does not matter" in hint


# No usable answer: NoAnswerError, with the login check's code, message, cause and hint.

def _dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _failing_lookup(host, port, *args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


class _HangingLookup:
    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self, *args, **kwargs):
        self.release.wait(20)
        raise socket.gaierror(socket.EAI_AGAIN, "released")


TRANSPORT = [
    ("RATE_LIMITED", "forced", (403, "text/plain",
                                b"Access denied because of exceeding access rate")),
    ("HTML_REPLY", "forced", (200, "text/html", b"<html>Request Rejected</html>")),
    ("NOT_JSON", "forced", (200, "application/json", b"not json")),
    ("SERVER_ERROR", "forced", (502, "text/plain", b"Bad Gateway")),
    ("HTTP_ERROR", "forced", (404, "text/plain", b"Not Found")),
    ("BAD_REPLY", "forced", (200, "application/json", b'{"status": "true"}')),
    ("TIMEOUT", "hang", None),
    ("NETWORK", "close", None),
    ("CONNECTION_REFUSED", "dead", None),
    ("DNS", "dns", None),
    ("DNS", "dns_hangs", None),
    ("TLS", "tls", None),
    ("PROXY_AUTH", "proxy_407", None),
    ("PROXY_UNREACHABLE", "dead_proxy", None),
    ("PROXY_ERROR", "proxy_502", None),
]


@pytest.fixture
def failing(standin, monkeypatch, tmp_path):
    """Sets up one transport failure; gives the base URL to use."""
    servers: list = []
    lookups: list[_HangingLookup] = []

    def arrange(kind: str, reply) -> str:
        if kind == "forced":
            standin.fail_with("login", reply[2], reply[0], reply[1])
        elif kind in ("hang", "close"):
            getattr(standin, kind)("login")
        elif kind == "dead":
            return _dead_url()
        elif kind in ("dns", "dns_hangs"):
            lookup = _failing_lookup if kind == "dns" else _HangingLookup()
            if kind == "dns_hangs":
                lookups.append(lookup)
            monkeypatch.setattr(session_module, "Connection",
                                lambda *a, **k: Connection(*a, resolve=lookup, **k))
            return "https://apiconnect.angelone.in"
        elif kind == "tls":
            server = StandIn(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN,
                             secret=ANGEL_SECRET, tls=True).start()
            servers.append(server)
            return server.url
        elif kind.startswith("proxy_") or kind == "dead_proxy":
            proxy = _dead_url() if kind == "dead_proxy" else \
                servers.append(HostileServer(kind).start()) or servers[-1].proxy_url
            monkeypatch.setenv("HTTPS_PROXY", proxy)
            return "https://api.example.test:9"  # not loopback, which never uses a proxy
        return standin.url

    yield arrange
    for lookup in lookups:
        lookup.release.set()
    for server in servers:
        server.stop()


@pytest.mark.parametrize("code,kind,reply", TRANSPORT, ids=[f"{t[0]}-{t[1]}" for t in TRANSPORT])
def test_every_transport_failure_is_a_no_answer_error_as_the_check_says_it(
        standin, failing, monkeypatch, capsys, code, kind, reply):
    standin.enforce_rate_limit = False
    url = failing(kind, reply)
    with pytest.raises(angel_totp.NoAnswerError) as raised:
        log_in(standin, base_url=url, timeout=0.5, environ=dict(os.environ))
    error = raised.value
    assert isinstance(error, angel_totp.AngelTotpError)
    assert error.errorcode == code and error.cause and error.hint
    assert len(standin.calls(LOGIN)) <= 1  # never a retry
    assert capsys.readouterr() == ("", "")
    if code.startswith("PROXY"):
        assert error.proxy_variable == "HTTPS_PROXY" and "HTTPS_PROXY" in error.hint
    result = run_in_process(monkeypatch, capsys, "--json", "--timeout", "0.5",
                            settings=settings_for(ANGEL_BASE_URL=url), bound=0.5 + 1)
    assert result.returncode == 3
    _assert_same(result.json(), error)


# Bad input: every error is an AngelTotpError, checked before anything is sent.

def test_login_from_env_names_every_missing_setting_at_once(monkeypatch, quiet):
    monkeypatch.setenv("ANGEL_CLIENT_CODE", CLIENT_CODE)
    monkeypatch.setenv("ANGEL_PIN", "   ")  # empty counts as missing
    with pytest.raises(angel_totp.AngelTotpError) as raised:
        angel_totp.login_from_env()
    error = raised.value
    assert isinstance(error, angel_totp.MissingSettingError) and isinstance(error, LookupError)
    assert error.names == ["ANGEL_API_KEY", "ANGEL_PIN", "TOTP_SECRET"]
    assert str(error) == ("missing settings: ANGEL_API_KEY, ANGEL_PIN, TOTP_SECRET "
                          f"(not set in the environment or {os.path.abspath('.env')})")


@pytest.mark.parametrize("setting,value,kind", [
    ("ANGEL_CLIENT_CODE", "me@example.com", angel_totp.InvalidSettingError),
    ("ANGEL_API_KEY", "kQ7p Z2mXw9", angel_totp.InvalidSettingError),
    ("ANGEL_PIN", "90\n8172", angel_totp.InvalidSettingError),
    ("ANGEL_BASE_URL", "https://user:pw@example.com", angel_totp.InvalidSettingError),
    ("TOTP_SECRET", "JBSWY3DPEH0K3PXPJBSWY3DPEH", angel_totp.InvalidSecretError),
    ("TOTP_SECRET", "123456", angel_totp.InvalidSecretError),
])
def test_login_from_env_refuses_a_bad_setting_naming_it_never_showing_it(
        standin, monkeypatch, quiet, setting, value, kind):
    for name, good in settings_for(standin).items():
        monkeypatch.setenv(name, good)
    monkeypatch.setenv(setting, value)
    with pytest.raises(angel_totp.AngelTotpError) as raised:
        angel_totp.login_from_env(None, min_validity=0)
    error = raised.value
    assert isinstance(error, kind) and isinstance(error, ValueError)
    assert error.what == setting and str(error).startswith(setting)
    assert value.strip() not in str(error) + (error.hint or "") or value == "123456"
    assert standin.requests == []


def test_login_from_env_with_an_unreadable_file_raises_env_file_error(standin, workdir, quiet):
    (workdir / ".env").write_bytes(b"ANGEL_PIN=90\xff81\n")
    with pytest.raises(angel_totp.AngelTotpError) as raised:
        angel_totp.login_from_env()
    assert isinstance(raised.value, angel_totp.EnvFileError)
    assert isinstance(raised.value, OSError)


@pytest.mark.parametrize("options,kind,what", [
    ({"api_key": None}, angel_totp.MissingSettingError, "api_key"),
    ({"pin": ""}, angel_totp.MissingSettingError, "pin"),
    ({"secret": None}, angel_totp.MissingSettingError, "secret"),
    ({"api_key": 12345}, angel_totp.InvalidSettingError, "api_key"),
    ({"timeout": 0}, angel_totp.InvalidInputError, "timeout"),
    ({"timeout": float("nan")}, angel_totp.InvalidInputError, "timeout"),
    ({"min_validity": 30}, angel_totp.InvalidInputError, "min_validity"),
    ({"base_url": "http://127.0.0.1:99999"}, angel_totp.InvalidSettingError, "base_url"),
    ({"totp": "12345", "secret": None}, angel_totp.InvalidSettingError, "totp"),
])
def test_bad_arguments_are_angel_totp_errors_raised_before_sending(standin, quiet, options, kind,
                                                                   what):
    with pytest.raises(angel_totp.AngelTotpError) as raised:
        log_in(standin, **options)
    assert isinstance(raised.value, kind)
    names = getattr(raised.value, "names", None) or [raised.value.what]
    assert what in names and "--" not in str(raised.value)
    assert standin.requests == [] and standin.connections == 0


def test_a_ready_code_is_used_when_there_is_no_secret(standin, quiet):
    import pyotp
    with log_in(standin, secret=None, totp=pyotp.TOTP(ANGEL_SECRET).now()) as session:
        assert session.name == "Test User"

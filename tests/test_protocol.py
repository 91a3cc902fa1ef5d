"""The pure parts of the login: requests, replies, settings checks, diagnosis, the clock.

No I/O: each rule is checked on its own, fast. The library never names a
command-line option or script (checked on its source).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from angel_totp import __version__, protocol
from angel_totp.clock import ClockOffset, combine, offset_from_reply
from angel_totp.diagnosis import (
    KNOWN_CODES,
    PROGRAM_TERMS,
    TRANSPORT,
    Diagnosis,
    diagnose_refusal,
    diagnose_transport,
    reword,
    staged,
)
from angel_totp.errors import InvalidSettingError
from angel_totp.protocol import BadReply, read_profile, read_reply, read_tokens

PACKAGE = Path(__file__).resolve().parent.parent / "angel_totp"
JSON = "application/json"


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


# Settings.

@pytest.mark.parametrize("url,expected", [
    ("https://apiconnect.angelone.in", "https://apiconnect.angelone.in"),
    ("https://apiconnect.angelone.in/", "https://apiconnect.angelone.in"),
    (" http://127.0.0.1:8080/prefix/ ", "http://127.0.0.1:8080/prefix"),
    ("http://[::1]:1", "http://[::1]:1"),
    ("HTTPS://Example.COM", "HTTPS://Example.COM"),
])
def test_good_base_urls(url, expected):
    assert protocol.check_base_url(url) == expected


@pytest.mark.parametrize("url,words", [
    ("http://127.0.0.1:99999", "invalid port"),
    ("http://127.0.0.1:0", "invalid port"),
    ("http://a b", "control character or a space"),
    ("https://user:pw@example.com", "user name or password"),
    ("https://user@example.com", "user name or password"),
    ("https://example.com/?q=1", "query or fragment"),
    ("https://example.com#top", "query or fragment"),
    ("ftp://example.com", "http:// or https:// URL with a host"),
    ("example.com", "http:// or https:// URL with a host"),
    ("https://", "http:// or https:// URL with a host"),
    ("https://exa_mple-.com", "invalid host name"),
    ("https://example.com/caf\u00e9", "path that is not plain ASCII"),
])
def test_bad_base_urls_name_the_setting_and_never_show_the_value(url, words):
    with pytest.raises(InvalidSettingError) as raised:
        protocol.check_base_url(url, "ANGEL_BASE_URL")
    error = raised.value
    assert error.what == "ANGEL_BASE_URL" and words in error.message
    assert error.message.startswith("ANGEL_BASE_URL ")
    for part in ("user:pw", "99999", "q=1", "top", "caf"):
        assert part not in error.message + (error.hint or "")


@pytest.mark.parametrize("url,loopback", [
    ("http://localhost:1", True), ("http://127.0.0.1", True), ("http://127.9.9.9", True),
    ("http://[::1]:8080", True), ("http://127.attacker.example", False),
    ("http://localhost.attacker.example", False), ("http://10.0.0.1", False),
    ("http://[::ffff:10.0.0.1]", False), ("http://0.0.0.0", False),
])
def test_only_this_machine_written_as_such_is_loopback(url, loopback):
    assert protocol.is_loopback(url) is loopback
    assert protocol.sends_in_clear(url) is not loopback
    assert not protocol.sends_in_clear(url.replace("http://", "https://"))


@pytest.mark.parametrize("check,value", [
    (lambda v: protocol.check_setting("ANGEL_PIN", v), "90 81"),
    (lambda v: protocol.check_setting("ANGEL_PIN", v), "90\x0081"),
    (lambda v: protocol.check_setting("ANGEL_PIN", v), "90\u200b81"),
    (lambda v: protocol.check_setting("ANGEL_PIN", v), "90\u00a081"),
    (lambda v: protocol.check_header_value("ANGEL_API_KEY", v), "k\u00e9y12345"),
    (lambda v: protocol.check_client_code(v), "me@example.com"),
    (lambda v: protocol.check_client_code(v), "A12345\u0661"),  # an Arabic-Indic digit
    (lambda v: protocol.check_totp(v), "12345"),
    (lambda v: protocol.check_totp(v), "\u0661\u0662\u0663\u0664\u0665\u0666"),
])
def test_setting_checks_refuse_and_never_show_the_value(check, value):
    with pytest.raises(InvalidSettingError) as raised:
        check(value)
    assert value not in str(raised.value) + (raised.value.hint or "")


def test_setting_checks_strip_and_normalise():
    assert protocol.check_setting("ANGEL_PIN", " 908172\n") == "908172"
    assert protocol.check_client_code(" a123456 ") == "A123456"
    assert protocol.check_totp(" 123456 ") == "123456"
    assert protocol.check_header_value("ANGEL_API_KEY", "kQ7p-Z2_m.Xw9") == "kQ7p-Z2_m.Xw9"


# Requests.

def test_headers_are_named_as_angel_ones_sdks_write_them():
    request = protocol.login_request("key", "10.0.0.2", "A123456", "908172", "123456")
    assert [name for name, _ in request.headers] == [
        "Content-Type", "Accept", "User-Agent", "X-UserType", "X-SourceID", "X-ClientLocalIP",
        "X-ClientPublicIP", "X-MACAddress", "X-PrivateKey"]
    assert dict(request.headers)["User-Agent"] == f"angel-totp/{__version__}"
    assert json.loads(request.body_bytes().reveal()) == {
        "clientcode": "A123456", "password": "908172", "totp": "123456"}
    logout = protocol.logout_request("key", "10.0.0.2", "tok", "A123456")
    assert dict(logout.headers)["Authorization"] == "Bearer tok"
    assert logout.path == protocol.LOGOUT_PATH and logout.method == "POST"


def test_the_clock_request_carries_no_credential():
    request = protocol.clock_request()
    assert (request.method, request.path, request.body) == ("GET", "/", None)
    names = {name for name, _ in request.headers}
    assert names == {"Content-Type", "Accept", "User-Agent"}


# Replies.

def test_both_reply_shapes_are_read_as_one():
    usual = read_reply(200, JSON, body(status=False, message="Invalid totp", errorcode="AB1050",
                                       data=None))
    assert (usual.ok, usual.errorcode, usual.message) == (False, "AB1050", "Invalid totp")
    gateway = read_reply(401, JSON, body(success=False, message="Invalid Token",
                                         errorCode="AG8001", data=""))
    assert (gateway.ok, gateway.errorcode) == (False, "AG8001")
    good = read_reply(200, JSON, body(status=True, message="SUCCESS", errorcode="",
                                      data={"jwtToken": "t"}))
    assert good.ok and good.data == {"jwtToken": "t"}


@pytest.mark.parametrize("status,content_type,raw,code", [
    (200, JSON, body(status="true"), "BAD_REPLY"),
    (200, JSON, body(status=1), "BAD_REPLY"),
    (200, JSON, body(success=None), "BAD_REPLY"),
    (200, JSON, body(message="no status"), "BAD_REPLY"),
    (200, JSON, b"[]", "NOT_JSON"),
    (200, JSON, b"", "NOT_JSON"),
    (200, JSON, b"{" * 100_000, "NOT_JSON"),
    (200, "text/html", b"<html></html>", "HTML_REPLY"),
    (200, JSON, b"  <html>", "HTML_REPLY"),
    (403, "text/plain", b"Access denied because of exceeding access rate", "RATE_LIMITED"),
    (429, JSON, body(status=False), "RATE_LIMITED"),
    (500, "text/plain", b"oops", "SERVER_ERROR"),
    (404, "text/plain", b"Not Found", "HTTP_ERROR"),
    (400, JSON, body(status=False, message="bad"), "HTTP_ERROR"),
])
def test_unusable_replies(status, content_type, raw, code):
    with pytest.raises(BadReply) as raised:
        read_reply(status, content_type, raw)
    assert raised.value.errorcode == code


def test_a_server_error_keeps_angel_ones_code_and_words_apart_from_ours():
    with pytest.raises(BadReply) as raised:
        read_reply(502, JSON, body(status=False, errorcode="AB2001", message="Internal Error"))
    assert (raised.value.detail, raised.value.said) == ("HTTP 502", "AB2001 Internal Error")


@pytest.mark.parametrize("data,words", [
    (None, "no token"), ("", "no token"), ({"jwtToken": 5}, "no token"),
    ({"jwtToken": ""}, "no token"), ({"jwtToken": "a\r\nb"}, "sent back in a header"),
    ({"jwtToken": "a b"}, "sent back in a header"),
    ({"jwtToken": "t\u00e9"}, "sent back in a header"),
])
def test_a_login_reply_without_a_usable_session_token(data, words):
    with pytest.raises(BadReply) as raised:
        read_tokens(data)
    assert words in raised.value.detail


def test_other_tokens_are_left_out_when_not_text_and_refused_when_unsendable():
    tokens = read_tokens({"jwtToken": "jwt", "refreshToken": 7, "feedToken": None})
    assert [token.reveal() for token in tokens] == ["jwt", "", ""]
    protocol.check_tokens(tokens)
    with pytest.raises(BadReply):
        protocol.check_tokens(read_tokens({"jwtToken": "jwt", "feedToken": "f\nX: 1"}))


@pytest.mark.parametrize("data", [None, "", 5, [], {"name": 5, "exchanges": "nse_cm",
                                                     "products": {"a": 1}, "clientcode": []}])
def test_a_profile_of_the_wrong_type_is_left_out_never_a_crash(data):
    profile = read_profile(data)
    assert (profile.name, profile.exchanges, profile.products, profile.client_code) == (
        None, (), (), None)


def test_profile_lists_keep_only_text():
    profile = read_profile({"name": " Eve ", "exchanges": ["nse_cm", 5, None, " ", "bse_cm"]})
    assert profile.name == "Eve" and profile.exchanges == ("nse_cm", "bse_cm")


# Diagnosis.

SESSION_CODES = ["AB1010", "AB1011", "AB8050", "AB8051", "AG8002", "AB1021"]
LOGIN_CODES = ["AB1050", "AB7001", "AB1007", "AB1000", "AB1004", "AB1006", "AB1005", "AB1032",
               "AB2000", "AB2001", "AG8001", "AG8003", "AG7002"]


@pytest.mark.parametrize("code", LOGIN_CODES + SESSION_CODES)
def test_every_known_code_has_a_cause_and_a_next_step(code):
    found = diagnose_refusal(code, "their words", None)
    assert code in KNOWN_CODES
    assert found.errorcode == code and f"({code} their words)" in found.cause
    assert found.hint and "--" not in found.hint


def test_the_static_ip_refusal_explains_where_and_why():
    hint = diagnose_refusal("AG7002", "Access denied", None).hint
    for words in ("My Apps at smartapi.angelbroking.com", "primary", "secondary",
                  "router restart", "VPN", "laptop away from home",
                  "X-ClientPublicIP header does not matter"):
        assert words in hint


def test_an_unknown_code_shows_angel_ones_own_words():
    found = diagnose_refusal("ab9999", "Something new", None)
    assert found.cause == "Something new (AB9999)" and found.errorcode == "AB9999"


@pytest.mark.parametrize("clock,server_time,words", [
    (None, False, "could not be measured"),
    (ClockOffset(-121, -120), False, "that alone makes codes fail"),
    (ClockOffset(7, 8), False, "near the end of a code's 30 s"),
    (ClockOffset(-0.5, 0.5), False, "the secret is probably wrong"),
    (ClockOffset(-0.5, 0.5), False, "wait for the next code and try again"),
    (None, False, "wait for the next code and try again"),
    (ClockOffset(-121, -120), True, "wait for the next code and try again"),
    (ClockOffset(-121, -120), True, "the clock is not the cause"),
])
def test_an_invalid_code_always_speaks_of_the_clock(clock, server_time, words):
    hint = diagnose_refusal("AB1050", "Invalid totp", clock, server_time=server_time).hint
    assert words in hint
    if clock is not None:
        assert clock.describe() in hint
    assert ("server_time=True" in hint) is (not server_time
                                            and (clock is None or clock.is_far_off(5)))
    assert "re-enabl" not in hint


@pytest.mark.parametrize("clock,server_time", [(ClockOffset(-0.5, 0.5), False), (None, False),
                                               (ClockOffset(-121, -120), True)])
def test_a_refused_code_names_reuse_before_a_wrong_secret(clock, server_time):
    # Angel One accepts each code once: a second run within 30 s is refused
    # with AB1050 though the secret is right. Re-enabling TOTP is never the advice.
    hint = diagnose_refusal("AB1050", "Invalid totp", clock, server_time=server_time).hint
    reuse = hint.index("accepts each code once")
    assert reuse < hint.index("wait for the next code and try again") < hint.index("TOTP_SECRET")
    assert "if that fails too" in hint
    assert "re-enabl" not in hint.lower()


def test_hints_are_reworded_for_a_command():
    terms = {"server_time": "--server-time", "timeout": "--timeout", "base_url": "--base-url",
             "proxy": "HTTPS_PROXY"}
    hint = diagnose_refusal("AB1050", "", ClockOffset(-121, -120)).hint
    assert reword(hint, terms) == diagnose_refusal("AB1050", "", ClockOffset(-121, -120),
                                                   terms).hint
    for code in TRANSPORT:
        library = diagnose_transport(code).hint
        assert reword(library, terms) == diagnose_transport(code, terms=terms).hint


@pytest.mark.parametrize("code", ["PROXY_AUTH", "PROXY_UNREACHABLE", "PROXY_ERROR"])
def test_proxy_failures_name_the_proxy_variable(code):
    found = diagnose_transport(code, "detail", "HTTP_PROXY")
    assert "HTTP_PROXY" in found.hint and "base URL" not in found.hint
    assert found.cause.endswith("(detail)")


def test_causes_say_which_request_failed():
    found = Diagnosis("AB2001", "", "Angel One had an internal error", "")
    assert staged(found, "login", refused=True) == ("Angel One refused the login: Angel One "
                                                    "had an internal error")
    assert staged(found, "profile").startswith("login worked, but reading the profile failed")
    assert staged(found, "clock").startswith("Angel One's clock could not be read: ")
    no_date = diagnose_transport("NO_DATE")
    assert staged(no_date, "clock") == no_date.cause


# The clock.

def test_one_reply_bounds_the_offset():
    bound = offset_from_reply(1000.2, 1000.4, "Thu, 01 Jan 1970 00:16:40 GMT")  # 1000 s
    assert bound is not None
    assert (round(bound.low, 6), round(bound.high, 6)) == (-0.8, 0.4)
    assert offset_from_reply(1, 2, None) is None
    assert offset_from_reply(1, 2, "yesterday") is None


def test_bounds_narrow_and_a_clock_step_keeps_the_latest():
    assert combine([ClockOffset(-1, 1), ClockOffset(0, 2)]) == ClockOffset(0, 1)
    assert combine([ClockOffset(-1, 0), ClockOffset(5, 6)]) == ClockOffset(5, 6)
    assert combine([]) is None


def test_angel_ones_time_is_this_machines_minus_the_offset(monkeypatch):
    from angel_totp import clock as clock_module

    class Frozen:
        @staticmethod
        def time() -> float:
            return 1000.0

    monkeypatch.setattr(clock_module, "time", Frozen)
    assert ClockOffset(-121, -119).server_now() == 1120.0
    assert ClockOffset(-121, -119).describe() == "120.0 s behind Angel One's (±1.0 s)"


# The library's words are for programs.

_COMMAND_WORDS = re.compile(r"--[a-z]|generate_totp\.py|test_api_connection\.py|"
                            r"angel-login-check|\bangel-totp\b(?![/-])")


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """Every string literal in a module but its docstrings, f-string parts included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


@pytest.mark.parametrize("module", sorted(path.name for path in PACKAGE.glob("*.py")))
def test_no_library_message_names_a_command_line_option_or_script(module):
    """Outside cli/, words suit a program: parameters and settings, never --options.

    (The User-Agent, angel-totp/<version>, is a name on the wire, not a message.)
    """
    found = [f"{module}:{line}: {text!r}" for line, text in _string_literals(PACKAGE / module)
             if _COMMAND_WORDS.search(text)]
    assert found == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Docstring: --fine here."""\nx = f"use --server-time {1}"\n'
                      'y = "run generate_totp.py"\nz = "angel-totp/1.0"\n')
    found = [text for _, text in _string_literals(sample) if _COMMAND_WORDS.search(text)]
    assert sorted(found) == ["run generate_totp.py", "use --server-time "]


def test_program_terms_never_name_an_option():
    assert not any(_COMMAND_WORDS.search(words) for words in PROGRAM_TERMS.values())


# Credentials in requests: hidden until the bytes are built (issue 16, items 1 and 3).

@pytest.mark.parametrize("value", ["90\u00ad81", "90\u200d81", "9081\ufe0f", "90\u034f81",
                                   "90\u318481"[:2] + "\u3164" + "81", "\u206090"])
def test_a_credential_holding_a_format_or_invisible_character_is_refused(value):
    with pytest.raises(InvalidSettingError) as raised:
        protocol.check_setting("ANGEL_PIN", value)
    assert raised.value.what == "ANGEL_PIN" and value not in str(raised.value)
    with pytest.raises(InvalidSettingError):
        protocol.check_header_value("ANGEL_API_KEY", "key" + value)


def test_requests_keep_hidden_credentials_hidden_until_sent():
    from angel_totp.hidden import Hidden
    key, pin, code, token = "kQ7pZ2mXw9", "908172", "654321", "eyJa.b.c"
    login = protocol.login_request(Hidden(key), "10.0.0.2", "A123456", Hidden(pin), Hidden(code))
    profile = protocol.profile_request(Hidden(key), "10.0.0.2", Hidden(token))
    for request in (login, profile):
        assert not isinstance(request, (tuple, list))
        for text in (repr(request), str(request), repr(request.headers), repr(request.body),
                     repr(request.body_bytes())):
            for secret in (key, pin, code, token):
                assert secret not in text
    assert json.loads(login.body_bytes().reveal()) == {
        "clientcode": "A123456", "password": pin, "totp": code}
    assert dict(profile.headers)["Authorization"].reveal() == f"Bearer {token}"


def test_tokens_are_held_hidden():
    tokens = read_tokens({"jwtToken": "eyJsecret.a.b", "refreshToken": "refresh-secret"})
    assert "secret" not in repr(tokens) and "secret" not in repr(tuple(tokens))
    answer = read_reply(200, JSON, body(status=True, data={"jwtToken": "eyJsecret.a.b"}))
    assert "secret" not in repr(answer)

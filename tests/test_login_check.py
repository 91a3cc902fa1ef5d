"""test_api_connection.py against the local stand-in, one path at a time."""

from __future__ import annotations

import json
import socket
import time

import pytest
from conftest import (
    ANGEL_SECRET,
    API_KEY,
    CLIENT_CODE,
    PIN,
    clean_env,
    login_env,
    messages,
)
from login_helpers import check, resolver_hook, run_in_process, settings_for
from smartapi_standin import HTML_REJECTED, LOGIN, LOGOUT, PROFILE, gateway, usual


def fresh_totp(shift: float = 0) -> str:
    import pyotp
    return pyotp.TOTP(ANGEL_SECRET).at(time.time() + shift)


# Success.

def test_good_credentials_log_in_read_profile_and_log_out(standin, tmp_path):
    result = check(server=standin, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Login OK: Test User ({CLIENT_CODE})"
    assert lines[1] == "exchanges: nse_cm, bse_cm, nse_fo"
    assert lines[2].startswith("clock: ") and "Angel One's (±" in lines[2]
    assert lines[3] == "logged out: no session left open"
    assert messages(result) == []
    assert len(standin.calls(LOGIN)) == 1
    assert len(standin.calls(PROFILE)) == 1 and len(standin.calls(LOGOUT)) == 1
    assert standin.sessions == set()
    assert standin.violations == []


def test_requests_carry_the_documented_headers_and_bodies(standin, tmp_path):
    check(server=standin, cwd=tmp_path)
    login, profile, logout = standin.requests
    assert login["method"] == "POST" and profile["method"] == "GET" and logout["method"] == "POST"
    body = json.loads(login["body"])
    assert body["clientcode"] == CLIENT_CODE and body["password"] == PIN
    assert len(body["totp"]) == 6 and body["totp"].isdigit()
    assert login["headers"]["X-PrivateKey"] == API_KEY
    token = standin.issued[0]
    assert profile["headers"]["Authorization"] == f"Bearer {token}"
    assert json.loads(logout["body"]) == {"clientcode": CLIENT_CODE}
    assert standin.violations == []


def test_json_success(standin, monkeypatch, capsys):
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    out = json.loads(result.stdout)
    assert out["ok"] is True and out["client_code"] == CLIENT_CODE and out["name"] == "Test User"
    assert out["exchanges"] == ["nse_cm", "bse_cm", "nse_fo"]
    assert abs(out["clock_offset_s"]) < 2
    assert out["logged_out"] is True
    assert result.stdout.count("\n") == 1


def test_settings_come_from_env_file_and_environment_wins(standin, tmp_path):
    (tmp_path / ".env").write_text(
        f"ANGEL_API_KEY={API_KEY}\nANGEL_CLIENT_CODE={CLIENT_CODE}\nANGEL_PIN=000000\n"
        f"TOTP_SECRET={ANGEL_SECRET}\nANGEL_BASE_URL={standin.url}\n")
    (tmp_path / ".env").chmod(0o600)
    result = check(server=standin, cwd=tmp_path, env=clean_env(ANGEL_PIN=PIN))
    assert result.returncode == 0, result.stderr
    assert json.loads(standin.calls(LOGIN)[0]["body"])["password"] == PIN


def test_base_url_option_wins_over_the_setting(standin):
    env = login_env(standin, ANGEL_BASE_URL="http://127.0.0.1:9")
    result = check("--base-url", standin.url, server=standin, env=env)
    assert result.returncode == 0, result.stderr


def test_ready_code_in_totp_is_used_with_a_warning(standin):
    env = login_env(standin, TOTP_SECRET=None, TOTP=fresh_totp())
    result = check(server=standin, env=env)
    assert result.returncode == 0, result.stderr
    assert "warning: using TOTP, a ready code: it lasts only 30 s" in result.stderr


def test_dry_run_sends_nothing_and_masks_secrets(standin):
    result = check("--dry-run", server=standin)
    assert result.returncode == 0
    assert standin.requests == []
    assert "X-PrivateKey: ********" in result.stdout
    assert '"password": "********", "totp": "********"' in result.stdout
    assert f"POST {standin.url}{LOGIN}" in result.stdout
    assert f"GET {standin.url}{PROFILE}" in result.stdout
    assert "nothing was sent" in result.stdout


# Settings problems (exit 2).

def test_an_email_address_as_client_code_is_refused_before_sending(standin):
    result = check(server=standin, env=login_env(standin, ANGEL_CLIENT_CODE="me@example.com"))
    assert result.returncode == 2
    assert messages(result) == [
        "error: ANGEL_CLIENT_CODE is not letters and digits",
        "hint: it is your Angel One client ID, e.g. A123456, not an e-mail address"]
    assert "example.com" not in result.stderr  # the value is never shown
    assert standin.requests == []


def test_missing_settings_are_named_at_once_without_a_terminal(tmp_path):
    result = check(cwd=tmp_path, env=clean_env(ANGEL_CLIENT_CODE=CLIENT_CODE))
    assert result.returncode == 2
    first = messages(result)[0]
    assert first == ("error: missing settings: ANGEL_API_KEY, ANGEL_PIN, "
                     f"TOTP_SECRET (or TOTP) (not set in the environment or "
                     f"{tmp_path / '.env'})")  # the absolute path: cron runs elsewhere
    assert messages(result)[1].startswith("hint: set them in the env file")


def test_empty_setting_is_reported_with_its_source(standin):
    result = check(server=standin, env=login_env(standin, ANGEL_PIN=""))
    assert result.returncode == 2
    assert "ANGEL_PIN (empty in the environment)" in result.stderr
    assert standin.requests == []


def test_invalid_secret_is_a_usage_error(standin):
    bad = ANGEL_SECRET[:10] + "0" + ANGEL_SECRET[11:]
    result = check(server=standin, env=login_env(standin, TOTP_SECRET=bad))
    assert result.returncode == 2
    assert "error: TOTP_SECRET is not a valid TOTP secret: character 11" in result.stderr
    assert standin.requests == []
    assert bad not in result.stderr


@pytest.mark.parametrize("args,words", [
    (["--timeout", "0"], "--timeout"),
    (["--timeout", "abc"], "--timeout"),
    (["--base-url", "ftp://x"], "--base-url is not an http:// or https:// URL"),
    (["--min-validity", "30"], "--min-validity: the validity must be from 0 to 29 seconds"),
    (["--secret", "x"], "credentials are never arguments"),
])
def test_bad_options_are_usage_errors(standin, monkeypatch, capsys, args, words):
    result = run_in_process(monkeypatch, capsys, *args, settings=settings_for(standin))
    assert result.returncode == 2
    assert "\n".join(messages(result)).startswith("error: ") and words in result.stderr
    assert standin.requests == []


# Angel One says no (exit 1).

REFUSALS = [
    # (what to change, errorcode, words of the cause)
    ({"TOTP_SECRET": "JBSWY3DPEHPK3PXPJBSWY3DPXX"}, "AB1050", "TOTP code was not accepted"),
    ({"ANGEL_PIN": "Trading@2024"}, "AB7001", "trading password was sent instead of the PIN"),
    ({"ANGEL_PIN": "111111"}, "AB1007", "client code or PIN is wrong"),
    ({"ANGEL_CLIENT_CODE": "B999999"}, "AB1032", "does not know this client code"),
    ({"ANGEL_API_KEY": "wrongkey1"}, "AG8001", "API key was refused"),
]


@pytest.mark.parametrize("change,code,cause", REFUSALS)
def test_each_refusal_is_explained(standin, monkeypatch, capsys, change, code, cause):
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin, **change))
    assert result.returncode == 1, result.stderr
    lines = [line for line in messages(result) if not line.startswith("warning: ")]
    assert lines[0].startswith("error: Angel One refused the login: ")
    assert cause in lines[0] and code in lines[0]
    assert lines[1].startswith("hint: ")
    assert len(standin.calls(LOGIN)) == 1  # never a retry
    assert standin.calls(PROFILE) == []
    assert result.stdout == ""


def test_blocked_account(standin, monkeypatch, capsys):
    standin.blocked = True
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 1
    assert "account is blocked for trading (AB1006" in result.stderr
    assert "contact Angel One" in result.stderr


@pytest.mark.parametrize("shape,http_status,code,message,cause", [
    (usual, 200, "AB1005", "User Type Must Be USER", "user type was refused"),
    (usual, 200, "AB2000", "Error not specified", "internal error"),
    (usual, 200, "AB2001", "Internal Error", "internal error"),
    (usual, 200, "AB1000", "Invalid Email Or Password", "client code or PIN is wrong"),
    (gateway, 401, "AG8002", "Token Expired", "session expired"),
    (gateway, 401, "AG8003", "Token missing", "no session token"),
    (gateway, 403, "AG8001", "Invalid Token", "API key was refused"),
    (usual, 400, "AB1050", "Invalid totp", "TOTP code was not accepted"),
    (usual, 200, "AB1004", "Something Went Wrong, Please Try After Sometime",
     "e-mail address was used as the client ID"),
    (gateway, 403, "AG7002", "Access denied: Unregistered IP address. Register your IP "
                             "before retrying.", "not registered for this API key"),
])
def test_forced_refusals_in_both_shapes(standin, monkeypatch, capsys, shape, http_status, code,
                                        message, cause):
    standin.fail_with("login", shape(code, message), http_status)
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 1, result.stderr
    assert f"{cause}" in messages(result)[0]
    assert f"({code} {message})" in messages(result)[0]


def test_unknown_code_shows_angel_ones_own_message_and_code(standin, monkeypatch, capsys):
    standin.fail_with("login", usual("AB9999", "Something new happened"))
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 1
    assert ("error: Angel One refused the login: Angel One refused the login: "
            not in result.stderr)
    assert "Something new happened (AB9999)" in result.stderr


def test_json_failure_has_errorcode_message_hint_and_clock(standin):
    result = check("--json", server=standin, env=login_env(standin, ANGEL_PIN="111111"))
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert out["ok"] is False and out["errorcode"] == "AB1007"
    assert out["message"] == "Login Id or password is invalid"
    assert out["hint"] and "clock_offset_s" in out
    assert messages(result) == []


# The clock.

def test_invalid_totp_always_reports_the_clock_offset(standin):
    result = check(server=standin, env=login_env(
        standin, TOTP_SECRET="JBSWY3DPEHPK3PXPJBSWY3DPXX"))
    hint = messages(result)[1]
    assert "your clock is" in hint and "Angel One's (±" in hint
    assert "which is fine; Angel One accepts each code once" in hint
    assert hint.index("try again") < hint.index("the secret is probably wrong")


def test_clock_far_behind_is_named_as_the_cause_of_invalid_totp(standin, monkeypatch, capsys):
    standin.clock_shift = 90  # the stand-in is 90 s ahead: our clock is behind
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert out["errorcode"] == "AB1050"
    assert -92 < out["clock_offset_s"] < -88
    assert "behind Angel One's" in out["hint"] and "time sync" in out["hint"]


def test_clock_off_by_more_than_10_s_warns_even_on_success(standin, monkeypatch, capsys):
    standin.clock_shift = -20  # our clock is 20 s ahead; still within one step
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 0, result.stderr
    import re
    found = re.search(r"warning: your clock is ([0-9.]+) s ahead of Angel One's", result.stderr)
    assert found and 18 < float(found.group(1)) < 22


def test_offset_bound_is_within_a_second_and_a_bit(standin, monkeypatch, capsys):
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    out = json.loads(result.stdout)
    assert out["clock_uncertainty_s"] <= 0.6  # three replies narrow the 1 s Date resolution


def test_missing_date_header_means_no_offset(standin, monkeypatch, capsys):
    standin.send_date = False
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    out = json.loads(result.stdout)
    assert out["ok"] is True and "clock_offset_s" not in out


# No usable answer (exit 3).

@pytest.mark.parametrize("reply,code,words", [
    ((403, "text/plain", b"Access denied because of exceeding access rate"),
     "RATE_LIMITED", "rate limit"),
    ((200, "text/html", HTML_REJECTED), "HTML_REPLY", "HTML page"),
    ((403, "text/html; charset=utf-8", HTML_REJECTED), "HTML_REPLY", "HTML page"),
    ((200, "application/json", b"not json at all"), "NOT_JSON", "not JSON"),
    ((200, "application/json", b"[1, 2]"), "NOT_JSON", "not JSON"),
    ((500, "text/plain", b"Internal Server Error"), "SERVER_ERROR", "server failed (HTTP 500)"),
    ((502, "application/json",
      json.dumps(usual("AB2001", "Internal Error")).encode()),
     "SERVER_ERROR", "HTTP 502, AB2001 Internal Error"),
    ((404, "text/plain", b"Not Found"), "HTTP_ERROR", "HTTP 404"),
    ((200, "application/json", b'{"hello": 1}'), "BAD_REPLY", "expected shape"),
    ((200, "application/json", json.dumps({"status": True, "message": "SUCCESS",
                                           "errorcode": "", "data": None}).encode()),
     "BAD_REPLY", "no token"),
])
def test_unusable_replies_exit_3_with_their_own_message(standin, monkeypatch, capsys, reply,
                                                        code, words):
    standin.fail_with("login", reply[2], reply[0], reply[1])
    standin.enforce_rate_limit = False  # two runs at once
    settings = settings_for(standin)
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings)
    assert result.returncode == 3, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["errorcode"] == code and words in out["cause"]
    text = run_in_process(monkeypatch, capsys, settings=settings)
    assert text.returncode == 3
    assert "\n".join(messages(text)).startswith("error: ") and words in messages(text)[0]
    assert messages(text)[1].startswith("hint: ")


def test_real_rate_limit_after_a_login_in_the_same_second(standin):
    check(server=standin)
    result = check(server=standin, env=login_env(standin, TOTP=fresh_totp()))
    if standin.requests[-1]["at"] - standin.calls(LOGIN)[0]["at"] < 1.0:
        assert result.returncode == 3
        assert "rate limit" in result.stderr


def test_connection_refused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = clean_env(ANGEL_API_KEY=API_KEY, ANGEL_CLIENT_CODE=CLIENT_CODE, ANGEL_PIN=PIN,
                    TOTP_SECRET=ANGEL_SECRET, ANGEL_BASE_URL=f"http://127.0.0.1:{port}")
    result = check(env=env)
    assert result.returncode == 3
    assert "\n".join(messages(result)).startswith("error: the connection was refused")


def test_dns_failure_without_touching_the_network(tmp_path_factory):
    hook = resolver_hook(tmp_path_factory.mktemp("resolver"), "fail")
    env = clean_env(ANGEL_API_KEY=API_KEY, ANGEL_CLIENT_CODE=CLIENT_CODE, ANGEL_PIN=PIN,
                    TOTP_SECRET=ANGEL_SECRET, ANGEL_BASE_URL="https://no-such-host.invalid",
                    **hook)
    result = check(env=env, bound=5)
    assert result.returncode == 3
    assert result.lines()[0].startswith("error: the server's name could not be resolved")
    assert "--base-url" in result.lines()[1]  # hint: check the host in --base-url


def test_connection_closed_without_a_reply(standin, monkeypatch, capsys):
    standin.close("login")
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 3
    assert "\n".join(messages(result)).startswith("error: the connection failed")


def test_hanging_server_times_out_near_the_timeout(standin):
    standin.hang("login")
    started = time.monotonic()
    result = check("--timeout", "0.5", "--json", server=standin)
    elapsed = time.monotonic() - started
    assert result.returncode == 3
    assert json.loads(result.stdout)["errorcode"] == "TIMEOUT"
    assert "no complete reply within 0.5 s" in json.loads(result.stdout)["cause"]
    assert elapsed < 0.5 + 1 + 1  # --timeout + 1 s, and the start of a Python process


# TLS.

def test_self_signed_certificate_is_refused_with_a_hint():
    from smartapi_standin import StandIn
    server = StandIn(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN,
                     secret=ANGEL_SECRET, tls=True).start()
    try:
        result = check(server=server)
        assert result.returncode == 3
        lines = messages(result)
        assert lines[0].startswith("error: the secure (TLS) connection could not be set up")
        assert "Install Certificates" in lines[1]
        assert server.calls(LOGIN) == []
    finally:
        server.stop()


def test_tls_works_when_the_ca_is_trusted_through_ssl_cert_file():
    from smartapi_standin import CERT, StandIn
    server = StandIn(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN,
                     secret=ANGEL_SECRET, tls=True).start()
    try:
        result = check(server=server, env=login_env(server, SSL_CERT_FILE=str(CERT)))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Login OK")
        assert server.sessions == set()
    finally:
        server.stop()


# After the login.

def test_profile_failure_still_logs_out(standin, monkeypatch, capsys):
    standin.fail_with("profile", gateway("AG8001", "Invalid Token"), 401)
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 1
    assert "\n".join(messages(result)).startswith(
        "error: login worked, but reading the profile failed: the API key was refused")
    assert len(standin.calls(LOGOUT)) == 1 and standin.sessions == set()


def test_profile_with_null_data(standin, monkeypatch, capsys):
    standin.fail_with("profile", {"status": True, "message": "SUCCESS", "errorcode": "",
                                  "data": None})
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Login OK: (no name in the profile) ({CLIENT_CODE})")


def test_profile_refusal_with_null_data(standin, monkeypatch, capsys):
    standin.fail_with("profile", usual("AB2001", "Internal Error"))
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 1
    assert "reading the profile failed: Angel One had an internal error" in result.stderr


def test_logout_failure_is_a_warning_not_a_failure(standin, monkeypatch, capsys):
    standin.fail_with("logout", gateway("AG8002", "Token Expired"), 401)
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 0
    assert "warning: could not log out (AG8002 Token Expired)" in result.stderr
    assert "logged out" not in result.stdout


def test_plain_http_to_a_remote_host_is_warned_about():
    env = clean_env(ANGEL_API_KEY=API_KEY, ANGEL_CLIENT_CODE=CLIENT_CODE, ANGEL_PIN=PIN,
                    TOTP_SECRET=ANGEL_SECRET)
    result = check("--dry-run", "--base-url", "http://apiconnect.example", env=env)
    assert result.returncode == 0
    assert "warning: --base-url uses plain http" in result.stderr
    local = check("--dry-run", "--base-url", "http://127.0.0.1:1", env=env)
    assert "plain http" not in local.stderr


def test_an_oversized_reply_is_refused_as_a_bad_reply(standin, monkeypatch, capsys):
    standin.fail_with("login", b"{" + b" " * (2 << 20) + b"}")
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    assert result.returncode == 3
    assert json.loads(result.stdout)["errorcode"] == "BAD_REPLY"
    assert "over 1 MiB" in json.loads(result.stdout)["cause"]

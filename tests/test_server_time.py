"""Angel One's clock (issue 11): --server-time in both scripts and in the API.

The stand-in's clock runs 120 s ahead of this machine's, as on a Raspberry
Pi without a real-time clock: a code made for this machine's time is
refused (AB1050), one made for Angel One's time, measured from a request
that carries no credential, is accepted.
"""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pyotp
import pytest
from conftest import (
    ANGEL_SECRET,
    API_KEY,
    CLIENT_CODE,
    PIN,
    assert_clean_output,
    clean_env,
    run_generate,
)
from login_helpers import check, run_in_process, settings_for

import angel_totp
from angel_totp import clock as clock_module
from angel_totp import servertime
from angel_totp import session as session_module
from angel_totp.clock import ClockOffset
from angel_totp.secret import parse_secret

SHIFT = 120.0


@pytest.fixture
def shifted(standin):
    """The stand-in, with its clock 120 s ahead, and back-to-back logins allowed."""
    standin.clock_shift = SHIFT
    standin.enforce_rate_limit = False
    return standin


def _credential_free(request: dict) -> bool:
    return not any(name in request["headers"] for name in ("X-PrivateKey", "Authorization"))


# The login check.

def test_without_server_time_a_clock_120_s_off_fails_with_ab1050_and_says_why(shifted):
    result = check("--json", server=shifted)
    assert result.returncode == 1
    verdict = result.json()
    assert verdict["errorcode"] == "AB1050"
    assert -SHIFT - 2 < verdict["clock_offset_s"] < -SHIFT + 2
    assert "behind Angel One's" in verdict["hint"] and "--server-time" in verdict["hint"]
    assert "server_time=True" not in verdict["hint"]


def test_the_text_hint_reports_the_offset_and_suggests_server_time(shifted, monkeypatch,
                                                                   capsys):
    result = run_in_process(monkeypatch, capsys, settings=settings_for(shifted))
    assert result.returncode == 1
    hint = result.lines()[1]
    found = re.match(r"hint: your clock is (\d+\.\d) s behind Angel One's \(±0\.\d s\)", hint)
    assert found and SHIFT - 2 < float(found.group(1)) < SHIFT + 2
    assert hint.endswith("or use --server-time")


def test_with_server_time_a_clock_120_s_off_logs_in(shifted):
    result = check("--server-time", "--json", server=shifted)
    assert result.returncode == 0, result.stderr
    verdict = result.json()
    assert verdict["ok"] is True and -SHIFT - 2 < verdict["clock_offset_s"] < -SHIFT + 2
    [measured] = result.lines()
    assert measured.startswith("Angel One's clock: this machine's clock is 1")
    assert "s behind Angel One's (±0." in measured
    first = shifted.requests[0]
    assert (first["method"], first["path"]) == ("GET", "/") and _credential_free(first)
    assert shifted.connections == 1 and shifted.violations == []
    assert shifted.sessions == set()


def test_server_time_without_a_date_header_fails_before_the_login(standin, monkeypatch, capsys):
    standin.send_date = False
    result = run_in_process(monkeypatch, capsys, "--server-time", "--json",
                            settings=settings_for(standin))
    assert result.returncode == 3
    verdict = result.json()
    assert verdict["errorcode"] == "NO_DATE" and "--server-time" in verdict["hint"]
    assert "clock_offset_s" not in verdict
    assert [request["path"] for request in standin.requests] == ["/"]


def test_server_time_when_angel_one_cannot_be_reached(monkeypatch, capsys):
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = run_in_process(monkeypatch, capsys, "--server-time", "--base-url", dead,
                            settings=settings_for())
    assert result.returncode == 3
    assert result.lines()[0] == ("error: Angel One's clock could not be read: the connection "
                                 "was refused (the server refused the connection)")


def test_an_invalid_code_with_server_time_does_not_blame_the_clock(shifted, monkeypatch, capsys):
    wrong = "JBSWY3DPEHPK3PXPJBSWY3DPXX"
    result = run_in_process(monkeypatch, capsys, "--server-time",
                            settings=settings_for(shifted, TOTP_SECRET=wrong))
    assert result.returncode == 1
    assert "the clock is not the cause" in result.lines()[2]
    assert "warning" not in result.stderr  # nor a clock warning: codes were made for its clock


def test_dry_run_with_server_time_shows_the_credential_free_request_first(monkeypatch, capsys):
    result = run_in_process(monkeypatch, capsys, "--dry-run", "--server-time",
                            settings=settings_for(ANGEL_BASE_URL="https://apiconnect.angelone.in"))
    assert result.returncode == 0
    first = result.stdout.split("\n\n")[0].splitlines()
    assert first[0] == "GET https://apiconnect.angelone.in/"
    assert not any("X-PrivateKey" in line or "Authorization" in line for line in first)


# generate_totp.py --server-time.

def test_generate_makes_the_code_for_angel_ones_clock_and_sends_no_secret(shifted):
    before = time.time() + SHIFT
    result = run_generate("--server-time", "--base-url", shifted.url, "--min-validity", "0", "-q",
                          env=clean_env(TOTP_SECRET=ANGEL_SECRET), secrets=(ANGEL_SECRET,))
    after = time.time() + SHIFT
    assert result.returncode == 0, result.stderr
    totp = pyotp.TOTP(ANGEL_SECRET)
    assert result.stdout.strip() in {totp.at(before), totp.at(after)}
    assert "Angel One's clock: this machine's clock is" in result.stderr and "±" in result.stderr
    assert_clean_output(result.stdout + result.stderr)
    assert shifted.requests and all(request["path"] == "/" for request in shifted.requests)
    assert all(_credential_free(request) for request in shifted.requests)
    assert shifted.violations == []


def test_generate_with_server_time_and_no_date_header_exits_3(standin):
    standin.send_date = False
    result = run_generate("--server-time", "--base-url", standin.url, "-q",
                          env=clean_env(TOTP_SECRET=ANGEL_SECRET), secrets=(ANGEL_SECRET,))
    assert result.returncode == 3
    assert result.stdout == ""
    assert "no usable Date header" in result.stderr and "--server-time" in result.stderr


# The Python API.

def test_the_api_fails_without_server_time_and_logs_in_with_it(shifted, capfd):
    with pytest.raises(angel_totp.LoginRefusedError) as refused:
        angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=shifted.url,
                         min_validity=0)
    assert refused.value.errorcode == "AB1050"
    assert "server_time=True" in refused.value.hint and "--" not in refused.value.hint
    measured: list[ClockOffset] = []
    with angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=shifted.url,
                          min_validity=0, server_time=True, on_clock=measured.append) as session:
        assert session.clock_offset is not None
        assert -SHIFT - 2 < session.clock_offset < -SHIFT + 2
        assert len(measured) == 1 and measured[0].uncertainty < 1
    assert session.logged_out and shifted.sessions == set()
    assert capfd.readouterr() == ("", "")


def test_login_from_env_with_server_time(shifted, monkeypatch, workdir):
    (workdir / ".env").write_text(f"ANGEL_API_KEY={API_KEY}\nANGEL_CLIENT_CODE={CLIENT_CODE}\n"
                                  f"ANGEL_PIN={PIN}\nTOTP_SECRET={ANGEL_SECRET}\n"
                                  f"ANGEL_BASE_URL={shifted.url}\n")
    with pytest.raises(angel_totp.LoginRefusedError, match="AB1050"):
        angel_totp.login_from_env(min_validity=0)
    with angel_totp.login_from_env(min_validity=0, server_time=True) as session:
        assert session.name == "Test User"
    assert session.logged_out


def test_measure_server_clock_sends_no_credential(shifted):
    measured = angel_totp.measure_server_clock(shifted.url, timeout=2)
    assert -SHIFT - 1.5 < measured.estimate < -SHIFT + 1.5 and measured.uncertainty < 1
    assert [request["path"] for request in shifted.requests] == ["/"]
    assert _credential_free(shifted.requests[0])


def test_login_makes_the_code_for_the_measured_clock_and_its_uncertainty(shifted, monkeypatch):
    calls: list[dict] = []
    real = servertime.fresh_code

    def recording(secret, min_validity, **kwargs):
        calls.append({"min_validity": min_validity, **kwargs,
                      "offset": kwargs["clock"]() - time.time() if "clock" in kwargs else None})
        return real(secret, min_validity, **kwargs)

    monkeypatch.setattr(servertime, "fresh_code", recording)
    measured: list[ClockOffset] = []
    angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=shifted.url,
                     min_validity=3, server_time=True, on_clock=measured.append).logout()
    [call] = calls
    assert call["min_validity"] == 3
    assert call["uncertainty"] == measured[0].uncertainty
    assert abs(call["offset"] + measured[0].estimate) < 0.05  # Angel One's time, as measured


def test_without_server_time_the_code_is_made_for_this_machines_clock(standin, monkeypatch):
    calls: list[dict] = []
    real = session_module.fresh_code

    def recording(secret, min_validity, **kwargs):
        calls.append(kwargs)
        return real(secret, min_validity, **kwargs)

    monkeypatch.setattr(session_module, "fresh_code", recording)
    angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=standin.url,
                     min_validity=0).logout()
    assert calls[0]["clock"] is time.time and "uncertainty" not in calls[0]


PERIOD = 30
STEP_END = 1_700_000_010.0  # a multiple of 30: where one code ends and the next begins
MEASURED = ClockOffset(low=-121.0, high=-120.0)  # estimate -120.5 s, uncertainty 0.5 s


@pytest.mark.parametrize("server_time,waits,code_at", [
    # The far edge (+0.5 s) still has just over 5 s: this code is handed out.
    (STEP_END - 5 - 0.5 - 0.01, False, STEP_END - 6),
    # The far edge has just under 5 s: wait for the next code.
    (STEP_END - 5 - 0.5 + 0.01, True, STEP_END + 1),
    # The near edge (-0.5 s) is still in the last code's step: wait until it is not.
    (STEP_END + 0.4, True, STEP_END + 1),
])
def test_the_uncertainty_rule_at_a_code_boundary(monkeypatch, server_time, waits, code_at):
    """A code is handed out only if it keeps min_validity at the far edge of the uncertainty."""
    now = [server_time + MEASURED.estimate]  # this machine's clock
    monkeypatch.setattr(clock_module, "time", SimpleNamespace(time=lambda: now[0]))
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    code = servertime.code_for_server(parse_secret(ANGEL_SECRET), 5, MEASURED, sleep=sleep)
    assert bool(waited) is waits
    assert code.totp == pyotp.TOTP(ANGEL_SECRET).at(code_at)
    late_edge = now[0] - MEASURED.estimate + MEASURED.uncertainty
    assert code.valid_until - late_edge >= 5


def test_a_server_closing_after_the_clock_request_gets_the_login_once_on_a_new_connection():
    from hostile_server import HostileServer
    with HostileServer("json") as server:
        server.queue("json_close")  # the clock request's reply says Connection: close
        with pytest.raises(angel_totp.NoAnswerError) as failed:  # its login reply has no token
            angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=server.url,
                             min_validity=0, server_time=True, timeout=2)
        targets = [(request.connection, request.target) for request in server.received]
    assert failed.value.errorcode == "BAD_REPLY"
    assert targets == [(0, "/"), (1, session_module.protocol.LOGIN_PATH)]


def test_generate_with_server_time_and_a_resolver_that_hangs_ends_within_the_timeout(
        tmp_path_factory):
    from login_helpers import STARTUP_S, resolver_hook
    hook = resolver_hook(tmp_path_factory.mktemp("resolver"), "hang")
    started = time.monotonic()
    result = run_generate("--server-time", "--timeout", "0.5", "-q",
                          env=clean_env(TOTP_SECRET=ANGEL_SECRET, **hook),
                          secrets=(ANGEL_SECRET,))  # the default base URL: never resolved
    assert time.monotonic() - started < 0.5 + 1 + STARTUP_S
    assert result.returncode == 3 and result.stdout == ""
    assert "error: Angel One's clock could not be read: the server's name could not be " \
           "resolved (name lookup timed out)" in result.stderr

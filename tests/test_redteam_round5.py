"""Red team, round five: what the change of this session (a login's code step kept
unless its code surely opened nothing, stdout silenced after a failed write, the
last request's close) left open. Each test does what broke, on a fake clock."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import (
    ANGEL_SECRET,
    API_KEY,
    CLIENT_CODE,
    GENERATE,
    LOGIN_CHECK,
    PIN,
    ROOT,
    assert_clean_output,
    clean_env,
)
from login_helpers import run_in_process, settings_for
from test_daily_session import clock, daily, store  # noqa: F401 - fixtures
from test_redteam_net import (
    DONE,
    JWT,
    LOGIN_OK,
    PROFILE_OK,
    REFRESH,
    Scripted,
    assert_safe,
    caught,
    http_reply,
    refusal,
    settings,
)

import angel_totp
from angel_totp import session as session_module


def _login(standin, clock):  # noqa: F811 - the fixture's value
    return angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=standin.url,
                            min_validity=0, sleep=clock.sleep)


# A step kept or given back.

@pytest.mark.time_bound(15)
def test_a_retry_after_ab1050_never_sends_the_refused_code_again(standin, clock):  # noqa: F811
    """AB1050 says this code is not accepted (most often: already used). A bot that
    does what the hint says, tries again, sent the very same code (its step was given
    back), which Angel One refuses again for certain."""
    standin.used_timecodes.add(int(clock.now // 30))  # another app used this step's code
    with pytest.raises(angel_totp.LoginRefusedError) as refused:
        _login(standin, clock)
    assert refused.value.errorcode == "AB1050"
    _login(standin, clock).logout()
    first, second = standin.login_codes()
    assert first != second and len(clock.slept) == 1


@pytest.mark.time_bound(15)
def test_through_the_store_a_retry_after_ab1050_waits_for_the_next_code(
        standin, store, clock, monkeypatch):  # noqa: F811
    standin.used_timecodes.add(int(clock.now // 30))
    with pytest.raises(angel_totp.LoginRefusedError):
        daily(standin, store, clock)
    monkeypatch.setattr(session_module, "_last_steps", {})  # as another process would be
    start = clock.now
    daily(standin, store, clock)
    first, second = standin.login_codes()
    assert first != second and len(clock.slept) == 1 and clock.now - start < 30


@pytest.mark.time_bound(15)
def test_after_a_login_never_answered_the_next_process_waits_one_step_not_two(
        standin, store, clock, monkeypatch):  # noqa: F811
    """The lock file kept the step a login *might* reach (one past now, written before
    the code is chosen) when the login timed out: the next process waited almost
    60 s for a step two ahead, where the code actually sent needs one step's wait."""
    standin.close("login")
    with pytest.raises(angel_totp.NoAnswerError):
        daily(standin, store, clock)
    standin.force.pop("login")
    monkeypatch.setattr(session_module, "_last_steps", {})  # as another process would be
    start = clock.now
    daily(standin, store, clock)
    assert len(clock.slept) == 1 and clock.now - start < 30
    first, second = standin.login_codes()
    assert first != second


# A stray reply that says "Connection: close".

CLOSING = b"Connection: close\r\n"
FORGED_PROFILE_CLOSING = http_reply({"status": True, "message": "SUCCESS", "errorcode": "",
                                     "data": {"clientcode": CLIENT_CODE, "name": "FORGED"}},
                                    extra=CLOSING)
CLOCK_PAGE = http_reply(b"<html><body>home</body></html>")


@pytest.mark.time_bound(10)
def test_a_stray_profile_that_says_connection_close_is_never_the_profile(monkeypatch, capsys):
    """Broke: issue 16 item 11's forged reply with one more header, "Connection: close":
    a reply that ends the connection was never looked behind, so the login check (whose
    profile request is not the last, the logout is) printed "Login OK: FORGED"."""
    with Scripted(LOGIN_OK, [FORGED_PROFILE_CLOSING, 0.1, PROFILE_OK], DONE) as server:
        result = run_in_process(monkeypatch, capsys, "--timeout", "3",
                                settings=settings_for(server), tokens=(JWT, REFRESH))
    assert "FORGED" not in result.output
    assert result.returncode == 3 and "more than one reply" in result.output


@pytest.mark.time_bound(10)
def test_with_server_time_a_stray_refusal_that_says_close_is_not_the_login_answer():
    """The same after the clock request: a stray AB1050 with "Connection: close" was the
    login's answer ("the code may have been used") while the real login reply, and the
    session it opened, sat unread behind it."""
    stray = refusal("Invalid totp", "AB1050")
    stray = stray.replace(b"\r\n\r\n", b"\r\n" + CLOSING + b"\r\n", 1)
    with Scripted(CLOCK_PAGE, [stray, 0.1, LOGIN_OK], PROFILE_OK, DONE) as server:
        error = caught(angel_totp.login_from_env, None, environ=settings(server.url),
                       min_validity=0, timeout=3, server_time=True)
    assert isinstance(error, angel_totp.NoAnswerError) and error.errorcode == "BAD_REPLY"
    assert_safe(error)


# The lock file's record of a step a login kept, and a second Ctrl-C.

@pytest.mark.time_bound(15)
@pytest.mark.parametrize("call", ["write", "ftruncate"])
def test_a_second_ctrl_c_while_the_kept_step_is_recorded_never_empties_the_record(
        standin, store, clock, monkeypatch, call):  # noqa: F811
    """Broke: the lock file's record was cut to nothing, then written. A second Ctrl-C
    (or a kill) between the two, as the record of a login that kept its step was
    written, left it empty: the next process took the spent step for unused and sent
    the same code again."""
    from angel_totp import store as store_module
    armed = []
    real_log_in, real_call = store_module.log_in, getattr(os, call)

    def failing_log_in(*args, **kwargs):
        try:
            return real_log_in(*args, **kwargs)
        finally:
            armed.append(True)  # from here on: the record after the failed login

    def interrupted(*args):
        if armed and len(armed) == 1:
            armed.append(False)
            raise KeyboardInterrupt
        return real_call(*args)

    monkeypatch.setattr(store_module, "log_in", failing_log_in)
    monkeypatch.setattr(os, call, interrupted)
    standin.close("login")
    with pytest.raises(KeyboardInterrupt):
        daily(standin, store, clock)
    monkeypatch.setattr(os, call, real_call)
    monkeypatch.setattr(store_module, "log_in", real_log_in)
    standin.force.pop("login")
    monkeypatch.setattr(session_module, "_last_steps", {})  # as another process would be
    daily(standin, store, clock)
    first, second = standin.login_codes()
    assert first != second and len(clock.slept) == 1


# A standard error that cannot be written (a full disk): messages are dropped, and the
# exit status is still the run's, not Python's 120 for a failed flush at exit.

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"),
                                    reason="needs /dev/full, a device that is always full")


def buffered_env() -> dict[str, str]:
    """As a user runs it: PYTHONUNBUFFERED (which the suite may run under) left out."""
    env = clean_env(PYTHONPATH=str(ROOT))
    env.pop("PYTHONUNBUFFERED", None)
    return env


@needs_dev_full
@pytest.mark.time_bound(20)
@pytest.mark.parametrize("command, argv, status", [
    (LOGIN_CHECK, ["--timeout", "0"], 2),
    (GENERATE, ["--bogus"], 2),
    (LOGIN_CHECK, ["--json", "--timeout", "0"], 2),
], ids=["login check, bad value", "generate, bad option", "login check --json"])
def test_a_full_standard_error_keeps_the_exit_status(tmp_path, command, argv, status):
    """Broke: stderr on a full disk (2>/dev/full) made every error exit 120: the failed
    message stayed in stderr's buffer and Python's flush at exit failed on it."""
    with open("/dev/full", "wb") as full:
        result = subprocess.run([sys.executable, str(command), *argv], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=full, cwd=tmp_path, timeout=15,
                                env=buffered_env())
    assert result.returncode == status
    assert_clean_output(result.stdout.decode())
    assert b"error" not in result.stdout or b'"ok": false' in result.stdout  # no message moved


@needs_dev_full
@pytest.mark.time_bound(20)
def test_output_and_errors_both_on_a_full_disk_exit_1(tmp_path):
    with open("/dev/full", "wb") as full:
        result = subprocess.run([sys.executable, str(GENERATE), "--secret-stdin", "-q",
                                 "--min-validity", "0"], input=ANGEL_SECRET.encode(),
                                stdout=full, stderr=full, cwd=tmp_path, timeout=15,
                                env=buffered_env())
    assert result.returncode == 1


@needs_dev_full
@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.time_bound(20)
@pytest.mark.parametrize("name, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_with_a_full_standard_error_keeps_its_exit_status(tmp_path, name, status):
    from test_redteam_round4_net import SIGNAL_HOOK
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(SIGNAL_HOOK)
    env = {**buffered_env(), "PYTHONPATH": f"{tmp_path / 'hook'}{os.pathsep}{ROOT}",
           "RT_SIGNAL_AT": "angel_totp.session", "RT_SIGNAL": name}
    with open("/dev/full", "wb") as full:
        result = subprocess.run([sys.executable, str(LOGIN_CHECK)], cwd=tmp_path, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=full, timeout=15)
    assert result.returncode == status and result.stdout == b""


@pytest.mark.time_bound(10)
def test_the_real_answer_waiting_behind_a_stray_before_the_logout_fails_the_logout():
    """Broke (a loaded machine, once in six runs of the suite): a stray profile was read
    as the profile; the real one came in before the logout was written, and the check
    before writing took the connection for one the server had closed: it opened a new
    one, the logout succeeded there, and the check printed "Login OK: FORGED"."""
    import select

    from test_redteam_net import FORGED_PROFILE
    with Scripted(LOGIN_OK, [FORGED_PROFILE, 0.2, PROFILE_OK], DONE) as server:
        session = angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=server.url,
                                   min_validity=0, timeout=3, _keep_open=True)
        link = session._exchange.connection._link
        assert link is not None and select.select([link.sock], [], [], 3)[0]  # it has come
        assert session.logout() is False
    error = session.logout_error
    assert isinstance(error, angel_totp.NoAnswerError) and error.errorcode == "BAD_REPLY"
    assert_safe(error)

"""Today's session, shared (issue 17): daily_session(), daily_login() and the store.

Against the stand-in, which counts logins, profile and logout requests and
answers AG8001 for a session it ended. Every test that logs in more than
once runs on a fake clock (``time.time`` and ``sleep``), so that waiting for
the next code's step costs nothing; the store's lock is real.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest
from conftest import (
    ANGEL_SECRET,
    API_KEY,
    CLIENT_CODE,
    PIN,
    ROOT,
    assert_no_leak,
    assert_no_plain_credentials,
    clean_env,
)
from smartapi_standin import CERT, LOGIN, PROFILE, StandIn, gateway, usual

import angel_totp
from angel_totp import session as session_module
from angel_totp import store as store_module

POSIX = os.name == "posix"
needs_posix = pytest.mark.skipif(not POSIX, reason="POSIX permission bits and owners")
needs_root = pytest.mark.skipif(not POSIX or os.geteuid() != 0,
                                reason="giving a file to another user needs root")


class FakeClock:
    """``time.time`` under the test's control; ``sleep`` moves it on at once."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch, standin):
    """A fake clock 2 s into a code's step; the stand-in follows it (and allows logins
    back to back, since its rate limit runs on the real monotonic clock)."""
    fake = FakeClock((time.time() // 30) * 30 + 2)
    monkeypatch.setattr(time, "time", fake.time)
    standin.enforce_rate_limit = False
    return fake


@pytest.fixture
def store(tmp_path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    return folder / "A123456.json"


def settings(server, **overrides: str) -> dict[str, str]:
    values = {"ANGEL_API_KEY": API_KEY, "ANGEL_CLIENT_CODE": CLIENT_CODE, "ANGEL_PIN": PIN,
              "TOTP_SECRET": ANGEL_SECRET, "ANGEL_BASE_URL": server.url}
    values.update(overrides)
    return values


def daily(server, store: object, clock: FakeClock | None = None,
          **options) -> angel_totp.Session:
    """daily_login with the stand-in's credentials (and the fake clock's sleep, if any)."""
    values = {"store": str(store) if isinstance(store, Path) else store,
              "base_url": server.url, "min_validity": 0, "timeout": 2,
              **({"sleep": clock.sleep} if clock else {}), **options}
    return angel_totp.daily_login(values.pop("api_key", API_KEY), CLIENT_CODE, PIN,
                                  values.pop("secret", ANGEL_SECRET), **values)


def stored(store: Path) -> dict:
    return json.loads(store.read_text())


def assert_store_holds_no_credential(store: Path) -> None:
    text = store.read_text()
    assert_no_leak(text, API_KEY, PIN, ANGEL_SECRET)
    for step in range(-2, 3):  # nor any code near the time it was made
        code = pyotp.TOTP(ANGEL_SECRET).at(stored(store)["made_at"] + 30 * step)
        assert code not in text


# One login a day, then reuse.

@needs_posix
def test_the_first_call_logs_in_and_keeps_the_session_in_a_private_store(standin, store):
    session = angel_totp.daily_session(None, store=str(store), environ=settings(standin),
                                       min_validity=0, timeout=2)
    assert session.reused is False and session.store_path == str(store)
    assert session.name == "Test User" and session.jwt_token in standin.sessions
    assert (standin.count("login"), standin.count("profile"), standin.count("logout")) == (1, 1, 0)
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    record = stored(store)
    assert record["jwt_token"] == session.jwt_token and record["client_code"] == CLIENT_CODE
    assert record["totp_step"] == int(record["made_at"] // 30)
    assert_store_holds_no_credential(store)
    assert sorted(os.listdir(store.parent)) == ["A123456.json", "A123456.json.lock"]
    assert os.listdir(".") == []  # nothing written but the store (no logs/)
    assert standin.violations == []


def test_a_later_call_reuses_it_after_one_profile_request_and_no_login(standin, store):
    first = daily(standin, store)
    second = daily(standin, store)
    assert second.reused is True and second.store_path == str(store)
    assert second.jwt_token == first.jwt_token and second.refresh_token == first.refresh_token
    assert second.feed_token == first.feed_token and second.name == "Test User"
    assert (standin.count("login"), standin.count("profile")) == (1, 2)


def test_without_verify_a_later_call_sends_nothing(standin, store):
    first = daily(standin, store)
    before = len(standin.requests)
    second = daily(standin, store, verify=False)
    assert second.reused is True and second.jwt_token == first.jwt_token
    assert len(standin.requests) == before


def test_leaving_a_with_block_does_not_log_out_and_logout_removes_the_store(standin, store):
    with daily(standin, store) as session:
        pass
    assert standin.count("logout") == 0 and session.jwt_token in standin.sessions
    assert not session.logged_out and store.exists()
    assert session.logout() is True
    assert standin.count("logout") == 1 and standin.sessions == set()
    assert not store.exists() and standin.violations == []


def test_a_reused_session_without_verify_logs_out_with_a_proper_request(standin, store):
    daily(standin, store)
    session = daily(standin, store, verify=False)
    assert session.logout() is True and not store.exists() and standin.violations == []


def test_logout_does_not_remove_a_newer_session_another_process_saved(standin, store, clock):
    old = daily(standin, store, clock)
    store.unlink()  # as if the store were lost, then another process logged in again
    newer = daily(standin, store, clock)
    assert newer.jwt_token != old.jwt_token
    assert old.logout() is True
    assert stored(store)["jwt_token"] == newer.jwt_token


# A session that cannot be reused means exactly one login.

def test_an_ended_session_means_exactly_one_new_login(standin, store, clock):
    first = daily(standin, store, clock)
    standin.end_sessions()  # the night came
    second = daily(standin, store, clock)
    assert second.reused is False and second.jwt_token != first.jwt_token
    assert standin.count("login") == 2
    assert stored(store)["jwt_token"] == second.jwt_token
    assert daily(standin, store, clock).jwt_token == second.jwt_token
    assert standin.count("login") == 2


@pytest.mark.parametrize("errorcode", ["AG8002", "AB1010", "AB1011"])
def test_each_code_for_an_ended_session_means_one_new_login(standin, store, clock, errorcode):
    daily(standin, store, clock)
    reply = gateway(errorcode, "Token Expired") if errorcode.startswith("AG") else \
        usual(errorcode, "Session expired")
    standin.fail_with("profile", reply, 401)
    calls = []
    real = session_module.Session._read_profile

    def once(self, stage, last):  # the profile fails only for the stored session
        calls.append(stage)
        if len(calls) > 1:
            standin.force.pop("profile", None)
        return real(self, stage, last)

    session_module.Session._read_profile = once
    try:
        session = daily(standin, store, clock)
    finally:
        session_module.Session._read_profile = real
    assert session.reused is False and standin.count("login") == 2
    assert calls == ["session", "profile"]


def test_another_refusal_of_the_stored_session_is_raised_and_no_login_is_made(standin, store):
    daily(standin, store)
    standin.fail_with("profile", gateway("AG7002", "Access denied: Unregistered IP address."),
                      403)
    with pytest.raises(angel_totp.LoginRefusedError) as refused:
        daily(standin, store)
    assert refused.value.errorcode == "AG7002" and refused.value.stage == "session"
    assert standin.count("login") == 1 and store.exists()


@pytest.mark.parametrize("field,value", [("client_code", "B999999"),
                                         ("key_fingerprint", "0" * 64)])
def test_another_accounts_store_is_not_used(standin, store, clock, field, value):
    first = daily(standin, store, clock)
    record = stored(store)
    record[field] = value
    store.write_text(json.dumps(record))
    second = daily(standin, store, clock)
    assert second.reused is False and standin.count("login") == 2
    tokens_sent = [r["headers"].get("Authorization") for r in standin.requests]
    assert tokens_sent.count(f"Bearer {first.jwt_token}") == 1  # its own login's profile only
    assert stored(store)["client_code"] == CLIENT_CODE


def test_a_session_of_an_earlier_day_in_india_is_never_reused(standin, store, clock):
    clock.now = 1_764_700_000 // 86400 * 86400 + 18 * 3600 + 29 * 60 + 40  # 23:59:40 IST
    first = daily(standin, store, clock)
    clock.now += 30  # 00:00:10 IST, the next day; the stand-in still knows the session
    second = daily(standin, store, clock)
    assert second.reused is False and second.jwt_token != first.jwt_token
    assert first.jwt_token in standin.sessions and standin.count("login") == 2


def test_the_same_day_in_india_is_reused_across_midnight_utc(standin, store, clock):
    clock.now = 1_764_700_000 // 86400 * 86400 - 20  # 23:59:40 UTC = 05:29:40 IST
    first = daily(standin, store, clock)
    clock.now += 40
    assert daily(standin, store, clock).jwt_token == first.jwt_token


@pytest.mark.parametrize("content", [b"", b"{", b"\xff\xfe garbage", b"[]", b'{"version": 1}',
                                     b"null", b'{"version": 1, "made_at": 1e999}'])
def test_a_broken_store_is_treated_as_absent_and_replaced(standin, store, content):
    store.write_bytes(content)
    store.chmod(0o600)
    session = daily(standin, store)
    assert session.reused is False and standin.count("login") == 1
    assert stored(store)["jwt_token"] == session.jwt_token


@pytest.mark.parametrize("token", ["", "eyJ a", "eyJ\r\nX-Forged: 1", "eyJ\u00e9"])
def test_a_store_whose_token_could_not_be_sent_is_replaced(standin, store, clock, token):
    daily(standin, store, clock)
    record = stored(store)
    record["jwt_token"] = token
    store.write_text(json.dumps(record))
    before = len(standin.requests)
    assert daily(standin, store, clock).reused is False
    assert [r["path"] for r in standin.requests[before:]] == [LOGIN, PROFILE]


def test_a_truncated_store_is_replaced(standin, store, clock):
    daily(standin, store, clock)
    whole = store.read_bytes()
    store.write_bytes(whole[:len(whole) // 2])
    assert daily(standin, store, clock).reused is False and standin.count("login") == 2


# Never the same code twice.

def test_two_logins_within_one_step_use_two_different_codes(standin, clock):
    waits = []
    for _ in range(2):
        angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=standin.url,
                         min_validity=0, sleep=clock.sleep,
                         on_wait=lambda code, seconds: waits.append(seconds)).logout()
    first, second = standin.login_codes()
    assert first != second and len(waits) == 1 and 27 < waits[0] < 29
    assert clock.now // 30 == standin.requests[0]["at"] // 30 + 1


def test_with_server_time_the_step_is_angel_ones_and_never_used_twice(standin, clock):
    standin.clock_shift = 120.0  # Angel One's clock 4 steps ahead of this machine's
    waits = []
    for _ in range(2):
        angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=standin.url,
                         min_validity=0, server_time=True, sleep=clock.sleep,
                         on_wait=lambda code, seconds: waits.append(seconds)).logout()
    first, second = standin.login_codes()
    assert first != second and len(waits) == 1
    assert first == pyotp.TOTP(ANGEL_SECRET).at(standin.requests[1]["at"] + 120)


def test_a_refused_login_gives_its_step_back(standin, clock):
    with pytest.raises(angel_totp.LoginRefusedError):
        angel_totp.login(API_KEY, CLIENT_CODE, "111111", ANGEL_SECRET, base_url=standin.url,
                         min_validity=0, sleep=clock.sleep)
    angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=standin.url,
                     min_validity=0, sleep=clock.sleep).logout()
    assert clock.slept == []  # the refused login's code was not taken as a login


def test_a_login_whose_answer_never_came_keeps_its_step(standin, clock):
    """Broke (round four): a login sent but never answered gave its step back, though
    the server may have taken its code: the next login of the process used it again."""
    standin.close("login")  # the request is read, then the connection closed
    with pytest.raises(angel_totp.NoAnswerError):
        angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=standin.url,
                         min_validity=0, sleep=clock.sleep)
    standin.force.pop("login")
    angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=standin.url,
                     min_validity=0, sleep=clock.sleep).logout()
    assert len(clock.slept) == 1  # waited for the next step
    first, second = standin.login_codes()
    assert first != second


def test_through_the_store_a_login_never_answered_keeps_its_step(
        standin, store, clock, monkeypatch):
    standin.close("login")
    with pytest.raises(angel_totp.NoAnswerError):
        daily(standin, store, clock)
    standin.force.pop("login")
    monkeypatch.setattr(session_module, "_last_steps", {})  # as another process would be
    daily(standin, store, clock)
    assert len(clock.slept) == 1
    first, second = standin.login_codes()
    assert first != second


def test_through_the_store_a_login_waits_for_the_step_after_the_stores_last(
        standin, store, clock, monkeypatch):
    daily(standin, store, clock)
    standin.end_sessions()
    monkeypatch.setattr(session_module, "_last_steps", {})  # as another process would be
    waits = []
    daily(standin, store, clock, on_wait=lambda code, seconds: waits.append(seconds))
    first, second = standin.login_codes()
    assert first != second and len(waits) == 1
    assert stored(store)["totp_step"] == int(clock.now // 30)


def test_threads_of_one_process_never_share_a_step(standin, clock):
    import threading
    start = threading.Barrier(2)

    def one() -> None:
        start.wait(5)
        angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=standin.url,
                         min_validity=0, sleep=clock.sleep).logout()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    first, second = standin.login_codes()
    assert first != second and len(clock.slept) == 1


# Many processes at once.

CHILD = """
import hashlib, json, sys
import angel_totp
settings = json.loads(sys.argv[2])
session = angel_totp.daily_session(None, store=sys.argv[1], environ=settings, min_validity=0,
                                   timeout=10)
print(json.dumps({"token": hashlib.sha256(session.jwt_token.encode()).hexdigest(),
                  "reused": session.reused}))
"""


@pytest.mark.time_bound(50)
def test_eight_processes_at_once_make_exactly_one_login_and_share_it(store):
    server = StandIn(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN, secret=ANGEL_SECRET,
                     tls=True).start()
    try:
        environ = {**settings(server), "SSL_CERT_FILE": str(CERT)}
        env = clean_env(PYTHONPATH=str(ROOT), SSL_CERT_FILE=str(CERT))
        children = [subprocess.Popen([sys.executable, "-c", CHILD, str(store),
                                      json.dumps(environ)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env) for _ in range(8)]
        results = [child.communicate(timeout=45) for child in children]
    finally:
        server.stop()
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
        assert_no_leak(out + err, API_KEY, PIN, ANGEL_SECRET)
        assert server.issued[0][-20:] not in out + err
    answers = [json.loads(out) for out, _ in results]
    assert server.count("login") == 1
    assert len({answer["token"] for answer in answers}) == 1
    assert sorted(answer["reused"] for answer in answers) == [False] + [True] * 7
    assert server.count("profile") == 8 and server.violations == []


# The lock.

@needs_posix
def test_a_lock_held_too_long_is_an_error_naming_the_holder(standin, store, monkeypatch):
    import fcntl
    monkeypatch.setattr(store_module, "login_time", lambda timeout: 0.3)
    lock = os.open(f"{store}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.write(lock, b"4242\n")
        with pytest.raises(angel_totp.SessionStoreError) as raised:
            daily(standin, store)
    finally:
        os.close(lock)
    error = raised.value
    assert error.reason == "locked" and error.path == str(store)
    assert "process 4242" in str(error) and str(store) in str(error) and error.hint
    assert isinstance(error, angel_totp.AngelTotpError) and isinstance(error, OSError)
    assert standin.requests == []


# Unsafe stores are refused, and their tokens never used.

def _refused(standin, store) -> angel_totp.SessionStoreError:
    with pytest.raises(angel_totp.SessionStoreError) as raised:
        daily(standin, store)
    error = raised.value
    assert error.reason == "unsafe" and str(store.parent) in str(error) and error.hint
    assert standin.requests == [], "a request was sent with an unsafe store's tokens"
    return error


@pytest.fixture
def saved(standin, store, clock):
    """A store holding a good session; the requests that made it forgotten."""
    session = daily(standin, store, clock)
    standin.requests.clear()
    return session


@needs_posix
@pytest.mark.parametrize("mode", [0o640, 0o660, 0o604, 0o606])
def test_a_store_others_can_read_or_write_is_refused(standin, store, saved, mode):
    store.chmod(mode)
    error = _refused(standin, store)
    assert f"chmod 600 {store}" in error.hint
    assert_no_plain_credentials(error, saved.jwt_token, saved.refresh_token, API_KEY, PIN)


@needs_posix
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_folder_others_can_write_is_refused(standin, store, saved, mode):
    store.parent.chmod(mode)
    error = _refused(standin, store)
    assert f"chmod 700 {store.parent}" in error.hint


@needs_posix
@pytest.mark.skipif(not shutil.which("setfacl"), reason="needs setfacl")
@pytest.mark.parametrize("target", ["file", "folder"])
def test_an_acl_that_lets_another_user_in_is_refused(standin, store, saved, target):
    path, entry = (store, "u:nobody:r") if target == "file" else (store.parent, "u:nobody:rwx")
    made = subprocess.run(["setfacl", "-m", entry, str(path)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("this file system has no ACLs")
    _refused(standin, store)


@needs_root
def test_a_store_owned_by_another_user_is_refused(standin, store, saved):
    import pwd
    os.chown(store, pwd.getpwnam("nobody").pw_uid, -1)
    error = _refused(standin, store)
    assert "owned by another user" in str(error) and "chown" in error.hint


@needs_root
def test_a_folder_owned_by_another_user_is_refused(standin, store, saved):
    import pwd
    os.chown(store.parent, pwd.getpwnam("nobody").pw_uid, -1)
    error = _refused(standin, store)
    assert "owned by another user" in str(error) and "chown" in error.hint


@needs_posix
def test_a_symlinked_store_is_refused(standin, store, saved, tmp_path):
    target = tmp_path / "elsewhere.json"
    store.rename(target)
    store.symlink_to(target)
    with pytest.raises(angel_totp.SessionStoreError) as raised:
        daily(standin, store)
    assert raised.value.reason == "not_a_file" and standin.requests == []


@needs_posix
def test_a_fifo_planted_as_the_store_is_refused_without_hanging(standin, store):
    os.mkfifo(store, 0o600)
    with pytest.raises(angel_totp.SessionStoreError) as raised:
        daily(standin, store)
    assert raised.value.reason == "not_a_file"


@needs_posix
def test_a_missing_folder_is_made_private(standin, tmp_path):
    store = tmp_path / "new" / "deeper" / "A123456.json"
    old = os.umask(0)
    try:
        daily(standin, store)
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


# The default store.

@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the Linux folders")
def test_the_default_store_follows_xdg_state_home(tmp_path):
    state = str(tmp_path / "xdg")
    assert angel_totp.default_store_path("a123456", {"XDG_STATE_HOME": state}) == \
        os.path.join(state, "angel-totp", "A123456.json")
    home = str(tmp_path / "home")
    for environ in ({"HOME": home}, {"HOME": home, "XDG_STATE_HOME": "relative/ignored"}):
        assert angel_totp.default_store_path(CLIENT_CODE, environ) == \
            os.path.join(home, ".local", "state", "angel-totp", "A123456.json")


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the Linux folders")
def test_daily_session_uses_the_default_store(standin, tmp_path):
    environ = {**settings(standin), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    session = angel_totp.daily_session(None, environ=environ, min_validity=0, timeout=2)
    assert session.store_path == str(tmp_path / "xdg" / "angel-totp" / "A123456.json")
    assert Path(session.store_path).exists()


# Errors: every one an AngelTotpError, and no frame holding a credential or token.

@pytest.mark.parametrize("arguments", [
    {"store": 3}, {"verify": "yes"}, {"timeout": "3"}, {"base_url": None},
    {"environ": {"HTTP_PROXY": None}}, {"min_validity": True}, {"server_time": 1},
])
def test_bad_arguments_are_invalid_input_errors_before_anything_is_sent(standin, arguments):
    with pytest.raises(angel_totp.InvalidInputError):
        daily(standin, **{"store": Path("unused.json"), **arguments})
    assert standin.requests == [] and not Path("unused.json").exists()


@pytest.mark.parametrize("call", [
    lambda: angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=None),
    lambda: angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET,
                             environ={"HTTP_PROXY": None}),
    lambda: angel_totp.login_from_env(None, environ={"ANGEL_PIN": 4826}),
    lambda: angel_totp.login_from_env(env_file=3),
    lambda: angel_totp.daily_session(env_file=3),
    lambda: angel_totp.measure_server_clock(timeout="3"),
    lambda: angel_totp.measure_server_clock(timeout=float("inf")),
    lambda: angel_totp.measure_server_clock(timeout=True),
    lambda: angel_totp.measure_server_clock(base_url=None),
    lambda: angel_totp.default_store_path(None),
    lambda: angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, sleep="soon"),
    lambda: angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, on_wait=3),
    lambda: angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, names=3),
    lambda: angel_totp.login(API_KEY, 123456, PIN, ANGEL_SECRET),
    lambda: angel_totp.login(API_KEY, CLIENT_CODE, 4826, ANGEL_SECRET),
    lambda: angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, timeout=True),
])
def test_arguments_of_any_wrong_type_are_invalid_input_errors(call):
    with pytest.raises(angel_totp.InvalidInputError):
        call()


CREDENTIALS = (API_KEY, PIN, ANGEL_SECRET)
WRONG_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPXX"  # a valid secret, not the account's: AB1050


def _codes_near_now() -> list[str]:
    now = time.time()
    return [pyotp.TOTP(ANGEL_SECRET).at(now + 30 * step) for step in range(-2, 3)]


def _raised(call) -> BaseException:
    """The error ``call`` raised, caught here: the test's own frame (which holds the
    credentials it compares with) is not part of the traceback walked."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - any error is what the test checks
        return error
    raise AssertionError("no error was raised")


def _set_settings(monkeypatch, server, **overrides: str) -> None:
    """The settings in the process environment, as a bot has them (not in an argument)."""
    for name, value in settings(server, **overrides).items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("setup", ["refused", "no_answer", "bad_reply", "profile_refused",
                                   "store_refused"])
def test_no_frame_of_a_failed_daily_session_holds_a_credential(standin, store, setup,
                                                                monkeypatch):
    _set_settings(monkeypatch, standin,
                  **({"TOTP_SECRET": WRONG_SECRET} if setup == "refused" else {}))
    if setup == "no_answer":
        standin.hang("login")
    elif setup == "bad_reply":
        standin.fail_with("login", b"not json", 200)
    elif setup == "profile_refused":
        standin.fail_with("profile", usual("AB2001", "Internal Error"))
    elif setup == "store_refused":
        angel_totp.daily_session(None, store=str(store), min_validity=0, timeout=2)
        store.chmod(0o644)
    error = _raised(lambda: angel_totp.daily_session(None, store=str(store), min_validity=0,
                                                     timeout=0.5))
    assert isinstance(error, angel_totp.AngelTotpError)
    assert isinstance(error, angel_totp.SessionStoreError if setup == "store_refused"
                      else angel_totp.LoginError)
    assert_no_plain_credentials(error, *CREDENTIALS, WRONG_SECRET, *_codes_near_now(),
                                *standin.issued)


@pytest.mark.parametrize("entry", ["login_from_env", "login", "daily_login"])
def test_no_frame_of_a_refused_login_holds_a_credential(standin, entry, monkeypatch, store):
    _set_settings(monkeypatch, standin, TOTP_SECRET=WRONG_SECRET)
    calls = {
        "login": lambda: angel_totp.login(API_KEY, CLIENT_CODE, PIN, WRONG_SECRET,
                                          base_url=standin.url, min_validity=0),
        "login_from_env": lambda: angel_totp.login_from_env(None, min_validity=0),
        "daily_login": lambda: angel_totp.daily_login(API_KEY, CLIENT_CODE, PIN, WRONG_SECRET,
                                                      base_url=standin.url, min_validity=0,
                                                      store=str(store))}
    error = _raised(calls[entry])
    assert isinstance(error, angel_totp.LoginRefusedError) and error.errorcode == "AB1050"
    assert_no_plain_credentials(error, API_KEY, PIN, WRONG_SECRET, *_codes_near_now())


def test_no_frame_of_a_failed_profile_after_login_holds_a_token(standin):
    standin.fail_with("profile", usual("AB2001", "Internal Error"))
    error = _raised(lambda: angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET,
                                             base_url=standin.url, min_validity=0))
    assert isinstance(error, angel_totp.LoginRefusedError)
    assert_no_plain_credentials(error, *CREDENTIALS, *standin.issued)


def test_reprs_of_a_shared_session_show_no_token(standin, store):
    session = daily(standin, store)
    shown = repr(session) + str(session) + repr(vars(session))
    for token in (session.jwt_token, session.refresh_token, session.feed_token):
        assert token not in shown
    assert "reused=False" in repr(session) and str(store) in repr(session)


def test_a_logout_of_a_session_that_had_already_ended_removes_the_store(standin, store):
    daily(standin, store)
    session = daily(standin, store, verify=False)
    standin.end_sessions()
    assert session.logout() is False and session.logout_error.errorcode == "AG8001"
    assert not store.exists()

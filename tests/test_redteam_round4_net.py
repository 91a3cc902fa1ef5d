"""Red team, round four, the login side: the last request's close check, the output gate.

A hostile server (the Scripted raw server of test_redteam_net), a careless user of the
login check, and an error tracker, against what this session changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import LOGIN_CHECK, PIN, assert_clean_output, clean_env, signal_when
from login_helpers import run_in_process, settings_for
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

CLOCK_PAGE = http_reply(b"<html><body>home</body></html>")
STRAYS = {"html": CLOCK_PAGE, "refusal": refusal("Invalid totp", "AB1050")}


# (1) --server-time: the clock request and the login share a connection.

@pytest.mark.time_bound(10)
@pytest.mark.parametrize("stray", sorted(STRAYS))
@pytest.mark.parametrize("as_json", [False, True])
def test_a_stray_after_the_clock_reply_is_not_taken_as_the_login_reply(monkeypatch, capsys,
                                                                       stray, as_json):
    """Broke: the server sends its reply to GET / twice, the second once the login is on
    its way; the check read that as the login's answer ("an HTML page ... a firewall", or
    AB1050 "the code was used already") while the real login reply, and the session it
    opened, sat unread behind it. A failure that ends a kept-alive connection now looks
    for bytes behind its reply: the replies were out of step."""
    # The stray goes out once the login has arrived: sent earlier, it would be seen
    # before the login is written (and the connection replaced), as it should be.
    with Scripted(CLOCK_PAGE, [STRAYS[stray], 0.1, LOGIN_OK], PROFILE_OK, DONE) as server:
        result = run_in_process(monkeypatch, capsys, "--timeout", "3", "--server-time",
                                *(["--json"] if as_json else []),
                                settings=settings_for(server), tokens=(JWT, REFRESH))
    assert result.returncode == 3
    if as_json:
        assert result.json()["errorcode"] == "BAD_REPLY"
    assert "more than one reply" in result.output
    assert "firewall" not in result.output and "AB1050" not in result.output


@pytest.mark.time_bound(10)
def test_the_api_with_server_time_says_out_of_step_and_holds_no_credential():
    with Scripted(CLOCK_PAGE, [CLOCK_PAGE, 0.1, LOGIN_OK], PROFILE_OK) as server:
        error = caught(angel_totp.login_from_env, None, environ=settings(server.url),
                       min_validity=0, timeout=3, server_time=True)
    assert isinstance(error, angel_totp.NoAnswerError) and error.errorcode == "BAD_REPLY"
    assert error.stage == "login"
    assert_safe(error)


@pytest.mark.time_bound(10)
def test_an_honest_refusal_after_the_clock_request_is_still_the_refusal(monkeypatch, capsys):
    with Scripted(CLOCK_PAGE, refusal("Invalid totp", "AB1050")) as server:
        result = run_in_process(monkeypatch, capsys, "--timeout", "3", "--server-time",
                                "--json", settings=settings_for(server))
    assert result.returncode == 1 and result.json()["errorcode"] == "AB1050"
    assert server.connections == 1
    assert_clean_output(json.dumps(result.json()))


# (3) Ctrl-C and SIGTERM in the first milliseconds, while the command is still loading.

SIGNAL_HOOK = '''
import os, signal, sys

class SignalWhileLoading:
    """Sends this process a signal as the given module starts to load."""

    def find_spec(self, name, path, target=None):
        if name == os.environ["RT_SIGNAL_AT"]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), getattr(signal, os.environ["RT_SIGNAL"]))
        return None

sys.meta_path.insert(0, SignalWhileLoading())
'''


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.time_bound(10)
@pytest.mark.parametrize("module", ["angel_totp.cli.login_check", "angel_totp.session"])
@pytest.mark.parametrize("name, status, errorcode", [("SIGINT", 130, "INTERRUPTED"),
                                                     ("SIGTERM", 143, "TERMINATED")])
def test_json_is_one_object_when_a_signal_comes_while_the_command_loads(
        tmp_path, module, name, status, errorcode):
    """Broke: Ctrl-C while the command was still being imported printed "interrupted"
    and no JSON; SIGTERM then killed the process outright (status -15, no object)."""
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(SIGNAL_HOOK)
    env = {**clean_env(), "PYTHONPATH": str(tmp_path / "hook"), "RT_SIGNAL_AT": module,
           "RT_SIGNAL": name, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, str(LOGIN_CHECK), "--json"], cwd=tmp_path,
                            env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=8)
    assert result.returncode == status, result
    assert json.loads(result.stdout) == {"ok": False, "errorcode": errorcode,
                                         "message": "interrupted" if status == 130
                                         else "terminated", "hint": ""}
    assert "Traceback" not in result.stderr
    assert_clean_output(result.stdout + result.stderr)


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals and pipes")
@pytest.mark.time_bound(10)
@pytest.mark.parametrize("output", ["reader gone", "closed"])
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_loading_with_a_closed_output_ends_silently_with_141(tmp_path, name,
                                                                            output):
    """The reader of --json has gone (a broken pipe), or stdout is closed, when the signal
    comes: the object cannot be written, so the run ends as any run with a closed output
    does, silently with 141 (first version of the fix: 120 and "Exception ignored ...
    BrokenPipeError"; a closed stdout: 130 with no object)."""
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(SIGNAL_HOOK)
    env = {**clean_env(), "PYTHONPATH": str(tmp_path / "hook"),
           "RT_SIGNAL_AT": "angel_totp.cli.login_check", "RT_SIGNAL": name,
           "PYTHONDONTWRITEBYTECODE": "1"}
    read, write = os.pipe()
    os.close(read)  # the reader went away before anything was written
    try:
        command = [sys.executable, str(LOGIN_CHECK), "--json"]
        if output == "closed":
            command = ["sh", "-c", 'exec "$0" "$@" >&-', *command]
        result = subprocess.run(command, cwd=tmp_path,
                                env=env, stdin=subprocess.DEVNULL, stdout=write,
                                stderr=subprocess.PIPE, text=True, timeout=8)
    finally:
        os.close(write)
    assert result.returncode == 141, result
    assert "Exception" not in result.stderr and "Traceback" not in result.stderr
    assert_clean_output(result.stderr)


# (c) An error tracker walks the frames of a Ctrl-C that lands while the library works.

class _Interrupting:
    """Stands in for a module: its every function is Ctrl-C arriving at that moment."""

    def __getattr__(self, name: str):
        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt
        return interrupted


@pytest.mark.time_bound(10)
def test_ctrl_c_while_a_refusal_is_masked_leaves_no_credential_in_the_frames(monkeypatch):
    """Broke: Ctrl-C while the mask prepared the run's credentials (base64 of each, in
    redact._needles) left a traceback whose frames held the API key, the PIN and the
    secret as plain text, which a bot's error tracker records."""
    from angel_totp import redact
    redact._needles.cache_clear()  # prepared afresh, as in a bot's first failure
    monkeypatch.setattr(redact, "base64", _Interrupting())
    with Scripted(refusal("Invalid totp", "AB1050")) as server:
        error = caught(angel_totp.login_from_env, None, environ=settings(server.url),
                       min_validity=0, timeout=3)
    redact._needles.cache_clear()  # nothing prepared with the stand-in stays
    assert isinstance(error, KeyboardInterrupt)
    assert_safe(error)


@pytest.mark.time_bound(10)
def test_ctrl_c_while_the_login_request_is_built_leaves_no_credential_in_the_frames(
        monkeypatch):
    """Broke: Ctrl-C as the login request's bytes were put together left the connection's
    frame holding the JSON body, PIN and code and all, as plain bytes."""
    from angel_totp import connection
    head = connection._head

    def interrupted(line, headers):
        if "loginByPassword" in line:
            raise KeyboardInterrupt
        return head(line, headers)

    monkeypatch.setattr(connection, "_head", interrupted)
    with Scripted(LOGIN_OK, PROFILE_OK) as server:
        error = caught(angel_totp.login_from_env, None, environ=settings(server.url),
                       min_validity=0, timeout=3)
    assert isinstance(error, KeyboardInterrupt)
    assert_safe(error)


# A careless user of the login check.

@pytest.mark.time_bound(10)
@pytest.mark.parametrize("argv", [["--json", "--dry-run"], ["--dry-run", "--json"]])
def test_json_with_dry_run_is_one_object_not_the_requests_as_text(monkeypatch, capsys, argv):
    """Broke: --json --dry-run printed the requests as text lines and exited 0, so a
    script that parses the one JSON object --json promises failed on the first line."""
    result = run_in_process(monkeypatch, capsys, *argv, settings=settings_for(None))
    assert result.returncode == 2
    assert result.json()["errorcode"] == "USAGE" and "--dry-run" in result.json()["message"]


@pytest.mark.time_bound(10)
def test_ctrl_c_while_waiting_behind_a_bad_login_reply_chains_no_echoed_pin(monkeypatch):
    """A firewall page that quotes the login's body back (PIN and all) on a kept-alive
    connection: Ctrl-C while looking for bytes behind it must not chain the page's
    reading, whose frames hold the page, to the interrupt a tracker records."""
    from angel_totp import connection

    def interrupted(self, seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(connection._Link, "closes_within", interrupted)
    page = http_reply(f"<html>Request Rejected: password={PIN}</html>".encode())
    with Scripted(CLOCK_PAGE, page) as server:
        error = caught(angel_totp.login_from_env, None, environ=settings(server.url),
                       min_validity=0, timeout=3, server_time=True)
    assert isinstance(error, KeyboardInterrupt)
    assert_safe(error)


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.time_bound(10)
@pytest.mark.parametrize("name, status, errorcode", [("SIGINT", 130, "INTERRUPTED"),
                                                     ("SIGTERM", 143, "TERMINATED")])
def test_a_signal_during_the_wait_for_the_close_is_one_json_object(tmp_path, name, status,
                                                                   errorcode):
    """The logout's reply is read and the check waits for the server to close, which this
    one never does: Ctrl-C or SIGTERM then ends the run at once with its one object."""
    import signal
    with Scripted(LOGIN_OK, PROFILE_OK, DONE, honours_close=False) as server:
        env = {**clean_env(), **settings(server.url)}
        proc = subprocess.Popen([sys.executable, str(LOGIN_CHECK), "--json", "--timeout", "5",
                                 "--min-validity", "0"], cwd=tmp_path, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        out, err = signal_when(proc, lambda: len(server.requests) >= 3,  # logout asked for
                               getattr(signal, name), within=8, ends_within=5)
    assert proc.returncode == status, err
    assert json.loads(out)["errorcode"] == errorcode
    assert "Traceback" not in err
    assert_clean_output(out + err)
    assert JWT not in out + err and PIN not in out + err


@pytest.mark.time_bound(10)
@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_just_after_the_login_still_logs_out(monkeypatch, capsys, as_json):
    """Broke: Ctrl-C in the moment after login() returned and before the logout began
    (while the check noted the session's tokens for its mask) ended the run with the
    session open: no logout was tried."""
    from angel_totp.cli import console
    hide = console.hide

    def interrupted(*values):
        hide(*values)
        if JWT in values:
            raise KeyboardInterrupt

    monkeypatch.setattr(console, "hide", interrupted)
    with Scripted(LOGIN_OK, PROFILE_OK, DONE) as server:
        result = run_in_process(monkeypatch, capsys, "--timeout", "3",
                                *(["--json"] if as_json else []),
                                settings=settings_for(server), tokens=(JWT, REFRESH))
    assert result.returncode == 130
    assert server.lines()[-1] == "POST logout"
    if as_json:
        assert result.json()["errorcode"] == "INTERRUPTED"


# Nothing a server does may print a traceback, not even in Python's development mode.

@pytest.mark.time_bound(10)
@pytest.mark.parametrize("steps", [["hang"], [b"HTTP/1.1 103 Early Hints\r\n\r\n", "hang"],
                                   [b"HTTP/1.1 200 OK\r\nContent-Le", "close"]],
                         ids=["silent", "interim-then-silent", "cut-in-the-headers"])
def test_a_reply_that_never_completes_prints_no_traceback_in_development_mode(tmp_path,
                                                                            steps):
    """Broke: under python -X dev (PYTHONDEVMODE=1), a reply whose headers never came left
    an HTTPResponse that, collected at exit, printed "Exception ignored in: <http.client.
    HTTPResponse ...> Traceback ... ValueError: I/O operation on closed file" after the
    one-line error (a bot's pytest reports the same as an unraisable exception)."""
    with Scripted(steps) as server:
        result = subprocess.run([sys.executable, "-X", "dev", str(LOGIN_CHECK), "--timeout",
                                 "0.5", "--min-validity", "0"], cwd=tmp_path,
                                env={**clean_env(), **settings(server.url)},
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=8)
    assert result.returncode == 3, result
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 2, \
        result.stderr
    assert_clean_output(result.stdout + result.stderr)


class _JsonInterrupted:
    """json, where Ctrl-C lands while a login's body is turned into text."""

    def __getattr__(self, name: str):
        return getattr(json, name)

    @staticmethod
    def dumps(obj, **kwargs):  # the frame json.dumps has: obj holds the body
        if isinstance(obj, dict) and "password" in obj:
            raise KeyboardInterrupt
        return json.dumps(obj, **kwargs)


@pytest.mark.time_bound(10)
def test_ctrl_c_while_the_login_body_is_written_as_json_leaves_no_credential(monkeypatch):
    """Broke: json.dumps's frame (which a tracker records like any other) held the login
    body, PIN and code as plain text, when Ctrl-C landed as the body was made."""
    from angel_totp import protocol
    monkeypatch.setattr(protocol, "json", _JsonInterrupted())
    with Scripted(LOGIN_OK, PROFILE_OK) as server:
        error = caught(angel_totp.login_from_env, None, environ=settings(server.url),
                       min_validity=0, timeout=3)
    assert isinstance(error, KeyboardInterrupt)
    assert_safe(error)


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.time_bound(10)
def test_sigterm_as_the_run_gives_back_its_signal_handlers_shows_no_traceback(monkeypatch,
                                                                            capsys):
    """SIGTERM just as the console gave back the handler it found (the loader's, which
    raises) and before it ignored SIGTERM for good: the run's end must not turn into an
    escaping exception (a traceback) or a kill."""
    import signal

    import angel_totp.cli
    from angel_totp.cli import console
    set_handler = console._set_handler

    def then_sigterm(number, handler):
        previous = set_handler(number, handler)
        if number == signal.SIGTERM and handler is angel_totp.cli._terminated:
            os.kill(os.getpid(), signal.SIGTERM)  # delivered at the next instruction
        return previous

    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(console, "_set_handler", then_sigterm)
    monkeypatch.setattr(sys, "argv", ["test_api_connection.py", "--version"])
    try:
        status = angel_totp.cli.angel_login_check()
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)
    assert status == 0
    out, err = capsys.readouterr()
    assert out.startswith("test_api_connection.py ") and err == ""
    assert_clean_output(out + err)

"""The login check against a hostile network and server (issue 9).

Every case that was seen to hang, leak, crash or forge output ends as the
contract says. Each test bounds its own time, and checks that no credential
and no control character reached the output (check() and run_in_process()
do both). A subprocess where the process's own exit code, signals or
streams are the point; in-process elsewhere, for speed. No test touches the
network: names are resolved by a hook (login_helpers.resolver_hook).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from conftest import (
    ANGEL_SECRET,
    API_KEY,
    CLIENT_CODE,
    LOGIN_CHECK,
    PIN,
    assert_clean_output,
    clean_env,
    login_env,
    write_env_file,
)
from hostile_server import HostileServer
from login_helpers import (
    STARTUP_S,
    assert_nothing_leaked,
    check,
    resolver_hook,
    run_in_process,
    settings_for,
)
from smartapi_standin import LOGIN, LOGOUT, PROFILE, usual

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX signals and shell redirections")

# --timeout 0.5: a verdict within 0.5 + 1 s, plus the start of a Python process.
TIMEOUT = "0.5"
WITHIN_TIMEOUT = 0.5 + 1 + STARTUP_S


# One wall-clock deadline per request.

@pytest.mark.parametrize("mode,tls,words", [
    ("trickle_head", False, "no complete reply within 0.5 s"),
    ("trickle_body", False, "no complete reply within 0.5 s"),
    ("trickle_chunked", False, "no complete reply within 0.5 s"),
    ("hang", False, "no complete reply within 0.5 s"),
    ("silent", True, "the TLS handshake timed out"),
])
def test_a_reply_that_trickles_or_stalls_ends_within_the_timeout(mode, tls, words):
    with HostileServer(mode, tls=tls, trickle_interval=0.05) as server:
        result = check("--timeout", TIMEOUT, "--json", env=login_env(server),
                       bound=WITHIN_TIMEOUT)
        assert server.received or tls  # it did reach the server
    assert result.returncode == 3, result.stderr
    verdict = result.json()
    assert verdict["errorcode"] == "TIMEOUT" and words in verdict["cause"]
    assert "--timeout" in verdict["hint"]


@pytest.mark.parametrize("args", [(), ("--server-time",)])
def test_a_resolver_that_never_answers_ends_within_the_timeout(tmp_path_factory, args):
    hook = resolver_hook(tmp_path_factory.mktemp("resolver"), "hang")
    env = clean_env(ANGEL_API_KEY=API_KEY, ANGEL_CLIENT_CODE=CLIENT_CODE, ANGEL_PIN=PIN,
                    TOTP_SECRET=ANGEL_SECRET, **hook)  # the default base URL: never resolved
    result = check("--timeout", TIMEOUT, *args, env=env, bound=WITHIN_TIMEOUT)
    assert result.returncode == 3
    assert "the server's name could not be resolved (name lookup timed out)" in result.lines()[0]


# Outside text: one line, no control characters, no credential.

HOSTILE = ("\x1b[2J\x1b]0;pwned\x07Invalid\r\nerror: forged line\u202eexe.gnp\x9b31m"
           "\x00\u200b\x7fend")


def test_escape_sequences_and_line_breaks_in_a_refusal_are_neutralised(standin):
    standin.fail_with("login", {"status": False, "message": HOSTILE,
                                "errorcode": "AB9999\x1b[31m\n", "data": None})
    result = check(server=standin)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.lines()) == 2  # one error line, one hint line: nothing forged
    assert result.lines()[0].startswith("error: Angel One refused the login: ")
    assert "error: forged line" in result.lines()[0] and "(AB9999)" in result.lines()[0]


def test_escape_sequences_and_line_breaks_in_the_profile_are_neutralised(standin):
    standin.profile_fields = {"name": "Eve\nLogin OK: forged (Z9)\x1b[1A\x1b[2K",
                              "exchanges": ["nse_cm\x1b[31m", "bse\r\ncm", "\u202emcf"]}
    result = check(server=standin)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("Login OK")] == [
        f"Login OK: Eve Login OK: forged (Z9) ({CLIENT_CODE})"]
    assert "exchanges: nse_cm, bse cm, mcf" in lines


def test_hostile_text_stays_clean_in_json_too(standin):
    standin.profile_fields = {"name": HOSTILE, "exchanges": [HOSTILE]}
    result = check("--json", server=standin)
    assert result.returncode == 0 and result.stdout.count("\n") == 1
    verdict = result.json()
    for text in (verdict["name"], *verdict["exchanges"]):
        assert_clean_output(text)  # not even as a JSON escape
        assert "\n" not in text and len(text) <= 200


TOKEN = "eyJhbGciOiJIUzUxMiJ9.SESSIONtokenFIXED0123456789abcdefghijklmnop"


def test_credentials_echoed_by_the_server_are_masked(standin):
    echo = (f"key {API_KEY.upper()} pin {PIN} secret {ANGEL_SECRET.lower()} "
            f"quoted {quote(API_KEY)} json {json.dumps(API_KEY)}")
    standin.fail_with("login", usual("AB1007", echo))
    result = check(server=standin)  # checks the secret, API key and PIN in any case
    assert result.returncode == 1
    assert "********" in result.lines()[0]


def test_session_tokens_echoed_in_the_profile_are_masked(standin):
    standin.token = TOKEN
    standin.profile_fields = {"name": f"you are {TOKEN.lower()}", "exchanges": [quote(TOKEN)]}
    result = check("--json", server=standin)
    assert result.returncode == 0
    assert_nothing_leaked(result.output, TOKEN[-20:], TOKEN[:24], "SESSIONtokenFIXED")
    assert "********" in result.json()["name"]


# Replies of the wrong type: a malformed reply (3), or the field left out.

BAD_STATUS = {"status": "true", "message": "SUCCESS", "errorcode": "",
              "data": {"jwtToken": TOKEN}}


@pytest.mark.parametrize("endpoint,reply,words", [
    ("login", BAD_STATUS, "its status is not true or false"),
    ("login", {"success": "false", "message": "x", "errorCode": "AG8001"},
     "its status is not true or false"),
    ("login", {"status": True, "message": "SUCCESS", "data": {"jwtToken": 12345}}, "no token"),
    ("login", {"status": True, "message": "SUCCESS", "data": None}, "no token"),
    ("login", {"status": True, "message": "SUCCESS", "data": "ok"}, "no token"),
    ("login", [1, 2], "not JSON"),
])
def test_a_reply_of_the_wrong_type_is_malformed(standin, monkeypatch, capsys, endpoint, reply,
                                                words):
    standin.fail_with(endpoint, json.dumps(reply).encode())
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    assert result.returncode == 3
    assert words in result.json()["cause"]
    assert standin.calls(PROFILE) == []


@pytest.mark.parametrize("fields,shown,not_shown", [
    ({"exchanges": 5}, [], ["exchanges:"]),
    ({"exchanges": "nse_cm"}, [], ["exchanges:", "n, s, e"]),
    ({"exchanges": ["nse_cm", 7, None, {"x": 1}, "bse_cm"]}, ["exchanges: nse_cm, bse_cm"], []),
    ({"name": 42}, ["Login OK: (no name in the profile)"], []),
    ({"name": ["Eve"]}, ["Login OK: (no name in the profile)"], []),
])
def test_a_profile_field_of_the_wrong_type_is_left_out(standin, monkeypatch, capsys, fields,
                                                       shown, not_shown):
    standin.profile_fields = fields
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin),
                            tokens=tuple(standin.issued))
    assert result.returncode == 0, result.stderr
    for words in shown:
        assert words in result.stdout
    for words in not_shown:
        assert words not in result.stdout
    assert standin.sessions == set()


def test_a_profile_with_null_data_still_logs_out(standin, monkeypatch, capsys):
    standin.fail_with("profile", {"status": True, "message": "SUCCESS", "data": None})
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    assert result.returncode == 0 and result.json()["name"] == "(no name in the profile)"
    assert len(standin.calls(LOGOUT)) == 1


# Tokens with CR/LF: a malformed reply (3), and no session left open that could be closed.

@pytest.mark.parametrize("token", ["eyJ.abc\r\nX-Injected: yes", "eyJ.abc\ndef",
                                   "eyJ.abc def", "eyJ.abc\u00e9"])
def test_a_session_token_that_cannot_be_sent_back_is_a_malformed_reply(standin, monkeypatch,
                                                                       capsys, token):
    standin.token = token
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    assert result.returncode == 3
    verdict = result.json()
    assert verdict["errorcode"] == "BAD_REPLY"
    assert "could not be sent back in a header" in verdict["cause"]
    assert "Injected" not in result.output
    # With that token nothing can be sent: no profile, and no logout can close it.
    assert standin.calls(PROFILE) == [] and standin.calls(LOGOUT) == []


@pytest.mark.parametrize("field", ["refreshToken", "feedToken"])
def test_another_token_with_a_line_break_still_logs_the_session_out(standin, monkeypatch,
                                                                    capsys, field):
    standin.login_fields = {field: "abc\r\nX-Injected: yes"}
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 3
    assert "could not be sent back in a header" in result.lines()[0]
    assert len(standin.calls(LOGOUT)) == 1 and standin.sessions == set()


# Settings: checked before anything is sent, named and never shown.

@pytest.mark.parametrize("name,value", [
    ("ANGEL_API_KEY", "kQ7p Z2mXw9"),
    ("ANGEL_API_KEY", "kQ7p\nZ2mXw9"),
    ("ANGEL_API_KEY", "kQ7p\x1b[31mZ2mXw9"),
    ("ANGEL_API_KEY", "kQ7p\u202eZ2mXw9"),
    ("ANGEL_API_KEY", "kQ7p\u00e9Z2mXw9"),
    ("ANGEL_PIN", "9081\t72"),
    ("ANGEL_PIN", "908 172"),
    ("ANGEL_CLIENT_CODE", "A12 3456"),
    ("ANGEL_CLIENT_CODE", "A12\x1b3456"),
    ("TOTP_SECRET", "JBSWY3DP\x1bEHPK3PXPJBSWY3DPEH"),
    ("ANGEL_BASE_URL", "http://a b"),
    ("ANGEL_BASE_URL", "http://127.0.0.1\n:1"),
])
def test_a_setting_with_a_control_character_or_space_inside_exits_2(standin, monkeypatch, capsys,
                                                                    name, value):
    result = run_in_process(monkeypatch, capsys,
                            settings=settings_for(standin, **{name: value}))
    assert result.returncode == 2
    assert result.lines()[0].startswith(f"error: {name} ")
    assert_nothing_leaked(result.output, value, value.strip()[:6])
    assert standin.requests == [] and standin.connections == 0


def test_a_ready_code_with_a_line_break_inside_exits_2(standin, monkeypatch, capsys):
    settings = settings_for(standin, TOTP_SECRET=None, TOTP="123\n456")
    result = run_in_process(monkeypatch, capsys, settings=settings)
    assert result.returncode == 2
    assert result.lines()[0] == "error: TOTP is not a 6-digit code"
    assert standin.requests == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:99999", "http://a b", "https://user:pw@127.0.0.1:{port}",
    "http://127.0.0.1:{port}/?q=1", "http://127.0.0.1:{port}#top", "http://127.0.0.1:{port}?",
    "ftp://127.0.0.1:{port}", "https://", "http://127.0.0.1:0", "http://127.0.0.1:port",
    "http://-bad-.example", "http://127.0.0.1:{port}/caf\u00e9", "127.0.0.1:{port}",
])
@pytest.mark.parametrize("source", ["--base-url", "ANGEL_BASE_URL"])
def test_a_bad_base_url_exits_2_before_anything_is_sent(standin, monkeypatch, capsys, url,
                                                        source):
    url = url.format(port=standin.url.rsplit(":", 1)[1])
    args = ("--base-url", url) if source == "--base-url" else ()
    settings = settings_for(standin, ANGEL_BASE_URL=None if args else url)
    result = run_in_process(monkeypatch, capsys, *args, settings=settings)
    assert result.returncode == 2
    assert result.lines()[0].startswith(f"error: {source} ")
    assert standin.connections == 0
    assert "user:pw" not in result.output and "caf" not in result.output


@pytest.mark.parametrize("url,warned", [
    ("http://127.attacker.example", True), ("http://localhost.attacker.example", True),
    ("http://10.0.0.1:8080", True), ("http://localhost:8080", False),
    ("http://127.0.0.5:8080", False), ("http://[::1]:8080", False),
    ("https://apiconnect.angelone.in", False),
])
def test_plain_http_is_warned_about_unless_the_host_is_this_machine(monkeypatch, capsys, url,
                                                                    warned):
    result = run_in_process(monkeypatch, capsys, "--dry-run", "--base-url", url,
                            settings=settings_for())
    assert result.returncode == 0
    assert ("warning: --base-url uses plain http" in result.stderr) is warned


# Env files: one the check cannot read or parse exits 2; nothing was sent.

@pytest.mark.parametrize("content", [b"ANGEL_PIN=90\xff\xfe81\n", b"TOTP_SECRET='unclosed\n"])
def test_an_env_file_that_cannot_be_read_exits_2(standin, monkeypatch, capsys, workdir,
                                                 content):
    (workdir / ".env").write_bytes(content)
    (workdir / ".env").chmod(0o600)
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin))
    assert result.returncode == 2
    assert result.lines()[0].startswith("error: .env")
    assert result.lines()[1].startswith("hint: ") and "nothing was sent" in result.lines()[1]
    assert "untouched" not in result.output
    assert standin.requests == []


def test_an_env_file_that_is_a_folder_exits_2(standin, monkeypatch, capsys, workdir):
    (workdir / "settings").mkdir()
    result = run_in_process(monkeypatch, capsys, "--env-file", "settings",
                            settings=settings_for(standin))
    assert result.returncode == 2 and "untouched" not in result.output
    assert standin.requests == []


def test_a_setting_from_the_env_file_is_checked_and_never_shown(standin, monkeypatch, capsys,
                                                                workdir):
    write_env_file(workdir, "ANGEL_PIN=9081 72\n")
    result = run_in_process(monkeypatch, capsys, settings=settings_for(standin, ANGEL_PIN=None))
    assert result.returncode == 2
    assert result.lines()[0] == "error: ANGEL_PIN has a control character or a space inside"
    assert "9081" not in result.output and standin.requests == []


# The process's own streams.

def _shell(command: str, *args: str, env: dict, timeout: float = 20) -> subprocess.CompletedProcess:
    """The login check with its streams arranged by ``command`` (a shell redirection)."""
    script = f'exec "$@" {command}'
    return subprocess.run(["sh", "-c", script, "sh", sys.executable, str(LOGIN_CHECK),
                           "--min-validity", "0", *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def test_an_ascii_only_terminal_gets_plus_minus_instead_of_a_crash(standin):
    env = login_env(standin, PYTHONIOENCODING="ascii")
    result = check(server=standin, env=env)
    assert result.returncode == 0, result.stderr
    assert "+/-" in result.stdout and result.output.isascii()


def test_dry_run_into_a_broken_pipe_exits_141_silently(standin):
    reader, writer = os.pipe()
    os.close(reader)  # like `| head -1` once head is gone
    try:
        result = subprocess.run([sys.executable, str(LOGIN_CHECK), "--dry-run"], stdout=writer,
                                stderr=subprocess.PIPE, text=True, env=login_env(standin),
                                timeout=20)
    finally:
        os.close(writer)
    assert result.returncode == 141
    assert result.stderr == ""


@posix_only
def test_dry_run_with_stdout_closed_exits_141_silently(standin):
    result = _shell(">&-", "--dry-run", env=login_env(standin))
    assert result.returncode == 141
    assert result.stderr == ""


def test_a_broken_pipe_after_a_good_login_still_logged_out(standin):
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run([sys.executable, str(LOGIN_CHECK), "--min-validity", "0"],
                                stdout=writer, stderr=subprocess.PIPE, text=True,
                                env=login_env(standin), timeout=20)
    finally:
        os.close(writer)
    assert result.returncode == 141 and result.stderr == ""
    assert len(standin.calls(LOGOUT)) == 1 and standin.sessions == set()


@posix_only
@pytest.mark.parametrize("change,code", [({"ANGEL_PIN": "111111"}, 1), ({"ANGEL_PIN": None}, 2)])
def test_with_stderr_closed_messages_are_dropped_not_sent_to_stdout(standin, change, code):
    env = login_env(standin, **change)
    env.pop("ANGEL_PIN", None) if change["ANGEL_PIN"] is None else None
    result = _shell("2>&-", env=env)
    assert result.returncode == code
    assert result.stdout == ""


# Ctrl-C.

def _start(standin, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(LOGIN_CHECK), "--min-validity", "0", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=login_env(standin))


def _wait_for(condition, seconds: float = 10) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "the run never got there"
        time.sleep(0.02)


def _interrupt(process: subprocess.Popen) -> tuple[float, str, str]:
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)
    return time.monotonic() - started, out, err


def _assert_interrupted(process: subprocess.Popen, out: str, err: str) -> None:
    assert process.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert_clean_output(out + err)
    assert_nothing_leaked(out + err)


@posix_only
def test_ctrl_c_during_a_hanging_profile_logs_out_once_then_ends(standin):
    standin.hang("profile")
    process = _start(standin, "--timeout", "20")
    _wait_for(lambda: standin.calls(PROFILE))
    elapsed, out, err = _interrupt(process)
    _assert_interrupted(process, out, err)
    assert elapsed < 1.0  # the logout answered at once
    assert len(standin.calls(LOGOUT)) == 1 and standin.sessions == set()


@posix_only
def test_ctrl_c_waits_at_most_2_s_for_a_logout_that_hangs(standin):
    standin.hang("profile")
    standin.hang("logout")
    process = _start(standin, "--timeout", "20")
    _wait_for(lambda: standin.calls(PROFILE))
    elapsed, out, err = _interrupt(process)
    _assert_interrupted(process, out, err)
    assert 1.5 < elapsed < 1 + 2
    assert len(standin.calls(LOGOUT)) == 1  # one try, never a retry


@posix_only
def test_a_second_ctrl_c_skips_the_logout(standin):
    standin.hang("profile")
    standin.hang("logout")
    process = _start(standin, "--timeout", "20")
    _wait_for(lambda: standin.calls(PROFILE))
    process.send_signal(signal.SIGINT)
    _wait_for(lambda: standin.calls(LOGOUT))
    elapsed, out, err = _interrupt(process)
    _assert_interrupted(process, out, err)
    assert elapsed < 1.0


@posix_only
def test_ctrl_c_before_a_session_exists_ends_at_once_without_a_logout(standin):
    standin.hang("login")
    process = _start(standin, "--timeout", "20")
    _wait_for(lambda: standin.calls(LOGIN))
    elapsed, out, err = _interrupt(process)
    _assert_interrupted(process, out, err)
    assert elapsed < 1.0
    assert standin.calls(LOGOUT) == []  # no token came back: nothing to close


@posix_only
def test_sigterm_during_a_hanging_profile_logs_out_then_exits_143(standin):
    standin.hang("profile")
    process = _start(standin, "--timeout", "20")
    _wait_for(lambda: standin.calls(PROFILE))
    started = time.monotonic()
    process.terminate()
    out, err = process.communicate(timeout=10)
    assert time.monotonic() - started < 1.0
    assert process.returncode == 143 and "terminated" in err and "Traceback" not in err
    assert len(standin.calls(LOGOUT)) == 1 and standin.sessions == set()


# One connection, headers as Angel One's SDKs write them.

@pytest.mark.parametrize("args,paths", [
    ((), [LOGIN, PROFILE, LOGOUT]),
    (("--server-time",), ["/", LOGIN, PROFILE, LOGOUT]),
])
def test_the_requests_share_one_connection_with_headers_in_exact_case(standin, args, paths):
    result = check(*args, server=standin)
    assert result.returncode == 0, result.stderr
    assert [request["path"] for request in standin.requests] == paths
    assert standin.connections == 1
    assert standin.violations == []

"""Red team, round four, the login side: the last request's close check, the output gate.

A hostile server (the Scripted raw server of test_redteam_net), a careless user of the
login check, and an error tracker, against what this session changed.
"""

from __future__ import annotations

import json

import pytest
from conftest import assert_clean_output
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
    with Scripted([CLOCK_PAGE, 0.05, STRAYS[stray]], [0.1, LOGIN_OK], PROFILE_OK,
                  DONE) as server:
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
    with Scripted([CLOCK_PAGE, 0.05, CLOCK_PAGE], [0.1, LOGIN_OK], PROFILE_OK) as server:
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

"""What a red-team pass broke on the login side, each kept broken-proof here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ANGEL_SECRET, API_KEY, CLIENT_CODE, LOGIN_CHECK, PIN, Stopwatch, login_env
from login_helpers import run_in_process, settings_for
from smartapi_standin import usual

import angel_totp
from angel_totp.cli import console
from angel_totp.clock import ClockOffset, offset_from_reply
from angel_totp.errors import InvalidInputError, NoAnswerError
from angel_totp.secret import parse_secret
from angel_totp.servertime import code_for_server


@pytest.fixture(autouse=True)
def forget_hidden(monkeypatch):
    monkeypatch.setattr(console, "_hidden", [])


def test_a_credential_split_by_invisible_or_control_characters_is_still_masked(
        standin, monkeypatch, capsys):
    pieces = (f"pin {PIN[:3]}\u200b{PIN[3:]} key {API_KEY[:5]}\x1b[0m{API_KEY[5:]} "
              f"soft {PIN[:2]}\u00ad{PIN[2:]} secret {ANGEL_SECRET[:10]}\u200b{ANGEL_SECRET[10:]} "
              f"spaced {' '.join(PIN)} url {''.join(f'%{b:02X}' for b in PIN.encode())}")
    standin.fail_with("login", usual("AB9999", pieces))
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    assert result.returncode == 1
    assert "********" in result.json()["message"]
    for value in (PIN, API_KEY, ANGEL_SECRET[:12], ANGEL_SECRET[10:22]):
        squeezed = "".join(result.output.split()).replace("\u00ad", "")
        assert value.lower() not in squeezed.lower()


def test_a_clock_offset_that_spells_the_pin_is_left_out_of_the_json_not_corrupting_it():
    console.hide(PIN)
    shift = float(PIN) + 0.07
    assert console.shown_number(round(shift, 2)) is None
    assert console.shown_number(12.5) == 12.5


def test_json_stays_one_valid_object_when_a_number_would_show_a_credential(
        standin, monkeypatch, capsys):
    standin.clock_shift = -(float(PIN) + 0.5)  # the local clock then reads PIN.x s ahead
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    payload = result.json()  # valid JSON, whatever was masked
    assert payload.get("clock_offset_s") is None
    assert PIN not in result.stdout


def test_server_time_with_no_room_for_the_clock_is_refused_before_anything_is_sent(
        standin, monkeypatch, capsys):
    result = run_in_process(monkeypatch, capsys, "--server-time", "--min-validity", "29",
                            settings=settings_for(standin))
    assert result.returncode == 2
    assert "--min-validity" in result.stderr and "28" in result.stderr
    assert standin.requests == []
    with pytest.raises(InvalidInputError) as caught:
        angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=standin.url,
                         min_validity=29, server_time=True)
    assert caught.value.what == "min_validity"
    assert standin.requests == []


def test_a_clock_too_loose_for_the_validity_asked_is_no_answer_not_bad_input():
    watch = Stopwatch()
    loose = ClockOffset(-5.0, 5.0)  # a slow reply: +/- 5 s
    with pytest.raises(NoAnswerError) as caught:
        code_for_server(parse_secret(ANGEL_SECRET), 25, loose)
    assert caught.value.errorcode == "CLOCK_UNCERTAIN"
    assert "min_validity" in caught.value.hint
    assert watch.seconds < 1


@pytest.mark.parametrize("date", ["Fri, 31 Dec 9999 23:59:59 GMT",
                                  "Wed, 31 Dec 1969 23:59:59 GMT"])
def test_a_date_no_code_exists_for_is_not_a_usable_date(date):
    assert offset_from_reply(1.0, 2.0, date) is None


def test_json_prints_one_object_for_a_usage_failure_too(monkeypatch, capsys):
    result = run_in_process(monkeypatch, capsys, "--json",
                            settings=settings_for(None, ANGEL_PIN=None))
    assert result.returncode == 2
    payload = result.json()
    assert payload["ok"] is False and payload["errorcode"] == "USAGE"
    assert "ANGEL_PIN" in payload["message"]
    assert result.stderr.startswith("error: ANGEL_PIN is not set in the environment or ")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_on_stdout_is_an_error_not_a_bug(tmp_path):
    env = login_env(type("S", (), {"url": "http://127.0.0.1:9"})())
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, str(LOGIN_CHECK), "--dry-run"], stdout=full,
                                stderr=subprocess.PIPE, text=True, env=env, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("error: could not write the output: no space left")
    assert "bug" not in result.stderr and "Traceback" not in result.stderr


def test_a_pin_of_non_ascii_digits_is_warned_about(monkeypatch, capsys):
    result = run_in_process(monkeypatch, capsys, "--dry-run",
                            settings=settings_for(None, ANGEL_PIN="\u0669\u0660\u0668\u0661"))
    assert "ANGEL_PIN is not all digits" in result.stderr


# Issue 16, item 2: a mask never shows what it hides.

@pytest.mark.time_bound(20)
@pytest.mark.parametrize("args", [(), ("--dry-run",)])
def test_a_pin_inside_the_client_code_is_not_masked_there(monkeypatch, capsys, args):
    # With client code A104826 and PIN 4826, "A10********" would tell anyone
    # who knows the client code (not a secret) the PIN.
    from smartapi_standin import StandIn
    server = StandIn(api_key=API_KEY, client_code="A104826", pin="4826",
                     secret=ANGEL_SECRET).start()
    try:
        settings = settings_for(server, ANGEL_CLIENT_CODE="A104826", ANGEL_PIN="4826")
        result = run_in_process(monkeypatch, capsys, *args, settings=settings)
    finally:
        server.stop()
    assert result.returncode == 0, result.output
    assert "A10*" not in result.output
    if args:
        assert '"clientcode": "A104826"' in result.stdout
        assert '"password": "********"' in result.stdout
    else:
        assert "Login OK: Test User (A104826)" in result.stdout


@pytest.mark.time_bound(20)
def test_echoes_in_other_forms_and_anyones_bearer_token_are_masked(standin, monkeypatch, capsys):
    import base64
    from urllib.parse import quote
    jwt = "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJCMTIzNDU2In0.c29tZW9uZS1lbHNlcy10b2tlbg"
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in API_KEY)
    forms = [quote(API_KEY), base64.b64encode(API_KEY.encode()).decode(), full_width,
             "\u3164".join(API_KEY), "\ufe0f".join(API_KEY), "\u034f".join(API_KEY), jwt]
    standin.fail_with("login", usual("AB9999", " | ".join(forms)))
    result = run_in_process(monkeypatch, capsys, "--json", settings=settings_for(standin))
    assert result.returncode == 1
    message = result.json()["message"]
    assert message.count("********") == len(forms)
    assert "eyJ" not in result.output and "\u3164" not in result.output
    for form in forms:
        assert form not in result.output

"""test_api_connection.py's prompts for missing settings, through a pseudo-terminal."""

from __future__ import annotations

import os

import pytest
from conftest import ANGEL_SECRET, API_KEY, CLIENT_CODE, LOGIN_CHECK, PIN, Dialogue, clean_env
from smartapi_standin import LOGIN

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.skipif(os.name == "nt", reason="pexpect.spawn needs a POSIX pty")


def spawn(folder, env):
    dialogue = Dialogue(LOGIN_CHECK, cwd=folder, env=env, timeout=20)
    return dialogue.child, dialogue


def finish(child, dialogue) -> tuple[int, str]:
    return dialogue.finish(ANGEL_SECRET, API_KEY, PIN)


def test_every_missing_setting_is_asked_for_and_secrets_are_hidden(standin, tmp_path):
    import pyotp
    child, transcript = spawn(tmp_path, clean_env(ANGEL_BASE_URL=standin.url))
    child.expect(r"API key \(input hidden\): ")
    child.sendline(API_KEY)
    child.expect(r"Client code \(e\.g\. A123456\): ")
    child.sendline(CLIENT_CODE.lower())
    child.expect(r"PIN \(input hidden\): ")
    child.sendline(PIN)
    child.expect("6-digit code from your authenticator app: ")
    child.sendline(pyotp.TOTP(ANGEL_SECRET).now())
    status, text = finish(child, transcript)
    assert status == 0, text
    assert f"Login OK: Test User ({CLIENT_CODE})" in text
    assert len(standin.calls(LOGIN)) == 1 and standin.sessions == set()


def test_only_the_missing_ones_are_asked_for(standin, tmp_path):
    env = clean_env(ANGEL_BASE_URL=standin.url, ANGEL_API_KEY=API_KEY,
                    ANGEL_CLIENT_CODE=CLIENT_CODE, TOTP_SECRET=ANGEL_SECRET)
    child, transcript = spawn(tmp_path, env)
    child.expect(r"PIN \(input hidden\): ")
    child.sendline(PIN)
    status, text = finish(child, transcript)
    assert status == 0, text
    assert "API key" not in text and "6-digit code" not in text


def test_ctrl_c_at_the_pin_prompt_exits_130_and_sends_nothing(standin, tmp_path):
    env = clean_env(ANGEL_BASE_URL=standin.url, ANGEL_API_KEY=API_KEY,
                    ANGEL_CLIENT_CODE=CLIENT_CODE, TOTP_SECRET=ANGEL_SECRET)
    child, transcript = spawn(tmp_path, env)
    child.expect("PIN")
    child.sendintr()
    status, text = finish(child, transcript)
    assert status == 130
    assert standin.requests == []


def test_a_typed_code_that_is_not_6_digits_is_refused(standin, tmp_path):
    env = clean_env(ANGEL_BASE_URL=standin.url, ANGEL_API_KEY=API_KEY,
                    ANGEL_CLIENT_CODE=CLIENT_CODE, ANGEL_PIN=PIN)
    child, transcript = spawn(tmp_path, env)
    child.expect("6-digit code")
    child.sendline("12345")
    status, text = finish(child, transcript)
    assert status == 2
    assert "error: the code must be 6 digits" in text
    assert standin.requests == []


def test_a_bad_setting_is_reported_before_any_prompt(standin, tmp_path):
    env = clean_env(ANGEL_BASE_URL=standin.url, ANGEL_API_KEY="kQ7p Z2mXw9",
                    ANGEL_CLIENT_CODE=CLIENT_CODE, TOTP_SECRET=ANGEL_SECRET)  # no PIN
    child, transcript = spawn(tmp_path, env)
    status, text = finish(child, transcript)
    assert status == 2
    assert "error: ANGEL_API_KEY has a control character or a space inside" in text
    assert "PIN" not in text and "Z2mXw9" not in text
    assert standin.requests == []


def test_a_typed_client_code_is_checked_and_never_echoed_in_the_error(standin, tmp_path):
    env = clean_env(ANGEL_BASE_URL=standin.url, ANGEL_API_KEY=API_KEY, ANGEL_PIN=PIN,
                    TOTP_SECRET=ANGEL_SECRET)
    child, transcript = spawn(tmp_path, env)
    child.expect(r"Client code \(e\.g\. A123456\): ")
    child.sendline("me@example.com")
    status, text = finish(child, transcript)
    assert status == 2
    assert "error: the client code is not letters and digits" in text
    assert standin.requests == []

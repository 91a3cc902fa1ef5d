"""No frame of the library holds a secret in plain text when an error is raised.

A bot's error tracker (Sentry by default, rich, better-exceptions) records
every traceback frame's local variables, by repr and by walking tuples,
lists and dicts. Each error path below is taken as a bot would take it, and
the traceback it raises is walked as the tracker walks it.

The credentials are module constants and each call is a lambda reading them
as globals, so that the only frames holding them are the library's own.
"""

from __future__ import annotations

import pytest
from conftest import ANGEL_SECRET, assert_no_plain_credentials

from angel_totp import (
    AngelTotpError,
    EnvFileError,
    InvalidInputError,
    InvalidSecretError,
    MissingSecretError,
    code_at,
    code_from_env,
    fresh_code,
    parse_secret,
)
from angel_totp.codes import Code
from angel_totp.hidden import Hidden
from angel_totp.secret import TotpSecret
from angel_totp.settings import Setting, Settings

HEAD, TAIL = ANGEL_SECRET[:10], ANGEL_SECRET[11:]
BAD_LETTER = HEAD + "1" + TAIL          # position 11 is not base32
TOO_SHORT = ANGEL_SECRET[:15]
TOO_LONG = ANGEL_SECRET * 40            # 1,040 characters
AUTH_CODE = "482613"
URI = f"otpauth://totp/Angel:A1?secret={ANGEL_SECRET}&issuer=Angel"
URI_BAD_DIGITS = f"otpauth://totp/x?secret={ANGEL_SECRET}&digits={ANGEL_SECRET}"
URI_BAD_SECRET = f"otpauth://totp/x?secret={BAD_LETTER}"
URI_TWICE = f"otpauth://totp/x?secret={ANGEL_SECRET}&{ANGEL_SECRET}=1&{ANGEL_SECRET}=2"
# What each leaks if any frame holds it: pieces of the key, the code.
PIECES = (ANGEL_SECRET, HEAD, TAIL, ANGEL_SECRET.lower(), AUTH_CODE)


def raised(call, kind=AngelTotpError):
    try:
        call()
    except kind as error:
        return error
    pytest.fail("no error was raised")


REFUSED = {
    "invalid character": lambda: parse_secret(BAD_LETTER),
    "too short": lambda: parse_secret(TOO_SHORT),
    "too long": lambda: parse_secret(TOO_LONG),
    "authenticator code": lambda: parse_secret(AUTH_CODE),
    "bad URI parameter": lambda: parse_secret(URI_BAD_DIGITS),
    "bad URI secret": lambda: parse_secret(URI_BAD_SECRET),
    "repeated URI parameter": lambda: parse_secret(URI_TWICE),
    "hidden, invalid": lambda: parse_secret(Hidden(BAD_LETTER)),
    "fresh_code, invalid character": lambda: fresh_code(BAD_LETTER),
    "fresh_code, bad URI parameter": lambda: fresh_code(URI_BAD_DIGITS),
    "fresh_code, too long": lambda: fresh_code(TOO_LONG, 0),
    "fresh_code, authenticator code": lambda: fresh_code(AUTH_CODE),
    "code_at, invalid character": lambda: code_at(BAD_LETTER, 59),
    "code_at, bad URI parameter": lambda: code_at(URI_BAD_DIGITS, 59),
    "a TotpSecret made by hand": lambda: code_at(TotpSecret(BAD_LETTER), 59),  # type: ignore
}


@pytest.mark.time_bound(10)
@pytest.mark.parametrize("path", list(REFUSED))
def test_a_refused_secret_leaves_no_frame_holding_it(path):
    error = raised(REFUSED[path], InvalidSecretError)
    assert_no_plain_credentials(error, *PIECES, BAD_LETTER, TOO_SHORT)


AFTER_PARSING = {
    "fresh_code, bad min_validity": lambda: fresh_code(URI, min_validity=-1),
    "fresh_code, min_validity too long": lambda: fresh_code(ANGEL_SECRET, 29.96),
    "fresh_code, bad uncertainty": lambda: fresh_code(URI, uncertainty=20),
    "fresh_code, bad clock": lambda: fresh_code(ANGEL_SECRET, clock=3),
    "fresh_code, a clock out of range": lambda: fresh_code(URI, clock=lambda: -5.0),
    "fresh_code, on_wait fails": lambda: fresh_code(
        ANGEL_SECRET, 5, clock=lambda: 1_000_000_048.0, on_wait=_fails, sleep=_fails),
    "code_at, bad time": lambda: code_at(URI, -1),
    "code_at, time as text": lambda: code_at(ANGEL_SECRET, "59"),
}


def _fails(*args: object) -> None:
    # What a bot's callback sees: the code it is handed hides its digits.
    code = args[0]
    assert isinstance(code, Code) and code.totp not in repr(code)
    raise InvalidInputError("the bot's callback failed")


@pytest.mark.time_bound(10)
@pytest.mark.parametrize("path", list(AFTER_PARSING))
def test_an_error_after_parsing_leaves_no_frame_holding_the_secret(path):
    error = raised(AFTER_PARSING[path])
    assert_no_plain_credentials(error, *PIECES)


@pytest.mark.time_bound(10)
def test_code_from_env_frames_hold_no_secret(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text(f"TOTP_SECRET={BAD_LETTER}\n")
    error = raised(lambda: code_from_env(env_file), InvalidSecretError)
    assert_no_plain_credentials(error, *PIECES, BAD_LETTER)

    env_file.write_text(f"TOTP_SECRET='{URI_BAD_DIGITS}'\n")
    error = raised(lambda: code_from_env(env_file), InvalidSecretError)
    assert_no_plain_credentials(error, *PIECES)

    env_file.write_text(f"TOTP_SECRET={ANGEL_SECRET}\nANGEL_PIN={AUTH_CODE}\n")
    error = raised(lambda: code_from_env(env_file, min_validity=31), InvalidInputError)
    assert_no_plain_credentials(error, *PIECES)

    error = raised(lambda: code_from_env(env_file, key="NOT_THERE"))
    assert_no_plain_credentials(error, *PIECES)

    monkeypatch.setenv("TOTP_SECRET", AUTH_CODE)  # the environment wins
    error = raised(lambda: code_from_env(env_file), InvalidSecretError)
    assert_no_plain_credentials(error, *PIECES)


@pytest.mark.time_bound(10)
def test_a_missing_secret_leaves_nothing_of_the_file_in_any_frame(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"ANGEL_PIN={AUTH_CODE}\nOTHER={ANGEL_SECRET}\nTOTP_SECRET=\n")
    error = raised(lambda: code_from_env(env_file), MissingSecretError)
    assert "TOTP_SECRET is empty in the environment or" in error.message
    assert_no_plain_credentials(error, *PIECES)


@pytest.mark.time_bound(10)
def test_settings_frames_hold_no_file_text_on_a_syntax_error(tmp_path):
    """The reader's own frames are the env-file module's; ours must hold none of it."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"TOTP_SECRET={ANGEL_SECRET}\nANGEL_PIN='{AUTH_CODE}\n")
    error = raised(lambda: code_from_env(env_file), EnvFileError)
    ours = ("settings.py", "codes.py", "secret.py", "test_core_tracebacks.py")
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(ours):
            for value in tb.tb_frame.f_locals.values():
                shown = repr(value)
                assert ANGEL_SECRET not in shown and AUTH_CODE not in shown
        tb = tb.tb_next


def test_the_values_hold_credentials_as_hidden_when_walked_field_by_field():
    secret = parse_secret(URI)
    code = code_at(secret, 59)
    setting = Settings(None, environ={"ANGEL_PIN": AUTH_CODE}).get("ANGEL_PIN")
    assert (setting.value, secret.base32, len(code.totp)) == (AUTH_CODE, ANGEL_SECRET, 6)
    for value in (secret, code, setting):
        assert isinstance(value, tuple)  # a NamedTuple: trackers walk each field
        walked = [repr(field) for field in value] + [repr(value), str(value)]
        for text in walked:
            assert ANGEL_SECRET not in text and AUTH_CODE not in text and code.totp not in text
        assert "<hidden>" in repr(value)
    assert Setting("ANGEL_PIN", None, "").value is None

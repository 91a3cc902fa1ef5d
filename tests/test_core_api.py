"""The codes API as a bot uses it: bad arguments, missing settings, its value types."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ANGEL_SECRET, ROOT, assert_no_leak, clean_env

import angel_totp
from angel_totp import (
    ClockOffset,
    Code,
    InvalidInputError,
    MissingSecretError,
    MissingSettingError,
    Setting,
    Settings,
    TotpSecret,
    code_at,
    code_from_env,
    fresh_code,
    parse_secret,
)
from angel_totp.settings import missing_settings_error

BAD_CALLS = {
    "parse_secret(123)": lambda: parse_secret(123),
    "parse_secret(bytes)": lambda: parse_secret(ANGEL_SECRET.encode()),
    "parse_secret(None)": lambda: parse_secret(None),
    "fresh_code(123)": lambda: fresh_code(123),
    "fresh_code(min_validity='5')": lambda: fresh_code(ANGEL_SECRET, "5"),
    "fresh_code(min_validity=None)": lambda: fresh_code(ANGEL_SECRET, None),
    "fresh_code(min_validity=10**400)": lambda: fresh_code(ANGEL_SECRET, 10 ** 400),
    "fresh_code(clock=3)": lambda: fresh_code(ANGEL_SECRET, clock=3),
    "fresh_code(clock gives text)": lambda: fresh_code(ANGEL_SECRET, clock=lambda: "now"),
    "fresh_code(clock gives None)": lambda: fresh_code(ANGEL_SECRET, clock=lambda: None),
    "fresh_code(sleep=None)": lambda: fresh_code(ANGEL_SECRET, sleep=None),
    "fresh_code(on_wait=5)": lambda: fresh_code(ANGEL_SECRET, on_wait=5),
    "fresh_code(uncertainty='1')": lambda: fresh_code(ANGEL_SECRET, uncertainty="1"),
    "fresh_code(uncertainty=True)": lambda: fresh_code(ANGEL_SECRET, uncertainty=True),
    "code_at(when='59')": lambda: code_at(ANGEL_SECRET, "59"),
    "code_at(when=None)": lambda: code_at(ANGEL_SECRET, None),
    "code_at(when=10**400)": lambda: code_at(ANGEL_SECRET, 10 ** 400),
    "code_at(when=inf)": lambda: code_at(ANGEL_SECRET, float("inf")),
    "code_at([])": lambda: code_at([], 59),
    "code_at(TotpSecret(None))": lambda: code_at(TotpSecret(None), 59),
    "code_from_env(env_file=3)": lambda: code_from_env(env_file=3),
    "code_from_env(env_file=b'.env')": lambda: code_from_env(env_file=b".env"),
    "code_from_env(env_file='')": lambda: code_from_env(env_file=""),
    "code_from_env(env_file=NUL)": lambda: code_from_env(env_file="a\0b"),
    "code_from_env(key=None)": lambda: code_from_env(key=None),
    "Settings(environ={'X': None})": lambda: Settings(environ={"X": None}),
    "Settings(environ={1: 'x'})": lambda: Settings(environ={1: "x"}),
    "Settings(environ=[])": lambda: Settings(environ=[]),
    "Settings(env_file=3)": lambda: Settings(env_file=3),
    "Settings().get(3)": lambda: Settings(None).get(3),
}


@pytest.mark.time_bound(10)
@pytest.mark.parametrize("call", list(BAD_CALLS))
def test_a_bad_argument_of_any_type_is_an_invalid_input_error(call, monkeypatch):
    monkeypatch.setenv("TOTP_SECRET", ANGEL_SECRET)
    with pytest.raises(Exception) as caught:
        BAD_CALLS[call]()
    error = caught.value
    assert isinstance(error, InvalidInputError), repr(error)  # never AttributeError/TypeError
    assert isinstance(error, ValueError) and error.what
    assert_no_leak(error.message + (error.hint or ""), ANGEL_SECRET)


# One wording for a missing setting, naming the absolute path looked in.

def test_a_missing_secret_names_the_absolute_path_of_the_env_file(tmp_path, monkeypatch):
    (tmp_path / "bot").mkdir()
    monkeypatch.chdir(tmp_path / "bot")  # cron starts the bot in another folder
    with pytest.raises(MissingSecretError) as caught:
        code_from_env()
    where = tmp_path / "bot" / ".env"
    assert caught.value.message == f"TOTP_SECRET is not set in the environment or {where}"
    assert caught.value.names == ["TOTP_SECRET"] and caught.value.hint
    with pytest.raises(MissingSecretError) as caught:
        code_from_env(Path("..") / "settings.env")
    assert str(tmp_path / "settings.env") in caught.value.message
    assert ".." not in caught.value.message
    with pytest.raises(MissingSecretError) as caught:
        code_from_env(None)
    assert caught.value.message == "TOTP_SECRET is not set in the environment"


def test_missing_settings_error_is_the_one_wording(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    where = os.path.join(tmp_path, ".env")
    several = missing_settings_error(["ANGEL_API_KEY", "ANGEL_PIN", "TOTP_SECRET"], ".env")
    assert type(several) is MissingSettingError and isinstance(several, LookupError)
    assert several.names == ["ANGEL_API_KEY", "ANGEL_PIN", "TOTP_SECRET"]
    assert several.message == ("missing settings: ANGEL_API_KEY, ANGEL_PIN, TOTP_SECRET "
                               f"(not set in the environment or {where})")
    one = missing_settings_error(["ANGEL_PIN"], None, empty=True)
    assert type(one) is MissingSettingError
    assert one.message == "ANGEL_PIN is empty in the environment"
    secret = missing_settings_error(["TOTP_SECRET"], Path(".env"), empty=True)
    assert isinstance(secret, MissingSecretError)
    assert secret.message == f"TOTP_SECRET is empty in the environment or {where}"


# Value types: NamedTuples that hold credentials as Hidden.

def test_the_value_types_are_named_tuples_without_hand_written_immutability():
    for kind in (Code, TotpSecret, ClockOffset, Setting):
        assert issubclass(kind, tuple) and kind._fields
        assert not {"__setattr__", "__delattr__", "__eq__", "__hash__",
                    "__reduce__"} & set(vars(kind)), kind
    secret = parse_secret(ANGEL_SECRET)
    code = code_at(secret, 59)
    assert code.as_json_dict()["totp"] == code.totp and code.valid_for == 1
    assert ClockOffset(-121, -119).estimate == -120 and ClockOffset(1, 3).uncertainty == 1
    setting = Settings(None, environ={"ANGEL_PIN": "4826", "EMPTY": " "}).get("ANGEL_PIN")
    assert (setting.value, setting.source, setting.empty) == ("4826", "environment", False)
    empty = Settings(None, environ={"EMPTY": " "}).get("EMPTY")
    assert (empty.value, empty.source, empty.empty) == (None, "environment", True)
    assert "4826" not in repr(setting) and "<hidden>" in repr(setting)


def test_the_first_versions_aliases_are_gone():
    for name in ("InvalidSecret", "MissingSecret"):
        assert not hasattr(angel_totp, name) and name not in angel_totp.__all__
    assert angel_totp.Hidden("x") == angel_totp.Hidden("x")


# Start-up: what a script loads (counted, never timed).

def test_the_code_path_loads_neither_dataclasses_nor_inspect():
    probe = ("import sys, angel_totp.settings, angel_totp.codes, angel_totp.clock; "
             "print(sorted({'dataclasses', 'inspect', 'pyotp'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=ROOT, env=clean_env(), timeout=30)
    assert result.stdout == "[]\n", result.stderr


def test_python_dash_m_angel_totp_is_angel_totp():
    result = subprocess.run([sys.executable, "-m", "angel_totp", "--secret-stdin", "-q",
                             "--min-validity", "0"], input=ANGEL_SECRET + "\n",
                            capture_output=True, text=True, cwd=ROOT, env=clean_env(),
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit() and len(result.stdout) == 7
    assert_no_leak(result.stdout + result.stderr, ANGEL_SECRET)

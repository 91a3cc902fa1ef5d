"""Both commands' options, in-process: argparse alone, no abbreviation, no argument
ever repeated (it may be a secret typed in the wrong place), one JSON object with
--json whatever went wrong, each command named as it was started."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ANGEL_SECRET, API_KEY, PIN
from generate_helpers import STEP_START, FakeClock, run_main
from login_helpers import run_in_process, settings_for

from angel_totp.cli import console, generate, login_check, waiting

pytestmark = pytest.mark.time_bound(5)

URI = f"otpauth://totp/Angel:A1?secret={ANGEL_SECRET}&issuer=Angel"


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock(STEP_START + 10)
    monkeypatch.setattr(waiting, "clock", fake)
    return fake


@pytest.mark.parametrize("argv", [
    [ANGEL_SECRET], ["--secret", ANGEL_SECRET], [f"--secret={URI}"], [URI],
    ["--secret-std", ANGEL_SECRET], [f"-q{ANGEL_SECRET}"], ["-q", "--", ANGEL_SECRET],
    ["--env-file", "x.env", ANGEL_SECRET.lower()], [f"--json={ANGEL_SECRET}"],
])
def test_a_secret_given_as_an_argument_is_never_repeated(clock, argv):
    result = run_main(*argv, stdin=ANGEL_SECRET)
    assert result.status == 2 and result.out == ""
    assert "secrets are never" in result.err and "--secret-stdin" in result.err
    assert "TOTP_SECRET" in result.err
    assert result.err.startswith("error: ") and "\nhint: " in result.err


@pytest.mark.parametrize("argv", [["--min-v", "3"], ["--secret-std"], ["--quie"],
                                  ["--no-w"], ["--env", ".env"]])
def test_no_option_may_be_abbreviated(clock, argv):
    result = run_main(*argv, stdin=ANGEL_SECRET)
    assert result.status == 2 and result.out == "", result


def test_the_login_check_never_repeats_credentials_given_as_arguments(monkeypatch, capsys):
    result = run_in_process(monkeypatch, capsys, "--pin", "4321", "--api-key",
                            "SECRETKEY123", settings=settings_for())
    assert result.returncode == 2
    assert "4321" not in result.output and "SECRETKEY123" not in result.output
    assert "--pin" not in result.output  # not even the option's name: nothing is repeated
    assert "credentials are never" in result.stderr and "ANGEL_PIN" in result.stderr


@pytest.mark.parametrize("argv", [["--timeout", "0"], ["--timeout", "abc"],
                                  ["--min-validity", "40"], ["--min-validity", PIN],
                                  ["--pin", PIN], ["--jso"], [API_KEY]])
def test_json_prints_one_object_for_a_usage_error(monkeypatch, capsys, argv):
    result = run_in_process(monkeypatch, capsys, "--json", *argv, settings=settings_for())
    assert result.returncode == 2
    reply = json.loads(result.stdout)  # exactly one object: json.loads refuses two
    assert reply["ok"] is False and reply["errorcode"] == "USAGE"
    assert reply["message"] and PIN not in result.stdout and API_KEY not in result.stdout


def test_min_validity_given_equal_to_the_default_is_named_as_given(clock):
    uri = f"otpauth://totp/x?secret={ANGEL_SECRET}&period=5"
    result = run_main("--secret-stdin", "-q", "--min-validity", "5", stdin=uri)
    assert result.status == 2 and "--min-validity" in result.err
    assert "default" not in result.err


@pytest.mark.parametrize("argv0, name", [
    ("/usr/local/bin/angel-totp", "angel-totp"),
    ("/src/generate_totp.py", "generate_totp.py"),
    (generate.__file__.replace("cli/generate.py", "__main__.py"), "python -m angel_totp"),
    (generate.__file__, "python -m angel_totp.cli.generate"),
])
def test_the_command_names_itself_as_it_was_started(clock, monkeypatch, argv0, name):
    monkeypatch.setattr(sys, "argv", [argv0])
    result = run_main("--version")
    assert result.status == 0 and result.out.startswith(f"{name} 0.")
    hint = run_main("--secret-stdin", stdin="").err
    assert f"{name} --secret-stdin" in hint


def test_the_login_check_names_itself_as_it_was_started(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [login_check.__file__])
    assert console.run(login_check.main, ["--version"]) == 0
    assert capsys.readouterr().out.startswith("python -m angel_totp.cli.login_check 0.")


@pytest.mark.parametrize("main", [generate.main, login_check.main])
def test_help_names_the_dotenv_versions_and_ends_with_the_manual(main, capsys):
    assert console.run(main, ["--help"]) == 0
    text = capsys.readouterr().out
    assert "python-dotenv 1.0 and newer" in " ".join(text.split())
    assert "exactly as the installed one reads them" in " ".join(text.split())
    assert text.rstrip().splitlines()[-1].startswith("Full manual: docs/")
    assert "see README.md" not in text


@pytest.mark.parametrize("option, value", [("--min-validity", "²³"), ("--min-validity", "x1²"),
                                           ("--timeout", "1e999x")])
def test_a_bad_number_is_never_repeated(clock, option, value):
    # int("²³") fails although "²³".isdigit(): its words ("invalid literal...") hold the value.
    result = run_main(option, value, "-q", stdin=ANGEL_SECRET)
    assert result.status == 2 and result.out == ""
    assert value not in result.err and result.err.startswith(f"error: argument {option}: not a ")

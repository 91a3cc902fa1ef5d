"""The console: one error line and an exit code, the gate for outside text, the streams."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import pytest
from conftest import ANGEL_SECRET, GENERATE, assert_clean_output, clean_env

from angel_totp.cli import console
from angel_totp.errors import EnvFileError, InvalidSecretError, NoAnswerError


@pytest.fixture(autouse=True)
def forget_hidden(monkeypatch):
    monkeypatch.setattr(console, "_hidden", [])


def test_an_unexpected_bug_is_one_line_without_the_exceptions_message(capsys):
    def buggy(argv):
        raise ValueError(f"bad value {ANGEL_SECRET}")

    assert console.run(buggy, []) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unexpected ValueError at test_console.py:")
    assert "hint: this is a bug" in err
    assert ANGEL_SECRET not in err and "Traceback" not in err


def test_ctrl_c_is_130_sigterm_143_and_a_usage_error_is_2(capsys):
    def interrupted(argv):
        raise KeyboardInterrupt

    def terminated(argv):
        raise console.Signalled(15)

    assert console.run(interrupted, []) == 130
    assert console.run(terminated, []) == 143
    assert console.run(lambda argv: console.fail("bad", hint="do this"), []) == 2
    assert capsys.readouterr().err.endswith("error: bad\nhint: do this\n")


@pytest.mark.parametrize("error, code", [
    (InvalidSecretError("character 3 is not a base32 letter"), 2),
    (EnvFileError("cannot write .env: disk full", path=".env"), 1),
    (NoAnswerError("TIMEOUT", "", "no answer", "try again"), 3),
])
def test_library_errors_get_the_contracts_exit_codes(error, code, capsys):
    def failing(argv):
        raise error
    assert console.run(failing, []) == code
    assert capsys.readouterr().err.startswith("error: ")


HOSTILE = ("name \x1b[31mred\x1b[0m\r\nLogin OK: forged\x07 \u202eevil\u202c \x9b2J "
           "zero\u200bwidth \x1b]0;title\x07 end")


def test_the_gate_keeps_outside_text_to_one_clean_line():
    started = time.monotonic()
    shown = console.shown(HOSTILE + " " + "x" * 500)
    assert "\n" not in shown and "\r" not in shown
    assert_clean_output(shown)
    assert len(shown) <= 200
    assert "Login OK: forged" in shown  # kept as text, but on the same line
    assert time.monotonic() - started < 1


def test_the_gate_masks_credentials_however_they_are_echoed():
    token = "eyJhbGciOiJIUzUxMiJ9." + "Ab3" * 30
    console.hide("kQ7pZ2mXw9", token)
    echoed = ("key KQ7PZ2MXW9 and kq7pz2mxw9 url kQ7pZ2mXw9%21 token " + token
              + " part " + token[30:70])
    shown = console.shown(echoed, 1000)
    assert "kq7pz2mxw9" not in shown.lower()
    assert token[:24] not in shown and token[30:54] not in shown
    assert "********" in shown


def test_every_written_line_is_scrubbed_and_masked(monkeypatch):
    fake_out, fake_err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", fake_out)
    monkeypatch.setattr(sys, "stderr", fake_err)
    console.hide("908172")
    console.out("pin 908172 " + HOSTILE)
    console.err("err \x1b[2J 908172")
    for text in (fake_out.getvalue(), fake_err.getvalue()):
        assert "908172" not in text
        assert_clean_output(text)


def test_unencodable_characters_are_replaced(monkeypatch):
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stream)
    console.out("clock: 0.2 s ahead (± 0.5 s) naïve")
    stream.flush()
    assert raw.getvalue() == b"clock: 0.2 s ahead (+/- 0.5 s) na?ve\n"


def test_a_closed_stdout_is_141_and_a_closed_stderr_drops_messages(monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    console.err("dropped")  # no error, and nothing goes anywhere
    monkeypatch.setattr(sys, "stdout", None)
    assert console.run(lambda argv: console.out("x") or 0, []) == 141


def test_closed_standard_input_is_a_clean_error():
    result = subprocess.run([sys.executable, str(GENERATE), "--secret-stdin"], stdin=None,
                            capture_output=True, text=True, env=clean_env(), timeout=30,
                            close_fds=True, preexec_fn=lambda: os.close(0))
    assert result.returncode == 2
    assert result.stderr.startswith("error: --secret-stdin: standard input had no secret")
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.name == "nt", reason="POSIX pipes and signals")
@pytest.mark.parametrize("script", ["generate_totp.py", "test_api_connection.py"])
def test_a_broken_stdout_pipe_ends_silently_with_141(script, tmp_path):
    from conftest import ROOT
    # --min-validity 0: a waiting note on stderr would depend on the moment of the run.
    args = (["--secret-stdin", "--min-validity", "0"] if script == "generate_totp.py"
            else ["--dry-run"])
    env = clean_env(ANGEL_API_KEY="kQ7pZ2mXw9", ANGEL_CLIENT_CODE="A123456", ANGEL_PIN="908172",
                    TOTP_SECRET=ANGEL_SECRET)
    started = time.monotonic()
    reader, writer = os.pipe()
    os.close(reader)  # nobody will ever read: the first write breaks the pipe
    result = subprocess.run([sys.executable, str(ROOT / script), *args], input=ANGEL_SECRET,
                            stdout=writer, stderr=subprocess.PIPE, text=True, env=env,
                            timeout=30)
    os.close(writer)
    assert result.returncode == 141
    assert result.stderr == ""
    assert time.monotonic() - started < 30


@pytest.mark.skipif(os.name == "nt", reason="POSIX file descriptors")
def test_a_closed_stderr_never_sends_messages_to_stdout():
    # An 8-digit URI makes a warning on stderr, which must not land in $(...).
    uri = f"otpauth://totp/x?secret={ANGEL_SECRET}&digits=8"
    result = subprocess.run([sys.executable, str(GENERATE), "--secret-stdin", "-q",
                             "--min-validity", "0"], input=uri,
                            capture_output=True, text=True, env=clean_env(), timeout=30,
                            preexec_fn=lambda: os.close(2))
    assert result.returncode == 0
    assert result.stdout.strip().isdigit() and len(result.stdout.strip()) == 8


def test_the_waiting_note_never_goes_to_stdout_when_stderr_is_closed(monkeypatch, capsys):
    from angel_totp.cli.waiting import Waiter
    from angel_totp.codes import code_at
    monkeypatch.setattr(sys, "stderr", None)
    waiter = Waiter(5)
    waiter.announce(code_at(ANGEL_SECRET, 1111111109), 0.5)
    assert capsys.readouterr().out == ""

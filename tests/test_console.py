"""Failures end as one error line and an exit code, never a traceback or a value."""

from __future__ import annotations

import subprocess
import sys

from angel_totp import console
from conftest import ANGEL_SECRET, GENERATE, clean_env


def test_an_unexpected_bug_is_one_line_without_the_exceptions_message(capsys):
    def buggy(argv):
        raise ValueError(f"bad value {ANGEL_SECRET}")

    assert console.run(buggy, []) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unexpected ValueError at test_console.py:")
    assert "hint: this is a bug" in err
    assert ANGEL_SECRET not in err and "Traceback" not in err


def test_ctrl_c_is_130_and_a_usage_error_is_2(capsys):
    def interrupted(argv):
        raise KeyboardInterrupt

    assert console.run(interrupted, []) == 130
    assert console.run(lambda argv: console.fail("bad", hint="do this"), []) == 2
    assert capsys.readouterr().err.endswith("error: bad\nhint: do this\n")


def test_closed_standard_input_is_a_clean_error():
    result = subprocess.run([sys.executable, str(GENERATE), "--secret-stdin"], stdin=None,
                            capture_output=True, text=True, env=clean_env(),
                            close_fds=True, preexec_fn=lambda: __import__("os").close(0))
    assert result.returncode == 2
    assert result.stderr.startswith("error: --secret-stdin: standard input had no secret")
    assert "Traceback" not in result.stderr

"""angel-totp as a real process, for what only a process shows: signals at chosen
points, exit statuses, closed streams.

The faults come from tests/faults/sitecustomize.py: a write paused after its
temporary file is complete, Ctrl-C while Python is still importing, a virtual
clock. Nothing waits for a race or a code boundary.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ANGEL_SECRET, GENERATE, ROOT, assert_clean_output, assert_no_leak
from generate_helpers import STEP, STEP_START, fault_env, listing

pytestmark = [pytest.mark.skipif(os.name == "nt", reason="POSIX signals and file descriptors"),
              pytest.mark.time_bound(4)]


def _wait_for_file(path: Path, proc: subprocess.Popen, bound: float = 10.0) -> None:
    deadline = time.monotonic() + bound
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached the paused write"
        time.sleep(0.005)


def _checked(out: str, err: str) -> None:
    assert "Traceback" not in err
    assert_no_leak(out + err, ANGEL_SECRET)
    assert_clean_output(out + err)


OLD = "# keep me\nA=1\r\nTOTP=000000 # the code\n" + "".join(f"K{i}=v{i}\n" for i in range(500))


def test_sigterm_during_the_write_exits_143_with_the_old_file_whole_and_no_temp(tmp_path):
    work, flags = tmp_path / "work", tmp_path / "flags"
    work.mkdir()
    flags.mkdir()
    env_path = work / ".env"
    env_path.write_bytes(OLD.encode())
    env_path.chmod(0o600)
    ready = flags / "temp-file-written"
    proc = subprocess.Popen(
        [sys.executable, str(GENERATE), "--write", "-q"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=work, env=fault_env(GEN_FAULT_CLOCK=f"{STEP_START + 10}", TOTP_SECRET=ANGEL_SECRET,
                                GEN_FAULT_PAUSE_FSYNC=str(ready)))
    try:
        _wait_for_file(ready, proc)
        assert any(".env.totp-tmp-" in name for name in listing(work))  # mid-write
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert out == "" and err == "terminated\n"
    assert env_path.read_bytes() == OLD.encode()
    assert listing(work) == [".env"]
    _checked(out, err)


@pytest.mark.parametrize("command, module", [
    ([str(GENERATE)], "angel_totp.cli.generate"),
    ([str(GENERATE)], "pyotp"),  # already in main(): the console ends it
    (["-m", "angel_totp"], "angel_totp.cli.console"),
])
def test_ctrl_c_in_the_first_milliseconds_is_interrupted_130_without_traceback(
        tmp_path, command, module):
    result = subprocess.run(
        [sys.executable, *command, "--secret-stdin", "-q"], input=ANGEL_SECRET,
        capture_output=True, text=True, timeout=10, cwd=tmp_path,
        env=fault_env(str(ROOT), GEN_FAULT_SIGINT_ON_IMPORT=module))
    assert result.returncode == 130, result.stderr
    assert result.stdout == "" and result.stderr == "\ninterrupted\n"
    assert listing(tmp_path) == []


def test_elsewhere_the_wait_is_one_note_on_stderr_only(tmp_path):
    start = f"{STEP_START + STEP - 0.3}:20"
    result = subprocess.run([sys.executable, str(GENERATE), "--secret-stdin", "-q"],
                            input=ANGEL_SECRET, capture_output=True, text=True, timeout=10,
                            env=fault_env(GEN_FAULT_CLOCK=start), cwd=tmp_path)
    assert result.returncode == 0 and re.fullmatch(r"\d{6}\n", result.stdout)
    assert result.stderr == ("the current code expires in less than 1 s (under --min-validity "
                             "5); waiting less than 1 s for the next one\n")
    _checked(result.stdout, result.stderr)


def test_with_stderr_closed_the_note_never_lands_in_stdout(tmp_path):
    # CODE=$(angel-totp -q 2>&-) while a wait is due.
    start = f"{STEP_START + STEP - 1}:20"
    result = subprocess.run([sys.executable, str(GENERATE), "--secret-stdin", "-q"],
                            input=ANGEL_SECRET, stdout=subprocess.PIPE, text=True, timeout=10,
                            env=fault_env(GEN_FAULT_CLOCK=start), cwd=tmp_path,
                            preexec_fn=lambda: os.close(2))
    assert result.returncode == 0
    assert re.fullmatch(r"\d{6}\n", result.stdout), result.stdout


def test_a_write_that_fails_prints_nothing_for_a_script_to_capture(tmp_path):
    # CODE=$(angel-totp --write -q) with a read-only .env: nothing captured, exit 1.
    env_path = tmp_path / ".env"
    env_path.write_text(f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")
    env_path.chmod(0o400)
    result = subprocess.run([sys.executable, str(GENERATE), "--write", "-q"],
                            capture_output=True, text=True, timeout=10, cwd=tmp_path,
                            env=fault_env(GEN_FAULT_CLOCK=f"{STEP_START + STEP - 1}:20"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: .env is read-only (mode 0400)")
    assert "waiting" not in result.stderr
    assert listing(tmp_path) == [".env"]
    _checked(result.stdout, result.stderr)

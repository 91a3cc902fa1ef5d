"""Both commands as real processes, for what only a process shows: exit statuses
with a closed or full stdout, a removed current folder, undecodable input, every
signal that ends a run, and the ways a command can be started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    ANGEL_SECRET,
    GENERATE,
    LOGIN_CHECK,
    ROOT,
    Dialogue,
    assert_clean_output,
    assert_no_leak,
    clean_env,
    login_env,
    signal_when,
)
from generate_helpers import STEP_START, fault_env, listing
from smartapi_standin import LOGIN

pytestmark = [pytest.mark.skipif(os.name == "nt", reason="POSIX shells, signals and ptys"),
              pytest.mark.time_bound(8)]

COMMANDS = {"generate": [sys.executable, str(GENERATE)],
            "login": [sys.executable, str(LOGIN_CHECK)],
            "module": [sys.executable, "-m", "angel_totp"]}


def shell(script: str, *args: str, cwd: Path, env: dict | None = None,
          stdin: bytes = b"") -> subprocess.CompletedProcess:
    result = subprocess.run(["sh", "-c", script, "sh", *args], input=stdin,
                            capture_output=True, cwd=cwd, timeout=10,
                            env=env or clean_env(PYTHONPATH=str(ROOT)))
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert "Traceback" not in text
    assert_no_leak(text, ANGEL_SECRET)
    assert_clean_output(text)
    return result


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_and_version_with_stdout_closed_exit_141_silently(tmp_path, command, option):
    result = shell('"$@" >&-', *COMMANDS[command], option, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (141, b"")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_and_version_to_a_full_disk_exit_1_with_an_error(tmp_path, command, option):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    result = shell('"$@" >/dev/full', *COMMANDS[command], option, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode().startswith("error: could not write the output")


def test_a_removed_current_folder_is_a_clear_error(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    result = shell('cd "$1" && rmdir "$1" && shift && exec "$@" --secret-stdin -q --write',
                   str(gone), *COMMANDS["generate"], cwd=tmp_path,
                   stdin=ANGEL_SECRET.encode())
    err = result.stderr.decode()
    assert result.returncode == 1, err  # the file could not be written
    assert err.startswith("error: cannot write .env: the current folder no longer exists"), err
    assert "bug" not in err


def test_undecodable_standard_input_is_not_utf8_text(tmp_path):
    result = shell('exec "$@"', *COMMANDS["generate"], "--secret-stdin", cwd=tmp_path,
                   stdin=b"JBSW\xff\xfeY3DPEHPK3PXP\n",
                   env=clean_env(PYTHONPATH=str(ROOT), LC_ALL="C", PYTHONIOENCODING=""))
    err = result.stderr.decode()
    assert result.returncode == 2
    assert err.startswith("error: --secret-stdin: standard input is not UTF-8 text"), err


def test_each_command_module_runs_its_command(tmp_path):
    for module, name in [("angel_totp", "python -m angel_totp"),
                         ("angel_totp.cli.login_check", "python -m angel_totp.cli.login_check"),
                         ("angel_totp.cli.generate", "python -m angel_totp.cli.generate")]:
        result = shell('exec "$@"', sys.executable, "-m", module, "--version", cwd=tmp_path)
        assert result.returncode == 0 and result.stdout.decode().startswith(f"{name} 0."), \
            (module, result)


# Signals during the write: the temporary file is complete, the run paused at its fsync.

OLD = "# keep me\nTOTP=000000\n"
ENDING = [("SIGHUP", 129), ("SIGQUIT", 131), ("SIGUSR1", 138), ("SIGUSR2", 140),
          ("SIGALRM", 142), ("SIGTERM", 143), ("SIGINT", 130)]


@pytest.mark.parametrize("name, status", ENDING)
def test_a_signal_during_the_write_ends_cleanly_leaving_no_temp_file(tmp_path, name, status):
    work, flags = tmp_path / "work", tmp_path / "flags"
    work.mkdir()
    flags.mkdir()
    (work / ".env").write_text(OLD)
    (work / ".env").chmod(0o600)
    ready = flags / "temp-file-written"
    proc = subprocess.Popen(
        [*COMMANDS["generate"], "--write", "-q"], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work,
        env=fault_env(GEN_FAULT_CLOCK=f"{STEP_START + 10}", TOTP_SECRET=ANGEL_SECRET,
                      GEN_FAULT_PAUSE_FSYNC=str(ready)))
    out, err = signal_when(proc, ready.exists, getattr(signal, name), within=20,
                           ends_within=15)
    assert proc.returncode == status, err
    assert out == "" and "Traceback" not in err and err.strip() in (
        "interrupted", "terminated", f"terminated by {name}")
    assert (work / ".env").read_text() == OLD
    assert listing(work) == [".env"]


def test_sighup_at_the_hidden_prompt_restores_the_terminals_echo(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    run = Dialogue(GENERATE, cwd=tmp_path, env=fault_env(), timeout=5)
    run.expect("TOTP secret \\(input hidden\\): ")
    assert run.child.getecho() is False
    run.child.kill(signal.SIGHUP)
    run.child.expect(pexpect.EOF)
    echo = run.child.getecho()  # the terminal as the process left it
    run.child.close()
    assert run.child.exitstatus == 129 and "Traceback" not in run.text()
    assert echo is True


# The login check's --json: one object whatever happened, signals included.

@pytest.mark.parametrize("sig, status, code", [(signal.SIGINT, 130, "INTERRUPTED"),
                                               (signal.SIGTERM, 143, "TERMINATED")])
def test_json_prints_one_object_when_interrupted_or_terminated(standin, tmp_path, sig, status,
                                                              code):
    standin.hang("login")
    proc = subprocess.Popen([*COMMANDS["login"], "--json", "--min-validity", "0",
                             "--timeout", "20"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=login_env(standin))
    out, err = signal_when(proc, lambda: standin.calls(LOGIN), sig, within=6, ends_within=5)
    assert proc.returncode == status, err
    reply = json.loads(out)
    assert reply["ok"] is False and reply["errorcode"] == code
    assert "Traceback" not in err


def test_json_usage_error_from_a_real_run_is_one_object(tmp_path):
    result = subprocess.run([*COMMANDS["login"], "--json", "--timeout", "abc"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=10,
                            env=clean_env())
    assert result.returncode == 2 and json.loads(result.stdout)["errorcode"] == "USAGE"


FLAKY_STDOUT = '''
import errno, io, os, sys

class Flaky(io.RawIOBase):
    """Standard output whose first write fails with EIO; later ones reach fd 1."""
    failed = False

    def writable(self):
        return True

    def fileno(self):
        return 1

    def write(self, data):
        if not Flaky.failed:
            Flaky.failed = True
            raise OSError(errno.EIO, "Input/output error")
        return os.write(1, data)

sys.stdout = io.TextIOWrapper(io.BufferedWriter(Flaky()), encoding="utf-8")
'''


@pytest.mark.time_bound(20)
def test_a_failed_write_of_the_code_is_never_followed_by_the_code_at_exit(tmp_path):
    """Broke (round four): the write of the code failed with EIO, the command said
    "could not write the output" and exited 1, and Python's flush at exit then wrote
    the code anyway, after the error."""
    (tmp_path / "sitecustomize.py").write_text(FLAKY_STDOUT)
    # --min-validity 0: no wait for the next code (and no word of it) near a step's end.
    result = shell('"$@" --secret-stdin -q --min-validity 0', *COMMANDS["generate"],
                   stdin=ANGEL_SECRET.encode(),
                   cwd=tmp_path, env=clean_env(PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}"))
    assert result.returncode == 1
    assert result.stderr.decode().startswith("error: could not write the output")
    assert result.stdout == b""

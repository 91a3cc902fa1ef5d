"""Bounded reading, and errors that say what happened without the file's text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_no_plain_credentials

from angel_totp import envfile
from angel_totp.errors import EnvFileError

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEH"


def fixed(values):
    return lambda current: (values, float("inf"))


def test_a_huge_sparse_file_is_refused_without_being_read(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    with open(path, "wb") as handle:
        handle.truncate(1 << 30)  # 1 GiB of nothing, on no disk space
    reads = []
    monkeypatch.setattr(envfile, "read_start", lambda fd, limit: reads.append(fd) or b"")
    for attempt in (envfile.read_env_file, lambda p: envfile.update_env_file(p, fixed({}))):
        with pytest.raises(EnvFileError) as caught:
            attempt(path)
        assert caught.value.reason == "too_large" and "1 MiB" in caught.value.message
    assert reads == []


def test_a_file_that_grows_past_the_limit_while_read_is_cut_off(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    real_fstat = os.fstat

    def small_fstat(fd):  # it said 4 bytes; then it grew
        info = real_fstat(fd)
        path.write_bytes(b"#" * (envfile.MAX_SIZE + 10))
        return info
    monkeypatch.setattr(envfile.os, "fstat", small_fstat)
    with pytest.raises(EnvFileError) as caught:
        envfile.read_env_file(path)
    assert caught.value.reason == "too_large"


@pytest.mark.time_bound(20)
@pytest.mark.parametrize("text", [
    "A=x" + " " * 65_536 + "y\n",             # dotenv: about 3 s
    "A=x" + " \u2028" * 20_000 + "y\n",        # Unicode spaces count too
    ("A=x" + " " * 3000 + "y\n") * 300,       # many shorter runs
    "A=" + "${" * 200_000 + "\n",             # ${ that never closes
    "A=1\n" * (envfile.MAX_LINES + 1),       # more lines than dotenv reads in a second
])
def test_input_dotenv_reads_in_quadratic_time_is_refused_before_it_is_parsed(
        tmp_path, monkeypatch, text):
    path = tmp_path / ".env"
    path.write_text(text)
    monkeypatch.setattr(envfile, "_parse", lambda text: pytest.fail("handed to dotenv"))
    with pytest.raises(EnvFileError) as caught:
        envfile.read_env_file(path)
    assert caught.value.reason == "too_large"
    assert "python-dotenv" in (caught.value.hint or "") + caught.value.message


@pytest.mark.time_bound(20)
def test_what_dotenv_reads_quickly_is_accepted(tmp_path):
    body = "".join(f'KEY_{i}="value number {i} with some padding"  # c {i}\n'
                   for i in range(15_000))  # about 0.9 MiB
    path = tmp_path / ".env"
    path.write_text(body + "A=x" + " " * 2000 + "y\nTOTP=000000\n")
    envfile.update_env_file(path, fixed({"TOTP": "123456"}))
    assert path.read_text().endswith("y\nTOTP=123456\n")
    assert envfile._regex_steps(" " * 31 + "${a}") == 3  # short runs cost nothing


def test_a_syntax_error_is_raised_from_frames_that_hold_no_file_text(tmp_path):
    path = tmp_path / ".env"
    path.write_text(f'TOTP_SECRET={SECRET}\nA="never closed\n')
    for attempt in (envfile.read_env_file, lambda p: envfile.update_env_file(p, fixed({}))):
        with pytest.raises(EnvFileError) as caught:
            attempt(path)
        assert caught.value.reason == "syntax" and "line 2" in caught.value.message
        assert_no_plain_credentials(caught.value, SECRET)


def test_an_exception_in_compute_propagates_with_the_lock_released_and_nothing_left(
        tmp_path):
    path = tmp_path / ".env"
    path.write_text("TOTP=000000\n")

    class WaitFirst(Exception):
        pass

    def compute(current):
        assert current.values()["TOTP"] == "000000" and not current.has_nonempty("TOTP_SECRET")
        raise WaitFirst
    with pytest.raises(WaitFirst):
        envfile.update_env_file(path, compute)
    assert sorted(os.listdir(tmp_path)) == [".env"]
    envfile.update_env_file(path, fixed({"TOTP": "1"}), lock_timeout=0)  # not locked
    assert path.read_text() == "TOTP=1\n"


def test_a_240_byte_file_name_can_be_updated(tmp_path):
    path = tmp_path / ("e" * 240)
    envfile.update_env_file(path, fixed({"TOTP": "123456"}))
    envfile.update_env_file(path, fixed({"TOTP": "654321"}))
    assert path.read_text() == "TOTP=654321\n" and os.listdir(tmp_path) == [path.name]


@pytest.mark.skipif(os.name == "nt", reason="Windows cannot remove the current folder")
def test_a_removed_current_folder_is_named(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    script = ("import os, sys; from angel_totp import envfile\n"
              "os.chdir(sys.argv[1]); os.rmdir(sys.argv[1])\n"
              "for call in (envfile.check_writable, lambda p: envfile.update_env_file(\n"
              "        p, lambda c: ({'TOTP': '1'}, 1e99))):\n"
              "    try: call('.env')\n"
              "    except envfile.EnvFileError as error: print(error.reason, error)\n")
    result = subprocess.run([sys.executable, "-c", script, str(gone)], capture_output=True,
                            text=True, timeout=30,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stderr
    assert all(line.startswith("no_folder") and "current folder no longer exists" in line
               for line in lines)

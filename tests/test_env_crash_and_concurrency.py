"""The write is atomic under SIGKILL and serialised between concurrent runs."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import ANGEL_SECRET, GENERATE, ROOT, clean_env, run_generate

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL and fork timing are POSIX")

BIG_PREFIX = "".join(
    f'KEY_{i}="value number {i} with some padding text"  # comment {i}\n'
    for i in range(4000)).encode()  # a write long enough to be cut inside


def _start_write(folder) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(GENERATE), "--secret-stdin", "--write", "--min-validity", "0", "-q"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=folder, env=clean_env())
    proc.stdin.write(ANGEL_SECRET.encode() + b"\n")
    proc.stdin.close()
    return proc


def test_sigkill_at_random_moments_never_leaves_a_torn_or_empty_file(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_bytes(BIG_PREFIX + b"TOTP=000000\n")
    env_path.chmod(0o600)

    def whole(data: bytes) -> bool:
        return data.startswith(BIG_PREFIX) and re.fullmatch(
            rb"TOTP=[0-9]{6}\n", data[len(BIG_PREFIX):]) is not None


    started = time.monotonic()
    _start_write(tmp_path).wait(timeout=60)
    full_run = time.monotonic() - started
    rng = random.Random(1234)
    killed_anywhere = killed_while_writing = 0
    for attempt in range(16):
        # An old code, so that every run has something to write.
        env_path.write_bytes(BIG_PREFIX + b"TOTP=000000\n")
        proc = _start_write(tmp_path)
        if attempt % 2:
            # Anywhere in the run: reading, parsing, writing, renaming.
            time.sleep(rng.uniform(0, full_run * 0.9))
        else:
            # Inside the write: once the temporary file exists.
            while proc.poll() is None and not _temp_files(tmp_path):
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.001))
        if proc.poll() is None:
            writing = bool(_temp_files(tmp_path))
            proc.send_signal(signal.SIGKILL)
            killed_anywhere += 1
            killed_while_writing += writing
        proc.wait(timeout=60)
        assert whole(env_path.read_bytes()), "torn or empty env file"
        assert stat_mode(env_path) == 0o600
    # Enough runs were cut short, some of them mid-write, or this proved little.
    assert killed_anywhere >= 8 and killed_while_writing >= 3

    # A later run cleans up what killed runs left behind.
    result = run_generate("--secret-stdin", "--write", "--min-validity", "0",
                          stdin=ANGEL_SECRET, cwd=tmp_path, secrets=(ANGEL_SECRET,))
    assert result.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]
    assert whole(env_path.read_bytes())


def _temp_files(folder) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".env.")]


def stat_mode(path) -> int:
    return os.stat(path).st_mode & 0o777


WRITER = """
import sys
sys.path.insert(0, {root!r})
from angel_totp.envfile import update_env_file
update_env_file(sys.argv[1],
                lambda parsed: ({{"WRITER_" + sys.argv[2]: "done" + sys.argv[2]}}, float("inf")))
"""


def test_concurrent_writers_lose_nothing(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_bytes(BIG_PREFIX[:BIG_PREFIX.index(b"KEY_1000=")])
    env_path.chmod(0o600)
    script = WRITER.format(root=str(ROOT))
    writers = [subprocess.Popen([sys.executable, "-c", script, str(env_path), str(n)],
                                stderr=subprocess.PIPE) for n in range(8)]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    text = env_path.read_text()
    assert text.startswith(BIG_PREFIX[:BIG_PREFIX.index(b"KEY_1000=")].decode())
    for n in range(8):
        assert text.count(f"WRITER_{n}=done{n}\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_concurrent_cli_runs_add_each_key_once(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\n")
    env_path.chmod(0o600)
    procs = []
    for _ in range(8):
        proc = subprocess.Popen(
            [sys.executable, str(GENERATE), "--secret-stdin", "--write", "--save-secret",
             "--min-validity", "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=tmp_path, env=clean_env())
        procs.append(proc)
    for proc in procs:
        out, err = proc.communicate(ANGEL_SECRET.encode(), timeout=60)
        assert proc.returncode == 0, err.decode()
        assert ANGEL_SECRET.encode() not in out + err
    lines = env_path.read_text().splitlines()
    assert lines[0] == "A=1"
    assert sum(line.startswith("TOTP=") for line in lines) == 1
    assert lines.count(f"TOTP_SECRET={ANGEL_SECRET}") == 1
    assert len(lines) == 3


SIGTERM_WRITER = """
import os, signal, sys, time
sys.path.insert(0, {root!r})
from angel_totp import envfile

def terminated(signum, frame):
    raise SystemExit(143)  # what a command's SIGTERM handler does

signal.signal(signal.SIGTERM, terminated)
real_fsync = os.fsync

def slow_fsync(fd):
    real_fsync(fd)
    sys.stdout.write("writing\\n")
    sys.stdout.flush()
    time.sleep(20)  # SIGTERM arrives here, mid-write

envfile.os.fsync = slow_fsync
envfile.update_env_file(sys.argv[1], lambda parsed: ({{"TOTP": "123456"}}, float("inf")))
"""


def test_sigterm_mid_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_bytes(BIG_PREFIX[:BIG_PREFIX.index(b"KEY_3000=")] + b"TOTP=000000\n")
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_WRITER.format(root=str(ROOT)),
                             str(env_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"writing\n"  # the temporary file exists now
        assert any(name.startswith(".env.totp-tmp-") for name in os.listdir(tmp_path))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err.decode()
    assert b"Traceback" not in err
    assert env_path.read_bytes() == BIG_PREFIX[:BIG_PREFIX.index(b"KEY_3000=")] + b"TOTP=000000\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]

"""Waiting for the next code, on a fake clock: at most one wait, never under the
env file's lock, and the interactive flow's order (save a typed secret first)."""

from __future__ import annotations

import os

import pytest
from conftest import ANGEL_SECRET, write_env_file
from generate_helpers import STEP, STEP_START, FakeClock, Terminal, run_main

from angel_totp.cli import network, waiting
from angel_totp.clock import ClockOffset
from angel_totp.codes import code_at

pytestmark = pytest.mark.time_bound(5)
posix_only = pytest.mark.skipif(os.name == "nt", reason="flock")


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock(STEP_START + 10)
    monkeypatch.setattr(waiting, "clock", fake)
    return fake


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(waiting.NOTE_START)]


@posix_only
def test_the_lock_is_not_held_across_a_wait_for_the_next_code(clock, workdir):
    import fcntl
    env_path = write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")
    clock.time = STEP_START + STEP - 3  # under --min-validity 5: a wait is due
    free_while_waiting = []

    def during_sleep(fake: FakeClock) -> None:
        fd = os.open(env_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run takes it at once
            free_while_waiting.append(True)
        except BlockingIOError:
            free_while_waiting.append(False)
        finally:
            os.close(fd)
    clock.on_sleep = during_sleep
    result = run_main("--write", "-q")
    assert result.status == 0, result.err
    assert free_while_waiting and all(free_while_waiting)
    assert result.out == f"{code_at(ANGEL_SECRET, STEP_START + STEP + 1).totp}\n"
    assert len(notes(result.err)) == 1


@pytest.mark.parametrize("extra", [[], ["--write"]])
def test_server_time_with_a_slow_reply_waits_at_most_once(clock, monkeypatch, workdir, extra):
    # --server-time --min-validity 28 against a reply that took about 1 s: Angel
    # One's clock is known to +/- 0.98 s, which leaves a 0.04 s window per step.
    write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\n")
    monkeypatch.setattr(network, "measure_clock_for_people",
                        lambda args, url: ClockOffset(-1.98, -0.02))
    clock.time = STEP_START + 20
    result = run_main("--server-time", "--min-validity", "28", "-q", *extra)
    # The command's side: one wait at most, then a code or an error (it looped for
    # ever). That the error comes before the wait is the library's rule (fresh_code).
    assert len(clock.sleeps) <= 1, clock.sleeps
    if result.status == 0:
        assert len(result.out.strip()) == 6
    else:
        assert result.status == 3 and result.out == ""
        assert result.err.startswith("error: Angel One's clock could not be measured closely "
                                     "enough"), result.err


def test_a_typed_secret_is_offered_for_saving_before_the_totp_update(clock, monkeypatch,
                                                                     workdir):
    import getpass
    monkeypatch.setattr(getpass, "getpass", lambda prompt, stream=None: ANGEL_SECRET)
    result = run_main(stdin="y\ny\n", stdin_terminal=True)
    assert result.status == 0, result.err
    save = result.err.index("Save this secret as TOTP_SECRET in .env")
    update = result.err.index("Update TOTP in .env? [y/N]")
    assert save < update
    text = (workdir / ".env").read_text()
    assert f"TOTP_SECRET={ANGEL_SECRET}" in text and "TOTP=" in text


def test_the_wait_countdown_never_wraps_in_a_one_column_terminal(clock, monkeypatch):
    from angel_totp.cli import console
    monkeypatch.setattr(console, "terminal_width", lambda stream=None, default=80: 1)
    clock.time = STEP_START + STEP - 2
    result = run_main("--secret-stdin", "-q", stdin=ANGEL_SECRET, stderr_terminal=True,
                      redraws=True)
    assert result.status == 0
    for frame in result.err.split("\r"):
        assert len(frame.replace("\x1b[K", "")) == 0, frame  # nothing fits in 0 columns


@pytest.mark.parametrize("width", [1, 2, 3])
def test_watch_never_wraps_in_a_1_to_3_column_terminal(clock, monkeypatch, width):
    from angel_totp.cli import console
    monkeypatch.setattr(console, "terminal_width", lambda stream=None, default=80: width)

    def stop(fake: FakeClock) -> None:
        if len(fake.sleeps) >= 3:
            raise KeyboardInterrupt
    clock.on_sleep = stop
    result = run_main("--watch", "--secret-stdin", stdin=ANGEL_SECRET, stdout_terminal=True,
                      redraws=True)
    assert result.status == 0
    for frame in result.out.rstrip("\n").split("\r"):
        assert len(frame.replace("\x1b[K", "")) <= width - 1, frame
    assert isinstance(Terminal, type)

"""angel-totp in-process: options, output formats, secret intake, waiting, --watch,
and the order of a write, with a fake clock and the faults injected.

Every run goes through the console as the installed command does and is
checked for leaks, control characters and tracebacks (see
generate_helpers.run_main); every test has its own time bound (conftest's
time_bound mark).
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import ANGEL_SECRET, ROOT, write_env_file
from dotenv import dotenv_values, set_key
from generate_helpers import (
    STEP,
    STEP_START,
    FakeClock,
    listing,
    run_main,
)

from angel_totp import envfile  # imported before any test patches it
from angel_totp.cli import EXIT_INTERRUPTED, console, generate, network, waiting
from angel_totp.codes import DEFAULT_MIN_VALIDITY, code_at
from angel_totp.secret import MAX_SECRET_LENGTH

pytestmark = pytest.mark.time_bound(2)


@pytest.fixture
def command_state(monkeypatch):
    """The console's state as a fresh process has it, restored afterwards."""
    monkeypatch.setattr(console, "_hidden", [])
    handler = signal.getsignal(signal.SIGTERM) if hasattr(signal, "SIGTERM") else None
    yield
    if handler is not None:
        signal.signal(signal.SIGTERM, handler)


@pytest.fixture
def clock(monkeypatch, command_state) -> FakeClock:
    """A fake clock, 10 s into a step (20 s left: no wait under --min-validity 5)."""
    fake = FakeClock(STEP_START + 10)
    monkeypatch.setattr(waiting, "clock", fake)
    return fake


posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX modes, links and flock")
as_root = hasattr(os, "geteuid") and os.geteuid() == 0


def code(when: float, secret: str = ANGEL_SECRET) -> str:
    return code_at(secret, when).totp


def totp_in(path: Path) -> str | None:
    return dotenv_values(path).get("TOTP")


# -- output formats ---------------------------------------------------------

def test_the_three_formats_for_a_given_instant(clock):
    when = "1111111109"  # 1 s before its step ends: --time never waits
    plain = run_main("--secret-stdin", "--time", when, stdin=ANGEL_SECRET)
    quiet = run_main("--secret-stdin", "--time", when, "-q", stdin=ANGEL_SECRET)
    as_json = run_main("--secret-stdin", "--time", when, "--json", stdin=ANGEL_SECRET)
    expected = code(1111111109)
    assert plain.out == f"TOTP {expected} (valid for 1 s)\n" and plain.status == 0
    assert quiet.out == f"{expected}\n" and quiet.err == ""
    fields = json.loads(as_json.out)
    assert fields == {"totp": expected, "valid_for": 1, "valid_until": "2005-03-18T01:58:30Z",
                      "period": 30, "digits": 6, "algorithm": "SHA1"}
    assert as_json.out.count("\n") == 1 and as_json.err == ""
    assert clock.sleeps == []


def test_valid_for_is_what_is_left_when_the_code_is_printed(clock):
    clock.time = STEP_START + 12.3
    result = run_main("--secret-stdin", stdin=ANGEL_SECRET)
    assert result.out == f"TOTP {code(clock.time)} (valid for 17 s)\n"
    fields = json.loads(run_main("--secret-stdin", "--json", stdin=ANGEL_SECRET).out)
    assert fields["valid_for"] == 17 and isinstance(fields["totp"], str)
    assert fields["valid_until"] == "2005-03-18T01:58:30Z"


def test_a_uri_with_other_values_gives_their_codes_with_a_warning(clock):
    uri = f"otpauth://totp/x?secret={ANGEL_SECRET}&digits=8&period=60&algorithm=SHA256"
    result = run_main("--secret-stdin", "--json", "--time", "1111111109", stdin=uri)
    fields = json.loads(result.out)
    assert fields["digits"] == 8 and len(fields["totp"]) == 8
    assert fields["period"] == 60 and fields["algorithm"] == "SHA256"
    assert fields["totp"] == code_at(uri, 1111111109).totp
    assert result.err.startswith("warning: this secret makes SHA256, 8-digit, 60-second codes")


# -- --time -----------------------------------------------------------------

@pytest.mark.parametrize("when, words", [
    ("1764000000123", "this looks like milliseconds"),  # $(date +%s%3N)
    ("1e20", "after 9999-12-31T23:59:59Z"),
    ("-5", "before 1970-01-01"),
    ("nan", "finite"),
    ("10000-01-01T00:00:00Z", "not a Unix timestamp or an ISO 8601 time"),
    ("2005-03-18T01:58:29", "needs a zone"),
])
def test_a_time_out_of_range_exits_2_before_anything_else(clock, when, words, monkeypatch):
    _forbid_everything_but_options(monkeypatch)
    result = run_main("--time", when, stdin_terminal=True)
    assert result.status == 2 and result.out == ""
    first = result.err.splitlines()[0]
    assert first.startswith("error: --time: ") and words in first
    if "milliseconds" in words:
        assert result.err.splitlines()[1] == "hint: divide by 1000 for seconds"
    assert clock.sleeps == []


def test_the_last_instant_of_year_9999_works_and_never_waits(clock):
    result = run_main("--secret-stdin", "--json", "--time", "9999-12-31T23:59:59Z",
                      stdin=ANGEL_SECRET)
    assert result.status == 0, result.err
    fields = json.loads(result.out)
    assert fields["valid_until"] == "9999-12-31T23:59:59Z"
    assert 0 <= fields["valid_for"] <= 30
    assert datetime.fromisoformat(fields["valid_until"].replace("Z", "+00:00")).year == 9999
    assert clock.sleeps == []


# -- options are checked before anything happens -----------------------------

def _forbid_everything_but_options(monkeypatch) -> None:
    """Make every prompt, file access, request and wait fail the test."""
    def forbidden(what):
        def fail(*args, **kwargs):
            raise AssertionError(f"{what} before the options were checked")
        return fail
    monkeypatch.setattr(console, "ask_hidden", forbidden("a prompt"))
    monkeypatch.setattr(console, "ask_yes_no", forbidden("a question"))
    monkeypatch.setattr(envfile, "read_env_file", forbidden("reading the env file"))
    monkeypatch.setattr(envfile, "check_writable", forbidden("checking the env file"))
    monkeypatch.setattr(envfile, "update_env_file", forbidden("writing the env file"))
    monkeypatch.setattr(network, "measure_clock_for_people", forbidden("a request"))
    monkeypatch.setattr(waiting.clock, "sleep", forbidden("a wait"))


@pytest.mark.parametrize("argv", [
    ["--min-validity", "30"], ["--min-validity=-1"], ["--min-validity", "abc"],
    ["--min-v", "31"], ["--timeout", "0"], ["--timeout", "nan"], ["--env-file", ""],
    ["--env-file", "  "], ["--watch", "--write"], ["--watch", "--time", "5"],
    ["--time", "5", "--write"], ["--time", "5", "--save-secret"],
    ["--time", "5", "--server-time"], ["--base-url", "https://example.com"],
    ["--server-time", "--base-url", "ftp://example.com"],
    ["--server-time", "--base-url", "https://user:pw@example.com"],
    ["-q", "--json"], ["--write", "--no-write"], ["--nonsense"], ["--time"],
], ids=lambda argv: " ".join(argv) or "''")
def test_a_bad_option_exits_2_before_any_prompt_wait_file_or_request(clock, monkeypatch,
                                                                    workdir, argv):
    write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\n")
    _forbid_everything_but_options(monkeypatch)
    result = run_main(*argv, stdin_terminal=True)
    assert result.status == 2, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2
    assert "[y/N]" not in result.err and "input hidden" not in result.err


def test_a_bad_angel_base_url_setting_is_refused_before_the_secret_is_asked(clock, monkeypatch):
    monkeypatch.setenv("ANGEL_BASE_URL", "https://apiconnect.angelone.in?x=1")
    monkeypatch.setattr(console, "ask_hidden", lambda *a: pytest.fail("asked for the secret"))
    result = run_main("--server-time", stdin_terminal=True)
    assert result.status == 2 and result.out == ""
    assert result.err.startswith("error: ANGEL_BASE_URL must not have a query or fragment")


# -- secret intake -----------------------------------------------------------

@pytest.mark.parametrize("space", ["\u00a0", "\u2009", "\u202f", "\u3000", " ", "\t"])
def test_any_unicode_space_in_the_secret_is_ignored(clock, space):
    spaced = space.join([ANGEL_SECRET[:4], ANGEL_SECRET[4:13], ANGEL_SECRET[13:]])
    result = run_main("--secret-stdin", "-q", "--time", "1111111109", stdin=spaced + "\n")
    assert result.status == 0, result.err
    assert result.out == f"{code(1111111109)}\n"


@pytest.mark.parametrize("letter", ["\u0131", "\u017f", "\ufb05"])  # ı ſ ﬅ
def test_a_non_ascii_letter_is_refused_at_its_position(clock, letter):
    text = ANGEL_SECRET[:8] + letter + ANGEL_SECRET[9:]
    result = run_main("--secret-stdin", "-q", stdin=text + "\n", secrets=(ANGEL_SECRET, text))
    assert result.status == 2 and result.out == ""
    assert result.err.startswith("error: the secret from standard input is not a valid TOTP "
                                 "secret: character 9 is not a base32 letter (it is not an "
                                 "ASCII character")
    assert letter not in result.err


def _random_base32(size: int) -> str:
    raw = random.Random(8).randbytes(size * 5 // 8 + 5)
    return base64.b32encode(raw).decode()[:size]


@pytest.mark.time_bound(10)  # a hang guard: making 10 MB of text takes a while
def test_a_10_mb_line_on_standard_input_is_refused_at_once_without_echo(clock):
    line = _random_base32(10_000_000)
    result = run_main("--secret-stdin", "-q", stdin=line + "\n",
                      secrets=(line[:26], line[4000:4026]))
    assert result.status == 2 and result.out == ""
    assert "too long: over 1,024 characters" in result.err
    assert result.stdin_read <= 4 * MAX_SECRET_LENGTH  # a bounded read, not 10 MB


@pytest.mark.time_bound(10)  # a hang guard: making 10 MB of text takes a while
def test_a_10_mb_secret_in_the_env_file_is_refused_at_once_without_echo(clock, workdir):
    line = _random_base32(10_000_000)
    write_env_file(workdir, f"TOTP_SECRET={line}\n")
    result = run_main("-q", secrets=(line[:26], line[-26:]))
    assert result.status == 1 and result.out == ""  # a file over 1 MiB is refused unread
    assert "error: .env is larger than 1 MiB" in result.err


def test_a_bad_algorithm_value_is_never_echoed(clock):
    # A secret pasted into the wrong parameter: 20 of its letters would show.
    uri = f"otpauth://totp/x?secret={ANGEL_SECRET}&algorithm={ANGEL_SECRET[:20]}"
    result = run_main("--secret-stdin", "-q", stdin=uri, secrets=(ANGEL_SECRET[:20],))
    assert result.status == 2 and result.out == ""
    assert "unsupported algorithm in the URI; supported: SHA1, SHA256, SHA512" in result.err


@pytest.mark.parametrize("pasted, digits", [("123456", 6), ("123 456", 6), ("12345678", 8)])
def test_the_apps_code_pasted_for_the_secret_gets_its_own_message(clock, pasted, digits):
    result = run_main("--secret-stdin", "-q", stdin=pasted)
    assert result.status == 2 and result.out == ""
    assert (f"this is a {digits}-digit code from an authenticator app, not the secret"
            in result.err)
    assert "too short" not in result.err and "26 letters" in result.err


def test_a_5_second_period_with_the_default_validity_says_what_to_pass(clock, monkeypatch):
    clock.time = STEP_START + 4.5  # a wait would be due, if the check came late
    uri = f"otpauth://totp/x?secret={ANGEL_SECRET}&period=5"
    result = run_main("--secret-stdin", "-q", stdin=uri)
    assert result.status == 2 and result.out == ""
    lines = result.err.splitlines()
    assert lines[-2] == ("error: this secret's codes last only 5 s: too short for the 5 s "
                         "of validity asked for (the default --min-validity 5)")
    assert lines[-1] == "hint: pass --min-validity 0 to 4 (0 never waits)"
    assert clock.sleeps == []


def test_a_5_second_period_with_a_given_validity_names_the_option(clock):
    uri = f"otpauth://totp/x?secret={ANGEL_SECRET}&period=5"
    result = run_main("--secret-stdin", "-q", "--min-validity", "7", stdin=uri)
    assert result.status == 2
    assert "error: this secret's codes last only 5 s: too short for the 7 s of validity " \
        "asked for (--min-validity)" in result.err
    fine = run_main("--secret-stdin", "-q", "--min-validity", "4", stdin=uri)
    assert fine.status == 0 and fine.out.strip().isdigit()


# -- waiting for the next code ------------------------------------------------

@pytest.mark.parametrize("left, said", [(0.3, "expires in less than 1 s"),
                                        (3.4, "expires in 3 s")])
def test_elsewhere_a_wait_is_one_note_never_zero_seconds(clock, left, said):
    clock.time = STEP_START + STEP - left
    result = run_main("--secret-stdin", stdin=ANGEL_SECRET)
    assert result.status == 0
    notes = [line for line in result.err.splitlines() if "waiting" in line]
    assert len(notes) == 1 and notes == result.err.splitlines()
    assert notes[0].startswith(f"the current code {said} (under --min-validity 5); waiting ")
    assert " 0 s" not in notes[0]
    assert result.out == f"TOTP {code(STEP_START + STEP)} (valid for 29 s)\n"
    assert len(clock.sleeps) == 1 and clock.sleeps[0] < left + 0.1


def test_on_a_terminal_the_wait_is_a_countdown_redrawn_on_one_line(clock):
    clock.time = STEP_START + STEP - 3.4
    result = run_main("--secret-stdin", "-q", stdin=ANGEL_SECRET, stderr_terminal=True,
                      redraws=True)
    assert result.status == 0
    assert result.out == f"{code(STEP_START + STEP)}\n"
    assert "\n" not in result.err  # redrawn in place, never a stack of lines
    frames = result.err.split("\r")[1:]
    shown = [frame.replace("\x1b[K", "") for frame in frames]
    assert shown[:4] == ["waiting 4 s for the next code (--min-validity 5)",
                         "waiting 3 s for the next code (--min-validity 5)",
                         "waiting 2 s for the next code (--min-validity 5)",
                         "waiting 1 s for the next code (--min-validity 5)"]
    assert shown[-1] == ""  # cleared once the wait is over
    assert all(frame.endswith("\x1b[K") for frame in frames)
    assert waiting.NOTE_START not in result.err


def test_with_stderr_closed_the_note_never_reaches_stdout(clock):
    clock.time = STEP_START + STEP - 1
    result = run_main("--secret-stdin", "-q", stdin=ANGEL_SECRET, stderr_closed=True)
    assert result.status == 0 and result.out == f"{code(STEP_START + STEP)}\n"
    assert len(clock.sleeps) == 1


def test_min_validity_0_never_waits(clock):
    clock.time = STEP_START + STEP - 0.2
    result = run_main("--secret-stdin", "--min-validity", "0", stdin=ANGEL_SECRET)
    assert result.out == f"TOTP {code(clock.time)} (valid for 0 s)\n"
    assert clock.sleeps == [] and result.err == ""


# -- --watch -------------------------------------------------------------------

def _stop_after(clock, sleeps: int) -> None:
    def count(fake):
        if len(fake.sleeps) >= sleeps:
            raise KeyboardInterrupt
    clock.on_sleep = count


@pytest.mark.parametrize("fmt", ["-q", "--json", None])
def test_watch_off_a_terminal_prints_one_line_per_new_code_and_ctrl_c_is_0(clock, fmt):
    clock.time = STEP_START + 25
    _stop_after(clock, 3)
    result = run_main("--secret-stdin", "--watch", *([fmt] if fmt else []),
                      stdin=ANGEL_SECRET)
    assert result.status == 0 and result.err == ""
    lines = result.out.splitlines()
    expected = [code(STEP_START + 25), code(STEP_START + 30.01), code(STEP_START + 60.02)]
    assert len(lines) == 3 and len(set(lines)) == 3
    if fmt == "-q":
        assert lines == expected
    elif fmt == "--json":
        assert [json.loads(line)["totp"] for line in lines] == expected
    else:
        assert lines[0] == f"TOTP {expected[0]} (valid for 5 s)"


@pytest.mark.parametrize("width", [80, 41, 30, 20, 14, 9, 8])
def test_watch_on_a_terminal_of_any_width_redraws_in_place(clock, monkeypatch, width):
    monkeypatch.setattr(console, "terminal_width", lambda stream=None, default=80: width)
    clock.time = STEP_START + 27.5
    _stop_after(clock, 5)
    result = run_main("--secret-stdin", "--watch", stdin=ANGEL_SECRET, stdout_terminal=True,
                      redraws=True)
    assert result.status == 0
    frames = result.out.split("\r")
    assert frames[0] == "" and result.out.endswith("\n") and result.out.count("\n") == 1
    drawn = [frame.replace("\x1b[K", "").rstrip("\n") for frame in frames[1:]]
    assert len(drawn) >= 5
    for frame in drawn:
        assert len(frame) <= width - 1, frame  # never wraps, so never scrolls
        assert code(STEP_START + 27.5) in frame or code(STEP_START + 30.5) in frame
    if width >= 11:  # room for the seconds left, which count down
        assert re.search(r"\b2 ?s\b", drawn[0]) and re.search(r"\b1 ?s\b", drawn[1])


def test_the_watch_line_is_the_widest_form_that_fits():
    now = code_at(ANGEL_SECRET, STEP_START + 13)
    totp = now.totp
    assert generate.watch_line(now, 80) == f"TOTP {totp} (valid for 17 s)"
    assert generate.watch_line(now, 29) == f"TOTP {totp} (valid for 17 s)"
    assert generate.watch_line(now, 28) == f"TOTP {totp} (17 s)"
    assert generate.watch_line(now, 16) == f"{totp} (17 s)"
    assert generate.watch_line(now, 11) == f"{totp} 17s"
    assert generate.watch_line(now, 7) == totp


# -- the order of a write -----------------------------------------------------

def _record_prints(monkeypatch, env_path: Path) -> list[tuple[str, str | None]]:
    """Each line printed on stdout, with the TOTP the file held at that moment."""
    printed: list[tuple[str, str | None]] = []
    real_out = console.out

    def out(line: str = "", end: str = "\n") -> None:
        printed.append((line, totp_in(env_path) if env_path.exists() else None))
        real_out(line, end)
    monkeypatch.setattr(generate, "out", out)
    return printed


def test_with_write_the_code_is_printed_only_once_the_file_holds_it(clock, monkeypatch,
                                                                   workdir):
    env_path = write_env_file(workdir, f"# mine\nTOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")
    printed = _record_prints(monkeypatch, env_path)
    result = run_main("--write")
    expected = code(clock.time)
    assert result.status == 0
    assert printed == [(f"TOTP {expected} (valid for 20 s)", expected)]
    assert env_path.read_text() == f"# mine\nTOTP_SECRET={ANGEL_SECRET}\nTOTP={expected}\n"
    assert result.err == "updated TOTP in .env (valid for 20 s)\n"
    assert listing(workdir) == [".env"]


@posix_only
def test_a_lock_held_past_the_codes_end_still_writes_and_prints_a_valid_code(
        clock, monkeypatch, workdir):
    # The issue: another run held the lock for 9 s; a run started with 7.5 s
    # left wrote and printed "valid for -1 s". Here the lock is held from the
    # test and let go only once the run has found it taken and 9 s have passed.
    import fcntl
    env_path = write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")
    holder = os.open(env_path, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    clock.time = STEP_START + STEP - 7.5
    real_try = envfile._try_flock
    waited = []

    def try_flock(fd):
        if real_try(fd):
            return True
        if not waited:  # the run found the lock taken: 9 s pass, then it is let go
            waited.append(clock.time)
            clock.advance(9)
            os.close(holder)
        return False
    monkeypatch.setattr(envfile, "_try_flock", try_flock)
    printed = _record_prints(monkeypatch, env_path)
    result = run_main("--write")
    assert waited == [STEP_START + STEP - 7.5], "the run never met the held lock"
    assert result.status == 0, result.err
    written = totp_in(env_path)
    assert written == code(STEP_START + STEP + 1.5)  # the code of the time it was written
    assert printed == [(f"TOTP {written} (valid for 28 s)", written)]
    assert listing(workdir) == [".env"]


def test_a_code_that_would_expire_during_the_write_is_chosen_again(clock, monkeypatch,
                                                                  workdir):
    # Chosen with 8 s left; writing the file takes 3 s, so only 5 s would be
    # left, too little to still show 5 s once it is printed: the next code goes in.
    env_path = write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")
    clock.time = STEP_START + STEP - 8
    real_fsync = os.fsync
    calls = []

    def slow_fsync(fd):
        calls.append(fd)
        if len(calls) == 1:
            clock.advance(3)
        real_fsync(fd)
    monkeypatch.setattr(envfile.os, "fsync", slow_fsync)
    printed = _record_prints(monkeypatch, env_path)
    result = run_main("--write", "-q")
    after = code(STEP_START + STEP + 1)
    assert result.status == 0
    assert totp_in(env_path) == after != code(STEP_START + STEP - 8)
    assert printed == [(after, after)]
    assert "too soon to be written with --min-validity 5 left" in result.err
    verbose = run_main("--write", "--json")
    assert json.loads(verbose.out)["valid_for"] >= DEFAULT_MIN_VALIDITY


def test_an_expired_code_is_never_written_or_reported_with_min_validity_0(clock, monkeypatch,
                                                                         workdir):
    env_path = write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\n")
    clock.time = STEP_START + STEP - 0.5
    real_fsync = os.fsync
    calls = []

    def slow_fsync(fd):  # the first write takes 2 s: the code it holds expires
        calls.append(fd)
        if len(calls) == 1:
            clock.advance(2)
        real_fsync(fd)
    monkeypatch.setattr(envfile.os, "fsync", slow_fsync)
    result = run_main("--write", "-q", "--min-validity", "0")
    assert result.status == 0
    assert result.out == f"{code(STEP_START + STEP + 1.5)}\n" == f"{totp_in(env_path)}\n"


@pytest.mark.parametrize("where", [
    "before the last comparison",
    pytest.param("during the rename", marks=pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="the atomic swap that sees it is Linux's")),
])
def test_a_change_another_program_makes_meanwhile_is_kept(clock, monkeypatch, workdir, where):
    env_path = write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")
    hook = "_still" if where == "before the last comparison" else "_rename_over"
    real = getattr(envfile, hook)
    changed = []

    def change_first(*args):
        if not changed:  # another program, which takes no lock
            changed.append(set_key(str(env_path), "OTHER", "kept", quote_mode="never"))
        return real(*args)
    monkeypatch.setattr(envfile, hook, change_first)
    result = run_main("--write", "-q")
    assert changed and result.status == 0, result.err
    assert env_path.read_text() == (f"TOTP_SECRET={ANGEL_SECRET}\nTOTP={code(clock.time)}\n"
                                    "OTHER=kept\n")
    assert result.out == f"{code(clock.time)}\n"
    assert listing(workdir) == [".env"]


# Places a write must be refused: each returns (argv, exit status, words).

def _read_only_folder(folder: Path, mounts: list[Path], content: str | None):
    inner = folder / "ro"
    inner.mkdir()
    if as_root:  # root writes into any folder: only a read-only mount stops it
        if not sys.platform.startswith("linux") or shutil.which("mount") is None:
            pytest.skip("a read-only folder for root needs a mount")
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(inner)],
                              capture_output=True)
        if made.returncode:
            pytest.skip("mount is not allowed here")
        mounts.append(inner)
        if content is not None:
            write_env_file(inner, content)
        subprocess.run(["mount", "-o", "remount,ro", str(inner)], check=True)
    else:
        if content is not None:
            write_env_file(inner, content)
        inner.chmod(0o500)
    return ["--env-file", "ro/.env"], 1, "ro/.env"


def _read_only_folder_with_the_file(folder: Path, mounts: list[Path]):
    return _read_only_folder(folder, mounts, f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")


def _read_only_folder_to_create_it_in(folder: Path, mounts: list[Path]):
    return _read_only_folder(folder, mounts, None)


def _dangling_symlink(folder: Path, mounts):
    (folder / ".env").symlink_to(folder / "gone" / ".env")
    return [], 1, "folder"


def _empty_path(folder: Path, mounts):
    return ["--env-file", ""], 2, "argument --env-file: the path is empty"


def _read_only_file(folder: Path, mounts):
    write_env_file(folder, "TOTP=000000\n", mode=0o400)
    return [], 1, "read-only (mode 0400)"


def _hard_linked(folder: Path, mounts):
    write_env_file(folder, "TOTP=000000\n")
    os.link(folder / ".env", folder / "other-name")
    return [], 1, "has 2 hard links"


def _a_folder(folder: Path, mounts):
    (folder / "conf").mkdir()
    return ["--env-file", "conf"], 2, "conf is a folder"


def _missing_folder(folder: Path, mounts):
    return ["--env-file", "nowhere/.env"], 2, "does not exist"


@posix_only
@pytest.mark.parametrize("make", [_read_only_folder_with_the_file,
                                  _read_only_folder_to_create_it_in, _dangling_symlink, _empty_path,
                                  _read_only_file, _hard_linked, _a_folder, _missing_folder],
                         ids=lambda make: make.__name__.strip("_"))
def test_a_file_that_cannot_be_written_is_refused_before_any_wait_or_output(
        clock, workdir, make):
    mounts: list[Path] = []
    try:
        argv, status, words = make(workdir, mounts)
        before = _snapshot(workdir)
        clock.time = STEP_START + STEP - 1  # a wait would be due: it must not happen
        result = run_main("--secret-stdin", "--write", *argv, stdin=ANGEL_SECRET)
        assert result.status == status, result
        assert result.out == ""
        assert result.err.startswith("error: ") and words in result.err
        assert clock.sleeps == [] and "waiting" not in result.err
        assert _snapshot(workdir) == before  # untouched, and no temporary file
    finally:
        for mount in mounts:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes | str]]:
    seen = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            seen[str(path)] = (info.st_mode, os.readlink(path))
        elif path.is_file():
            seen[str(path)] = (info.st_mode, path.read_bytes())
        else:
            seen[str(path)] = (info.st_mode, "")
    return seen


def test_a_named_file_that_is_missing_without_write_exits_2(clock, workdir):
    result = run_main("--secret-stdin", "--env-file", "nope.env", stdin=ANGEL_SECRET)
    assert result.status == 2 and result.out == ""
    assert result.err == ("error: env file nope.env does not exist\n"
                          "hint: check the path, or add --write to create it\n")
    assert listing(workdir) == []


@posix_only
@pytest.mark.time_bound(4)
def test_a_full_disk_prints_nothing_and_leaves_the_file_whole(clock, workdir):
    if not sys.platform.startswith("linux") or not as_root or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root on Linux")
    small = workdir / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                       str(small)], capture_output=True).returncode:
        pytest.skip("mount is not allowed here")
    try:
        old = "".join(f"KEY_{i}=value-{i}\n" for i in range(2000)) + "TOTP=000000\n"
        env_path = write_env_file(small, old)  # ~37 KB: a second copy cannot fit
        result = run_main("--secret-stdin", "--write", "-q", "--env-file", str(env_path),
                          stdin=ANGEL_SECRET)
        assert result.status == 1 and result.out == ""
        assert "no space left on device" in result.err and "free some space" in result.err
        assert env_path.read_text() == old and listing(small) == [".env"]
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


# -- --save-secret and the interactive offer ----------------------------------

EXAMPLE = (ROOT / ".env.example").read_text()


def test_save_secret_fills_an_empty_secret_in_place(clock, workdir):
    env_path = write_env_file(workdir, EXAMPLE)
    result = run_main("--secret-stdin", "--save-secret", "--write", "-q", stdin=ANGEL_SECRET)
    assert result.status == 0, result.err
    expected = EXAMPLE.replace("\nTOTP_SECRET=\n", f"\nTOTP_SECRET={ANGEL_SECRET}\n") \
        .replace("\nTOTP=\n", f"\nTOTP={code(clock.time)}\n")
    assert env_path.read_text() == expected
    assert "saved TOTP_SECRET in .env" in result.err and "already has" not in result.err


def test_save_secret_alone_saves_then_prints_the_code(clock, workdir):
    env_path = write_env_file(workdir, "A=1\n")
    result = run_main("--secret-stdin", "--save-secret", stdin=ANGEL_SECRET)
    assert result.status == 0, result.err
    assert result.out == f"TOTP {code(clock.time)} (valid for 20 s)\n"
    assert env_path.read_text() == f"A=1\nTOTP_SECRET={ANGEL_SECRET}\n"


def test_a_uri_with_other_values_is_saved_whole_and_reads_back_the_same(clock, workdir):
    uri = (f"otpauth://totp/Angel%20One:A123456?secret={ANGEL_SECRET}&issuer=Angel%20One"
           "&period=60&digits=8")
    env_path = write_env_file(workdir, EXAMPLE)
    result = run_main("--secret-stdin", "--save-secret", "--write", "--json", stdin=uri)
    assert result.status == 0, result.err
    assert dotenv_values(env_path)["TOTP_SECRET"] == uri
    assert f"\nTOTP_SECRET='{uri}'\n" in env_path.read_text()
    fields = json.loads(result.out)
    assert fields["digits"] == 8 and fields["period"] == 60
    assert dotenv_values(env_path)["TOTP"] == fields["totp"]
    again = run_main("--json", "--time", "1111111109")  # from the file this time
    assert json.loads(again.out)["totp"] == code_at(uri, 1111111109).totp


def _typed(monkeypatch, secret: str = ANGEL_SECRET) -> list[str]:
    prompts: list[str] = []

    def ask_hidden(prompt: str, what: str) -> str:
        prompts.append(prompt)
        return secret
    monkeypatch.setattr(console, "ask_hidden", ask_hidden)
    return prompts


def test_the_offer_to_save_appears_for_an_empty_secret_and_fills_it(clock, monkeypatch,
                                                                    workdir):
    env_path = write_env_file(workdir, EXAMPLE)
    prompts = _typed(monkeypatch)
    result = run_main(stdin="y\nn\n", stdin_terminal=True)  # save first, then update
    assert result.status == 0 and prompts == ["TOTP secret (input hidden): "]
    assert "Update TOTP in .env? [y/N] " in result.err
    assert "Save this secret as TOTP_SECRET in .env (so you are not asked again)? [y/N] " \
        in result.err
    assert env_path.read_text() == EXAMPLE.replace("\nTOTP_SECRET=\n",
                                                   f"\nTOTP_SECRET={ANGEL_SECRET}\n")


def test_the_offer_to_save_defaults_to_no(clock, monkeypatch, workdir):
    env_path = write_env_file(workdir, EXAMPLE)
    _typed(monkeypatch)
    result = run_main(stdin="\n\n", stdin_terminal=True)
    assert result.status == 0 and "Save this secret" in result.err
    assert env_path.read_text() == EXAMPLE


def test_a_slow_answer_writes_the_next_code_and_says_so(clock, monkeypatch, workdir):
    env_path = write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\n")
    real_ask = console.ask_yes_no

    def slow_answer(question: str) -> bool:
        clock.advance(25)  # the printed code expires while the user thinks
        return real_ask(question)
    monkeypatch.setattr(console, "ask_yes_no", slow_answer)
    result = run_main(stdin="y\n", stdin_terminal=True)
    first, written = code(clock.time - 25), code(clock.time)
    assert result.out == f"TOTP {first} (valid for 20 s)\n"
    assert totp_in(env_path) == written != first
    assert f"the code above has expired; wrote the next one, {written}" in result.err


@pytest.mark.parametrize("fmt", ["-q", "--json"])
def test_quiet_and_json_never_ask_on_a_terminal(clock, monkeypatch, workdir, fmt):
    env_path = write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\n")
    monkeypatch.setattr(console, "ask_yes_no", lambda q: pytest.fail(f"asked: {q}"))
    result = run_main(fmt, stdin="y\n", stdin_terminal=True)
    assert result.status == 0 and "[y/N]" not in result.err
    assert env_path.read_text() == f"TOTP_SECRET={ANGEL_SECRET}\n"


@posix_only
def test_a_loose_file_is_warned_about_once(clock, workdir):
    write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\n", mode=0o644)
    result = run_main("--write", "-q")
    assert result.status == 0
    assert result.err.count("can be read by other users (mode 0644)") == 1


# -- --help --------------------------------------------------------------------

def test_help_reads_like_a_manual_and_matches_the_code(capsys):
    assert console.run(generate.main, ["--help"]) == 0
    text = capsys.readouterr().out
    for action in generate.parser()._actions:
        for flag in action.option_strings:
            assert flag in text
    assert f"(default: {DEFAULT_MIN_VALIDITY}; 0 turns it off)" in text
    codes = {"0": console.EXIT_OK, "1": console.EXIT_FAILED, "2": console.EXIT_USAGE,
             "3": console.EXIT_NO_ANSWER, "130": EXIT_INTERRUPTED,
             "141": console.EXIT_CLOSED_OUTPUT}
    for number, constant in codes.items():
        assert int(number) == constant and f"{number} " in text
    for line in text.splitlines():
        assert len(line) <= 100, line


# -- what a red-team pass broke ------------------------------------------------

def test_a_slow_step_after_the_swap_never_lets_an_expired_code_be_printed(
        clock, monkeypatch, workdir):
    # The folder's fsync comes after the swap: make it take 35 s, once.
    env_path = write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")
    clock.time = STEP_START + 10
    real_fsync_folder = envfile._fsync_folder
    calls = []

    def slow(folder):
        calls.append(folder)
        if len(calls) == 1:
            clock.advance(35)
        real_fsync_folder(folder)
    monkeypatch.setattr(envfile, "_fsync_folder", slow)
    result = run_main("--write", "--json")
    assert result.status == 0
    shown = json.loads(result.out)
    assert shown["valid_for"] >= DEFAULT_MIN_VALIDITY
    assert totp_in(env_path) == shown["totp"] == code(clock.time)
    assert len(calls) == 2  # written again with a fresh code


def test_a_folder_that_cannot_be_opened_after_the_swap_does_not_fail_the_write(
        monkeypatch, workdir):
    env_path = write_env_file(workdir, f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")
    real_open = os.open

    def no_folder_open(path, flags, *rest):
        if os.path.isdir(path):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *rest)
    monkeypatch.setattr(envfile.os, "open", no_folder_open)
    result = run_main("--write", "-q", "--min-validity", "0")
    assert result.status == 0, result.err
    assert totp_in(env_path) == result.out.strip()
    assert "untouched" not in result.err


def test_a_secret_with_a_byte_that_is_not_utf8_gets_its_message(monkeypatch):
    bad = ANGEL_SECRET[:10] + "\udcff" + ANGEL_SECRET[10:]  # how Python reads a bad byte
    result = run_main("--secret-stdin", stdin=bad + "\n")
    assert result.status == 2
    assert result.err.startswith("error: the secret from standard input is not a valid")
    assert "character 11" in result.err


def test_a_signal_after_the_run_cannot_raise_into_its_ending(monkeypatch):
    import signal
    run_main("--secret-stdin", "-q", "--min-validity", "0", stdin=ANGEL_SECRET)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_server_time_with_no_room_for_the_clock_is_refused_before_any_request(monkeypatch):
    _forbid_everything_but_options(monkeypatch)
    result = run_main("--secret-stdin", "--server-time", "--min-validity", "29",
                      stdin=ANGEL_SECRET)
    assert result.status == 2
    assert "--min-validity 28 or less" in result.err


def test_a_server_clock_too_loose_for_the_validity_is_no_answer_3(clock, monkeypatch):
    from angel_totp.clock import ClockOffset
    monkeypatch.setattr(network, "measure_clock_for_people",
                        lambda args, url: ClockOffset(-6.0, 6.0))  # a slow reply
    result = run_main("--secret-stdin", "--server-time", "--min-validity", "20",
                      stdin=ANGEL_SECRET)
    assert result.status == 3
    assert result.err.startswith("error: Angel One's clock could not be measured closely")
    assert "--min-validity" in result.err

"""Codes and time: RFC 6238 vectors, output formats, --time, --min-validity, --watch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import (
    ANGEL_SECRET,
    GENERATE,
    RFC_SHA1,
    RFC_SHA256,
    RFC_SHA512,
    assert_no_leak,
    clean_env,
    run_generate,
)
from generate_helpers import fault_env

from angel_totp.codes import code_at, fresh_code, parse_when
from angel_totp.secret import parse_secret

# RFC 6238 appendix B: (time, SHA1, SHA256, SHA512), 8 digits.
RFC_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
KEYS = {"SHA1": RFC_SHA1, "SHA256": RFC_SHA256, "SHA512": RFC_SHA512}


def _iso(seconds: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("when,sha1,sha256,sha512", RFC_VECTORS)
def test_rfc6238_vectors_through_uris_and_time(when, sha1, sha256, sha512):
    for algorithm, expected in (("SHA1", sha1), ("SHA256", sha256), ("SHA512", sha512)):
        uri = f"otpauth://totp/RFC?secret={KEYS[algorithm]}&algorithm={algorithm}&digits=8"
        for moment in (str(when), _iso(when)):
            result = run_generate("--secret-stdin", "--time", moment, "--json",
                                  stdin=uri, secrets=(KEYS[algorithm],))
            assert result.returncode == 0, result.stderr
            out = json.loads(result.stdout)
            assert out["totp"] == expected, (algorithm, moment)
            assert out["digits"] == 8 and out["period"] == 30
            assert out["algorithm"] == algorithm
            assert out["valid_for"] == 30 - when % 30


def test_six_digit_sha1_code_is_the_rfc_code_cut_to_six():
    result = run_generate("--secret-stdin", "--time", "2005-03-18T01:58:29Z", "-q",
                          stdin=RFC_SHA1, secrets=(RFC_SHA1,))
    assert result.stdout == "081804\n"


def test_default_output_shape_and_json_fields():
    result = run_generate("--secret-stdin", "--time", "1111111109", stdin=RFC_SHA1,
                          secrets=(RFC_SHA1,))
    assert result.stdout == "TOTP 081804 (valid for 1 s)\n"
    result = run_generate("--secret-stdin", "--time", "1111111109", "--json",
                          stdin=RFC_SHA1, secrets=(RFC_SHA1,))
    out = json.loads(result.stdout)
    assert out == {"totp": "081804", "valid_for": 1, "valid_until": "2005-03-18T01:58:30Z",
                   "period": 30, "digits": 6, "algorithm": "SHA1"}
    assert result.stdout.count("\n") == 1


def test_time_with_an_offset_zone_is_the_same_instant():
    a = run_generate("--secret-stdin", "--time", "2005-03-18T07:28:29+05:30", "-q", stdin=RFC_SHA1)
    b = run_generate("--secret-stdin", "--time", "1111111109", "-q", stdin=RFC_SHA1)
    assert a.stdout == b.stdout == "081804\n"


@pytest.mark.parametrize("bad,words", [
    ("2005-03-18T01:58:29", "needs a zone"),
    ("yesterday", "not a Unix timestamp"),
    ("-5", "before 1970"),
    ("nan", "finite"),
])
def test_bad_time_is_a_usage_error(bad, words):
    result = run_generate("--secret-stdin", f"--time={bad}", stdin=RFC_SHA1, secrets=(RFC_SHA1,))
    assert result.returncode == 2
    assert result.stderr.startswith("error: --time: ") and words in result.stderr


def test_current_code_matches_pyotp_and_the_clock():
    import pyotp
    before = time.time()
    result = run_generate("--secret-stdin", "--json", "--min-validity", "0",
                          stdin=ANGEL_SECRET, secrets=(ANGEL_SECRET,))
    after = time.time()
    out = json.loads(result.stdout)
    expected = {pyotp.TOTP(ANGEL_SECRET).at(int(t)) for t in (before, after)}
    assert out["totp"] in expected
    assert 0 <= out["valid_for"] <= 29


# The fake clock of tests/faults: 1,000,000,003.1 is 0.9 s before a 4-second
# step ends, whenever the process starts; its sleeps pass 50 times faster.
EDGE_OF_A_STEP = fault_env(GEN_FAULT_CLOCK="1000000003.1:50")


def test_min_validity_waits_for_the_next_code_and_says_so():
    uri = f"otpauth://totp/x?secret={RFC_SHA1}&period=4"
    result = run_generate("--secret-stdin", "--json", "--min-validity", "2", stdin=uri,
                          secrets=(RFC_SHA1,), env=EDGE_OF_A_STEP)
    assert result.returncode == 0, result.stderr
    assert "waiting" in result.stderr and "--min-validity 2" in result.stderr
    out = json.loads(result.stdout)
    assert out["valid_for"] >= 2 and out["valid_until"] == "2001-09-09T01:46:48Z"


def test_min_validity_zero_never_waits():
    uri = f"otpauth://totp/x?secret={RFC_SHA1}&period=4"
    result = run_generate("--secret-stdin", "--json", "--min-validity", "0", stdin=uri,
                          env=EDGE_OF_A_STEP)
    assert "waiting" not in result.stderr
    assert json.loads(result.stdout)["valid_for"] == 0


@pytest.mark.parametrize("value", ["30", "-1", "abc", "2.5"])
def test_min_validity_out_of_range_is_a_usage_error(value):
    result = run_generate("--secret-stdin", f"--min-validity={value}", stdin=RFC_SHA1)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) <= 2


def test_fresh_code_waits_with_a_fake_clock():
    now = [1_000_000_047.0]  # 3 s left in its step (steps start at multiples of 30)
    slept = []
    waits = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    code = fresh_code(RFC_SHA1, 5, clock=lambda: now[0], sleep=sleep,
                      on_wait=lambda c, w: waits.append((c.valid_for, w)))
    assert waits and waits[0][0] == 3
    assert code.valid_from == 1_000_000_050
    assert code.totp == code_at(parse_secret(RFC_SHA1), 1_000_000_050).totp
    assert pytest.approx(slept[0], abs=0.1) == 3


def test_fresh_code_does_not_wait_when_enough_time_is_left():
    code = fresh_code(RFC_SHA1, 5, clock=lambda: 1_000_000_030.0,
                      sleep=lambda s: pytest.fail("slept"))
    assert code.valid_for == 20


def test_parse_when_forms():
    assert parse_when("59") == 59
    assert parse_when("2005-03-18T01:58:29Z") == 1111111109
    assert parse_when("2005-03-18T01:58:29z") == 1111111109
    with pytest.raises(ValueError):
        parse_when("2005-03-18")


def _start_watch(*args: str, uri: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(GENERATE), "--secret-stdin", "--watch", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=clean_env())


def test_watch_without_terminal_prints_one_line_per_new_code_and_ctrl_c_exits_0():
    uri = f"otpauth://totp/x?secret={RFC_SHA1}&period=1"
    watcher = _start_watch(uri=uri)
    watcher.stdin.write(uri + "\n")
    watcher.stdin.close()
    watcher.stdin = None  # communicate() must not flush it again
    lines = [watcher.stdout.readline() for _ in range(3)]
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=10)
    assert watcher.returncode == 0, err
    for line in lines:
        assert line.startswith("TOTP ") and "(valid for" in line
    assert len(set(lines)) >= 2  # new codes, not the same one repeated
    assert "\r" not in "".join(lines)
    assert_no_leak(out + err + "".join(lines), RFC_SHA1)
    assert "Traceback" not in err


def test_watch_json_lines():
    uri = f"otpauth://totp/x?secret={RFC_SHA1}&period=1"
    watcher = _start_watch("--json", uri=uri)
    watcher.stdin.write(uri + "\n")
    watcher.stdin.close()
    watcher.stdin = None  # communicate() must not flush it again
    first = json.loads(watcher.stdout.readline())
    second = json.loads(watcher.stdout.readline())
    watcher.send_signal(signal.SIGINT)
    watcher.communicate(timeout=10)
    assert watcher.returncode == 0
    assert second["valid_until"] > first["valid_until"]


def test_watch_refuses_write():
    result = run_generate("--secret-stdin", "--watch", "--write", stdin=RFC_SHA1)
    assert result.returncode == 2
    assert "--watch cannot be combined" in result.stderr


# -- in-process: the library, whatever the command layer does -------------

import math  # noqa: E402
import pickle  # noqa: E402
import pydoc  # noqa: E402

from angel_totp.checks import check_min_validity  # noqa: E402
from angel_totp.codes import DEFAULT_MIN_VALIDITY, MAX_TIME, Code  # noqa: E402
from angel_totp.errors import InvalidInputError  # noqa: E402


class FakeClock:
    """A clock that only moves when slept on; records every wait."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []
        self.announced: list[tuple[str, float]] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def on_wait(self, code, seconds: float) -> None:
        self.announced.append((code.totp, seconds))

    def fresh(self, secret=RFC_SHA1, min_validity=5, uncertainty=0.0):
        return fresh_code(secret, min_validity, clock=self, sleep=self.sleep,
                          on_wait=self.on_wait, uncertainty=uncertainty)


STEP = 1_000_000_020  # a multiple of 30: a step starts here


@pytest.mark.parametrize("offset,waits,step_start", [
    (1.9, True, STEP),          # early edge 1.9 - 2 is still in the previous step
    (2.0, False, STEP),         # the whole +/- 2 s is in this step, 26 s left at the late edge
    (22.99, False, STEP),       # late edge 24.99: 5.01 s left
    (23.01, True, STEP + 30),   # late edge 25.01: 4.99 s left, under 5
    (29.0, True, STEP + 30),
])
def test_uncertainty_at_a_code_boundary(offset, waits, step_start):
    clock = FakeClock(STEP + offset)
    code = clock.fresh(min_validity=5, uncertainty=2.0)
    assert bool(clock.slept) == waits
    assert code.valid_from == step_start
    assert code == code_at(RFC_SHA1, clock.now)
    early, late = clock.now - 2.0, clock.now + 2.0
    assert math.floor(early / 30) == math.floor(late / 30)
    assert code.valid_until - late >= 5
    if waits:  # exactly one wait, to the first instant whose whole window qualifies
        assert len(clock.slept) == 1 and clock.announced[0][1] == clock.slept[0]
        assert clock.now == pytest.approx(step_start + 2.0 + 0.05, abs=1e-6)


def test_without_uncertainty_the_old_rule_holds():
    assert not FakeClock(STEP + 25.0).fresh(min_validity=5).valid_for < 5
    clock = FakeClock(STEP + 25.01)
    assert clock.fresh(min_validity=5).valid_from == STEP + 30 and len(clock.slept) == 1
    assert FakeClock(STEP + 29.99).fresh(min_validity=0).valid_from == STEP


@pytest.mark.parametrize("uncertainty,min_validity", [(12.5, 5), (15, 0), (10, 10), (12, 6)])
def test_an_uncertainty_no_code_can_meet_is_refused_before_any_wait(uncertainty, min_validity):
    clock = FakeClock(STEP + 29.0)
    with pytest.raises(InvalidInputError) as caught:
        clock.fresh(min_validity=min_validity, uncertainty=uncertainty)
    assert caught.value.what in ("uncertainty", "min_validity")
    assert not clock.slept
    if min_validity < 29:
        assert caught.value.what == "uncertainty"
    assert "--" not in caught.value.message


@pytest.mark.parametrize("uncertainty", [-1, float("nan"), float("inf"), "2", True])
def test_uncertainty_must_be_a_non_negative_number(uncertainty):
    with pytest.raises(InvalidInputError) as caught:
        FakeClock(STEP).fresh(uncertainty=uncertainty)
    assert caught.value.what == "uncertainty"


@pytest.mark.parametrize("value", [-1, 30, 31, float("nan"), float("inf"), "5", None])
def test_min_validity_outside_the_period_names_min_validity(value):
    with pytest.raises(InvalidInputError) as caught:
        FakeClock(STEP).fresh(min_validity=value)
    error = caught.value
    assert error.what == "min_validity" and "min_validity" in error.message
    assert "--" not in error.message


def test_a_short_period_says_the_codes_last_too_little():
    uri = f"otpauth://totp/x?secret={RFC_SHA1}&period=5"
    with pytest.raises(InvalidInputError) as caught:
        FakeClock(STEP).fresh(uri, min_validity=DEFAULT_MIN_VALIDITY)
    assert caught.value.what == "min_validity"
    assert "this secret's codes last only 5 s" in caught.value.message
    assert "5 s of validity asked for" in caught.value.message
    assert FakeClock(STEP).fresh(uri, min_validity=4).period == 5
    check_min_validity(29, 30)


def test_code_at_takes_every_form_fresh_code_takes():
    secret = parse_secret(RFC_SHA1)
    uri = f"otpauth://totp/x?secret={RFC_SHA1.lower()}"
    assert code_at(secret, 59) == code_at(RFC_SHA1, 59) == code_at(uri, 59)
    assert code_at(" ".join(RFC_SHA1[i:i + 4] for i in range(0, 32, 4)), 59).totp == "287082"


def test_code_is_an_immutable_comparable_value():
    code = code_at(RFC_SHA1, 1111111109)
    same = code_at(RFC_SHA1, 1111111109)
    assert code == same and hash(code) == hash(same) and code != code_at(RFC_SHA1, 1111111110)
    for name in ("totp", "at", "valid_until", "x"):
        with pytest.raises(AttributeError):
            setattr(code, name, 1)
    assert (code.totp, code.at, code.valid_from, code.valid_until) == (
        "081804", 1111111109.0, 1111111110 - 30, 1111111110)
    assert (code.period, code.digits, code.algorithm) == (30, 6, "SHA1")
    assert code.seconds_left == 1 and code.valid_for == 1
    assert code.valid_until_iso() == "2005-03-18T01:58:30Z"
    assert pickle.loads(pickle.dumps(code)) == code
    assert "window in which it is valid" in pydoc.render_doc(Code)
    assert "min_validity" in pydoc.render_doc(fresh_code)


@pytest.mark.parametrize("text,seconds", [
    ("0", 0.0), ("-0", 0.0), ("1111111109.5", 1111111109.5), (" 59 ", 59.0),
    ("2005-03-18T07:28:29+05:30", 1111111109.0), ("253402300799", MAX_TIME),
    ("9999-12-31T23:59:59Z", MAX_TIME), ("1970-01-01T00:00:00Z", 0.0),
])
def test_parse_when_accepts_1970_to_9999(text, seconds):
    assert parse_when(text) == seconds


@pytest.mark.parametrize("text,words,hint", [
    ("253402300800", "after 9999-12-31T23:59:59Z", None),
    ("1700000000000", "looks like milliseconds", "divide by 1000"),
    ("1700000000000123", "looks like microseconds", "divide by 1000000"),
    ("1e20", "after 9999-12-31T23:59:59Z", None),
    ("1e300", "after 9999-12-31T23:59:59Z", None),
    ("nan", "finite", None), ("inf", "finite", None), ("-inf", "finite", None),
    ("-1", "before 1970", None), ("1969-12-31T23:59:59Z", "before 1970", None),
    ("0001-01-01T00:00:00+01:00", "before 1970", None),
    ("10000-01-01T00:00:00Z", "not a Unix timestamp", None),
    ("9999-12-31T23:59:59-01:00", "after 9999-12-31T23:59:59Z", None),
    ("2005-03-18T01:58:29", "needs a zone", None),
    ("", "not a Unix timestamp", None), ("1" * 100, "not a Unix timestamp", None),
])
def test_parse_when_refuses_out_of_range_and_odd_values(text, words, hint):
    with pytest.raises(InvalidInputError) as caught:
        parse_when(text)
    assert caught.value.what == "time" and words in caught.value.message
    if hint:
        assert hint in (caught.value.hint or "")


def test_the_very_last_code_has_a_valid_json_form():
    code = code_at(RFC_SHA1, parse_when("9999-12-31T23:59:59Z"))
    assert code.valid_until == MAX_TIME + 1  # the start of year 10000
    out = code.as_json_dict()
    assert out["valid_until"] == "9999-12-31T23:59:59Z"  # capped: never overstated
    assert out["valid_for"] == 1 and len(out["totp"]) == 6
    import json
    assert json.loads(json.dumps(out)) == out
    with pytest.raises(InvalidInputError):
        code_at(RFC_SHA1, MAX_TIME + 1)

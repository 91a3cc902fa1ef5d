"""Codes and time: RFC 6238 vectors, output formats, --time, --min-validity, --watch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from angel_totp.codes import code_at, fresh_code, parse_when
from angel_totp.secret import parse_secret
from conftest import (ANGEL_SECRET, GENERATE, RFC_SHA1, RFC_SHA256, RFC_SHA512,
                      assert_no_leak, clean_env, run_generate)

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


def _wait_for_phase(period: int, low: float, high: float) -> None:
    while not low <= time.time() % period < high:
        time.sleep(0.01)


def test_min_validity_waits_for_the_next_code_and_says_so():
    # Period 4: start 0.2 s into the step's last second, so under 1 s is left.
    uri = f"otpauth://totp/x?secret={RFC_SHA1}&period=4"
    _wait_for_phase(4, 3.0, 3.2)
    result = run_generate("--secret-stdin", "--json", "--min-validity", "2", stdin=uri,
                          secrets=(RFC_SHA1,))
    assert result.returncode == 0, result.stderr
    assert "waiting" in result.stderr and "--min-validity 2" in result.stderr
    out = json.loads(result.stdout)
    assert out["valid_for"] >= 2


def test_min_validity_zero_never_waits():
    uri = f"otpauth://totp/x?secret={RFC_SHA1}&period=4"
    _wait_for_phase(4, 3.0, 3.2)
    result = run_generate("--secret-stdin", "--json", "--min-validity", "0", stdin=uri)
    assert "waiting" not in result.stderr
    assert json.loads(result.stdout)["valid_for"] <= 1


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

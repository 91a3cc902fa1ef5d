"""Secret intake: every accepted form, precise errors, nothing echoed."""

from __future__ import annotations

import pytest

from angel_totp.secret import InvalidSecret, parse_secret
from conftest import ANGEL_SECRET, RFC_SHA1, run_generate

T = "1111111109"  # an RFC 6238 instant
RFC_SHA1_CODE = "081804"  # last 6 digits of 07081804


@pytest.mark.parametrize("form", [
    RFC_SHA1,
    RFC_SHA1.lower(),
    " ".join(RFC_SHA1[i:i + 4] for i in range(0, 32, 4)),
    "-".join(RFC_SHA1[i:i + 4] for i in range(0, 32, 4)).lower(),
    RFC_SHA1 + "=" * 8,
    f"  {RFC_SHA1}\t",
    f"otpauth://totp/Angel%20One:A123456?secret={RFC_SHA1}&issuer=Angel%20One",
    f"OTPAUTH://TOTP/x?SECRET={RFC_SHA1.lower()}&algorithm=sha1&digits=6&period=30",
])
def test_every_accepted_form_gives_the_same_code(form):
    result = run_generate("--secret-stdin", "--time", T, "-q", stdin=form + "\n",
                          secrets=(RFC_SHA1,))
    assert result.returncode == 0, result.stderr
    assert result.stdout == RFC_SHA1_CODE + "\n"
    assert result.stderr == ""


def test_angel_one_length_secret_with_padding_works():
    padded = ANGEL_SECRET + "======"
    result = run_generate("--secret-stdin", "-q", "--min-validity", "0",
                          stdin=padded, secrets=(ANGEL_SECRET,))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit() and len(result.stdout.strip()) == 6


INVALID = [
    # (text, words the message must contain)
    ("JBSWY3DPEH0K3PXPJBSWY3DPEH", ["character 11", "letter O"]),
    ("JBSWY3DPEH1K3PXPJBSWY3DPEH", ["character 11", "letter I or L"]),
    ("JBSWY3DPEH8K3PXPJBSWY3DPEH", ["character 11", "letter B"]),
    ("JBSW Y3DP EH!K 3PXP JBSW Y3DP EH", ["character 13", "A-Z and 2-7"]),
    ("JBSWY3DPEHPK3PXPJBSWY3DPEHé", ["character 27"]),
    ("JBSWY3DP==EHPK3PXPJBSWY3DPEH", ["character 11", "padding"]),
    ("JBSWY3DPEHPK3PX", ["too short", "15 base32 letters", "112 bits"]),
    ("JBSWY3DPEHPK3PXPJBSW", ["too short"]),
    ("JBSWY3DPEHPK3PXPJBSWY3DPE", ["25 base32 letters", "missing or extra"]),
    ("----====", ["no base32 letters"]),
    ("https://example.com/?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH", ["link"]),
    ("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&counter=1", ["hotp", "time-based"]),
    ("otpauth://totp/x?issuer=Angel", ["no secret="]),
    ("otpauth://totp/x?secret=JBSWY3DPEH0K3PXPJBSWY3DPEH", ["URI's secret", "character 11"]),
    ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&algorithm=MD5",
     ["unsupported algorithm", "MD5"]),
    ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&digits=4", ["unsupported digits"]),
    ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&digits=six", ["unsupported digits"]),
    ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&period=0", ["unsupported period"]),
    ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&secret=JBSWY3DPEHPK3PXPJBSWY3DPEH",
     ["more than once"]),
]


@pytest.mark.parametrize("text,words", INVALID)
def test_invalid_secret_is_explained_without_echoing_it(text, words):
    with pytest.raises(InvalidSecret) as caught:
        parse_secret(text)
    message = str(caught.value)
    for word in words:
        assert word in message
    assert "JBSWY3DP" not in message.upper() and "HPK3PX" not in message.upper()


@pytest.mark.parametrize("text,words", INVALID[:4] + INVALID[6:7] + INVALID[11:12])
def test_invalid_secret_exits_2_with_one_error_line(text, words):
    result = run_generate("--secret-stdin", stdin=text + "\n",
                          secrets=("JBSWY3DPEHPK3PXPJBSWY3DPEH", "JBSWY3DPEH"))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: the secret from standard input is not a valid")
    assert words[0] in lines[0]
    assert lines[1].startswith("hint: ")
    assert len(lines) == 2


def test_empty_stdin_names_the_problem():
    result = run_generate("--secret-stdin", stdin="\n")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --secret-stdin: standard input had no secret")


def test_non_angel_uri_works_with_a_warning():
    uri = f"otpauth://totp/x?secret={RFC_SHA1}&digits=8&period=60"
    result = run_generate("--secret-stdin", "--time", T, "-q", stdin=uri, secrets=(RFC_SHA1,))
    assert result.returncode == 0
    assert result.stdout == _code_8_digits_60s() + "\n"
    assert result.stderr.startswith("warning: this secret makes SHA1, 8-digit, 60-second codes")
    assert "Angel One" in result.stderr


def _code_8_digits_60s() -> str:
    import pyotp
    return pyotp.TOTP(RFC_SHA1, digits=8, interval=60).at(int(T))


def test_secret_object_never_shows_its_key():
    secret = parse_secret(ANGEL_SECRET)
    assert ANGEL_SECRET not in repr(secret) and ANGEL_SECRET not in str(secret)
    assert "<hidden>" in repr(secret)

"""Secret intake: every accepted form, precise errors, nothing echoed."""

from __future__ import annotations

import pytest
from conftest import ANGEL_SECRET, RFC_SHA1, run_generate

from angel_totp.errors import InvalidSecretError
from angel_totp.secret import parse_secret

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
     ["unsupported algorithm", "SHA1, SHA256, SHA512"]),
    ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&digits=4", ["unsupported digits"]),
    ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&digits=six", ["unsupported digits"]),
    ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&period=0", ["unsupported period"]),
    ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&secret=JBSWY3DPEHPK3PXPJBSWY3DPEH",
     ["more than once"]),
]


@pytest.mark.parametrize("text,words", INVALID)
def test_invalid_secret_is_explained_without_echoing_it(text, words):
    with pytest.raises(InvalidSecretError) as caught:
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


# -- in-process: the library, whatever the command layer does -------------

import pickle  # noqa: E402
import pydoc  # noqa: E402

from angel_totp.codes import code_at  # noqa: E402
from angel_totp.errors import AngelTotpError  # noqa: E402
from angel_totp.hidden import Hidden  # noqa: E402
from angel_totp.secret import TotpSecret  # noqa: E402


def _refused(text: str) -> InvalidSecretError:
    with pytest.raises(InvalidSecretError) as caught:
        parse_secret(text)
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, AngelTotpError)
    assert error.what == "secret"
    return error


@pytest.mark.parametrize("space", [" ", "\t", "\u00a0", "\u2007", "\u202f", "\u3000",
                                   "\u2009", "\n"])
def test_any_unicode_space_is_ignored(space):
    spaced = space.join(ANGEL_SECRET[i:i + 4] for i in range(0, 26, 4))
    assert parse_secret(space + spaced + space).base32 == ANGEL_SECRET


@pytest.mark.parametrize("letter", ["\u0131", "\u017f", "\ufb05", "\u212a", "\uff21"])
def test_a_non_ascii_letter_is_an_error_at_its_position_never_folded(letter):
    # str.upper() makes I, S, ST of the first three; none may pass as a letter.
    text = "JBSWY3DPEH" + letter + "K3PXPJBSWY3DPEH"
    error = _refused(text)
    assert "character 11" in error.message and "not an ASCII character" in error.message
    assert letter not in error.message and "JBSWY3DP" not in error.message
    uri_error = _refused(f"otpauth://totp/x?secret={text}")
    assert "character 11" in uri_error.message


def test_over_1024_characters_is_too_long_and_refused_at_once():
    assert "too long" in _refused("A" * 1025).message
    assert "1,024" in _refused("A" * 1025).message
    huge = "0JBSWY3DPEHPK3PXPJBSWY3DPEH" * 400_000  # a 10 MB line
    error = _refused(huge)  # refused for its length before any character is looked at
    assert "too long" in error.message and "JBSW" not in error.message + (error.hint or "")
    assert parse_secret(" " * 998 + ANGEL_SECRET).base32 == ANGEL_SECRET  # 1,024 exactly


@pytest.mark.parametrize("code", ["123456", "1234567", "12345678", "123 456", " 654321\n"])
def test_an_authenticator_code_is_not_the_secret(code):
    error = _refused(code)
    assert "code from an authenticator app" in error.message
    assert "26 letters" in (error.hint or "")
    assert code.strip() not in error.message


@pytest.mark.parametrize("text", ["12345", "123456789"])
def test_other_digit_strings_get_the_usual_messages(text):
    assert "authenticator" not in _refused(text).message


LEAKY = "JBSWY3DPEHPK3PXPJBSWY3DP"


@pytest.mark.parametrize("query", [
    f"secret={ANGEL_SECRET}&algorithm={LEAKY}",
    f"secret={ANGEL_SECRET}&digits={LEAKY}",
    f"secret={ANGEL_SECRET}&period={LEAKY}",
    f"secret={ANGEL_SECRET}&{LEAKY}=1&{LEAKY}=2",
    f"secret={ANGEL_SECRET}&algorithm=\u017fha1",
    f"secret={ANGEL_SECRET}&digits=\uff16",
    f"secret={LEAKY}0",
])
def test_no_uri_parameter_value_is_ever_echoed(query):
    error = _refused("otpauth://totp/x?" + query)
    shown = error.message + (error.hint or "")
    assert LEAKY[:8] not in shown and "JBSWY3DP" not in shown and "\u017f" not in shown


def test_totp_secret_is_an_immutable_comparable_value_that_hides_its_key():
    one = parse_secret(ANGEL_SECRET.lower())
    two = parse_secret(Hidden(ANGEL_SECRET))
    assert one == two and hash(one) == hash(two) and len({one, two}) == 1
    assert one == TotpSecret(Hidden(ANGEL_SECRET))
    assert one != TotpSecret(Hidden(ANGEL_SECRET), digits=8) and one != ANGEL_SECRET
    for name in ("base32", "digits", "period", "algorithm", "key", "anything"):
        with pytest.raises(AttributeError):
            setattr(one, name, "x")
    with pytest.raises(AttributeError):
        del one.base32
    for shown in (repr(one), str(one), f"{one}", str([one]), repr(one._asdict())):
        assert ANGEL_SECRET not in shown and "<hidden>" in shown
    assert pickle.loads(pickle.dumps(one)) == one
    text = pydoc.render_doc(TotpSecret)
    assert "never show it" in text and "base32" in text and "parse_secret" in text
    assert "Parse a secret as users paste it" in pydoc.render_doc(parse_secret)


@pytest.mark.parametrize("kwargs", [{"digits": 5}, {"digits": True}, {"period": 0},
                                    {"period": 121}, {"algorithm": "MD5"}, {"key": None},
                                    {"key": Hidden("JBSW0")}, {"key": 123}])
def test_a_totp_secret_made_by_hand_is_checked_again_where_it_is_used(kwargs):
    made = TotpSecret(Hidden(ANGEL_SECRET))._replace(**kwargs)
    with pytest.raises(InvalidSecretError):
        parse_secret(made)
    with pytest.raises(InvalidSecretError):
        code_at(made, 59)
    assert code_at(TotpSecret(ANGEL_SECRET), 59) == code_at(ANGEL_SECRET, 59)  # type: ignore


def test_storable_text_round_trips_through_a_quoted_env_value():
    import io

    from dotenv import dotenv_values

    from angel_totp import envfile
    from angel_totp.hidden import Hidden

    plain = parse_secret(ANGEL_SECRET)
    assert plain.storable_text() == ANGEL_SECRET
    odd = parse_secret(f"otpauth://totp/Bank:me?secret={RFC_SHA1}&digits=8&period=60"
                       "&algorithm=SHA256&issuer=Bank")
    stored = odd.storable_text()
    assert stored.startswith("otpauth://totp/") and parse_secret(stored) == odd
    assert envfile.can_store(stored)
    current = envfile._parse_checked("A=1\n")
    text = envfile._new_text("A=1\n", current, {"TOTP_SECRET": Hidden(stored)}).reveal()
    assert text == f"A=1\nTOTP_SECRET='{stored}'\n"
    assert dotenv_values(stream=io.StringIO(text))["TOTP_SECRET"] == stored

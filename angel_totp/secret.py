"""The TOTP secret: lenient parsing, precise errors, nothing echoed.

Users paste secrets from a web page, a password manager or a QR-code
reader, so the same key arrives as ``abcd efgh ...``, ``ABCD-EFGH-...``,
``ABCDEFGH...====`` or a whole ``otpauth://totp/...`` URI. All of them
parse to one :class:`TotpSecret`. Every error says what is wrong and
where, but never repeats the secret or any character of it.
"""

from __future__ import annotations

import base64
import binascii

BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# pyotp 2.12 and NIST SP 800-63B refuse shorter keys.
MIN_KEY_BITS = 112
# Base32 lengths (mod 8) that no whole number of bytes can produce.
_IMPOSSIBLE_LENGTHS = {1, 3, 6}

ANGEL_ONE_ALGORITHM = "SHA1"
ANGEL_ONE_DIGITS = 6
ANGEL_ONE_PERIOD = 30
SUPPORTED_ALGORITHMS = ("SHA1", "SHA256", "SHA512")
MIN_DIGITS, MAX_DIGITS = 6, 10
MAX_PERIOD = 120  # pyotp 2.12's limit


class InvalidSecret(ValueError):
    """The text is not a usable TOTP secret. The message never contains it."""


class TotpSecret:
    """A validated secret and the parameters codes are made with."""

    # A plain class, not a NamedTuple: those exec generated code at import,
    # which costs start-up time on every run.
    __slots__ = ("base32", "algorithm", "digits", "period")

    def __init__(self, base32: str, algorithm: str = ANGEL_ONE_ALGORITHM,
                 digits: int = ANGEL_ONE_DIGITS, period: int = ANGEL_ONE_PERIOD):
        self.base32 = base32
        self.algorithm = algorithm
        self.digits = digits
        self.period = period

    def __eq__(self, other) -> bool:
        return isinstance(other, TotpSecret) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None

    def __repr__(self) -> str:  # never show the key, even in a debugger
        return (f"TotpSecret(<hidden>, algorithm={self.algorithm!r}, "
                f"digits={self.digits}, period={self.period})")

    __str__ = __repr__

    @property
    def is_angel_one_compatible(self) -> bool:
        return (self.algorithm, self.digits, self.period) == (
            ANGEL_ONE_ALGORITHM, ANGEL_ONE_DIGITS, ANGEL_ONE_PERIOD)

    def compatibility_warning(self) -> str | None:
        """A sentence for stderr when the codes will not work at Angel One."""
        if self.is_angel_one_compatible:
            return None
        return (f"this secret makes {self.algorithm}, {self.digits}-digit, "
                f"{self.period}-second codes; Angel One expects SHA1, 6 digits, "
                "30 seconds, so its login will reject them")

    def storable_text(self) -> str:
        """What to save as TOTP_SECRET: plain base32, or a URI when needed."""
        if self.is_angel_one_compatible:
            return self.base32
        return (f"otpauth://totp/Angel%20One?secret={self.base32}"
                f"&algorithm={self.algorithm}&digits={self.digits}"
                f"&period={self.period}")


def parse_secret(text: str) -> TotpSecret:
    """Parse base32 (any case, spaces, hyphens, padding) or an otpauth URI."""
    if text is None:
        raise InvalidSecret("no secret was given")
    stripped = text.strip()
    if not stripped:
        raise InvalidSecret("the secret is empty")
    if stripped[:10].lower() == "otpauth://":
        return _parse_uri(stripped)
    if "://" in stripped:
        raise InvalidSecret("this is a link, not an otpauth://totp/ URI or a base32 secret")
    return TotpSecret(base32=normalise_base32(stripped))


def normalise_base32(text: str) -> str:
    """Return the secret as upper-case base32 without separators or padding.

    Positions in errors count characters of the text as given (from 1), so
    the user can find the culprit in what they pasted.
    """
    letters = []
    padding_from = None
    for position, char in enumerate(text, start=1):
        if char in " \t-":
            continue
        if char == "=":
            if padding_from is None:
                padding_from = position
            continue
        if padding_from is not None:
            raise InvalidSecret(
                f"character {position} follows '=' padding; '=' may only "
                "stand at the end of a base32 secret")
        upper = char.upper()
        if upper not in BASE32_ALPHABET:
            raise InvalidSecret(
                f"character {position} is not a base32 letter "
                f"(base32 uses A-Z and 2-7{_confusion_hint(char)})")
        letters.append(upper)
    joined = "".join(letters)
    if not joined:
        raise InvalidSecret("the secret has no base32 letters")
    if len(joined) % 8 in _IMPOSSIBLE_LENGTHS:
        raise InvalidSecret(
            f"{len(joined)} base32 letters cannot be a whole key; "
            "a letter is probably missing or extra")
    if len(joined) * 5 // 8 < MIN_KEY_BITS // 8:
        raise InvalidSecret(
            f"too short: {len(joined)} base32 letters; a TOTP secret needs at "
            f"least {MIN_KEY_BITS} bits (23 letters), and Angel One's has 26")
    try:
        base64.b32decode(joined + "=" * (-len(joined) % 8))
    except binascii.Error:  # unreachable after the checks above; kept as a guard
        raise InvalidSecret("not valid base32") from None
    return joined


def _confusion_hint(char: str) -> str:
    # Say which letter was likely meant, without echoing the character.
    return {
        "0": "; a zero is usually the letter O",
        "1": "; a one is usually the letter I or L",
        "8": "; an eight is usually the letter B",
        "9": "; base32 has no 9",
    }.get(char, "")


def _parse_uri(uri: str) -> TotpSecret:
    from urllib.parse import parse_qs, urlsplit

    try:
        parts = urlsplit(uri)
    except ValueError:
        raise InvalidSecret("the otpauth:// URI is malformed") from None
    kind = parts.netloc.lower()
    if kind == "hotp":
        raise InvalidSecret("this is an otpauth://hotp/ (counter-based) URI; "
                            "Angel One needs a time-based otpauth://totp/ one")
    if kind != "totp":
        raise InvalidSecret("not a TOTP URI: expected otpauth://totp/...")
    query = parse_qs(parts.query, keep_blank_values=True)
    for name, values in query.items():
        if len(values) > 1:
            raise InvalidSecret(f"the URI gives '{_printable(name)}' more than once")

    def param(name: str) -> str | None:
        for key, values in query.items():
            if key.lower() == name:
                return values[0].strip()
        return None

    raw_secret = param("secret")
    if not raw_secret:
        raise InvalidSecret("the otpauth:// URI has no secret= parameter")
    try:
        base32 = normalise_base32(raw_secret)
    except InvalidSecret as error:
        raise InvalidSecret(f"the URI's secret: {error}") from None

    algorithm = (param("algorithm") or ANGEL_ONE_ALGORITHM).upper().replace("-", "")
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise InvalidSecret(
            f"unsupported algorithm '{_printable(algorithm)}' in the URI; "
            "supported: SHA1, SHA256, SHA512")
    digits = _int_param(param("digits"), "digits", ANGEL_ONE_DIGITS, MIN_DIGITS, MAX_DIGITS)
    period = _int_param(param("period"), "period", ANGEL_ONE_PERIOD, 1, MAX_PERIOD)
    return TotpSecret(base32=base32, algorithm=algorithm, digits=digits, period=period)


def _int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidSecret(
            f"unsupported {name} '{_printable(raw)}' in the URI; "
            f"it must be a whole number from {low} to {high}")
    return int(raw)


def _printable(value: str) -> str:
    # Parameter names and values other than secret= are not secret, but keep
    # them short and on one line.
    clean = "".join(c if c.isprintable() else "?" for c in value)
    return clean[:20] + ("..." if len(clean) > 20 else "")

"""The TOTP secret: every form users paste parses to one :class:`TotpSecret`. Errors
say what is wrong and where, never the secret, a character of it, or a URI's value."""

import re
from typing import NamedTuple

from .errors import InvalidSecretError
from .hidden import Hidden

MIN_KEY_BITS = 112  # pyotp 2.12 and NIST SP 800-63B refuse shorter keys
_IMPOSSIBLE_LENGTHS = {1, 3, 6}  # base32 lengths (mod 8) no whole number of bytes makes
MAX_SECRET_LENGTH = 1024  # far above any secret or URI: a pasted file is refused at once

ANGEL_ONE_ALGORITHM = "SHA1"
ANGEL_ONE_DIGITS = 6
ANGEL_ONE_PERIOD = 30
SUPPORTED_ALGORITHMS = ("SHA1", "SHA256", "SHA512")
MIN_DIGITS, MAX_DIGITS = 6, 10
MAX_PERIOD = 120  # pyotp 2.12's limit

# Where the secret is found: every hint about a missing or a wrong one says it alike.
SECRET_AT = ("the 26 letters (A-Z and 2-7) shown beside the QR code at "
             "smartapi.angelbroking.com/enable-totp")
_HINT = "copy " + SECRET_AT
_URI_PARAMETERS = ("secret", "algorithm", "digits", "period", "issuer", "counter")
_CONFUSIONS = {  # which letter was likely meant, without echoing the character
    "0": "; a zero is usually the letter O",
    "1": "; a one is usually the letter I or L",
    "8": "; an eight is usually the letter B",
    "9": "; base32 has no 9",
}
# The first character after '=' padding, or the first that is no base32 letter, space
# or hyphen. ASCII letters only: str.upper() would turn a dotless i into I, a long s into S.
_MISPLACED = r"=[\s=-]*([^\s=-])|([^A-Za-z2-7\s=-])"


class TotpSecret(NamedTuple):
    """A validated TOTP secret (made by :func:`parse_secret`). ``key`` is hidden, so that
    repr, logs and error trackers never show it; :attr:`base32` reveals it."""

    key: Hidden
    algorithm: str = ANGEL_ONE_ALGORITHM
    digits: int = ANGEL_ONE_DIGITS
    period: int = ANGEL_ONE_PERIOD

    @property
    def base32(self) -> str:
        """The key: upper-case base32, without spaces, hyphens or padding."""
        return self.key.reveal()

    @property
    def is_angel_one_compatible(self) -> bool:
        return (self.algorithm, self.digits, self.period) == (
            ANGEL_ONE_ALGORITHM, ANGEL_ONE_DIGITS, ANGEL_ONE_PERIOD)

    def compatibility_warning(self) -> str | None:
        """A warning when Angel One will reject the codes, else None."""
        if self.is_angel_one_compatible:
            return None
        return (f"this secret makes {self.algorithm}, {self.digits}-digit, "
                f"{self.period}-second codes; Angel One expects SHA1, 6 digits, "
                "30 seconds, so its login will reject them")

    def storable_text(self) -> str:
        """What to save as ``TOTP_SECRET``: the key, or a URI if the rest is not Angel One's."""
        if self.is_angel_one_compatible:
            return self.base32
        return (f"otpauth://totp/Angel%20One?secret={self.base32}"
                f"&algorithm={self.algorithm}&digits={self.digits}"
                f"&period={self.period}")


def parse_secret(text: str | Hidden | TotpSecret) -> TotpSecret:
    """Parse a secret as users paste it (base32 in any form, or an ``otpauth://totp/``
    URI), or raise :class:`InvalidSecretError`, which never holds the secret."""
    text = hide_secret(text)  # from here no frame of ours holds the plain text
    try:
        return _parse(text)
    except BaseException as error:  # Ctrl-C too
        # The frames below hold the text, and error trackers record their locals.
        raise error.with_traceback(None) from None


def hide_secret(given: str | Hidden | TotpSecret) -> Hidden | TotpSecret:
    """``given`` with its text inside a :class:`~angel_totp.hidden.Hidden`: a function
    rebinds its parameter to this first, so that its frame never holds the text."""
    if isinstance(given, str):
        return Hidden(given)
    if isinstance(given, TotpSecret) and isinstance(given.key, str):  # one made by hand
        return given._replace(key=Hidden(given.key))
    return given


def _parse(given: object) -> TotpSecret:
    held = given.key if isinstance(given, TotpSecret) else given  # a key made by hand too
    text = held.reveal() if isinstance(held, Hidden) else held
    if isinstance(text, str) and len(text) > MAX_SECRET_LENGTH:
        raise InvalidSecretError(
            f"too long: over {MAX_SECRET_LENGTH:,} characters; a TOTP secret is 26 letters, "
            "an otpauth:// URI a few dozen", "paste only the secret, or only the otpauth:// URI")
    if isinstance(given, TotpSecret):
        return _secret(text, given.algorithm, given.digits, given.period)
    if not isinstance(text, str):
        raise InvalidSecretError("the secret must be text", _HINT)
    stripped = text.strip()  # str.strip() removes every Unicode space
    if not stripped:
        raise InvalidSecretError("the secret is empty", _HINT)
    if stripped[:10].lower() == "otpauth://":
        return _parse_uri(stripped)
    if "://" in stripped:
        raise InvalidSecretError(
            "this is a link, not an otpauth://totp/ URI or a base32 secret", _HINT)
    return _secret(stripped)


def _secret(key: object, algorithm: object = ANGEL_ONE_ALGORITHM,
            digits: object = ANGEL_ONE_DIGITS, period: object = ANGEL_ONE_PERIOD,
            where: str = "") -> TotpSecret:
    """The one place a TotpSecret is made: every field checked, no value shown."""
    if not isinstance(key, str):
        raise InvalidSecretError("the secret's key must be text", _HINT)
    letters = _base32(key)
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise InvalidSecretError(f"unsupported algorithm{where}; supported: SHA1, SHA256, "
                                 "SHA512", _HINT)
    if type(digits) is not int or not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise InvalidSecretError(f"unsupported digits{where}; it must be a whole number from "
                                 f"{MIN_DIGITS} to {MAX_DIGITS}", _HINT)
    if type(period) is not int or not 1 <= period <= MAX_PERIOD:
        raise InvalidSecretError(f"unsupported period{where}; it must be a whole number of "
                                 f"seconds from 1 to {MAX_PERIOD}", _HINT)
    return TotpSecret(Hidden(letters), str(algorithm), digits, period)


def _base32(text: str) -> str:
    """Upper-case base32 without separators or padding. Errors give positions in
    ``text`` from 1, so that the user can find the culprit, never the character."""
    compact = re.sub(r"[\s-]", "", text)
    if compact.isascii() and compact.isdigit() and 6 <= len(compact) <= 8:
        raise InvalidSecretError(
            f"this is a {len(compact)}-digit code from an authenticator app, not the "
            "secret that makes the codes", _HINT)
    misplaced = re.search(_MISPLACED, text)
    if misplaced and misplaced.group(1):
        raise InvalidSecretError(
            f"character {misplaced.start(1) + 1} follows '=' padding; '=' may only "
            "stand at the end of a base32 secret", _HINT)
    if misplaced:
        char = misplaced.group(2)
        why = "base32 uses A-Z and 2-7" if char.isascii() else \
            "it is not an ASCII character; base32 uses A-Z and 2-7"
        raise InvalidSecretError(f"character {misplaced.start(2) + 1} is not a base32 letter "
                                 f"({why}{_CONFUSIONS.get(char, '')})", _HINT)
    letters = compact.rstrip("=").upper()
    if not letters:
        raise InvalidSecretError("the secret has no base32 letters", _HINT)
    if len(letters) % 8 in _IMPOSSIBLE_LENGTHS:
        raise InvalidSecretError(
            f"{len(letters)} base32 letters cannot be a whole key; "
            "a letter is probably missing or extra", _HINT)
    if len(letters) * 5 // 8 < MIN_KEY_BITS // 8:
        raise InvalidSecretError(
            f"too short: {len(letters)} base32 letters; a TOTP secret needs at "
            f"least {MIN_KEY_BITS} bits (23 letters), and Angel One's has 26", _HINT)
    return letters


def _parse_uri(uri: str) -> TotpSecret:
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(uri)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        raise InvalidSecretError("the otpauth:// URI is malformed", _HINT) from None
    kind = parts.netloc.lower() if parts.netloc.isascii() else ""
    if kind == "hotp":
        raise InvalidSecretError("this is an otpauth://hotp/ (counter-based) URI; "
                                 "Angel One needs a time-based otpauth://totp/ one", _HINT)
    if kind != "totp":
        raise InvalidSecretError("not a TOTP URI: expected otpauth://totp/...", _HINT)
    query: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower() if name.isascii() else ""  # a long s is no s
        if not name:
            continue
        if name in query:
            # Only known names are shown: an unknown one may be a pasted secret.
            shown = f"'{name}'" if name in _URI_PARAMETERS else "a parameter"
            raise InvalidSecretError(f"the URI gives {shown} more than once", _HINT)
        query[name] = value.strip()
    if not query.get("secret"):
        raise InvalidSecretError("the otpauth:// URI has no secret= parameter", _HINT)
    try:
        base32 = _base32(query["secret"])
    except InvalidSecretError as error:
        raise InvalidSecretError(f"the URI's secret: {error.message}", error.hint) from None
    algorithm = query.get("algorithm") or ANGEL_ONE_ALGORITHM
    algorithm = algorithm.upper().replace("-", "") if algorithm.isascii() else ""
    return _secret(base32, algorithm, _number(query.get("digits"), ANGEL_ONE_DIGITS),
                   _number(query.get("period"), ANGEL_ONE_PERIOD), " in the URI")


def _number(raw: str | None, default: int) -> object:
    """A URI's number; anything else as it is, for :func:`_secret` to refuse unshown."""
    if not raw:
        return default
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 4 else raw

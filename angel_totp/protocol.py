"""Angel One SmartAPI's requests and replies, as data, with no I/O. Replies are
untrusted: a field of the wrong type is a malformed reply or is left out, never a crash.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from . import __version__
from .errors import InvalidSettingError
from .hidden import Hidden
from .redact import CONTROL

DEFAULT_BASE_URL = "https://apiconnect.angelone.in"
LOGIN_PATH = "/rest/auth/angelbroking/user/v1/loginByPassword"
PROFILE_PATH = "/rest/secure/angelbroking/user/v1/getProfile"
LOGOUT_PATH = "/rest/secure/angelbroking/user/v1/logout"
USER_AGENT = f"angel-totp/{__version__}"
MAX_REPLY_BYTES = 1 << 20  # the connection's cap: a longer reply is malformed
PLACEHOLDER_MAC = "00:00:00:00:00:00"  # not checked by the server; identifies nothing

# One word of printable ASCII: what we send back in a header (the API key, tokens).
_WORD = re.compile(r"[!-~]+")
# A request path or base URL path: printable ASCII, no space.
PATH = re.compile(r"/[!-~]*")
_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def check_setting(name: str, value: str, hint: str = "copy it again; it is one word") -> str:
    """``value`` stripped; refused, naming the setting and not the value, if it is not
    text or has a control, format or space character inside."""
    if not isinstance(value, str):
        raise InvalidSettingError(f"{name} must be text", what=name)
    value = value.strip()
    if CONTROL.search(value) or any(char.isspace() for char in value):
        raise InvalidSettingError(f"{name} has a control character or a space inside",
                                  hint=hint, what=name)
    return value


def check_header_value(name: str, value: str) -> str:
    """A setting sent in a header (the API key): one word of printable ASCII."""
    value = check_setting(name, value)
    if not _WORD.fullmatch(value):
        raise InvalidSettingError(f"{name} has a character that cannot be sent in a header",
                                  hint="copy it again from your app under My Apps at "
                                       "smartapi.angelbroking.com", what=name)
    return value


def check_client_code(value: str, name: str = "ANGEL_CLIENT_CODE") -> str:
    value = check_setting(name, value)
    if not value.isascii() or not value.isalnum():
        raise InvalidSettingError(
            f"{name} is not letters and digits",
            hint="it is your Angel One client ID, e.g. A123456, not an e-mail address",
            what=name)
    return value.upper()


def check_totp(value: str, name: str = "TOTP") -> str:
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) == 6):
        raise InvalidSettingError(f"{name} is not a 6-digit code",
                                  hint="set TOTP_SECRET instead, so that a fresh code is "
                                       "made at login time", what=name)
    return value


def check_base_url(url: str, name: str = "ANGEL_BASE_URL") -> str:
    """An ``http(s)://host[:port][/path]`` URL, without its trailing slash: the one rule,
    the connection's too."""
    example = f"for example {DEFAULT_BASE_URL}"
    url = check_setting(name, url, hint=example)

    def refused(why: str) -> InvalidSettingError:
        return InvalidSettingError(f"{name} {why}", hint=example, what=name)

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refused("has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refused("is not an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise refused("must not contain a user name or password")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise refused("must not have a query or fragment")
    if port == 0:
        raise refused("has an invalid port")
    if not _valid_host(parts.hostname):
        raise refused("has an invalid host name")
    if parts.path and not PATH.fullmatch(parts.path):
        raise refused("has a path that is not plain ASCII")
    return url.rstrip("/")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return all(_LABEL.fullmatch(label) for label in labels) and len(host) <= 253


def is_loopback(url: str) -> bool:
    """``localhost``, ``127.0.0.0/8`` or ``::1``, written as such (not a name like 127.x.com)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sends_in_clear(url: str) -> bool:
    """Plain http to anything but this machine: credentials would cross the network."""
    return urlsplit(url).scheme == "http" and not is_loopback(url)


Credential = str | Hidden  # a credential, best given as Hidden


class Request:
    """One request: method, path, headers (name, value) in order, JSON body. Credentials
    stay as given (best :class:`~angel_totp.hidden.Hidden`) until the bytes are built."""

    __slots__ = ("method", "path", "headers", "body")

    def __init__(self, method: str, path: str, headers: list[tuple[str, Credential]],
                 body: dict[str, Credential] | None) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"

    def body_bytes(self) -> Hidden | None:
        """The JSON body, credentials and all, for the connection to send."""
        if self.body is None:
            return None
        try:
            return Hidden(json.dumps({key: plain(value) for key, value in self.body.items()}))
        except BaseException as error:  # Ctrl-C: json's frames hold the body in plain text
            raise error.with_traceback(None) from None  # the same error, without them


def plain(value: Credential) -> str:
    return value.reveal() if isinstance(value, Hidden) else value


def headers(api_key: Credential | None, local_ip: str,
            token: Credential | None = None) -> list[tuple[str, Credential]]:
    """The headers of a SmartAPI request, named as Angel One's SDKs name them; without
    ``api_key`` (Angel One's clock), nothing that identifies the user."""
    sent: list[tuple[str, Credential]] = [
        ("Content-Type", "application/json"), ("Accept", "application/json"),
        ("User-Agent", USER_AGENT)]
    if api_key is None:
        return sent
    sent += [("X-UserType", "USER"), ("X-SourceID", "WEB"),
             ("X-ClientLocalIP", local_ip), ("X-ClientPublicIP", local_ip),
             ("X-MACAddress", PLACEHOLDER_MAC), ("X-PrivateKey", api_key)]
    if token is not None:
        bearer = Hidden("Bearer " + token.reveal()) if isinstance(token, Hidden) \
            else "Bearer " + token
        sent.append(("Authorization", bearer))
    return sent


def login_request(api_key: Credential, local_ip: str, client_code: str, pin: Credential,
                  totp: Credential) -> Request:
    return Request("POST", LOGIN_PATH, headers(api_key, local_ip),
                   {"clientcode": client_code, "password": pin, "totp": totp})


def profile_request(api_key: Credential, local_ip: str, token: Credential) -> Request:
    return Request("GET", PROFILE_PATH, headers(api_key, local_ip, token), None)


def logout_request(api_key: Credential, local_ip: str, token: Credential,
                   client_code: str) -> Request:
    return Request("POST", LOGOUT_PATH, headers(api_key, local_ip, token),
                   {"clientcode": client_code})


def clock_request() -> Request:
    """A request with no credential, only for the reply's Date header."""
    return Request("GET", "/", headers(None, ""), None)


class Answer:
    """A reply in either of Angel One's shapes, read as one. Not a tuple: ``data`` may
    hold session tokens, which an error tracker walking tuples would record."""

    __slots__ = ("ok", "errorcode", "message", "data")

    def __init__(self, ok: bool, errorcode: str, message: str, data: object) -> None:
        self.ok = ok
        self.errorcode = errorcode
        self.message = message
        self.data = data

    def __repr__(self) -> str:
        return f"<Answer ok={self.ok} errorcode={self.errorcode!r}>"


class BadReply(Exception):
    """No usable answer in a reply: ``errorcode`` is a key of diagnosis.TRANSPORT,
    ``detail`` ours, ``said`` the server's own code and message (to be cleaned)."""

    def __init__(self, errorcode: str, detail: str = "", said: str = "") -> None:
        super().__init__(errorcode)
        self.errorcode = errorcode
        self.detail = detail
        self.said = said


def read_reply(status: int, content_type: str, body: bytes) -> Answer:
    """Interpret a reply; raise :class:`BadReply` when it is not a usable answer."""
    text = body.decode("utf-8", errors="replace").strip()
    if status == 429 or (status == 403 and "exceeding access rate" in text.lower()):
        raise BadReply("RATE_LIMITED", f"HTTP {status}")
    if "html" in content_type.lower() or text[:1] == "<":
        raise BadReply("HTML_REPLY", f"HTTP {status}")
    try:
        parsed = json.loads(text) if text else None
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        if status >= 500:
            raise BadReply("SERVER_ERROR", f"HTTP {status}")
        if status >= 300:
            raise BadReply("HTTP_ERROR", f"HTTP {status}")
        raise BadReply("NOT_JSON", f"HTTP {status}")
    errorcode = _text(parsed.get("errorcode")) or _text(parsed.get("errorCode"))
    message = _text(parsed.get("message"))
    if status >= 500:
        raise BadReply("SERVER_ERROR", f"HTTP {status}", said=f"{errorcode} {message}".strip())
    ok = parsed.get("status", parsed.get("success"))  # one shape's field or the other's
    if not isinstance(ok, bool):
        raise BadReply("BAD_REPLY", "its status is not true or false (or is missing)")
    answer = Answer(ok and 200 <= status < 300, errorcode, message, parsed.get("data"))
    if not answer.ok and not errorcode and status >= 300:
        raise BadReply("HTTP_ERROR", f"HTTP {status}")
    return answer


def _text(value: Any) -> str:
    """A field meant as text: strings and numbers as text, anything else as nothing."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else ""


class Tokens(NamedTuple):
    """The session tokens from a login reply, each hidden (empty when not given)."""

    jwt: Hidden
    refresh: Hidden
    feed: Hidden


def read_tokens(data: object) -> Tokens:
    """The tokens of a successful login; no usable session token is a bad reply. A
    refresh or feed token that is not text is left out."""
    fields = data if isinstance(data, dict) else {}
    if not isinstance(fields.get("jwtToken"), str) or not fields["jwtToken"]:
        raise BadReply("BAD_REPLY", "the login reply has no token")
    if not _WORD.fullmatch(fields["jwtToken"]):
        raise BadReply("BAD_REPLY", _UNSENDABLE_TOKEN)
    return Tokens(*(Hidden(value if isinstance(value, str) else "") for value in (
        fields["jwtToken"], fields.get("refreshToken"), fields.get("feedToken"))))


def check_tokens(tokens: Tokens) -> None:
    """A refresh or feed token that could not be sent back in a header is a bad reply:
    checked apart, as the session it opened can still be closed."""
    if any(token and not _WORD.fullmatch(token.reveal()) for token in tokens[1:]):
        raise BadReply("BAD_REPLY", _UNSENDABLE_TOKEN)


_UNSENDABLE_TOKEN = "the login reply has a token that could not be sent back in a header"


# Angel One lists a handful of exchanges and products: a megabyte of tiny items must
# not cost seconds to clean.
MAX_LIST_ITEMS = 64


class Profile(NamedTuple):
    """The profile fields we show; one of the wrong type is left out (None or empty), and
    a list is cut to MAX_LIST_ITEMS."""

    client_code: str | None
    name: str | None
    exchanges: tuple[str, ...]
    products: tuple[str, ...]


def read_profile(data: object) -> Profile:
    fields = data if isinstance(data, dict) else {}

    def text(key: str) -> str | None:
        value = fields.get(key)
        return value.strip() or None if isinstance(value, str) else None

    def words(key: str) -> tuple[str, ...]:
        value = fields.get(key)
        if not isinstance(value, list):
            return ()
        return tuple(item.strip() for item in value[:MAX_LIST_ITEMS]
                     if isinstance(item, str) and item.strip())

    return Profile(text("clientcode"), text("name"), words("exchanges"), words("products"))

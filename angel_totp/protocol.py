"""Angel One SmartAPI's requests and replies, as data. Pure: no I/O.

What to send (paths, headers in the case smartapi-facts.md gives, bodies),
which settings are fit to send, and how to read a reply in either of Angel
One's shapes (``status``/``errorcode`` and ``success``/``errorCode``). Every
reply is untrusted: a field of the wrong type is a malformed reply or is
left out, never a crash.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import urlsplit

from . import __version__
from .errors import InvalidSettingError

DEFAULT_BASE_URL = "https://apiconnect.angelone.in"
LOGIN_PATH = "/rest/auth/angelbroking/user/v1/loginByPassword"
PROFILE_PATH = "/rest/secure/angelbroking/user/v1/getProfile"
LOGOUT_PATH = "/rest/secure/angelbroking/user/v1/logout"
USER_AGENT = f"angel-totp/{__version__}"
MAX_REPLY_BYTES = 1 << 20
# The MAC header: the server does not check it, and ours identifies nothing.
PLACEHOLDER_MAC = "00:00:00:00:00:00"

_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200f\u2028-\u202f"
                               r"\u205f-\u206f\u3000\ufeff]")
_TOKEN = re.compile(r"[!-~]+")  # printable ASCII, nothing a header could not carry


# Settings fit to send.

def check_setting(name: str, value: str) -> str:
    """``value`` stripped; one with a control character or a space inside is refused.

    The message names the setting, never its value.
    """
    value = value.strip()
    if _CONTROL_OR_SPACE.search(value):
        raise InvalidSettingError(f"{name} has a control character or a space inside",
                                  hint="copy it again; it is one word", what=name)
    return value


def check_header_value(name: str, value: str) -> str:
    """A setting sent in a header (the API key): one word of printable ASCII."""
    value = check_setting(name, value)
    if not _TOKEN.fullmatch(value):
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
    """An ``http(s)://host[:port][/path]`` URL, without its trailing slash."""
    url = url.strip()
    example = f"for example {DEFAULT_BASE_URL}"
    if _CONTROL_OR_SPACE.search(url):
        raise InvalidSettingError(f"{name} has a control character or a space inside",
                                  hint=example, what=name)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidSettingError(f"{name} has an invalid port", hint=example,
                                  what=name) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSettingError(f"{name} is not an http:// or https:// URL with a host",
                                  hint=example, what=name)
    if parts.username is not None or parts.password is not None:
        raise InvalidSettingError(f"{name} must not contain a user name or password",
                                  hint=example, what=name)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise InvalidSettingError(f"{name} must not have a query or fragment",
                                  hint=example, what=name)
    if port == 0:
        raise InvalidSettingError(f"{name} has an invalid port", hint=example, what=name)
    if not _valid_host(parts.hostname):
        raise InvalidSettingError(f"{name} has an invalid host name", hint=example,
                                  what=name)
    if not parts.path.isascii():
        raise InvalidSettingError(f"{name} has a path that is not plain ASCII", hint=example,
                                  what=name)
    return url.rstrip("/")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return all(re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?", label)
               for label in labels) and len(host) <= 253


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


# Requests.

class Request:
    """One request: method, path, headers (name, value) in order, JSON body."""

    __slots__ = ("method", "path", "headers", "body")

    def __init__(self, method: str, path: str, headers: list[tuple[str, str]],
                 body: dict[str, str] | None) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    def body_bytes(self) -> bytes | None:
        return None if self.body is None else json.dumps(self.body).encode()


def headers(api_key: str | None, local_ip: str, token: str | None = None) -> list[tuple[str, str]]:
    """The headers every SmartAPI request sends, named as Angel One's SDKs name them.

    Without ``api_key`` (Angel One's clock), nothing that identifies the user.
    """
    sent = [("Content-Type", "application/json"), ("Accept", "application/json"),
            ("User-Agent", USER_AGENT)]
    if api_key is None:
        return sent
    sent += [("X-UserType", "USER"), ("X-SourceID", "WEB"),
             ("X-ClientLocalIP", local_ip), ("X-ClientPublicIP", local_ip),
             ("X-MACAddress", PLACEHOLDER_MAC), ("X-PrivateKey", api_key)]
    if token is not None:
        sent.append(("Authorization", f"Bearer {token}"))
    return sent


def login_request(api_key: str, local_ip: str, client_code: str, pin: str,
                  totp: str) -> Request:
    return Request("POST", LOGIN_PATH, headers(api_key, local_ip),
                   {"clientcode": client_code, "password": pin, "totp": totp})


def profile_request(api_key: str, local_ip: str, token: str) -> Request:
    return Request("GET", PROFILE_PATH, headers(api_key, local_ip, token), None)


def logout_request(api_key: str, local_ip: str, token: str, client_code: str) -> Request:
    return Request("POST", LOGOUT_PATH, headers(api_key, local_ip, token),
                   {"clientcode": client_code})


def clock_request() -> Request:
    """A request with no credential, only for the reply's Date header."""
    return Request("GET", "/", headers(None, ""), None)


# Replies.

class Answer:
    """A reply in either of Angel One's shapes, read as one."""

    __slots__ = ("ok", "errorcode", "message", "data")

    def __init__(self, ok: bool, errorcode: str, message: str, data: object) -> None:
        self.ok = ok
        self.errorcode = errorcode
        self.message = message
        self.data = data


class BadReply(Exception):
    """No usable answer in a reply. ``errorcode`` is a key of diagnosis.TRANSPORT.

    ``detail`` is ours. ``said`` is the server's own code and message, when
    a failed reply had them: outside text, to be cleaned before it is shown.
    """

    def __init__(self, errorcode: str, detail: str = "", said: str = "") -> None:
        super().__init__(errorcode)
        self.errorcode = errorcode
        self.detail = detail
        self.said = said


def read_reply(status: int, content_type: str, body: bytes) -> Answer:
    """Interpret a reply; raise :class:`BadReply` when it is not a usable answer."""
    if len(body) > MAX_REPLY_BYTES:
        raise BadReply("BAD_REPLY", "reply over 1 MiB")
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
    if status >= 500:
        raise BadReply("SERVER_ERROR", f"HTTP {status}", said=_said(parsed))
    if "status" in parsed:
        ok = parsed["status"]
    elif "success" in parsed:
        ok = parsed["success"]
    else:
        raise BadReply("BAD_REPLY", "no status or success field")
    if not isinstance(ok, bool):
        raise BadReply("BAD_REPLY", "its status is not true or false")
    errorcode = _text(parsed.get("errorcode")) or _text(parsed.get("errorCode"))
    message = _text(parsed.get("message"))
    answer = Answer(ok and 200 <= status < 300, errorcode, message, parsed.get("data"))
    if not answer.ok and not errorcode and status >= 300:
        raise BadReply("HTTP_ERROR", f"HTTP {status}")
    return answer


def _said(reply: dict[str, Any]) -> str:
    """The code and message of a reply in either shape, as one text."""
    code = _text(reply.get("errorcode")) or _text(reply.get("errorCode"))
    return f"{code} {_text(reply.get('message'))}".strip()


def _text(value: Any) -> str:
    """A field meant as text: strings and numbers as text, anything else as nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


class Tokens:
    """The session tokens from a login reply."""

    __slots__ = ("jwt", "refresh", "feed")

    def __init__(self, jwt: str, refresh: str, feed: str) -> None:
        self.jwt = jwt
        self.refresh = refresh
        self.feed = feed


def read_tokens(data: object) -> Tokens:
    """The tokens of a successful login; no usable session token is a bad reply.

    A refresh or feed token that is not text is left out (see
    :func:`check_tokens` for one that is text but unfit to send back).
    """
    jwt = data.get("jwtToken") if isinstance(data, dict) else None
    if not isinstance(jwt, str) or not jwt:
        raise BadReply("BAD_REPLY", "the login reply has no token")
    if not _TOKEN.fullmatch(jwt):
        raise BadReply("BAD_REPLY", _UNSENDABLE_TOKEN)
    assert isinstance(data, dict)
    refresh, feed = data.get("refreshToken"), data.get("feedToken")
    return Tokens(jwt, refresh if isinstance(refresh, str) else "",
                  feed if isinstance(feed, str) else "")


def check_tokens(tokens: Tokens) -> None:
    """A refresh or feed token that could not be sent back in a header is a bad reply.

    Checked apart from :func:`read_tokens` because the session token is
    fine then, and the session it opened can still be closed.
    """
    for token in (tokens.refresh, tokens.feed):
        if token and not _TOKEN.fullmatch(token):
            raise BadReply("BAD_REPLY", _UNSENDABLE_TOKEN)


_UNSENDABLE_TOKEN = "the login reply has a token that could not be sent back in a header"


class Profile:
    """The profile fields we show; one of the wrong type is left out (None or empty)."""

    __slots__ = ("client_code", "name", "exchanges", "products")

    def __init__(self, client_code: str | None, name: str | None,
                 exchanges: tuple[str, ...], products: tuple[str, ...]) -> None:
        self.client_code = client_code
        self.name = name
        self.exchanges = exchanges
        self.products = products


def read_profile(data: object) -> Profile:
    fields = data if isinstance(data, dict) else {}

    def text(key: str) -> str | None:
        value = fields.get(key)
        return value.strip() or None if isinstance(value, str) else None

    def words(key: str) -> tuple[str, ...]:
        value = fields.get(key)
        if not isinstance(value, list):
            return ()
        return tuple(item.strip() for item in value if isinstance(item, str) and item.strip())

    return Profile(text("clientcode"), text("name"), words("exchanges"), words("products"))

"""A minimal Angel One SmartAPI client: login, profile, logout.

Standard library only (urllib): TLS verification always on, proxies from
HTTPS_PROXY / HTTP_PROXY / NO_PROXY as urllib reads them, no redirects, and
no third-party calls. The official SDK looks up the public IP from a web
service at import time; here the local IP comes from the routing table (a
UDP socket that sends nothing) and is sent as both local and public IP,
which is what other working clients do.

:func:`read_reply` is pure: it turns a status, content type and body into
an :class:`Answer` or a :class:`TransportError`, so the shapes Angel One
uses (``status``/``errorcode`` and ``success``/``errorCode``) are tested
without a network.
"""

from __future__ import annotations

import json
import time

DEFAULT_BASE_URL = "https://apiconnect.angelone.in"
LOGIN_PATH = "/rest/auth/angelbroking/user/v1/loginByPassword"
PROFILE_PATH = "/rest/secure/angelbroking/user/v1/getProfile"
LOGOUT_PATH = "/rest/secure/angelbroking/user/v1/logout"
MAX_REPLY_BYTES = 1 << 20
MASK = "********"


class Reply:
    """What came back, and when (for the clock offset)."""

    __slots__ = ("http_status", "content_type", "body", "sent", "received", "date")

    def __init__(self, http_status: int, content_type: str, body: bytes, sent: float,
                 received: float, date: str | None):
        self.http_status = http_status
        self.content_type = content_type
        self.body = body
        self.sent = sent            # local clock when the request went out
        self.received = received    # local clock when the reply was in
        self.date = date            # the reply's Date header


class Answer:
    """A reply in either of Angel One's shapes, read as one."""

    __slots__ = ("ok", "errorcode", "message", "data")

    def __init__(self, ok: bool, errorcode: str, message: str, data: object):
        self.ok = ok
        self.errorcode = errorcode
        self.message = message
        self.data = data


class TransportError(Exception):
    """No usable answer. ``errorcode`` is a key of diagnosis.TRANSPORT."""

    def __init__(self, errorcode: str, detail: str = "", reply: Reply | None = None):
        super().__init__(f"{errorcode}: {detail}")
        self.errorcode = errorcode
        self.detail = detail
        self.reply = reply


def read_reply(reply: Reply) -> Answer:
    """Interpret a reply; raise TransportError when it is not a usable answer."""
    status, body = reply.http_status, reply.body
    text = body.decode("utf-8", errors="replace").strip()
    if status == 429 or (status == 403 and "exceeding access rate" in text.lower()):
        raise TransportError("RATE_LIMITED", f"HTTP {status}", reply)
    if "html" in reply.content_type.lower() or text[:1] == "<":
        raise TransportError("HTML_REPLY", f"HTTP {status}", reply)
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        if status >= 500:
            raise TransportError("SERVER_ERROR", f"HTTP {status}", reply)
        if status >= 300:
            raise TransportError("HTTP_ERROR", f"HTTP {status}", reply)
        raise TransportError("NOT_JSON", f"HTTP {status}", reply)
    if "status" in parsed:
        ok = parsed["status"]
    elif "success" in parsed:
        ok = parsed["success"]
    else:
        raise TransportError("BAD_REPLY", "no status or success field", reply)
    errorcode = str(parsed.get("errorcode") or parsed.get("errorCode") or "")
    message = str(parsed.get("message") or "")
    if status >= 500:
        detail = f"HTTP {status}" + (f", {errorcode} {message}".rstrip() if errorcode else "")
        raise TransportError("SERVER_ERROR", detail, reply)
    answer = Answer(ok is True and 200 <= status < 300, errorcode, message, parsed.get("data"))
    if not answer.ok and not errorcode and status >= 300:
        raise TransportError("HTTP_ERROR", f"HTTP {status}" + (f", {message}" if message else ""),
                             reply)
    return answer


class Request:
    __slots__ = ("method", "url", "headers", "body")

    def __init__(self, method: str, url: str, headers: dict, body: dict | None):
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body


class SmartApi:
    """One login session's worth of requests to one base URL."""

    def __init__(self, base_url: str, api_key: str, timeout: float, probe_network: bool = True):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.replies: list[Reply] = []
        self._identity = None if probe_network else (
            "<this machine's IPv4>", "<this machine's MAC>")

    # Requests, as data (also what --dry-run prints).

    def login_request(self, client_code: str, pin: str, totp: str) -> Request:
        return self._build("POST", LOGIN_PATH,
                           {"clientcode": client_code, "password": pin, "totp": totp})

    def profile_request(self, token: str) -> Request:
        return self._build("GET", PROFILE_PATH, None, token)

    def logout_request(self, token: str, client_code: str) -> Request:
        return self._build("POST", LOGOUT_PATH, {"clientcode": client_code}, token)

    def _build(self, method: str, path: str, body: dict | None,
               token: str | None = None) -> Request:
        # urllib sends these names title-cased ("X-Privatekey"), as Angel One's
        # own Go client does; header names are case-insensitive in HTTP.
        local_ip, mac = self._machine_identity()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-UserType": "USER",
            "X-SourceID": "WEB",
            "X-ClientLocalIP": local_ip,
            "X-ClientPublicIP": local_ip,
            "X-MACAddress": mac,
            "X-PrivateKey": self.api_key,
        }
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return Request(method, self.base_url + path, headers, body)

    def _machine_identity(self) -> tuple[str, str]:
        if self._identity is None:
            self._identity = (_local_ipv4(self.base_url), _mac_address())
        return self._identity

    # Sending.

    def send(self, request: Request) -> Answer:
        reply = self._exchange(request)
        self.replies.append(reply)
        return read_reply(reply)

    def _exchange(self, request: Request) -> Reply:
        import urllib.error
        import urllib.request

        data = None if request.body is None else json.dumps(request.body).encode()
        outgoing = urllib.request.Request(request.url, data=data, headers=request.headers,
                                          method=request.method)
        deadline = time.monotonic() + self.timeout
        sent = time.time()
        try:
            try:
                response = _opener().open(outgoing, timeout=self.timeout)
            except urllib.error.HTTPError as error:
                response = error  # 4xx/5xx: still a reply, with a body to read
            with response:
                body = _read_within(response, deadline)
                received = time.time()
                return Reply(response.status, response.headers.get("Content-Type", ""),
                             body, sent, received, response.headers.get("Date"))
        except TransportError:
            raise
        except urllib.error.URLError as error:
            raise _classify(error.reason) from None
        except (OSError, ValueError) as error:  # timeouts and resets while reading
            raise _classify(error) from None
        except Exception as error:  # http.client.HTTPException and the like
            raise TransportError("NETWORK", type(error).__name__) from None


def _read_within(response, deadline: float) -> bytes:
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("reply too slow")
        chunk = response.read(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise TransportError("BAD_REPLY", "reply over 1 MiB")


def _classify(reason) -> TransportError:
    import socket
    import ssl

    if isinstance(reason, TransportError):
        return reason
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return TransportError("TIMEOUT")
    if isinstance(reason, socket.gaierror):
        return TransportError("DNS", reason.strerror or "")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return TransportError("TLS", reason.verify_message or "certificate verify failed")
    if isinstance(reason, ssl.SSLError):
        return TransportError("TLS", reason.reason or "TLS handshake failed")
    if isinstance(reason, ConnectionRefusedError):
        return TransportError("CONNECTION_REFUSED")
    if isinstance(reason, OSError):
        return TransportError("NETWORK", reason.strerror or type(reason).__name__)
    return TransportError("NETWORK", str(reason)[:80])


def _opener():
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        # A redirected POST would lose its body; show the 3xx instead.
        def redirect_request(self, *args, **kwargs):
            return None

    # The default handlers: proxies from the environment, TLS with the
    # system's CA store and hostname checks.
    return urllib.request.build_opener(NoRedirects)


def _local_ipv4(base_url: str) -> str:
    """The IPv4 address this machine would use to reach the API host.

    A connected UDP socket only consults the routing table; nothing is sent.
    """
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = socket.getaddrinfo(parts.hostname, port, socket.AF_INET,
                                     socket.SOCK_DGRAM)[0][4]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(address)
            return probe.getsockname()[0]
    except (OSError, ValueError, IndexError, TypeError):
        return "127.0.0.1"


def _mac_address() -> str:
    import uuid

    node = uuid.getnode()
    return ":".join(f"{(node >> shift) & 0xFF:02x}" for shift in range(40, -8, -8))


def masked(request: Request) -> Request:
    """The request with the API key, PIN, code and token hidden, for display."""
    headers = dict(request.headers)
    headers["X-PrivateKey"] = MASK
    if "Authorization" in headers:
        headers["Authorization"] = "Bearer <token from the login reply>"
    body = None
    if request.body is not None:
        body = dict(request.body)
        for secret_field in ("password", "totp"):
            if secret_field in body:
                body[secret_field] = MASK
    return Request(request.method, request.url, headers, body)

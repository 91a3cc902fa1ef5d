"""A local stand-in for Angel One SmartAPI, following smartapi-facts.md.

It listens on 127.0.0.1 on a free port, checks every header and body the
real API needs, validates the TOTP code with pyotp against its own clock
(which a test can shift), keeps sessions, limits logins to one a second,
and can be told to fail in each way the real one does:

* usual-shape refusals ({"status": false, "errorcode": ...}) and gateway
  ones ({"success": false, "errorCode": ...}), on 200 or 4xx;
* the rate-limit 403 text, an HTML "Request Rejected" page, non-JSON, 5xx;
* hanging without an answer, or closing the connection;
* a Date header shifted, or missing;
* TLS with a self-signed certificate;
* sessions it ended (``end_sessions``) answer AG8001 on a profile request, as
  Angel One's do after the night; ``count`` tells how many logins,
  profiles and logouts came;
* hostile replies: escape sequences and line breaks in text fields, echoed
  credentials, fields of the wrong type, tokens with CR/LF
  (``profile_fields``, ``token``, ``fail_with``).

``GET /`` answers with only a Date header's worth of information, as Angel
One's root does, for measuring its clock; a credential sent there is a
violation. Header names are checked in the exact case smartapi-facts.md
gives, and connections are counted, to show that the requests share one.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import re
import secrets
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyotp

LOGIN = "/rest/auth/angelbroking/user/v1/loginByPassword"
PROFILE = "/rest/secure/angelbroking/user/v1/getProfile"
LOGOUT = "/rest/secure/angelbroking/user/v1/logout"
DATA = Path(__file__).parent / "data"
CERT, KEY = DATA / "standin-cert.pem", DATA / "standin-key.pem"

HTML_REJECTED = (b"<html><head><title>Request Rejected</title></head><body>The requested "
                 b"URL was rejected. Please consult with your administrator.</body></html>")


def usual(errorcode: str, message: str) -> dict:
    return {"status": False, "message": message, "errorcode": errorcode, "data": None}


def gateway(errorcode: str, message: str) -> dict:
    return {"success": False, "message": message, "errorCode": errorcode, "data": ""}


class StandIn:
    def __init__(self, *, api_key: str, client_code: str, pin: str, secret: str,
                 name: str = "Test User", trading_password: str = "Trading@2024",
                 tls: bool = False, enforce_rate_limit: bool = True,
                 reject_reused_codes: bool = True):
        self.api_key = api_key
        self.client_code = client_code
        self.pin = pin
        self.secret = secret
        self.name = name
        self.trading_password = trading_password
        self.tls = tls
        # Both on, as at Angel One; benchmarks turn them off to log in back to back.
        self.enforce_rate_limit = enforce_rate_limit
        self.reject_reused_codes = reject_reused_codes
        self.clock_shift = 0.0     # seconds added to the stand-in's clock
        self.send_date = True
        self.blocked = False
        # Forced replies per endpoint ("login", "profile", "logout"): a
        # (http status, content type, body bytes) tuple; status "hang" never
        # answers, "close" drops the connection.
        self.force: dict[str, object] = {}
        self.requests: list[dict] = []
        self.violations: list[str] = []
        self.sessions: set[str] = set()
        self.issued: list[str] = []
        self.used_timecodes: set[int] = set()
        self._last_login = 0.0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = None
        self.connections = 0
        # Hostile knobs: profile fields merged over the real ones, a login token to
        # issue, fields merged over a successful login's data (other tokens...).
        self.profile_fields: dict[str, object] = {}
        self.token: str | None = None
        self.login_fields: dict[str, object] = {}

    # Lifecycle.

    def start(self) -> StandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(CERT, KEY)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def now(self) -> float:
        return time.time() + self.clock_shift

    def calls(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def count(self, endpoint: str) -> int:
        """How many ``login``, ``profile`` or ``logout`` requests came."""
        return len(self.calls({"login": LOGIN, "profile": PROFILE, "logout": LOGOUT}[endpoint]))

    def end_sessions(self) -> None:
        """End every session, as Angel One does each night: their tokens get AG8001."""
        with self._lock:
            self.sessions.clear()

    def login_codes(self) -> list[str]:
        """The TOTP code each login request carried, in order."""
        return [json.loads(r["body"]).get("totp") for r in self.calls(LOGIN)]

    def fail_with(self, endpoint: str, body, http_status: int = 200,
                  content_type: str = "application/json") -> None:
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        self.force[endpoint] = (http_status, content_type, body)

    def hang(self, endpoint: str) -> None:
        self.force[endpoint] = ("hang", "", b"")

    def close(self, endpoint: str) -> None:
        self.force[endpoint] = ("close", "", b"")

    # What each endpoint answers: (http status, content type, body bytes).

    def answer(self, method: str, path: str, headers, raw_body: bytes):
        if path == "/":
            if any(name in headers for name in ("X-PrivateKey", "Authorization")):
                self.violations.append("a credential was sent to measure the clock")
            forced = self.force.get("clock")
            return forced if forced is not None else (
                404, "text/html", b"<html><body>Not Found</body></html>")
        self._check_headers(headers)
        endpoint = {LOGIN: "login", PROFILE: "profile", LOGOUT: "logout"}.get(path)
        if endpoint is None:
            return 404, "text/plain", b"Not Found"
        expected_method = "GET" if endpoint == "profile" else "POST"
        if method != expected_method:
            self.violations.append(f"{endpoint} sent with {method}")
        forced = self.force.get(endpoint)
        if forced is not None:
            return forced
        if endpoint == "login":
            reply, status = self._login(headers, raw_body)
        elif endpoint == "profile":
            reply, status = self._secure(headers, self._profile_data)
        else:
            reply, status = self._secure(headers, self._logout, raw_body)
        return status, "application/json", json.dumps(reply).encode()

    def _check_headers(self, headers) -> None:
        expected = {"Content-Type": "application/json", "Accept": "application/json",
                    "X-UserType": "USER", "X-SourceID": "WEB"}
        for name, value in expected.items():
            if headers.get(name) != value:
                self.violations.append(f"header {name}={headers.get(name)!r}")
        sent_names = set(headers.keys())  # as the client spelled them
        for name in ("Content-Type", "Accept", "X-UserType", "X-SourceID", "X-ClientLocalIP",
                     "X-ClientPublicIP", "X-MACAddress", "X-PrivateKey"):
            if name not in sent_names:
                self.violations.append(f"header {name} not sent in that exact case")
        if not str(headers.get("User-Agent", "")).startswith("angel-totp/"):
            self.violations.append("User-Agent is not angel-totp/<version>")
        for name in ("X-ClientLocalIP", "X-ClientPublicIP"):
            try:
                ipaddress.IPv4Address(headers.get(name, ""))
            except ValueError:
                self.violations.append(f"header {name} is not an IPv4 address")
        if not re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", headers.get("X-MACAddress", "")):
            self.violations.append("header X-MACAddress is not aa:bb:cc:dd:ee:ff")
        if "X-PrivateKey" not in headers:
            self.violations.append("header X-PrivateKey missing")

    def _login(self, headers, raw_body: bytes):
        with self._lock:
            now = time.monotonic()
            too_fast = now - self._last_login < 1.0
            self._last_login = now
        if too_fast and self.enforce_rate_limit:
            raise RateLimited()
        if headers.get("X-UserType") != "USER":
            return usual("AB1005", "User Type Must Be USER"), 200
        if headers.get("X-PrivateKey") != self.api_key:
            return gateway("AG8001", "Invalid Token"), 401
        try:
            body = json.loads(raw_body)
        except ValueError:
            self.violations.append("login body is not JSON")
            return usual("AB2001", "Internal Error"), 200
        if set(body) != {"clientcode", "password", "totp"}:
            self.violations.append(f"login body fields {sorted(body)}")
        client, password, code = body.get("clientcode"), body.get("password"), body.get("totp")
        if "@" in str(client):
            return usual("AB1004", "Something Went Wrong, Please Try After Sometime"), 200
        if client != self.client_code:
            return usual("AB1032", "User Not Found"), 200
        if self.blocked:
            return usual("AB1006", "Client Is Block For Trading"), 200
        if password == self.trading_password:
            return usual("AB7001", "LoginbyPassword is not allowed. Please switch to "
                                   "Login by MPIN now."), 200
        if not password:
            return usual("AB1050", "Invalid totp"), 200
        if password != self.pin:
            return usual("AB1007", "Login Id or password is invalid"), 200
        totp = pyotp.TOTP(self.secret)
        try:
            timecode = totp.verify_and_get_timecode(str(code), for_time=self.now(),
                                                    valid_window=1)
        except Exception:
            return usual("AB1050", "Invalid totp"), 200
        with self._lock:
            if timecode in self.used_timecodes and self.reject_reused_codes:
                return usual("AB1050", "Invalid totp"), 200
            self.used_timecodes.add(timecode)
            token = self.token or "eyJhbGciOiJIUzUxMiJ9." + secrets.token_urlsafe(48)
            self.sessions.add(token)
            self.issued.append(token)
        return {"status": True, "message": "SUCCESS", "errorcode": "",
                "data": {"jwtToken": token, "refreshToken": secrets.token_urlsafe(32),
                         "feedToken": secrets.token_urlsafe(16), **self.login_fields}}, 200

    def _secure(self, headers, action, *args):
        if headers.get("X-PrivateKey") != self.api_key:
            return gateway("AG8001", "Invalid Token"), 401
        authorization = headers.get("Authorization")
        if not authorization:
            return gateway("AG8003", "Token missing"), 401
        token = authorization.removeprefix("Bearer ")
        if token not in self.sessions:
            return gateway("AG8001", "Invalid Token"), 401
        return action(token, *args), 200

    def _profile_data(self, token):
        return {"status": True, "message": "SUCCESS", "errorcode": "", "data": {
            "clientcode": self.client_code, "name": self.name, "email": "",
            "mobileno": "", "exchanges": ["nse_cm", "bse_cm", "nse_fo"],
            "products": ["MARGIN", "MIS"], "lastlogintime": "", "broker": "",
            **self.profile_fields}}

    def _logout(self, token, raw_body):
        try:
            body = json.loads(raw_body)
        except ValueError:
            body = {}
        if body != {"clientcode": self.client_code}:
            self.violations.append(f"logout body {body}")
        self.sessions.discard(token)
        return {"status": True, "message": "SUCCESS", "errorcode": "", "data": ""}


class RateLimited(Exception):
    pass


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-reply (as it should, on a reply over 1 MiB) is no error."""

    def handle_error(self, request, client_address) -> None:
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def setup(self):
        super().setup()
        with self.standin._lock:
            self.standin.connections += 1

    def date_time_string(self, timestamp=None):
        return email.utils.formatdate(self.standin.now(), usegmt=True)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        if "://" in path:  # the absolute form a plain-http proxy forwards (RFC 9112 3.2.2)
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        self.standin.requests.append({"method": method, "path": path,
                                      "headers": self.headers,  # case-insensitive
                                      "body": raw, "at": time.time()})
        try:
            status, content_type, body = self.standin.answer(method, path, self.headers, raw)
        except RateLimited:
            status, content_type, body = (403, "text/plain",
                                          b"Access denied because of exceeding access rate")
        self._reply(status, content_type, body)

    def _reply(self, status, content_type, body) -> None:
        if status == "hang":
            self.standin._release.wait(120)
            self.close_connection = True
            return
        if status == "close":
            self.close_connection = True
            return
        self.send_response_only(status)
        if self.standin.send_date:
            self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

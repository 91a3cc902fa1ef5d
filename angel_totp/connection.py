"""A small HTTP/1.1 client for a handful of requests to one base URL.

Built on ``http.client`` (to format requests and parse replies), ``ssl`` and
``socket``, with what the login check needs and urllib does not give:

* one wall-clock deadline per request, covering the name lookup, connecting,
  the proxy's CONNECT, the TLS handshake, writing and every byte of the
  reply. Every blocking step waits at most ``min(time left, 0.25 s)`` and is
  retried while time is left, so a server that trickles one byte a second
  cannot stretch a request, and Ctrl-C is seen within a quarter of a second
  even where signals do not interrupt a wait (Windows);
* the name looked up once, on a daemon thread (``getaddrinfo`` has no
  timeout of its own), and the local address read from the connected socket;
* one connection kept alive across requests, reopened only when the server
  closed it while idle: a request that may have reached the server is never
  sent twice (a login must not be);
* headers sent exactly as given (case and order), checked before anything
  is sent; no Accept-Encoding, no redirects, TLS verification always on;
* proxies from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``;
* every failure a :class:`TransportError` whose ``detail`` never holds a
  header value, a credential or a byte the server sent.

A :class:`Connection` is for one thread at a time.
"""

from __future__ import annotations

import base64
import errno
import http.client
import io
import os
import re
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from .errors import AngelTotpError, InvalidInputError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["Connection", "HttpReply", "TransportError"]

# The longest any single blocking call waits before the deadline (and Ctrl-C)
# is checked again.
_SLICE = 0.25
# The status line and headers of a reply, together; real ones are a few KiB.
_HEADER_CAP = 64 * 1024
_CHUNK = 64 * 1024

# RFC 9110 token: what a method and a header name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters (C0, DEL, C1) and anything latin-1 cannot carry.
_UNSENDABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]|[^\x00-\xff]")
# A request path: printable ASCII, no space.
_PATH = re.compile(r"/[\x21-\x7e]*")
# Set by the connection itself, so that they cannot disagree with the body.
_RESERVED = frozenset({"host", "content-length", "transfer-encoding"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# What a non-blocking connect() answers while the handshake is under way.
_IN_PROGRESS = frozenset(
    code for code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY,
                      getattr(errno, "WSAEWOULDBLOCK", None))
    if code is not None)
# A send() that fails with these wrote nothing: the server had already gone.
_CLOSED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError,
           ssl.SSLZeroReturnError, ssl.SSLEOFError)

Resolver = Callable[..., list[Any]]


class TransportError(AngelTotpError):
    """No usable reply came back.

    ``errorcode`` is one of ``TIMEOUT``, ``DNS``, ``CONNECTION_REFUSED``,
    ``TLS``, ``NETWORK``, ``PROXY_AUTH``, ``PROXY_UNREACHABLE``,
    ``PROXY_ERROR``, ``BAD_REPLY``, ``INVALID_REQUEST``. ``detail`` is short
    and safe to show: it never holds a header value, a credential or
    anything the server sent. ``proxy_variable`` names the variable
    (``HTTPS_PROXY``...) when the proxy is at fault. ``sent`` says whether
    any byte of the request may have reached the server: when it is true, a
    login may have been received and must not simply be sent again.
    ``reply`` is the reply, for errors about one that came but is unusable.
    """

    def __init__(self, errorcode: str, detail: str = "", *, proxy_variable: str | None = None,
                 sent: bool = False, reply: HttpReply | None = None,
                 hint: str | None = None) -> None:
        super().__init__(detail or errorcode, hint)
        self.errorcode = errorcode
        self.detail = detail
        self.proxy_variable = proxy_variable
        self.sent = sent
        self.reply = reply

    def __str__(self) -> str:
        return f"{self.detail} [{self.errorcode}]" if self.detail else self.errorcode


class HttpReply:
    """A complete reply, and when it was asked for and received. Immutable.

    ``headers`` holds ``(name, value)`` pairs as the server sent them, in
    order; :meth:`header` finds one by name in any case. ``sent`` and
    ``received`` are ``time.time()`` just before the request was written and
    when the reply's last byte arrived; with ``date`` (the ``Date`` header)
    they measure the server's clock. The repr shows no header value or body.
    """

    __slots__ = ("status", "reason", "headers", "body", "sent", "received", "date")

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    sent: float
    received: float
    date: str | None

    def __init__(self, status: int, reason: str, headers: Sequence[tuple[str, str]],
                 body: bytes, sent: float, received: float) -> None:
        pairs = tuple((str(name), str(value)) for name, value in headers)
        values = {"status": status, "reason": reason, "headers": pairs, "body": bytes(body),
                  "sent": sent, "received": received, "date": _find(pairs, "Date")}
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case), or None."""
        return _find(self.headers, name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("HttpReply is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("HttpReply is immutable")

    def __repr__(self) -> str:
        return f"<HttpReply {self.status} with {len(self.body)} bytes>"


def _find(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


class Connection:
    """Requests to one base URL over one kept-alive connection.

    ``base_url`` is ``http(s)://host[:port][/prefix]``; the prefix is put in
    front of every request path. ``timeout`` bounds each request in
    wall-clock seconds, from the name lookup to the reply's last byte.
    ``environ`` is where proxy settings are read (default ``os.environ``),
    ``resolve`` the name lookup (``socket.getaddrinfo``; tests pass one that
    hangs), ``max_reply_bytes`` the largest body accepted, ``tls_context``
    replaces ``ssl.create_default_context()`` (tests trust their own
    certificate with it; verification stays on either way).

    No error is raised here: a base URL or proxy setting that cannot be
    used gives a :class:`TransportError` from the first :meth:`request` or
    :meth:`local_ipv4`.
    """

    def __init__(self, base_url: str, *, timeout: float, environ: Mapping[str, str] | None = None,
                 resolve: Resolver | None = None, max_reply_bytes: int = 1 << 20,
                 tls_context: ssl.SSLContext | None = None) -> None:
        if not timeout > 0:
            raise InvalidInputError("timeout must be more than 0 seconds", what="timeout")
        self.connections_opened = 0
        self._timeout = float(timeout)
        self._resolve = resolve
        self._max_reply_bytes = max_reply_bytes
        self._tls_context = tls_context
        self._link: _Link | None = None
        self._lookup: _Lookup | None = None
        # A connection opened ahead of its first request (local_ipv4) spent
        # part of that request's time: the request gets only what is left.
        self._spent_ahead = 0.0
        self._setup_error: TransportError | None = None
        try:
            self._target = _Target(base_url)
            self._proxy = _choose_proxy(self._target, os.environ if environ is None else environ)
        except TransportError as error:
            self._setup_error = error

    def __repr__(self) -> str:
        if self._setup_error is not None:
            return "<Connection to an unusable URL>"
        via = f" via {self._proxy.variable}" if self._proxy else ""
        return f"<Connection to {self._target.scheme}://{self._target.hostport}{via}>"

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection, if one is open. Safe to call again."""
        self._spent_ahead = 0.0
        link, self._link = self._link, None
        if link is not None:
            link.close()

    def request(self, method: str, path: str, headers: Sequence[tuple[str, str]],
                body: bytes | None = None) -> HttpReply:
        """Send one request and read its whole reply, within ``timeout``.

        ``headers`` are sent in this order and case, after ``Host`` and
        before ``Content-Length`` (added for a body, and as 0 for a POST,
        PUT or PATCH without one). Any reply, 3xx and 4xx included, is
        returned; a failure raises :class:`TransportError`. A request that
        cannot be sent (INVALID_REQUEST) is refused before anything is
        written; any other error, and Ctrl-C, also close the connection.
        """
        if self._setup_error is not None:
            raise self._setup_error
        head = self._format(method, path, headers, body)  # checks before anything is sent
        spent, self._spent_ahead = self._spent_ahead, 0.0
        deadline = _Deadline(max(self._timeout - spent, 0.0))
        try:
            return self._exchange(method, head + (body or b""), deadline)
        except BaseException:
            self.close()
            raise

    def local_ipv4(self) -> str:
        """The IPv4 address of this end of the connection, connecting if needed.

        What Angel One's ``X-ClientLocalIP`` wants, read from the connected
        socket: no second lookup and nothing sent. Over IPv6 (or anything
        else) it falls back to ``127.0.0.1``. Connecting obeys the same
        time limit as a request, and fails with the same errors.
        """
        if self._setup_error is not None:
            raise self._setup_error
        if self._link is None:
            started = time.monotonic()
            try:
                self._link = self._open(_Deadline(self._timeout))
            except BaseException:
                self.close()
                raise
            self._spent_ahead = time.monotonic() - started
        address = self._link.sock.getsockname()
        host = str(address[0]) if isinstance(address, tuple) and address else ""
        if host.startswith("::ffff:") and host.count(".") == 3:
            host = host[len("::ffff:"):]  # an IPv4 address mapped into IPv6
        return host if _is_ipv4(host) else "127.0.0.1"

    # Building the request.

    def _format(self, method: str, path: str, headers: Sequence[tuple[str, str]],
                body: bytes | None) -> bytes:
        """The request line and headers as bytes; raise INVALID_REQUEST first if unsendable."""
        if not _TOKEN.fullmatch(method):
            raise TransportError("INVALID_REQUEST", "the method is not a valid HTTP method")
        if not _PATH.fullmatch(path):
            raise TransportError("INVALID_REQUEST",
                                 "the request path must start with / and be printable ASCII")
        for name, value in headers:
            _check_header(name, value)
        target = self._target.prefix + path
        extra: list[tuple[str, str]] = []
        if body is not None or method in _BODY_METHODS:
            extra.append(("Content-Length", str(len(body or b""))))
        if self._proxy is not None and self._target.scheme == "http":
            target = f"http://{self._target.hostport}{target}"  # absolute form, for the proxy
            if self._proxy.authorization:
                extra.append(("Proxy-Authorization", self._proxy.authorization))
        return self._target.format_head(method, target, [*headers, *extra])

    # Sending and reading.

    def _exchange(self, method: str, request: bytes, deadline: _Deadline) -> HttpReply:
        """Send on the kept-alive connection, or a new one, and read the reply.

        An idle connection the server has closed is replaced before anything
        is written. If the first write finds it closed, nothing was written,
        so one new connection is opened and the request sent there; once any
        byte may have gone out, a failure is reported and never retried.
        """
        if self._link is not None and not self._link.idle_and_open():
            self.close()  # closed by the server while idle: nothing was lost
        reused = self._link is not None
        try:
            return self._send_and_read(self._ready_link(deadline), method, request)
        except _ClosedBeforeSend:
            self.close()
            if not reused:
                raise _closed_at_once() from None
        # The kept-alive connection had gone and nothing was written: once
        # more, on a new connection.
        try:
            return self._send_and_read(self._ready_link(deadline), method, request)
        except _ClosedBeforeSend:
            self.close()
            raise _closed_at_once() from None

    def _ready_link(self, deadline: _Deadline) -> _Link:
        """The open connection (a new one if none), working to this request's deadline."""
        if self._link is None:
            self._link = self._open(deadline)
        self._link.deadline = deadline
        return self._link

    def _send_and_read(self, link: _Link, method: str, request: bytes) -> HttpReply:
        try:
            sent = time.time()
            link.send_all(request)
            reply = self._read_reply(link, method, sent)
        except (_ClosedBeforeSend, TransportError):
            raise
        except Exception as error:
            failure = _exchange_failure(error, self._timeout, fresh=link.replies == 0)
            if failure is None:
                raise
            failure.sent = link.may_have_sent
            raise failure from None
        if self._proxy is not None and self._target.scheme == "http" and reply.status == 407:
            raise TransportError("PROXY_AUTH", _proxy_auth_detail(self._proxy),
                                 proxy_variable=self._proxy.variable, sent=True, reply=reply)
        return reply

    def _read_reply(self, link: _Link, method: str, sent: float) -> HttpReply:
        """Read one reply under the link's deadline, within the size caps."""
        cap = self._max_reply_bytes
        reader = _Reader(link, _HEADER_CAP, "the reply's headers are over 64 KiB")
        response = http.client.HTTPResponse(_as_socket(io.BufferedReader(reader)), method=method)
        try:
            response.begin()
            # Chunk framing and trailers are bounded too, generously.
            reader.limit(2 * cap + _HEADER_CAP, f"reply over {_size(cap)}")
            parts: list[bytes] = []
            size = 0
            while True:
                part = response.read(_CHUNK)
                if not part:
                    break
                size += len(part)
                if size > cap:
                    raise TransportError("BAD_REPLY", f"reply over {_size(cap)}", sent=True)
                parts.append(part)
            received = time.time()
            will_close = bool(response.will_close)
        finally:
            response.close()
        link.replies += 1
        if will_close:
            self.close()  # the server said so (or the body ran to the close)
        return HttpReply(response.status, response.reason, response.getheaders(),
                         b"".join(parts), sent, received)

    # Opening a connection.

    def _open(self, deadline: _Deadline) -> _Link:
        """Look up, connect, tunnel through the proxy and start TLS, as needed."""
        addresses = self._addresses(deadline)
        sock = self._connect(addresses, deadline)
        link = _Link(sock, deadline)
        self.connections_opened += 1
        try:
            if self._proxy is not None and self._target.scheme == "https":
                self._tunnel(link)
            if self._target.scheme == "https":
                self._start_tls(link)
        except BaseException:
            link.close()
            raise
        return link

    def _addresses(self, deadline: _Deadline) -> list[Any]:
        """The server's (or proxy's) addresses, looked up once per Connection.

        A lookup that is still running when a request gives up is kept and
        waited for again by the next request, rather than started twice.
        """
        proxy = self._proxy
        host, port = (proxy.host, proxy.port) if proxy else (self._target.host, self._target.port)
        if self._lookup is None:
            # Looked up now, not at import, so that a patched getaddrinfo is used.
            self._lookup = _Lookup(self._resolve or socket.getaddrinfo, host, port)
        lookup = self._lookup
        try:
            addresses = lookup.wait(deadline)
        except TimeoutError:
            if proxy:
                raise TransportError("PROXY_UNREACHABLE", "the proxy's name lookup timed out",
                                     proxy_variable=proxy.variable) from None
            raise TransportError("DNS", "name lookup timed out") from None
        except Exception as error:
            self._lookup = None  # a failed lookup may be tried again
            reason = error.strerror if isinstance(error, socket.gaierror) else None
            detail = "name lookup failed" + (f" ({reason})" if reason else "")
            if proxy:
                raise TransportError("PROXY_UNREACHABLE", "the proxy's " + detail,
                                     proxy_variable=proxy.variable) from None
            raise TransportError("DNS", detail) from None
        if not addresses:
            self._lookup = None
            if proxy:
                raise TransportError("PROXY_UNREACHABLE", "the proxy's name has no address",
                                     proxy_variable=proxy.variable)
            raise TransportError("DNS", "name lookup found no address")
        return addresses

    def _connect(self, addresses: list[Any], deadline: _Deadline) -> socket.socket:
        """A TCP connection to the first address that accepts, within the deadline.

        Each address but the last gets an equal share of the time left, so
        that a dead one (broken IPv6 beside a working IPv4) cannot use it all.
        """
        proxy = self._proxy
        last: OSError | None = None
        timed_out = False
        for index, (family, kind, proto, _, sockaddr) in enumerate(addresses):
            remaining = len(addresses) - index
            attempt = deadline if remaining == 1 else _Deadline(
                max(0.0, deadline.at - time.monotonic()) / remaining)
            try:
                return _connect_one(family, kind, proto, sockaddr, attempt)
            except TimeoutError:
                timed_out = True
            except OSError as error:
                last = error
        if timed_out and last is None:
            if proxy:
                raise TransportError("PROXY_UNREACHABLE", "connecting to the proxy timed out",
                                     proxy_variable=proxy.variable)
            raise TransportError("TIMEOUT", "connecting timed out")
        refused = isinstance(last, ConnectionRefusedError)
        if proxy:
            detail = ("the proxy refused the connection" if refused
                      else f"could not connect to the proxy ({_os_reason(last)})")
            raise TransportError("PROXY_UNREACHABLE", detail, proxy_variable=proxy.variable)
        if refused:
            raise TransportError("CONNECTION_REFUSED", "the server refused the connection")
        raise TransportError("NETWORK", f"could not connect ({_os_reason(last)})")

    def _tunnel(self, link: _Link) -> None:
        """Ask the proxy for a tunnel to the server (CONNECT); raise unless it agrees."""
        proxy = self._proxy
        assert proxy is not None
        hostport = self._target.hostport
        lines = [f"CONNECT {hostport} HTTP/1.1", f"Host: {hostport}"]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        try:
            link.send_all(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
            status = _proxy_status(link)
        except _ClosedBeforeSend:
            raise TransportError("PROXY_ERROR", "the proxy closed the connection",
                                 proxy_variable=proxy.variable) from None
        except TransportError:  # over the size cap
            raise TransportError("PROXY_ERROR", "the proxy's answer is over 64 KiB",
                                 proxy_variable=proxy.variable) from None
        except TimeoutError:
            raise TransportError("TIMEOUT", "the proxy did not answer in time",
                                 proxy_variable=proxy.variable) from None
        except http.client.RemoteDisconnected:
            raise TransportError("PROXY_ERROR", "the proxy closed the connection without answering",
                                 proxy_variable=proxy.variable) from None
        except (http.client.HTTPException, ValueError):
            raise TransportError("PROXY_ERROR", "the proxy's answer was not HTTP",
                                 proxy_variable=proxy.variable) from None
        except OSError as error:
            raise TransportError("PROXY_ERROR",
                                 f"the proxy connection failed ({_os_reason(error)})",
                                 proxy_variable=proxy.variable) from None
        if status == 407:
            raise TransportError("PROXY_AUTH", _proxy_auth_detail(proxy),
                                 proxy_variable=proxy.variable)
        if not 200 <= status < 300:
            raise TransportError("PROXY_ERROR", f"the proxy refused the tunnel (HTTP {status})",
                                 proxy_variable=proxy.variable)

    def _start_tls(self, link: _Link) -> None:
        """TLS with certificate and host name checks, within the deadline."""
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context()
        try:
            link.start_tls(self._tls_context, self._target.host)
        except TimeoutError:
            raise TransportError("TIMEOUT", "the TLS handshake timed out") from None
        except ssl.SSLCertVerificationError as error:
            detail = error.verify_message or "certificate verify failed"
            raise TransportError("TLS", f"certificate not accepted: {detail}") from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            raise TransportError("TLS", "the server closed the connection during the TLS handshake"
                                 ) from None
        except ssl.SSLError as error:
            reason = error.reason if isinstance(error.reason, str) else type(error).__name__
            raise TransportError("TLS", f"TLS handshake failed ({reason})") from None
        except OSError as error:
            raise TransportError("NETWORK", "the connection failed during the TLS handshake "
                                 f"({_os_reason(error)})") from None


def _proxy_status(link: _Link) -> int:
    """The status of the proxy's answer to CONNECT, read up to its blank line and no further."""
    # One byte at a time, so that nothing after the answer (the server's
    # TLS) is read by mistake.
    reader = _Reader(link, _HEADER_CAP, "the proxy's answer is over 64 KiB")
    response = http.client.HTTPResponse(_as_socket(io.BufferedReader(reader, 1)),
                                        method="CONNECT")
    try:
        response.begin()
        return response.status
    finally:
        response.close()


def _exchange_failure(error: Exception, timeout: float, fresh: bool) -> TransportError | None:
    """The TransportError for an error while writing or reading, or None for a bug."""
    if isinstance(error, TimeoutError):
        return TransportError("TIMEOUT", f"no complete reply within {timeout:g} s")
    if isinstance(error, http.client.RemoteDisconnected):
        what = "the new connection" if fresh else "the kept-alive connection"
        return TransportError("NETWORK", f"the server closed {what} without answering")
    if isinstance(error, http.client.IncompleteRead):
        return TransportError("NETWORK", "the reply was cut short")
    if isinstance(error, http.client.LineTooLong):
        return TransportError("BAD_REPLY", "a line of the reply is too long")
    if isinstance(error, (http.client.BadStatusLine, http.client.UnknownProtocol)):
        return TransportError("BAD_REPLY", "the reply was not HTTP")
    if isinstance(error, (http.client.HTTPException, ValueError)):
        # Its text may quote the server: only its kind is shown.
        return TransportError("BAD_REPLY", f"malformed reply ({type(error).__name__})")
    if isinstance(error, ssl.SSLError):
        reason = error.reason if isinstance(error.reason, str) else type(error).__name__
        return TransportError("NETWORK", f"the TLS connection failed ({reason})")
    if isinstance(error, OSError):
        return TransportError("NETWORK", f"the connection failed ({_os_reason(error)})")
    return None


def _closed_at_once() -> TransportError:
    return TransportError("NETWORK", "the server closed the connection before the request "
                          "was written", sent=False)


def _proxy_auth_detail(proxy: _Proxy) -> str:
    if proxy.authorization:
        return "the proxy refused its credentials (HTTP 407)"
    return "the proxy wants credentials (HTTP 407)"


def _check_header(name: str, value: str) -> None:
    """Raise INVALID_REQUEST for a header http.client must not be given; never quote the value."""
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise TransportError("INVALID_REQUEST", "a header name is not a valid HTTP token")
    if name.lower() in _RESERVED:
        raise TransportError("INVALID_REQUEST", f"header {name} is set by the connection itself")
    if not isinstance(value, str):
        raise TransportError("INVALID_REQUEST", f"header {name} is not text")
    bad = _UNSENDABLE.search(value)
    if bad is not None:
        what = "a control character" if ord(bad.group()) <= 0x9F else "a character beyond latin-1"
        raise TransportError("INVALID_REQUEST", f"header {name} has {what}")


def _os_reason(error: BaseException | None) -> str:
    """The operating system's words for a socket error (never the server's)."""
    if isinstance(error, OSError):
        if error.strerror and not error.strerror.startswith("Unknown error"):
            return error.strerror
        if error.errno is not None:
            return errno.errorcode.get(error.errno, f"error {error.errno}")
    return type(error).__name__


def _size(count: int) -> str:
    if count >= 1 << 20 and count % (1 << 20) == 0:
        return f"{count >> 20} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count >> 10} KiB"
    return f"{count} bytes"


def _is_ipv4(text: str) -> bool:
    try:
        socket.inet_aton(text)
    except (OSError, ValueError):
        return False
    return text.count(".") == 3


class _Deadline:
    """A point on the monotonic clock that a whole request must finish by."""

    __slots__ = ("at",)

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def slice(self) -> float:
        """How long the next blocking call may wait; TimeoutError once time is up."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline reached")
        return min(left, _SLICE)


class _ClosedBeforeSend(Exception):
    """The first write found the connection closed: nothing reached the server."""


class _Lookup:
    """One name lookup on a daemon thread, so that waiting for it can time out.

    The thread may outlive the request (``getaddrinfo`` cannot be stopped);
    being a daemon, it never keeps the process alive.
    """

    def __init__(self, resolve: Resolver, host: str, port: int) -> None:
        self._done = threading.Event()
        self._result: list[Any] = []
        self._error: Exception | None = None
        threading.Thread(target=self._run, args=(resolve, host, port),
                         name="angel-totp-lookup", daemon=True).start()

    def _run(self, resolve: Resolver, host: str, port: int) -> None:
        try:
            self._result = list(resolve(host, port, 0, socket.SOCK_STREAM))
        except Exception as error:  # handed to the waiting request
            self._error = error
        finally:
            self._done.set()

    def wait(self, deadline: _Deadline) -> list[Any]:
        """The addresses; TimeoutError at the deadline. Ctrl-C gets through between slices."""
        while not self._done.is_set():
            self._done.wait(deadline.slice())
        if self._error is not None:
            raise self._error
        return self._result


def _connect_one(family: int, kind: int, proto: int, sockaddr: Any,
                 deadline: _Deadline) -> socket.socket:
    """Connect without blocking, waiting in slices (a plain connect() cannot be resumed)."""
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        code = sock.connect_ex(sockaddr)
        if code and code not in _IN_PROGRESS:
            raise OSError(code, os.strerror(code))
        if code:
            with selectors.DefaultSelector() as selector:
                # Windows reports a failed connect as "exceptional", which
                # selectors folds into writable.
                selector.register(sock, selectors.EVENT_WRITE)
                while not selector.select(deadline.slice()):
                    pass
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small requests, now
        except OSError:
            pass
        return sock
    except BaseException:
        sock.close()
        raise


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def _ack_now(sock: socket.socket) -> None:
    """Acknowledge at once what was read (Linux), instead of up to 40 ms later.

    On a kept-alive connection, a server that writes a reply's headers and
    body separately (Nagle on its side) otherwise waits for our delayed ACK
    before sending the body: up to 40 ms per reply. The flag does not stick,
    so it is set after every read.
    """
    if _QUICKACK is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        except OSError:
            pass


class _Link:
    """One open connection and the deadline of the request using it.

    Every blocking call goes through here and waits at most one slice.
    """

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self.replies = 0               # replies read here: 0 means a fresh connection
        self.may_have_sent = False     # for the current request

    def _arm(self) -> None:
        self.sock.settimeout(self.deadline.slice())

    def send_all(self, data: bytes) -> None:
        """Write all of ``data``; _ClosedBeforeSend if the first write finds the peer gone."""
        self.may_have_sent = False
        view = memoryview(data)
        while view:
            self._arm()
            try:
                count = self.sock.send(view)
            except TimeoutError:
                self.may_have_sent = True  # TLS may have written part of a record
                continue
            except _CLOSED:
                if self.may_have_sent:
                    raise
                raise _ClosedBeforeSend() from None
            self.may_have_sent = True
            view = view[count:]

    def recv_into(self, buffer: memoryview) -> int:
        while True:
            self._arm()
            try:
                count = self.sock.recv_into(buffer)
            except TimeoutError:
                continue  # a slice ended; _arm() raises once the deadline has
            _ack_now(self.sock)
            return count

    def start_tls(self, context: ssl.SSLContext, host: str) -> None:
        tls = context.wrap_socket(self.sock, server_hostname=host, do_handshake_on_connect=False)
        self.sock = tls
        while True:
            self._arm()
            try:
                tls.do_handshake()
                return
            except TimeoutError:
                continue  # OpenSSL resumes the handshake where it stopped

    def idle_and_open(self) -> bool:
        """Whether a kept-alive connection still looks usable, checked without waiting.

        Anything readable on an idle connection means it is not: an end of
        file (the server closed it), a reset, or bytes nobody asked for. A
        TLS 1.3 session ticket is the exception: readable, but no data.
        """
        sock = self.sock
        try:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                return False
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_READ)
                if not selector.select(0):
                    return True
            sock.setblocking(False)
            sock.recv(1)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return True
        except (OSError, ValueError):
            return False
        return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _Reader(io.RawIOBase):
    """Raw bytes from a link, for http.client's parser, with a byte budget."""

    def __init__(self, link: _Link, budget: int, over: str) -> None:
        super().__init__()
        self._link = link
        self.limit(budget, over)

    def limit(self, budget: int, over: str) -> None:
        """Allow ``budget`` more bytes; beyond them, BAD_REPLY with the words ``over``."""
        self._budget = budget
        self._over = over

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._budget <= 0:
            raise TransportError("BAD_REPLY", self._over, sent=True)
        view = memoryview(buffer).cast("B")[: self._budget]
        count = self._link.recv_into(view)
        self._budget -= count
        return count


class _FileHolder:
    """Stands in for a socket where http.client only wants ``makefile()``."""

    def __init__(self, file: io.BufferedReader) -> None:
        self._file = file

    def makefile(self, mode: str, *args: object) -> io.BufferedReader:
        return self._file


def _as_socket(file: io.BufferedReader) -> socket.socket:
    # HTTPResponse only calls makefile() on what it is given.
    return cast(socket.socket, _FileHolder(file))


class _Collector:
    """Stands in for a socket so that http.client formats a request head into bytes."""

    def __init__(self) -> None:
        self.data = bytearray()

    def sendall(self, data: bytes) -> None:
        self.data += data


class _Formatter(http.client.HTTPConnection):
    """http.client's request formatting and checks, for a plain http server."""

    default_port = 80


class _TlsFormatter(_Formatter):
    default_port = 443  # so that Host leaves out the scheme's own port


class _Target:
    """The parts of the base URL. Raises INVALID_REQUEST (never quoting it) if unusable."""

    def __init__(self, base_url: str) -> None:
        def unusable(why: str) -> TransportError:
            return TransportError("INVALID_REQUEST", f"the base URL is not usable: {why}")

        if not isinstance(base_url, str) or _UNSENDABLE.search(base_url) or " " in base_url:
            raise unusable("it has a space or a control character")
        try:
            parts = urlsplit(base_url)
            port = parts.port
        except ValueError:
            raise unusable("its host or port is malformed") from None
        self.scheme = parts.scheme.lower()
        if self.scheme not in ("http", "https"):
            raise unusable("it must start with https:// or http://")
        if not parts.hostname:
            raise unusable("it has no host")
        if parts.username is not None or parts.password is not None:
            raise unusable("it must not hold a user name or password")
        if parts.query or parts.fragment:
            raise unusable("it must not have a query or fragment")
        self.prefix = parts.path.rstrip("/")
        if self.prefix and not _PATH.fullmatch(self.prefix):
            raise unusable("its path is not printable ASCII")
        self.host = parts.hostname
        self.port = port or (443 if self.scheme == "https" else 80)
        shown = f"[{self.host}]" if ":" in self.host else self.host
        try:
            shown.encode("ascii")
        except UnicodeEncodeError:
            try:
                shown = shown.encode("idna").decode("ascii")
            except UnicodeError:
                raise unusable("its host is not a valid name") from None
        self.hostport = f"{shown}:{self.port}"
        formatter = _TlsFormatter if self.scheme == "https" else _Formatter
        try:
            formatter(self.host, self.port)  # http.client's own host checks, now
        except (ValueError, http.client.HTTPException):
            raise unusable("its host is not valid") from None
        self._formatter = formatter

    def format_head(self, method: str, target: str, headers: Sequence[tuple[str, str]]) -> bytes:
        """The request head, as http.client writes it: Host first, no Accept-Encoding."""
        collector = _Collector()
        formatter = self._formatter(self.host, self.port)
        formatter.sock = cast(socket.socket, collector)
        formatter.auto_open = 0  # never let http.client connect by itself
        formatter.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers:
            formatter.putheader(name, value)
        formatter.endheaders()
        return bytes(collector.data)


class _Proxy:
    """A proxy from the environment: where it is, and how to greet it."""

    def __init__(self, variable: str, url: str) -> None:
        self.variable = variable
        text = url if "://" in url else "http://" + url  # "proxy:3128" means http

        def unusable(why: str) -> TransportError:
            return TransportError("PROXY_UNREACHABLE", f"{variable} is not usable: {why}",
                                  proxy_variable=variable)

        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise unusable("its host or port is malformed") from None
        # https:// is read as a plain proxy, as urllib did before.
        if parts.scheme.lower() not in ("http", "https"):
            raise unusable("only http:// proxies are supported")
        if not parts.hostname or _UNSENDABLE.search(text) or " " in text:
            raise unusable("it has no host, or a space or control character")
        self.host = parts.hostname
        self.port = port or 80
        self.authorization = ""
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

    def __repr__(self) -> str:
        return f"<proxy from {self.variable}>"  # never the credentials


def _choose_proxy(target: _Target, environ: Mapping[str, str]) -> _Proxy | None:
    """The proxy for this target, as curl and urllib choose it; None to go direct.

    The lower-case variable wins; an empty one counts as unset. In a CGI
    script (REQUEST_METHOD set) HTTP_PROXY may come from a request header
    ("httpoxy"), so only http_proxy is read there, as urllib does.
    """
    names = [f"{target.scheme}_proxy", f"{target.scheme.upper()}_PROXY"]
    if target.scheme == "http" and "REQUEST_METHOD" in environ:
        names.pop()
    found = next(((name, environ[name]) for name in names if environ.get(name, "").strip()), None)
    if found is None:
        return None
    no_proxy = environ.get("no_proxy", "").strip() or environ.get("NO_PROXY", "").strip()
    if _bypassed(target.host, target.port, no_proxy):
        return None
    return _Proxy(found[0], found[1].strip())


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether NO_PROXY names this host: ``*``, a name or a domain suffix, with or without port.

    The rules of urllib's ``proxy_bypass_environment``, reading the given
    value rather than ``os.environ``.
    """
    host = host.lower()
    hostport = f"{host}:{port}"
    for entry in no_proxy.split(","):
        name = entry.strip().lstrip(".").lower()
        if name == "*":
            return True
        if not name:
            continue
        if name.startswith("[") and "]" in name:  # [::1] or [::1]:443
            name = name[1:].replace("]", "", 1)
        if name in (host, hostport) or host.endswith("." + name) or hostport.endswith("." + name):
            return True
    return False

"""A small HTTP/1.1 client for a handful of requests to one base URL.

Built on ``http.client`` (to parse replies), ``ssl`` and ``socket``, with
what the login check needs and urllib does not give:

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
  sent twice (a login must not be). Bytes that arrive after a complete reply
  make the connection unusable: it is closed, never read as the next reply.
  Stray bytes that come only once the next request is written cannot be
  told from its answer, so the last request asks the server to close and
  is read to the end, as is any reply that closes a kept-alive connection
  (a stray may say "Connection: close"): a byte after such a reply means the
  replies on this connection were out of step (BAD_REPLY);
* 1xx interim replies skipped (RFC 9110 section 15.2), on CONNECT too;
* headers sent exactly as given (case and order), checked before anything
  is sent; no Accept-Encoding, no redirects, TLS verification always on;
* proxies from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``, read as
  urllib reads them (only ``http://`` ones: an ``https://`` proxy is refused
  before anything is sent), never for this machine; a TLS failure inside a
  proxy's tunnel is the proxy's (it sent its own page, not the server's TLS);
* every failure a :class:`TransportError` whose ``detail`` never holds a
  header value, a credential or a byte the server sent. Credentials (header
  values and bodies given as :class:`~angel_totp.hidden.Hidden`) are
  revealed only to build the bytes, which no repr shows.

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
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

from .checks import check_timeout
from .errors import AngelTotpError, InvalidSettingError
from .hidden import Hidden
from .protocol import MAX_REPLY_BYTES, PATH, check_base_url, is_loopback
from .redact import CONTROL

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["Connection", "HttpReply", "TransportError"]

# The longest any single blocking call waits before the deadline (and Ctrl-C)
# is checked again.
_SLICE = 0.25
# How long the last reply waits for the server's close; a server that ignores
# "Connection: close" costs this much once, and is not checked further.
_CLOSE_WAIT = 1.0
# The status line and headers of a reply (interim replies included), together.
_HEADER_CAP = 64 * 1024
_CHUNK = 64 * 1024
_OUT_OF_STEP = "the server sent more than one reply to a request, so the replies cannot " \
    "be told apart"

# RFC 9110 token: what a method and a header name may be made of.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
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
# What a non-blocking read answers when there is nothing to read.
_NOTHING_YET = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

Resolver = Callable[..., list[Any]]
HeaderValue = str | Hidden


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
    """

    def __init__(self, errorcode: str, detail: str = "", *, proxy_variable: str | None = None,
                 sent: bool = False) -> None:
        super().__init__(detail or errorcode)
        self.errorcode = errorcode
        self.detail = detail
        self.proxy_variable = proxy_variable
        self.sent = sent

    def __str__(self) -> str:
        return f"{self.detail} [{self.errorcode}]" if self.detail else self.errorcode


class HttpReply:
    """A complete reply, and when it was asked for and received.

    ``headers`` holds ``(name, value)`` pairs as the server sent them, in
    order; :meth:`header` finds one by name in any case. ``sent`` and
    ``received`` are ``time.time()`` just before the request was written and
    when the reply's last byte arrived; with ``date`` (the ``Date`` header)
    they measure the server's clock. Not a tuple, and its repr shows no
    header value or body: a login reply's body holds the session tokens.
    """

    __slots__ = ("status", "reason", "headers", "body", "sent", "received")

    def __init__(self, status: int, reason: str, headers: Sequence[tuple[str, str]],
                 body: bytes, sent: float, received: float) -> None:
        self.status = status
        self.reason = reason
        self.headers = tuple(headers)
        self.body = body
        self.sent = sent
        self.received = received

    @property
    def date(self) -> str | None:
        return self.header("Date")

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def __repr__(self) -> str:
        return f"<HttpReply {self.status} with {len(self.body)} bytes>"


class _Payload:
    """A request's bytes, credentials and all: no repr shows them, no tracker walks them."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"<{len(self.data)} bytes of request>"


def _reveal(value: HeaderValue) -> str:
    return value.reveal() if isinstance(value, Hidden) else value


class Connection:
    """Requests to one base URL over one kept-alive connection.

    ``base_url`` is ``http(s)://host[:port][/prefix]`` (the rule of
    :func:`~angel_totp.protocol.check_base_url`); the prefix is put in
    front of every request path. ``timeout`` bounds each request in
    wall-clock seconds, from the name lookup to the reply's last byte.
    ``environ`` is where proxy settings are read (default ``os.environ``),
    ``resolve`` the name lookup (``socket.getaddrinfo``; tests pass one that
    hangs), ``max_reply_bytes`` the largest body accepted, ``tls_context``
    replaces ``ssl.create_default_context()`` (tests trust their own
    certificate with it; verification stays on either way).

    Only a bad ``timeout`` raises here: a base URL or proxy setting that
    cannot be used gives a :class:`TransportError` from the first
    :meth:`request` or :meth:`local_ipv4`.
    """

    def __init__(self, base_url: str, *, timeout: float, environ: Mapping[str, str] | None = None,
                 resolve: Resolver | None = None, max_reply_bytes: int = MAX_REPLY_BYTES,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self._timeout = check_timeout(timeout)
        self.connections_opened = 0
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
            self._proxy = None if self._target.loopback else _choose_proxy(
                self._target, os.environ if environ is None else environ)
        except TransportError as error:
            # Kept without the frames that made it: they hold the proxy URL (its
            # password) and the environment, which error trackers would record.
            self._setup_error = error.with_traceback(None)

    @property
    def hidden(self) -> list[Hidden]:
        """What a mask must hide of this connection's own settings: the proxy's password."""
        proxy = None if self._setup_error is not None else self._proxy
        return [proxy.password] if proxy is not None and proxy.password else []

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

    def request(self, method: str, path: str, headers: Sequence[tuple[str, HeaderValue]],
                body: bytes | Hidden | None = None, *, last: bool = False) -> HttpReply:
        """Send one request and read its whole reply, within ``timeout``.

        ``headers`` are sent in this order and case, after ``Host`` and
        before ``Content-Length`` (added for a body, and as 0 for a POST,
        PUT or PATCH without one); a credential among them, or the body, is
        best given as :class:`~angel_totp.hidden.Hidden` (text, sent as
        UTF-8). Any reply, 3xx and 4xx included, is returned; a failure
        raises :class:`TransportError`. A request that cannot be sent
        (INVALID_REQUEST) is refused before anything is written; any other
        error, and Ctrl-C, also close the connection.

        ``last`` marks the connection's last request: it is sent with
        ``Connection: close`` and read on to the end of the stream. Stray
        bytes sent after a reply on a kept-alive connection may have been
        taken for the answer to the next request; if any byte follows this
        reply, the replies were out of step, and it fails as BAD_REPLY.
        """
        if self._setup_error is not None:
            raise self._setup_error
        if last:
            headers = [*headers, ("Connection", "close")]
        payload = self._format(method, path, headers, body)  # checks before anything is sent
        spent, self._spent_ahead = self._spent_ahead, 0.0
        deadline = _Deadline(max(self._timeout - spent, 0.0))
        try:
            return self._exchange(method, payload, deadline, last)
        except BaseException:
            self.close()
            raise

    def check_in_step(self) -> None:
        """After a reply that ends this connection's use though it was not ``last``
        (a refused login after the clock request): BAD_REPLY if bytes follow it.

        On a kept-alive connection such a reply may be bytes the server sent
        after an earlier one, with the real answer behind it; waits for them at
        most a second (within the request's time), then closes the connection.
        """
        link = self._link
        if link is None:
            return
        try:
            in_step = link.replies < 2 or link.closes_within(_CLOSE_WAIT)
        finally:
            self.close()
        if not in_step:
            raise TransportError("BAD_REPLY", _OUT_OF_STEP, sent=True)

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
        host = host.removeprefix("::ffff:")  # an IPv4 address mapped into IPv6
        try:
            socket.inet_pton(socket.AF_INET, host)
            return host
        except (OSError, ValueError):
            return "127.0.0.1"

    # Building the request.

    def _format(self, method: str, path: str, headers: Sequence[tuple[str, HeaderValue]],
                body: bytes | Hidden | None) -> _Payload:
        """The request's bytes; raise INVALID_REQUEST first if unsendable."""
        if not isinstance(method, str) or not _FIELD_NAME.fullmatch(method):
            raise TransportError("INVALID_REQUEST", "the method is not a valid HTTP method")
        if not isinstance(path, str) or not PATH.fullmatch(path):
            raise TransportError("INVALID_REQUEST",
                                 "the request path must start with / and be printable ASCII")
        for name, value in headers:
            _check_header(name, value)
        target = self._target.prefix + path
        # Held as a _Payload from the start: a tracker that walks this frame sees no PIN.
        data = _Payload(body.reveal().encode("utf-8") if isinstance(body, Hidden)
                        else body or b"")
        extra: list[tuple[str, HeaderValue]] = []
        if body is not None or method in _BODY_METHODS:
            extra.append(("Content-Length", str(len(data.data))))
        if self._proxy is not None and self._target.scheme == "http":
            target = f"http://{self._target.hostport}{target}"  # absolute form, for the proxy
            if self._proxy.authorization is not None:
                extra.append(("Proxy-Authorization", self._proxy.authorization))
        return _Payload(_head(f"{method} {target} HTTP/1.1",
                              [("Host", self._target.host_header), *headers, *extra])
                        + data.data)

    # Sending and reading.

    def _exchange(self, method: str, payload: _Payload, deadline: _Deadline,
                  last: bool) -> HttpReply:
        """Send on the kept-alive connection, or a new one, and read the reply.

        An idle connection the server has closed, or that holds bytes nobody
        asked for, is replaced before anything is written; bytes behind a
        second reply or a later one fail as BAD_REPLY, since that reply may
        have been a stray. If the first write
        finds it closed, nothing was written, so one new connection is opened
        and the request sent there; once any byte may have gone out, a
        failure is reported and never retried.
        """
        link = self._link
        if link is not None and not link.quiet():
            self.close()  # closed by the server, or out of step: nothing was lost
            if link.stray and link.replies > 1:
                # The last reply taken may itself have been a stray, with its real
                # answer the bytes waiting now: every answer since the first is suspect.
                raise TransportError("BAD_REPLY", _OUT_OF_STEP)
        for attempt in range(2):
            reused = self._link is not None
            if self._link is None:
                self._link = self._open(deadline)
            self._link.deadline = deadline
            try:
                return self._send_and_read(self._link, method, payload, last)
            except _ClosedBeforeSend:
                self.close()
                if not reused or attempt:
                    break
        raise TransportError("NETWORK", "the server closed the connection before the request "
                             "was written")

    def _send_and_read(self, link: _Link, method: str, payload: _Payload,
                       last: bool) -> HttpReply:
        try:
            sent = time.time()
            link.send_all(payload)
            reply = self._read_reply(link, method, sent, last)
        except (_ClosedBeforeSend, TransportError):
            raise
        except Exception as error:
            failure = self._failure(error, fresh=link.replies == 0)
            if failure is None:
                raise
            failure.sent = link.may_have_sent
            raise failure from None
        if self._proxy is not None and self._target.scheme == "http" and reply.status == 407:
            raise TransportError("PROXY_AUTH", self._proxy.auth_detail(),
                                 proxy_variable=self._proxy.variable, sent=True)
        return reply

    def _read_reply(self, link: _Link, method: str, sent: float, last: bool) -> HttpReply:
        """Read one reply under the link's deadline, within the size caps."""
        cap = self._max_reply_bytes
        reader = _Reader(link, _HEADER_CAP, "the reply's headers are over 64 KiB")
        buffered = _Buffer(reader)
        response = _final_response(buffered, method)
        try:
            if len(set(response.headers.get_all("Content-Length") or ())) > 1:
                raise TransportError("BAD_REPLY", "the reply gives two different lengths",
                                     sent=True)
            # Chunk framing and trailers are bounded too, generously.
            reader.limit(2 * cap + _HEADER_CAP, f"reply over {_size(cap)}")
            body = io.BytesIO()  # not a list of bytes: it may hold tokens, and trackers walk lists
            while chunk := response.read(_CHUNK):
                body.write(chunk)
                del chunk
                if body.tell() > cap:
                    raise TransportError("BAD_REPLY", f"reply over {_size(cap)}", sent=True)
            if response.length:  # read(n) takes an end of file short of Content-Length
                raise http.client.IncompleteRead(b"", response.length)
            received = time.time()
            # A length and chunks both (RFC 9112 6.3): framed by the chunks, and the
            # connection is not trusted with another reply.
            will_close = bool(response.will_close) or (
                bool(response.chunked) and "Content-Length" in response.headers)
        finally:
            response.close()
        reader.waiting = False
        stray = bool(buffered.peek(1))
        link.replies += 1
        # A reply that ends a kept-alive connection may be a stray that says so
        # ("Connection: close") with the real answer behind it: read on to the end.
        if (last or will_close) and not stray and link.replies > 1:
            stray = not link.closes_within(_CLOSE_WAIT)
        if will_close or stray or last:
            self.close()  # the server said so, or sent more than the reply
        if stray and link.replies > 1:
            # On a kept-alive connection this "reply" may be bytes the server
            # sent after the last one, not the answer to this request.
            raise TransportError("BAD_REPLY", _OUT_OF_STEP, sent=True)
        return HttpReply(response.status, response.reason, response.getheaders(),
                         body.getvalue(), sent, received)

    def _failure(self, error: Exception, fresh: bool) -> TransportError | None:
        """The TransportError for an error while writing or reading, or None for a bug."""
        proxy = self._proxy if self._target.scheme == "http" else None
        if isinstance(error, TimeoutError):
            return TransportError("TIMEOUT", f"no complete reply within {self._timeout:g} s")
        if isinstance(error, http.client.RemoteDisconnected):
            if proxy is not None:
                return TransportError("PROXY_ERROR", "the proxy closed the connection without "
                                      "answering", proxy_variable=proxy.variable)
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
            return TransportError("NETWORK", f"the TLS connection failed ({_ssl_reason(error)})")
        if isinstance(error, OSError):
            return TransportError("NETWORK", f"the connection failed ({_os_reason(error)})")
        return None

    # Opening a connection.

    def _open(self, deadline: _Deadline) -> _Link:
        """Look up, connect, tunnel through the proxy and start TLS, as needed."""
        sock = self._connect(self._addresses(deadline), deadline)
        link = _Link(sock, deadline)
        self.connections_opened += 1
        try:
            if self._target.scheme == "https":
                if self._proxy is not None:
                    self._tunnel(link, self._proxy)
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

        def failed(detail: str) -> TransportError:
            if proxy:
                return TransportError("PROXY_UNREACHABLE", "the proxy's " + detail,
                                      proxy_variable=proxy.variable)
            return TransportError("DNS", detail)

        try:
            addresses = self._lookup.wait(deadline)
        except TimeoutError:
            raise failed("name lookup timed out") from None
        except Exception as error:
            self._lookup = None  # a failed lookup may be tried again
            reason = error.strerror if isinstance(error, socket.gaierror) else None
            raise failed("name lookup failed" + (f" ({reason})" if reason else "")) from None
        if not addresses:
            self._lookup = None
            raise failed("name has no address")
        return addresses

    def _connect(self, addresses: list[Any], deadline: _Deadline) -> socket.socket:
        """A TCP connection to the first address that accepts, within the deadline.

        Each address but the last gets an equal share of the time left, so
        that a dead one (broken IPv6 beside a working IPv4) cannot use it all.
        """
        proxy = self._proxy
        last: OSError | None = None
        for index, (family, kind, proto, _, sockaddr) in enumerate(addresses):
            remaining = len(addresses) - index
            attempt = deadline if remaining == 1 else _Deadline(
                max(0.0, deadline.at - time.monotonic()) / remaining)
            try:
                return _connect_one(family, kind, proto, sockaddr, attempt)
            except TimeoutError:
                pass
            except OSError as error:
                last = error
        if last is None:  # every attempt timed out
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

    def _tunnel(self, link: _Link, proxy: _Proxy) -> None:
        """Ask the proxy for a tunnel to the server (CONNECT); raise unless it agrees."""
        hostport = self._target.hostport
        greeting: list[tuple[str, HeaderValue]] = [("Host", hostport)]
        if proxy.authorization is not None:
            greeting.append(("Proxy-Authorization", proxy.authorization))

        def failed(errorcode: str, detail: str) -> TransportError:
            return TransportError(errorcode, detail, proxy_variable=proxy.variable)

        try:
            link.send_all(_Payload(_head(f"CONNECT {hostport} HTTP/1.1", greeting)))
            # One byte at a time, so that nothing after the answer (the
            # server's TLS) is read by mistake.
            reader = _Reader(link, _HEADER_CAP, "the proxy's answer is over 64 KiB")
            response = _final_response(_Buffer(reader, 1), "CONNECT")
        except _ClosedBeforeSend:
            raise failed("PROXY_ERROR", "the proxy closed the connection") from None
        except TransportError as error:  # over the size cap
            raise failed("PROXY_ERROR", error.detail) from None
        except TimeoutError:
            raise failed("TIMEOUT", "the proxy did not answer in time") from None
        except http.client.RemoteDisconnected:
            raise failed("PROXY_ERROR", "the proxy closed the connection without answering"
                         ) from None
        except (http.client.HTTPException, ValueError):
            raise failed("PROXY_ERROR", "the proxy's answer was not HTTP") from None
        except OSError as error:
            raise failed("PROXY_ERROR", f"the proxy connection failed ({_os_reason(error)})"
                         ) from None
        if response.status == 407:
            raise failed("PROXY_AUTH", proxy.auth_detail())
        if not 200 <= response.status < 300:
            raise failed("PROXY_ERROR", f"the proxy refused the tunnel (HTTP {response.status})")

    def _start_tls(self, link: _Link) -> None:
        """TLS with certificate and host name checks, within the deadline."""
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context()
        proxy = self._proxy
        try:
            link.start_tls(self._tls_context, self._target.host)
        except TimeoutError:
            raise TransportError("TIMEOUT", "the TLS handshake timed out") from None
        except ssl.SSLCertVerificationError as error:
            detail = error.verify_message or "certificate verify failed"
            raise TransportError("TLS", f"certificate not accepted: {detail}") from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError) as error:
            if proxy is not None:  # it agreed to the tunnel, then closed it
                raise TransportError("PROXY_ERROR", "the proxy closed the tunnel to the server "
                                     "before TLS was set up",
                                     proxy_variable=proxy.variable) from None
            if isinstance(error, ConnectionError):
                raise TransportError("NETWORK", "the connection failed during the TLS "
                                     f"handshake ({_os_reason(error)})") from None
            raise TransportError("TLS", "the server closed the connection during the TLS "
                                 "handshake") from None
        except ssl.SSLError as error:
            if proxy is not None:  # it agreed to the tunnel, then sent no TLS (its own page)
                raise TransportError("PROXY_ERROR", "TLS through the proxy's tunnel failed "
                                     f"({_ssl_reason(error)})",
                                     proxy_variable=proxy.variable) from None
            raise TransportError("TLS", f"TLS handshake failed ({_ssl_reason(error)})") from None
        except OSError as error:
            raise TransportError("NETWORK", "the connection failed during the TLS handshake "
                                 f"({_os_reason(error)})") from None


def _final_response(buffered: io.BufferedReader, method: str) -> http.client.HTTPResponse:
    """The first reply that is not a 1xx interim one, its headers read (RFC 9110 15.2)."""
    holder = cast(socket.socket, _FileHolder(buffered))
    while True:
        response = http.client.HTTPResponse(holder, method=method)
        try:
            response.begin()  # skips 100 itself; headers of other interim replies are read
            if response.status == 101:
                raise http.client.UnknownProtocol("switching protocols")
            if not 100 <= response.status < 200:
                return response
        except BaseException:
            response.close()  # now, not when collected: by then its file may be closed
            raise
        response.close()


def _head(line: str, headers: Sequence[tuple[str, HeaderValue]]) -> bytes:
    """A request line and headers (checked already) as bytes; no Accept-Encoding."""
    return "".join([line, "\r\n", *(f"{name}: {_reveal(value)}\r\n" for name, value in headers),
                    "\r\n"]).encode("latin-1")


def _check_header(name: object, value: object) -> None:
    """Raise INVALID_REQUEST for a header that cannot be sent; never quote the value."""
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise TransportError("INVALID_REQUEST", "a header name is not a valid HTTP token")
    if name.lower() in _RESERVED:
        raise TransportError("INVALID_REQUEST", f"header {name} is set by the connection itself")
    if not isinstance(value, (str, Hidden)):
        raise TransportError("INVALID_REQUEST", f"header {name} is not text")
    if CONTROL.search(_reveal(value)) is not None:
        raise TransportError("INVALID_REQUEST", f"header {name} has a control character")
    if not _reveal(value).isascii() and max(_reveal(value)) > "\xff":
        raise TransportError("INVALID_REQUEST", f"header {name} has a character beyond latin-1")


def _os_reason(error: BaseException | None) -> str:
    """The operating system's words for a socket error (never the server's)."""
    if isinstance(error, OSError):
        if error.strerror and not error.strerror.startswith("Unknown error"):
            return error.strerror
        if error.errno is not None:
            return errno.errorcode.get(error.errno, f"error {error.errno}")
    return type(error).__name__


def _ssl_reason(error: ssl.SSLError) -> str:
    return error.reason if isinstance(error.reason, str) else type(error).__name__


def _size(count: int) -> str:
    if count >= 1 << 20 and count % (1 << 20) == 0:
        return f"{count >> 20} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count >> 10} KiB"
    return f"{count} bytes"


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


class _Link:
    """One open connection and the deadline of the request using it.

    Every blocking call goes through here and waits at most one slice.
    """

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self.replies = 0               # replies read here: 0 means a fresh connection
        self.may_have_sent = False     # for the current request
        self.stray = False             # quiet() found bytes nobody asked for

    def _arm(self) -> None:
        self.sock.settimeout(self.deadline.slice())

    def send_all(self, payload: _Payload) -> None:
        """Write all of it; _ClosedBeforeSend if the first write finds the peer gone."""
        self.may_have_sent = False
        view = memoryview(payload.data)
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

    def recv_into(self, buffer: memoryview, wait: bool = True) -> int | None:
        """Read some bytes; without ``wait``, None at once when none have come."""
        while True:
            if wait:
                self._arm()
            elif not self._readable():
                return None
            else:
                self.sock.setblocking(False)
            try:
                count = self.sock.recv_into(buffer)
            except TimeoutError:
                continue  # a slice ended; _arm() raises once the deadline has
            except _NOTHING_YET:
                return None  # only without waiting: e.g. a TLS 1.3 session ticket
            if _QUICKACK is not None:
                # Acknowledge at once what was read (Linux), not up to 40 ms
                # later: a server that writes a reply's headers and body apart
                # otherwise waits for our ACK before the body. It does not stick.
                try:
                    self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                except OSError:
                    pass
            return count

    def _readable(self) -> bool:
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            return bool(selector.select(0))

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

    def quiet(self) -> bool:
        """Whether a kept-alive connection is still usable, checked without waiting.

        Anything to read on an idle connection means it is not: an end of
        file (the server closed it), a reset, or bytes nobody asked for.
        A TLS 1.3 session ticket is the exception: readable, but no data.
        """
        try:
            got = self.recv_into(memoryview(bytearray(1)), wait=False)
        except (OSError, ValueError):
            return False
        self.stray = got == 1  # bytes, not an end of file
        return got is None

    def closes_within(self, seconds: float) -> bool:
        """Whether the stream ends, or nothing comes, before a byte does."""
        self.deadline = _Deadline(min(self.deadline.at - time.monotonic(), seconds))
        try:
            return self.recv_into(memoryview(bytearray(1))) == 0
        except (TimeoutError, OSError):
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _Reader(io.RawIOBase):
    """Raw bytes from a link, for http.client's parser, with a byte budget.

    Once ``waiting`` is turned off (the reply is complete), a read returns
    only what has already come, so that stray bytes can be looked for.
    """

    def __init__(self, link: _Link, budget: int, over: str) -> None:
        super().__init__()
        self._link = link
        self.waiting = True
        self.limit(budget, over)

    def limit(self, budget: int, over: str) -> None:
        """Allow ``budget`` more bytes; beyond them, BAD_REPLY with the words ``over``."""
        self._budget = budget
        self._over = over

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        if not self.waiting:
            try:
                return self._link.recv_into(memoryview(buffer).cast("B")[:1], wait=False)
            except OSError:
                return 0  # gone: the next request finds out, nothing stray came
        if self._budget <= 0:
            raise TransportError("BAD_REPLY", self._over, sent=True)
        count = self._link.recv_into(memoryview(buffer).cast("B")[: self._budget])
        assert count is not None
        self._budget -= count
        return count


class _Buffer(io.BufferedReader):
    """http.client closes its file after each reply; what it had read ahead must stay readable."""

    def close(self) -> None:
        pass


class _FileHolder:
    """Stands in for a socket where http.client only wants ``makefile()``."""

    def __init__(self, file: io.BufferedReader) -> None:
        self._file = file

    def makefile(self, mode: str, *args: object) -> io.BufferedReader:
        return self._file


class _Target:
    """The parts of the base URL, checked by protocol's rule; INVALID_REQUEST if unusable."""

    def __init__(self, base_url: str) -> None:
        try:
            url = check_base_url(base_url, "base URL")
        except InvalidSettingError as error:
            why = error.message.removeprefix("base URL ")
            raise TransportError("INVALID_REQUEST", f"the base URL is not usable: it {why}"
                                 ) from None
        parts = urlsplit(url)
        self.loopback = is_loopback(url)  # never through a proxy
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.hostport = f"{host}:{self.port}"
        # Host leaves out the scheme's own port, as browsers and http.client do.
        self.host_header = host if parts.port in (None, 443 if self.scheme == "https" else 80) \
            else self.hostport


class _Proxy:
    """A proxy from the environment: where it is, and how to greet it."""

    def __init__(self, variable: str, url: str) -> None:
        self.variable = variable

        def unusable(why: str) -> TransportError:
            return TransportError("PROXY_UNREACHABLE", f"{variable} is not usable: {why}",
                                  proxy_variable=variable)

        try:
            parts = urlsplit(url if "://" in url else "http://" + url)  # "proxy:3128" is http
            port = parts.port
        except ValueError:
            raise unusable("its host or port is malformed") from None
        if parts.scheme.lower() == "https":
            # TLS to the proxy itself is not supported; plain http would send
            # Proxy-Authorization in clear to a proxy that expects TLS.
            raise unusable("an https:// proxy is not supported; give the proxy's http:// "
                           "address if it has one")
        if parts.scheme.lower() != "http":
            raise unusable("only http:// proxies are supported")
        if not parts.hostname or CONTROL.search(url) or " " in url:
            raise unusable("it has no host, or a space or control character")
        self.host = parts.hostname
        self.port = port or 80
        self.authorization: Hidden | None = None
        self.password = Hidden(unquote(parts.password or ""))
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{self.password.reveal()}".encode()
            self.authorization = Hidden("Basic " + base64.b64encode(pair).decode("ascii"))

    def __repr__(self) -> str:
        return f"<proxy from {self.variable}>"  # never the credentials

    def auth_detail(self) -> str:
        if self.authorization is not None:
            return "the proxy refused its credentials (HTTP 407)"
        return "the proxy wants credentials (HTTP 407)"


def _choose_proxy(target: _Target, environ: Mapping[str, str]) -> _Proxy | None:
    """The proxy for this target, as urllib chooses it; None to go direct.

    NO_PROXY is read by urllib's own rule. The variables are read by the rule
    of urllib's ``getproxies_environment()``, which reads only os.environ and
    would not say which variable it took.
    """
    proxies = _proxy_variables(environ)
    chosen = proxies.get(target.scheme)
    if chosen is None:
        return None
    no_proxy = proxies.get("no")
    if no_proxy and proxy_bypass_environment(target.hostport, {"no": no_proxy[1]}):
        return None
    return _Proxy(*chosen)


def _proxy_variables(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Scheme to (variable, value), as ``getproxies_environment()`` reads them.

    Any case counts, but an all-lower-case name wins, and when empty it turns
    that proxy off. In a CGI script (REQUEST_METHOD set) HTTP_PROXY may come
    from a request header ("httpoxy"), so only http_proxy is read there.
    Anything but text counts as empty.
    """
    found: dict[str, tuple[str, str]] = {}
    for name, value in environ.items():
        if isinstance(value, str) and value and name.lower().endswith("_proxy"):
            found[name.lower()[:-6]] = (name, value.strip())
    if "REQUEST_METHOD" in environ:
        found.pop("http", None)
    for name, value in environ.items():
        if name.endswith("_proxy"):
            if isinstance(value, str) and value:
                found[name.lower()[:-6]] = (name, value.strip())
            else:
                found.pop(name.lower()[:-6], None)
    return found

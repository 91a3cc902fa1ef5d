"""An HTTP/1.1 client for a few requests to one base URL, on http.client's reply parser:
one kept-alive connection, CONNECT proxies, one wall-clock deadline per request, and no
stray reply ever taken for an answer. A :class:`Connection` is for one thread at a time.
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
from .protocol import MAX_REPLY_BYTES, PATH, Credential, check_base_url, is_loopback, plain
from .redact import CONTROL

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["Connection", "HttpReply", "TransportError"]

# The longest a blocking call waits before the deadline, and Ctrl-C (which does not
# interrupt a wait on Windows), are checked again.
_SLICE = 0.25
# How long a reply that ends a kept-alive connection waits for the server's close.
_CLOSE_WAIT = 1.0
_HEADER_CAP = 64 * 1024  # a reply's status line and headers, interim replies included
_CHUNK = 64 * 1024
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token
# Set by the connection itself, so that they cannot disagree with the body.
_RESERVED = frozenset({"host", "content-length", "transfer-encoding"})
# What a non-blocking connect() answers while the handshake is under way.
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, getattr(errno, "WSAEWOULDBLOCK", -1)}
# A send() that fails with these wrote nothing: the server had already gone.
_CLOSED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError,
           ssl.SSLZeroReturnError, ssl.SSLEOFError)
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only

Resolver = Callable[..., list[Any]]


class TransportError(AngelTotpError):
    """No usable reply: ``errorcode`` is TIMEOUT, DNS, CONNECTION_REFUSED, TLS, NETWORK,
    PROXY_AUTH, PROXY_UNREACHABLE, PROXY_ERROR, BAD_REPLY or INVALID_REQUEST; ``detail``
    never holds a header value, a credential or a byte the server sent; ``proxy_variable``
    names a proxy at fault; ``sent``: the request may have reached the server.
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
    """A complete reply: ``headers`` as sent, ``sent`` and ``received`` the ``time.time()``
    of writing the request and of the reply's last byte. Not a tuple, and its repr shows
    no header or body: a login reply holds the session tokens.
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
        """The first header called ``name``, in any case, or None."""
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


class Connection:
    """Requests to one ``http(s)://host[:port][/prefix]`` over one kept-alive connection.

    ``timeout`` bounds each request, from the name lookup to the reply's last byte;
    ``environ`` holds the proxy settings (default ``os.environ``); ``resolve`` replaces
    ``socket.getaddrinfo``, ``tls_context`` ``ssl.create_default_context()``. Only a bad
    ``timeout`` raises here; an unusable URL or proxy fails the first request.
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
        self._spent_ahead = 0.0  # by local_ipv4(), of the next request's time
        self._setup_error: TransportError | None = None
        self._proxy: _Proxy | None = None
        try:
            self._target = _Target(base_url)
            self._proxy = None if self._target.loopback else _choose_proxy(
                self._target, os.environ if environ is None else environ)
        except TransportError as error:
            # Without the frames that made it: they hold the proxy URL and its password.
            self._setup_error = error.with_traceback(None)

    @property
    def hidden(self) -> list[Hidden]:
        """What a mask must hide of this connection's own settings: the proxy's password."""
        return [self._proxy.password] if self._proxy and self._proxy.password else []

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
        self._spent_ahead = 0.0
        link, self._link = self._link, None
        if link is not None:
            link.close()

    def request(self, method: str, path: str, headers: Sequence[tuple[str, Credential]],
                body: bytes | Hidden | None = None, *, last: bool = False) -> HttpReply:
        """Send one request and read its whole reply, whatever its status, within ``timeout``.

        ``headers`` go in this order and case, between ``Host`` and ``Content-Length``;
        credentials, and a text body, best as :class:`~angel_totp.hidden.Hidden`. Any
        failure but INVALID_REQUEST (refused before anything is written), and Ctrl-C,
        close the connection. ``last`` asks the server to close and reads to the end: a
        byte after the reply means that the replies were out of step (BAD_REPLY).
        """
        if self._setup_error is not None:
            raise self._setup_error
        if last:
            headers = [*headers, ("Connection", "close")]
        payload = self._format(method, path, headers, body)  # checks before anything is sent
        spent, self._spent_ahead = self._spent_ahead, 0.0
        deadline = time.monotonic() + max(self._timeout - spent, 0.0)
        try:
            return self._exchange(method, payload, deadline, last)
        except BaseException as error:
            self.close()
            if isinstance(error, Exception):
                raise
            raise error.with_traceback(None) from None  # Ctrl-C: the frames hold the reply

    def check_in_step(self) -> None:
        """Close the connection where its use ends, even without ``last`` (a refused login
        after the clock request): BAD_REPLY if bytes follow its last reply within 1 s."""
        link = self._link
        if link is None:
            return
        try:
            _check_step(link, lambda: not link.closes_within(_CLOSE_WAIT))
        finally:
            self.close()

    def local_ipv4(self) -> str:
        """This end's IPv4 address (``127.0.0.1`` over IPv6), connecting if needed: the
        time that takes counts against the next request."""
        if self._setup_error is not None:
            raise self._setup_error
        if self._link is None:
            started = time.monotonic()
            self._link = self._open(started + self._timeout)  # closes what it opened if it fails
            self._spent_ahead = time.monotonic() - started
        host = str(self._link.sock.getsockname()[0]).removeprefix("::ffff:")  # mapped IPv4
        return "127.0.0.1" if ":" in host else host  # IPv6 has no IPv4 address to give

    def _format(self, method: str, path: str, headers: Sequence[tuple[str, Credential]],
                body: bytes | Hidden | None) -> _Payload:
        if not isinstance(method, str) or not _FIELD_NAME.fullmatch(method):
            raise TransportError("INVALID_REQUEST", "the method is not a valid HTTP method")
        if not isinstance(path, str) or not PATH.fullmatch(path):
            raise TransportError("INVALID_REQUEST",
                                 "the request path must start with / and be printable ASCII")
        for name, value in headers:
            _check_header(name, value)
        target = self._target.prefix + path
        # A _Payload from the start: a tracker that walks this frame sees no PIN.
        data = _Payload(body.reveal().encode("utf-8") if isinstance(body, Hidden)
                        else body or b"")
        extra: list[tuple[str, Credential]] = []
        if body is not None or method in ("POST", "PUT", "PATCH"):
            extra.append(("Content-Length", str(len(data.data))))
        if self._proxy is not None and self._target.scheme == "http":
            target = f"http://{self._target.hostport}{target}"  # absolute form, for the proxy
            extra += self._proxy.greeting
        return _Payload(_head(f"{method} {target} HTTP/1.1",
                              [("Host", self._target.host_header), *headers, *extra])
                        + data.data)

    def _exchange(self, method: str, payload: _Payload, deadline: float,
                  last: bool) -> HttpReply:
        idle = self._link
        if idle is not None and not idle.quiet():
            self.close()  # closed by the server, or out of step: nothing was lost
            _check_step(idle, lambda: idle.stray, sent=False)
        while True:
            reused = self._link is not None
            if self._link is None:
                self._link = self._open(deadline)
            link = self._link
            link.deadline = deadline
            try:
                sent = time.time()
                link.send_all(payload)
                reply = self._read_reply(link, method, sent, last)
            except _ClosedBeforeSend:
                self.close()
                if not reused:
                    raise TransportError("NETWORK", "the server closed the connection before "
                                         "the request was written") from None
                continue  # closed while idle: nothing was written, so send it on a new one
            except (OSError, http.client.HTTPException, ValueError) as error:
                failure = self._failure(error, fresh=link.replies == 0)
                failure.sent = link.may_have_sent
                raise failure from None
            if self._proxy is not None and self._target.scheme == "http" and reply.status == 407:
                raise TransportError("PROXY_AUTH", self._proxy.auth_detail(),
                                     proxy_variable=self._proxy.variable, sent=True)
            return reply

    def _read_reply(self, link: _Link, method: str, sent: float, last: bool) -> HttpReply:
        cap = self._max_reply_bytes
        reader = _Reader(link, _HEADER_CAP, "the reply's headers are over 64 KiB")
        buffered = _Buffer(reader)
        response = _final_response(buffered, method)
        try:
            if len(set(response.headers.get_all("Content-Length") or ())) > 1:
                raise TransportError("BAD_REPLY", "the reply gives two different lengths",
                                     sent=True)
            # Chunk framing and trailers are bounded too, generously.
            reader.budget = 2 * cap + _HEADER_CAP
            reader.over = f"reply over {cap >> 20} MiB" if cap % (1 << 20) == 0 \
                else f"reply over {cap} bytes"
            body = io.BytesIO()  # not a list of bytes: it may hold tokens, and trackers walk lists
            while chunk := response.read(_CHUNK):
                body.write(chunk)
                del chunk
                if body.tell() > cap:
                    raise TransportError("BAD_REPLY", reader.over, sent=True)
            if response.length:  # read(n) takes an end of file short of Content-Length
                raise http.client.IncompleteRead(b"", response.length)
            received = time.time()
            # Framed by both a length and chunks (RFC 9112 6.3): not trusted with another.
            will_close = bool(response.will_close) or (
                bool(response.chunked) and "Content-Length" in response.headers)
        finally:
            response.close()
        reader.waiting = False
        link.replies += 1
        if buffered.peek(1):  # bytes nobody asked for
            self.close()
            _check_step(link, lambda: True)
        elif last or will_close:
            # It may be a stray that says "Connection: close", the real answer behind it.
            self.check_in_step()
        return HttpReply(response.status, response.reason, response.getheaders(),
                         body.getvalue(), sent, received)

    def _failure(self, error: Exception, fresh: bool) -> TransportError:
        if isinstance(error, TimeoutError):
            return TransportError("TIMEOUT", f"no complete reply within {self._timeout:g} s")
        if isinstance(error, http.client.RemoteDisconnected):
            if self._proxy is not None and self._target.scheme == "http":
                return TransportError("PROXY_ERROR", "the proxy closed the connection without "
                                      "answering", proxy_variable=self._proxy.variable)
            what = "the new connection" if fresh else "the kept-alive connection"
            return TransportError("NETWORK", f"the server closed {what} without answering")
        if isinstance(error, http.client.IncompleteRead):
            return TransportError("NETWORK", "the reply was cut short")
        if isinstance(error, (http.client.BadStatusLine, http.client.UnknownProtocol)):
            return TransportError("BAD_REPLY", "the reply was not HTTP")
        if isinstance(error, (http.client.HTTPException, ValueError)):
            # Its text may quote the server: only its kind is shown.
            return TransportError("BAD_REPLY", f"malformed reply ({type(error).__name__})")
        what = "TLS connection" if isinstance(error, ssl.SSLError) else "connection"
        return TransportError("NETWORK", f"the {what} failed ({_reason(error)})")

    def _open(self, deadline: float) -> _Link:
        link = _Link(self._connect(self._addresses(deadline), deadline), deadline)
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

    def _addresses(self, deadline: float) -> list[Any]:
        """The server's (or proxy's) addresses, looked up once per Connection: a lookup
        still running when a request gives up is waited for by the next one."""
        proxy = self._proxy
        host, port = (proxy.host, proxy.port) if proxy else (self._target.host, self._target.port)
        if self._lookup is None:  # now, not at import: a patched getaddrinfo is used
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

    def _connect(self, addresses: list[Any], deadline: float) -> socket.socket:
        proxy = self._proxy
        last: OSError | None = None
        for index, (family, kind, proto, _, sockaddr) in enumerate(addresses):
            # An equal share of the time left: a dead address (broken IPv6 beside a
            # working IPv4) cannot use it all.
            share = (deadline - time.monotonic()) / (len(addresses) - index)
            try:
                return _connect_one(family, kind, proto, sockaddr, time.monotonic() + share)
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
                      else f"could not connect to the proxy ({_reason(last)})")
            raise TransportError("PROXY_UNREACHABLE", detail, proxy_variable=proxy.variable)
        if refused:
            raise TransportError("CONNECTION_REFUSED", "the server refused the connection")
        raise TransportError("NETWORK", f"could not connect ({_reason(last)})")

    def _tunnel(self, link: _Link, proxy: _Proxy) -> None:
        hostport = self._target.hostport

        def failed(errorcode: str, detail: str) -> TransportError:
            return TransportError(errorcode, detail, proxy_variable=proxy.variable)

        try:
            link.send_all(_Payload(_head(f"CONNECT {hostport} HTTP/1.1",
                                         [("Host", hostport), *proxy.greeting])))
            # Read one byte at a time: what follows the answer is the server's TLS.
            reader = _Reader(link, _HEADER_CAP, "the proxy's answer is over 64 KiB")
            response = _final_response(_Buffer(reader, 1), "CONNECT")
        except (_ClosedBeforeSend, http.client.RemoteDisconnected):
            raise failed("PROXY_ERROR", "the proxy closed the connection without answering"
                         ) from None
        except TransportError as error:  # over the size cap
            raise failed("PROXY_ERROR", error.detail) from None
        except TimeoutError:
            raise failed("TIMEOUT", "the proxy did not answer in time") from None
        except (http.client.HTTPException, ValueError):
            raise failed("PROXY_ERROR", "the proxy's answer was not HTTP") from None
        except OSError as error:
            raise failed("PROXY_ERROR", f"the proxy connection failed ({_reason(error)})"
                         ) from None
        if response.status == 407:
            raise failed("PROXY_AUTH", proxy.auth_detail())
        if not 200 <= response.status < 300:
            raise failed("PROXY_ERROR", f"the proxy refused the tunnel (HTTP {response.status})")

    def _start_tls(self, link: _Link) -> None:
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context()
        try:
            link.start_tls(self._tls_context, self._target.host)
        except TimeoutError:
            raise TransportError("TIMEOUT", "the TLS handshake timed out") from None
        except ssl.SSLCertVerificationError as error:
            detail = error.verify_message or "certificate verify failed"
            raise TransportError("TLS", f"certificate not accepted: {detail}") from None
        except OSError as error:
            closed = isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError))
            if self._proxy is not None:  # it agreed to the tunnel, then closed it or sent no TLS
                detail = ("the proxy closed the tunnel to the server before TLS was set up"
                          if closed else f"TLS through the proxy's tunnel failed "
                          f"({_reason(error)})")
                raise TransportError("PROXY_ERROR", detail,
                                     proxy_variable=self._proxy.variable) from None
            if isinstance(error, ssl.SSLError):
                detail = ("the server closed the connection during the TLS handshake" if closed
                          else f"TLS handshake failed ({_reason(error)})")
                raise TransportError("TLS", detail) from None
            raise TransportError("NETWORK", "the connection failed during the TLS handshake "
                                 f"({_reason(error)})") from None


def _final_response(buffered: _Buffer, method: str) -> http.client.HTTPResponse:
    """The first reply that is not a 1xx interim one (RFC 9110 15.2), its headers read."""
    while True:
        response = http.client.HTTPResponse(cast(socket.socket, buffered), method=method)
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


def _head(line: str, headers: Sequence[tuple[str, Credential]]) -> bytes:
    return "".join([line, "\r\n", *(f"{name}: {plain(value)}\r\n" for name, value in headers),
                    "\r\n"]).encode("latin-1")


def _check_header(name: object, value: object) -> None:
    # The value is never quoted, nor kept revealed in a local a tracker would record.
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise TransportError("INVALID_REQUEST", "a header name is not a valid HTTP token")
    if name.lower() in _RESERVED:
        raise TransportError("INVALID_REQUEST", f"header {name} is set by the connection itself")
    if not isinstance(value, (str, Hidden)):
        raise TransportError("INVALID_REQUEST", f"header {name} is not text")
    if CONTROL.search(plain(value)) is not None:
        raise TransportError("INVALID_REQUEST", f"header {name} has a control character")
    if not plain(value).isascii() and max(plain(value)) > "\xff":
        raise TransportError("INVALID_REQUEST", f"header {name} has a character beyond latin-1")


def _reason(error: Exception) -> str:
    """OpenSSL's or the operating system's words for an error, never the server's."""
    if isinstance(error, ssl.SSLError):
        return error.reason if isinstance(error.reason, str) else type(error).__name__
    if not isinstance(error, OSError):
        return type(error).__name__
    if error.strerror and not error.strerror.startswith("Unknown error"):
        return error.strerror
    if error.errno is not None:
        return errno.errorcode.get(error.errno, f"error {error.errno}")
    return type(error).__name__


def _slice(deadline: float) -> float:
    """How long the next blocking call may wait; TimeoutError once ``deadline`` has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline reached")
    return min(left, _SLICE)


class _ClosedBeforeSend(Exception):
    """The first write found the connection closed: nothing reached the server."""


class _Lookup(threading.Thread):
    """One name lookup on a daemon thread: ``getaddrinfo`` has no timeout and cannot be
    stopped, and a daemon never keeps the process alive."""

    def __init__(self, resolve: Resolver, host: str, port: int) -> None:
        super().__init__(name="angel-totp-lookup", daemon=True)
        self._query = (resolve, host, port)
        self._result: list[Any] | Exception = []
        self.start()

    def run(self) -> None:
        resolve, host, port = self._query
        try:
            self._result = list(resolve(host, port, 0, socket.SOCK_STREAM))
        except Exception as error:  # handed to the waiting request
            self._result = error

    def wait(self, deadline: float) -> list[Any]:
        while self.is_alive():
            self.join(_slice(deadline))  # Ctrl-C gets through between slices
        if isinstance(self._result, Exception):
            raise self._result
        return self._result


def _connect_one(family: int, kind: int, proto: int, sockaddr: Any,
                 deadline: float) -> socket.socket:
    """Connect without blocking, waiting in slices (a plain connect() cannot be resumed)."""
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        code = sock.connect_ex(sockaddr)
        if code in _IN_PROGRESS:
            with selectors.DefaultSelector() as selector:
                # Windows reports a failed connect as "exceptional", which selectors
                # folds into writable.
                selector.register(sock, selectors.EVENT_WRITE)
                while not selector.select(_slice(deadline)):
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


def _check_step(link: _Link, stray: Callable[[], bool], sent: bool = True) -> None:
    # Bytes nobody asked for (``stray()``) after a connection's second reply or later:
    # that reply may itself have been a stray, its real answer behind it, so every answer
    # since the first is suspect. After the first reply they are only a server's excess.
    if link.replies > 1 and stray():
        raise TransportError("BAD_REPLY", "the server sent more than one reply to a "
                             "request, so the replies cannot be told apart", sent=sent)


class _Link:
    """One open connection and the deadline of the request using it: every blocking call
    goes through here and waits at most one slice."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.replies = 0               # replies read here: 0 means a fresh connection
        self.may_have_sent = False     # for the current request
        self.stray = False             # quiet() found bytes nobody asked for

    def send_all(self, payload: _Payload) -> None:
        """Write all of it; _ClosedBeforeSend if the first write finds the peer gone."""
        self.may_have_sent = False
        view = memoryview(payload.data)
        while view:
            self.sock.settimeout(_slice(self.deadline))
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
                self.sock.settimeout(_slice(self.deadline))
            else:
                self.sock.setblocking(False)
            try:
                count = self.sock.recv_into(buffer)
            except TimeoutError:
                continue  # a slice ended; _slice() raises once the deadline has
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return None  # only without waiting: e.g. a TLS 1.3 session ticket
            if _QUICKACK is not None:
                # Acknowledge what was read now, not up to 40 ms later: a server that
                # writes a reply's headers and body apart waits for that ACK.
                try:
                    self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                except OSError:
                    pass
            return count

    def start_tls(self, context: ssl.SSLContext, host: str) -> None:
        tls = context.wrap_socket(self.sock, server_hostname=host, do_handshake_on_connect=False)
        self.sock = tls
        while True:
            tls.settimeout(_slice(self.deadline))
            try:
                tls.do_handshake()
                return
            except TimeoutError:
                continue  # OpenSSL resumes the handshake where it stopped

    def quiet(self) -> bool:
        """Whether an idle kept-alive connection is still usable, checked without waiting:
        not when closed, reset, or holding bytes (a TLS 1.3 session ticket is no data)."""
        try:
            got = self.recv_into(memoryview(bytearray(1)), wait=False)
        except (OSError, ValueError):
            return False
        self.stray = got == 1  # bytes, not an end of file
        return got is None

    def closes_within(self, seconds: float) -> bool:
        """Whether the stream ends, or nothing comes, before a byte does."""
        self.deadline = min(self.deadline, time.monotonic() + seconds)
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
    """Raw bytes from a link for http.client's parser, at most ``budget`` of them (beyond:
    BAD_REPLY saying ``over``). Once not ``waiting`` (the reply is complete), a read
    returns only what has already come, so that stray bytes can be looked for."""

    def __init__(self, link: _Link, budget: int, over: str) -> None:
        super().__init__()
        self._link = link
        self.waiting = True
        self.budget = budget
        self.over = over

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        if not self.waiting:
            try:
                return self._link.recv_into(memoryview(buffer).cast("B")[:1], wait=False)
            except OSError:
                return 0  # gone: the next request finds out, nothing stray came
        if self.budget <= 0:
            raise TransportError("BAD_REPLY", self.over, sent=True)
        count = self._link.recv_into(memoryview(buffer).cast("B")[: self.budget])
        assert count is not None
        self.budget -= count
        return count


class _Buffer(io.BufferedReader):
    """A reply's bytes, as http.client reads them from a socket's file; its close() after
    each reply leaves what it had read ahead readable."""

    def makefile(self, *args: object) -> _Buffer:
        return self

    def close(self) -> None:
        pass


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
        default_port = 443 if self.scheme == "https" else 80
        self.port = parts.port or default_port
        self.prefix = parts.path  # check_base_url took off the trailing slash
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.hostport = f"{host}:{self.port}"
        # Host leaves out the scheme's own port, as browsers and http.client do.
        self.host_header = host if self.port == default_port else self.hostport


class _Proxy:
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
            # No TLS to the proxy itself; plain http would send Proxy-Authorization in
            # clear to a proxy that expects TLS.
            raise unusable("an https:// proxy is not supported; give the proxy's http:// "
                           "address if it has one")
        if parts.scheme.lower() != "http":
            raise unusable("only http:// proxies are supported")
        if not parts.hostname or CONTROL.search(url) or " " in url:
            raise unusable("it has no host, or a space or control character")
        self.host = parts.hostname
        self.port = port or 80
        self.password = Hidden(unquote(parts.password or ""))
        self.greeting: list[tuple[str, Credential]] = []  # Proxy-Authorization, if any
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{self.password.reveal()}".encode()
            basic = Hidden("Basic " + base64.b64encode(pair).decode("ascii"))
            self.greeting.append(("Proxy-Authorization", basic))

    def auth_detail(self) -> str:
        if self.greeting:
            return "the proxy refused its credentials (HTTP 407)"
        return "the proxy wants credentials (HTTP 407)"


def _choose_proxy(target: _Target, environ: Mapping[str, str]) -> _Proxy | None:
    """The proxy for ``target`` by urllib's rules (NO_PROXY by its own), or None."""
    chosen = _proxy_variable(environ, target.scheme)
    no_proxy = _proxy_variable(environ, "no")
    if chosen is None or no_proxy and proxy_bypass_environment(target.hostport,
                                                               {"no": no_proxy[1]}):
        return None
    return _Proxy(*chosen)


def _proxy_variable(environ: Mapping[str, str], scheme: str) -> tuple[str, str] | None:
    """(name, value) of the variable urllib's ``getproxies_environment()`` takes for
    ``scheme`` (it reads only os.environ, and does not say which): any case counts, an
    all-lower-case one wins, and when empty turns the proxy off. A CGI script ignores
    HTTP_PROXY, which a request header may set ("httpoxy"). Anything but text is empty."""
    wanted = scheme + "_proxy"
    chosen: tuple[str, str] | None = None
    for name, value in environ.items():
        if name.lower() == wanted and isinstance(value, str) and value:
            chosen = (name, value.strip())
    if scheme == "http" and "REQUEST_METHOD" in environ:
        chosen = None
    for name, value in environ.items():
        if name.endswith("_proxy") and name.lower() == wanted:
            chosen = (name, value.strip()) if isinstance(value, str) and value else None
    return chosen

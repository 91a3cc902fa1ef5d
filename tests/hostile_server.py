"""A scriptable server on 127.0.0.1 that misbehaves on purpose, for client tests.

It speaks just enough HTTP/1.1 (optionally over TLS with the stand-in
certificate, tests/data/standin-cert.pem) to answer, or to fail to answer,
in the ways a real network does: trickling a reply one byte at a time,
never speaking, closing at once, sending too much or sending garbage, and,
as an HTTP proxy, asking for credentials, refusing, trickling or tunnelling.

Usage::

    with HostileServer("json") as server:            # every request: a JSON reply
        server.queue("json_close", "trickle_head")   # then these, one per event
        ... connect to server.url ...
        server.received[0].headers                   # exactly as sent: case, order
        server.connections                           # how many were accepted

A *mode* says what happens. Connection modes act as soon as a connection is
accepted; request modes act on each request read. ``queue(...)`` lines up
modes for the next events: a queued connection mode is used by the next
connection, a queued request mode by the next request (on any connection).
When the queue has nothing of the right kind, ``mode`` (the default, which
may be changed at any time) is used, and for requests, when ``mode`` is a
connection mode, ``"json"``.

Connection modes:
    ``silent``        accept, never read or write (with TLS: no handshake)
    ``close``         close at once (with TLS: before the handshake)
    ``reset``         reset (RST) at once
    ``banner``        send bytes that are not HTTP nor TLS (``GARBAGE``) at once, then wait
    ``slow_tls``      wait ``slow_seconds`` before the TLS handshake, then serve
    ``proxy_tunnel``  be an HTTP proxy: CONNECT to 127.0.0.1 or localhost is
                      tunnelled; an absolute-form request is answered as ``json``
    ``proxy_407``     be a proxy that wants credentials (407)
    ``proxy_502``     be a proxy that cannot reach the server (502)
    ``proxy_trickle`` be a proxy that trickles its "200 Connection established"
    ``proxy_interim``  be a tunnelling proxy that sends a 1xx interim reply before its 200
    ``proxy_connect_close`` be a proxy that answers CONNECT with 200, then closes

Request modes:
    ``json``               200, JSON body, Date header, kept alive
    ``json_close``         the same with ``Connection: close``, then close
    ``json_then_close``    kept alive, then closed ``idle_close_after`` s later
    ``json_then_reset``    kept alive, then reset ``idle_close_after`` s later
    ``http10``             an HTTP/1.0 reply whose body runs to the close
    ``chunked``            a chunked reply
    ``redirect``           302 to another path
    ``slow``               wait ``slow_seconds``, then ``json``
    ``trickle_head``       status line and headers, ``trickle_bytes`` per ``trickle_interval``
    ``trickle_body``       a Content-Length body, trickled
    ``trickle_chunked``    a chunked body, trickled
    ``hang``               read the request, never answer
    ``close_after_request`` read the request, close without answering
    ``big``                a Content-Length body of ``big_bytes``
    ``big_chunked``        a chunked body of ``big_bytes``
    ``huge_headers``       more than 64 KiB of headers (each line short)
    ``garbage``            bytes that are not HTTP (they contain ``GARBAGE``), then close
    ``early_hints``        ``103 Early Hints`` and ``102 Processing``, then ``json``
    ``json_then_stray``    ``json``, then ``stray_after`` s later a second, forged reply
                           (``FORGED_BODY``); ``strayed`` is set once it is sent
    ``forged_first``       a forged reply and then the ``json`` one, in one write: what
                           a client that reads the forged one as its answer gets wrong

Knobs (keywords of the constructor, and attributes that may be changed):
``tls`` (HTTPS with the stand-in certificate; set before start), ``trickle_bytes`` and
``trickle_interval`` (default 1 byte every 0.05 s), ``slow_seconds`` (0.6),
``idle_close_after`` (0.1), ``stray_after`` (0.05), ``big_bytes`` (1 MiB + 1), ``status`` and
``body`` (of the ``json`` replies), ``lifetime`` (60 s).

Every loop is bounded: the server stops by itself after ``lifetime``
seconds, and every thread is a daemon. What it received is in ``received``
(one :class:`Received` per request, CONNECTs included); ``sni`` lists the
TLS server names clients asked for.
"""

from __future__ import annotations

import email.utils
import json
import socket
import ssl
import struct
import sys
import threading
import time
from pathlib import Path

DATA = Path(__file__).parent / "data"
CERT, KEY = DATA / "standin-cert.pem", DATA / "standin-key.pem"
GARBAGE = b"SSH-2.0-OpenSSH_9.6 LEAKED-GARBAGE-7f3a\r\n"
JSON_BODY = json.dumps({"status": True, "message": "SUCCESS", "errorcode": "",
                        "data": {"ok": True}}).encode()
FORGED_BODY = json.dumps({"status": True, "message": "SUCCESS", "errorcode": "",
                          "data": {"name": "FORGED", "clientcode": "A123456",
                                   "jwtToken": "eyJGORGED.x.y"}}).encode()
# Names tests resolve to 127.0.0.1 that do not look like this machine (so
# that proxies apply); the stand-in certificate is valid for it.
NAMED_HOST = "angel.test"

CONNECTION_MODES = frozenset({"silent", "close", "reset", "banner", "slow_tls", "proxy_tunnel",
                              "proxy_407", "proxy_502", "proxy_trickle", "proxy_interim",
                              "proxy_connect_close"})
REQUEST_MODES = frozenset({
    "json", "json_close", "json_then_close", "json_then_reset", "http10", "chunked",
    "redirect", "slow", "trickle_head", "trickle_body", "trickle_chunked", "hang",
    "close_after_request", "big", "big_chunked", "huge_headers", "garbage", "early_hints",
    "json_then_stray", "forged_first"})
_STEP = 0.1  # how often a waiting thread looks at the stop flag


class Received:
    """One request as the server read it: header names in their case and order."""

    def __init__(self, connection: int, request_line: str, headers: list[tuple[str, str]],
                 body: bytes):
        self.connection = connection    # 0 for the first connection accepted, 1...
        self.request_line = request_line
        self.headers = headers
        self.body = body

    @property
    def method(self) -> str:
        return self.request_line.split(" ", 1)[0]

    @property
    def asks_close(self) -> bool:
        return any(name.lower() == "connection" and value.strip().lower() == "close"
                   for name, value in self.headers)

    @property
    def target(self) -> str:
        return self.request_line.split(" ")[1]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def __repr__(self) -> str:
        return f"<Received #{self.connection} {self.request_line!r}>"


class _Closed(Exception):
    """The client went away, or the server is stopping."""


class HostileServer:
    def __init__(self, mode: str = "json", *, tls: bool = False, trickle_bytes: int = 1,
                 trickle_interval: float = 0.05, slow_seconds: float = 0.6,
                 idle_close_after: float = 0.1, stray_after: float = 0.05,
                 big_bytes: int = (1 << 20) + 1,
                 status: int = 200, body: bytes = JSON_BODY, lifetime: float = 60.0):
        self._check(mode)
        self.mode = mode
        self.tls = tls
        self.trickle_bytes = trickle_bytes
        self.trickle_interval = trickle_interval
        self.slow_seconds = slow_seconds
        self.idle_close_after = idle_close_after
        self.stray_after = stray_after
        self.strayed = threading.Event()
        self.closed = threading.Event()  # set once the server has closed a connection
        self.big_bytes = big_bytes
        self.status = status
        self.body = body
        self.lifetime = lifetime
        self.received: list[Received] = []
        self.sni: list[str | None] = []
        self.connections = 0
        self._queue: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._context: ssl.SSLContext | None = None
        self._started = 0.0

    # Life cycle.

    def start(self) -> HostileServer:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_STEP)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(CERT, KEY)
            context.sni_callback = self._note_sni
            self._context = context
        self._started = time.monotonic()
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection and wait (briefly) for the threads."""
        self._stopping.set()
        if self._listener is not None:
            _quietly_close(self._listener)  # wakes accept()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _quietly_close(sock)
        for thread in list(self._threads):
            thread.join(2)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        assert self._listener is not None, "start() the server first"
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def named_url(self) -> str:
        """The URL by a name that is not this machine's (resolve NAMED_HOST to 127.0.0.1)."""
        return f"{'https' if self.tls else 'http'}://{NAMED_HOST}:{self.port}"

    @property
    def proxy_url(self) -> str:
        """This server's address as a proxy setting (HTTPS_PROXY=...)."""
        return f"http://127.0.0.1:{self.port}"

    def queue(self, *modes: str) -> None:
        """Line up modes for the next connections / requests, in order."""
        for mode in modes:
            self._check(mode)
        with self._lock:
            self._queue.extend(modes)

    # Choosing what to do.

    @staticmethod
    def _check(mode: str) -> None:
        if mode not in CONNECTION_MODES and mode not in REQUEST_MODES:
            raise ValueError(f"unknown mode {mode!r}")

    def _take(self, kinds: frozenset[str]) -> str | None:
        with self._lock:
            for index, mode in enumerate(self._queue):
                if mode in kinds:
                    return self._queue.pop(index)
        return self.mode if self.mode in kinds else None

    def _note_sni(self, ssl_object: ssl.SSLObject, name: str | None,
                  context: ssl.SSLContext) -> None:
        self.sni.append(name)

    # Threads.

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _running(self) -> bool:
        return (not self._stopping.is_set()
                and time.monotonic() - self._started < self.lifetime)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while self._running():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                index = self.connections
                self.connections += 1
                self._sockets.add(client)
            self._spawn(self._serve, client, index)

    def _wait(self, seconds: float) -> None:
        """Sleep, but raise _Closed as soon as the server stops."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not self._running():
                raise _Closed()
            self._stopping.wait(min(_STEP, max(0.0, end - time.monotonic())))

    def _serve(self, sock: socket.socket, index: int) -> None:
        try:
            mode = self._take(CONNECTION_MODES)
            if mode == "silent":
                self._wait(self.lifetime)
            elif mode == "close":
                return
            elif mode == "reset":
                _reset(sock)
            elif mode == "banner":
                sock.sendall(GARBAGE)
                self._wait(self.lifetime)
            elif mode is not None and mode.startswith("proxy_"):
                self._be_proxy(sock, index, mode)
            else:
                if mode == "slow_tls":
                    self._wait(self.slow_seconds)
                if self._context is not None:
                    sock = self._handshake(sock)
                self._serve_requests(_Stream(sock, self), index)
        except (_Closed, OSError, ValueError):
            pass
        finally:
            _quietly_close(sock)
            self.closed.set()
            with self._lock:
                self._sockets.discard(sock)

    def _handshake(self, sock: socket.socket) -> socket.socket:
        assert self._context is not None
        tls = self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._lock:
            self._sockets.add(tls)
        tls.settimeout(_STEP)
        while True:
            try:
                tls.do_handshake()
                return tls
            except TimeoutError:
                if not self._running():
                    raise _Closed() from None

    # HTTP.

    def _serve_requests(self, stream: _Stream, index: int) -> None:
        for _ in range(1000):  # bounded, like everything here
            request = stream.read_request(index)
            if request is None:
                return
            self._record(request)
            mode = self._take(REQUEST_MODES) or "json"
            if not self._answer(stream.sock, mode) or request.asks_close:
                return  # a server must close after answering "Connection: close

    def _record(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)

    def _answer(self, sock: socket.socket, mode: str) -> bool:
        """Answer one request in ``mode``; False when the connection is done."""
        sock.settimeout(5)  # writes may wait for a slow reader; stop() wakes them
        body = self.body
        if mode == "slow":
            self._wait(self.slow_seconds)
            mode = "json"
        if mode in ("json", "json_then_close", "json_then_reset"):
            sock.sendall(self._head(self.status, len(body)) + body)
            if mode == "json":
                return True
            self._wait(self.idle_close_after)
            if mode == "json_then_reset":
                _reset(sock)
            return False
        if mode == "json_close":
            sock.sendall(self._head(self.status, len(body), ["Connection: close"]) + body)
            return False
        if mode == "http10":
            sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
                         + self._date() + b"\r\n" + body)
            return False
        if mode == "chunked":
            sock.sendall(self._chunked_head() + _chunked(body, 7))
            return True
        if mode == "redirect":
            sock.sendall(self._head(302, len(body), ["Location: /elsewhere"]) + body)
            return True
        if mode == "trickle_head":
            self._trickle(sock, self._head(200, len(body)) + body)
            return True
        if mode == "trickle_body":
            sock.sendall(self._head(200, len(body) * 10))
            self._trickle(sock, body * 10)
            return True
        if mode == "trickle_chunked":
            sock.sendall(self._chunked_head())
            self._trickle(sock, _chunked(body * 10, 5))
            return True
        if mode == "hang":
            self._wait(self.lifetime)
            return False
        if mode == "close_after_request":
            return False
        if mode == "big":
            sock.sendall(self._head(200, self.big_bytes))
            _send_filler(sock, self.big_bytes)
            return True
        if mode == "big_chunked":
            sock.sendall(self._chunked_head())
            _send_filler(sock, self.big_bytes, chunked=True)
            return True
        if mode == "huge_headers":
            extra = [f"X-Filler-{i}: {'f' * 4000}" for i in range(20)]
            sock.sendall(self._head(200, len(body), extra) + body)
            return True
        if mode == "garbage":
            sock.sendall(GARBAGE * 3)
            return False
        if mode == "early_hints":
            sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                         b"HTTP/1.1 102 Processing\r\n\r\n")
            sock.sendall(self._head(self.status, len(body)) + body)
            return True
        if mode == "json_then_stray":
            sock.sendall(self._head(self.status, len(body)) + body)
            self._wait(self.stray_after)
            sock.sendall(self._head(200, len(FORGED_BODY)) + FORGED_BODY)
            self.strayed.set()
            return True
        if mode == "forged_first":
            sock.sendall(self._head(200, len(FORGED_BODY)) + FORGED_BODY
                         + self._head(self.status, len(body)) + body)
            return True
        raise ValueError(mode)

    def _date(self) -> bytes:
        return f"Date: {email.utils.formatdate(usegmt=True)}\r\n".encode()

    def _head(self, status: int, length: int, extra: list[str] | None = None) -> bytes:
        reason = {200: "OK", 302: "Found", 407: "Proxy Authentication Required",
                  502: "Bad Gateway"}.get(status, "Whatever")
        lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
                 f"Content-Length: {length}", *(extra or [])]
        return ("\r\n".join(lines) + "\r\n").encode() + self._date() + b"\r\n"

    def _chunked_head(self) -> bytes:
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n" + self._date() + b"\r\n")

    def _trickle(self, sock: socket.socket, data: bytes) -> None:
        for start in range(0, len(data), self.trickle_bytes):
            sock.sendall(data[start:start + self.trickle_bytes])
            self._wait(self.trickle_interval)

    # Proxy.

    def _be_proxy(self, sock: socket.socket, index: int, mode: str) -> None:
        stream = _Stream(sock, self)
        request = stream.read_request(index)
        if request is None:
            return
        self._record(request)
        if mode == "proxy_407":
            sock.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                         b"Proxy-Authenticate: Basic realm=\"hostile\"\r\n"
                         b"Content-Length: 14\r\n\r\nGARBAGE-407-XX")
            self._wait(0.5)
        elif mode == "proxy_502":
            sock.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 14\r\n\r\nGARBAGE-502-XX")
            self._wait(0.5)
        elif mode == "proxy_trickle":
            self._trickle(sock, b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._wait(self.lifetime)
        elif mode == "proxy_connect_close":
            sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        elif mode == "proxy_interim" and request.method == "CONNECT":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
                         b"Link: </x>\r\n\r\n")
            self._tunnel(sock, request.target)
        elif request.method != "CONNECT":
            self._answer(sock, "json_close")  # absolute form: answer as the server would
        else:
            self._tunnel(sock, request.target)

    def _tunnel(self, client: socket.socket, target: str) -> None:
        host, _, port = target.rpartition(":")
        if host not in ("127.0.0.1", "localhost", NAMED_HOST):  # never anywhere but here
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=2)
        with self._lock:
            self._sockets.add(upstream)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._spawn(self._pump, upstream, client)
        self._pump(client, upstream)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(_STEP)
        try:
            while self._running():
                try:
                    data = source.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _quietly_close(sink)
            _quietly_close(source)


class _Stream:
    """Reads requests from one connection, giving up when the server stops."""

    def __init__(self, sock: socket.socket, server: HostileServer):
        self.sock = sock
        self.server = server
        self.buffer = b""
        sock.settimeout(_STEP)

    def _more(self) -> bool:
        self.sock.settimeout(_STEP)
        while self.server._running():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return False
            self.buffer += data
            return True
        raise _Closed()

    def read_request(self, index: int) -> Received | None:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > 4 << 20 or not self._more():  # room for a 1M-char token
                return None
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        request = Received(index, lines[0], headers, b"")
        length = int(request.header("Content-Length") or 0)
        while len(self.buffer) < length:
            if not self._more():
                return None
        request.body, self.buffer = self.buffer[:length], self.buffer[length:]
        return request


def _chunked(data: bytes, size: int) -> bytes:
    out = b""
    for start in range(0, len(data), size):
        piece = data[start:start + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def _send_filler(sock: socket.socket, count: int, chunked: bool = False) -> None:
    block = b"x" * 65536
    sent = 0
    while sent < count:
        piece = block[:count - sent]
        sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
        sent += len(piece)
    if chunked:
        sock.sendall(b"0\r\n\r\n")


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (RST) instead of a clean FIN."""
    linger = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    sock.close()


def _quietly_close(sock: socket.socket) -> None:
    """Close, waking any thread blocked on the socket first."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass

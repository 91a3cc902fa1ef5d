"""The HTTP client (angel_totp.connection) against a server that misbehaves.

In-process, 127.0.0.1 only: names are looked up by fake resolvers, never
by DNS. Every test bounds its own time; a timeout is 0.5 s unless the test
needs more, so that the whole file takes a few seconds.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time

import pytest
from conftest import Stopwatch
from hostile_server import CERT, GARBAGE

from angel_totp import connection as connection_module
from angel_totp.connection import Connection, HttpReply, TransportError

TIMEOUT = 0.5
BOUND = TIMEOUT + 0.5  # a verdict must come within this
API_KEY = "kQ7pZ2mXw9-SECRETKEY"
TOKEN = "eyJhbGciOi.SECRETTOKEN.sig"
PROXY_PASSWORD = "pr0xy-SECRETPW"
SECRETS = (API_KEY, TOKEN, PROXY_PASSWORD, "SECRETKEY", "SECRETTOKEN", "SECRETPW")
HEADERS = [("Content-Type", "application/json"), ("Accept", "application/json"),
           ("X-UserType", "USER"), ("X-SourceID", "WEB"), ("X-ClientLocalIP", "127.0.0.1"),
           ("X-ClientPublicIP", "127.0.0.1"), ("X-MACAddress", "aa:bb:cc:dd:ee:ff"),
           ("X-PrivateKey", API_KEY), ("Authorization", f"Bearer {TOKEN}"),
           ("User-Agent", "angel-totp/test")]
LOGIN = "/rest/auth/angelbroking/user/v1/loginByPassword"
BODY = json.dumps({"clientcode": "A123456", "password": "908172", "totp": "123456"}).encode()


# Helpers.

def resolver(names: dict[str, str] | None = None, calls: list[str] | None = None):
    """A getaddrinfo stand-in: 127.0.0.1 and localhost (plus ``names``), else not found."""
    table = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", **(names or {})}

    def resolve(host, port, family=0, kind=0, *rest):
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]
    return resolve


class HangingResolver:
    """A name lookup that never returns (until the test ends)."""

    def __init__(self):
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        self.release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "released")


@pytest.fixture
def hanging():
    resolve = HangingResolver()
    yield resolve
    resolve.release.set()


def trusting() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(CERT))


def client(url: str, *, timeout: float = TIMEOUT, environ: dict | None = None,
           resolve=None, **options) -> Connection:
    if url.startswith("https") and "tls_context" not in options:
        options["tls_context"] = trusting()
    return Connection(url, timeout=timeout, environ=environ if environ is not None else {},
                      resolve=resolve or resolver(), **options)


def fails(call, errorcode: str, bound: float = BOUND) -> TransportError:
    """Run call(); it must raise TransportError(errorcode) within ``bound`` s, leaking nothing."""
    watch = Stopwatch()
    with pytest.raises(TransportError) as caught:
        call()
    elapsed = watch.seconds
    error = caught.value
    assert error.errorcode == errorcode, (error.errorcode, error.detail)
    assert elapsed < bound, f"took {elapsed:.2f} s"
    assert_safe(error)
    return error


def assert_safe(error: TransportError) -> None:
    shown = " ".join([str(error), repr(error), error.detail, error.message, repr(error.args)])
    for secret in SECRETS:
        assert secret not in shown, "a credential appeared in an error"
    assert GARBAGE.decode().strip() not in shown and "GARBAGE" not in shown


def login(conn: Connection) -> HttpReply:
    return conn.request("POST", LOGIN, HEADERS, BODY)


# What is sent, and what comes back.

def test_headers_are_sent_in_the_given_case_and_order(serve):
    server = serve()
    with client(server.url) as conn:
        reply = login(conn)
    assert reply.status == 200
    [seen] = server.received
    assert seen.request_line == f"POST {LOGIN} HTTP/1.1"
    assert seen.headers == [("Host", f"127.0.0.1:{server.port}"), *HEADERS,
                            ("Content-Length", str(len(BODY)))]
    assert seen.header("Accept-Encoding") is None
    assert seen.body == BODY


def test_host_leaves_out_the_default_port_and_bodies_get_a_length(serve):
    server = serve()
    with client(server.url) as conn:
        conn.request("GET", "/a", [("User-Agent", "t")])
        conn.request("POST", "/b", [("User-Agent", "t")])
    get, post = server.received
    assert get.header("Content-Length") is None
    assert post.header("Content-Length") == "0"
    assert connection_module._Target("https://example.test:443/p").host_header == "example.test"
    assert connection_module._Target("http://[::1]:80").host_header == "[::1]"
    assert connection_module._Target("http://[::1]:8080").host_header == "[::1]:8080"


def test_reply_fields(serve):
    server = serve()
    with client(server.url) as conn:
        before = time.time()
        reply = login(conn)
        after = time.time()
    assert (reply.status, reply.reason) == (200, "OK")
    assert json.loads(reply.body)["status"] is True
    assert reply.header("content-type") == reply.header("CONTENT-TYPE") == "application/json"
    assert reply.header("X-Missing") is None
    assert ("Content-Type", "application/json") in reply.headers
    assert reply.date is not None and reply.date.endswith("GMT")
    assert before <= reply.sent <= reply.received <= after
    assert "SUCCESS" not in repr(reply)


def test_base_path_is_put_in_front_of_request_paths(serve):
    server = serve()
    with client(server.url + "/gateway/v2/") as conn:
        conn.request("GET", "/rest/x", [])
    assert server.received[0].target == "/gateway/v2/rest/x"


def test_redirects_are_replies_not_followed(serve):
    server = serve("redirect")
    with client(server.url) as conn:
        reply = login(conn)
    assert reply.status == 302 and reply.header("Location") == "/elsewhere"
    assert len(server.received) == 1


def test_chunked_and_read_to_close_replies(serve):
    server = serve()
    server.queue("chunked", "http10", "json")
    with client(server.url) as conn:
        chunked = conn.request("GET", "/1", [])
        until_close = conn.request("GET", "/2", [])
        again = conn.request("GET", "/3", [])
        assert chunked.body == until_close.body == again.body == server.body
        assert conn.connections_opened == 2  # the HTTP/1.0 body ended with the connection


# One connection, reused; reopened only when nothing can be sent twice.

@pytest.mark.parametrize("tls", [False, True])
def test_consecutive_requests_share_one_connection(serve, tls):
    server = serve(tls=tls)
    with client(server.url) as conn:
        for _ in range(3):
            assert login(conn).status == 200
        assert conn.connections_opened == 1
    assert server.connections == 1
    assert [seen.connection for seen in server.received] == [0, 0, 0]


def test_connection_close_reply_means_a_new_connection_next_time(serve):
    server = serve()
    server.queue("json_close")
    with client(server.url) as conn:
        login(conn)
        login(conn)
        assert conn.connections_opened == 2
    assert [seen.connection for seen in server.received] == [0, 1]


@pytest.mark.parametrize("mode, tls", [("json_then_close", False), ("json_then_reset", False),
                                       ("json_then_close", True)])
def test_connection_closed_while_idle_is_replaced_before_sending(serve, mode, tls):
    server = serve(idle_close_after=0.05, tls=tls)
    server.queue(mode)
    with client(server.url) as conn:
        login(conn)
        assert server.closed.wait(5)  # the server has closed it meanwhile
        assert login(conn).status == 200
        assert conn.connections_opened == 2
    assert [seen.connection for seen in server.received] == [0, 1]  # each sent once


def test_a_first_write_that_finds_the_connection_gone_is_sent_once_more(serve, monkeypatch):
    # The race where the reset comes after the idle check: nothing was written.
    server = serve(idle_close_after=0.05)
    server.queue("json_then_reset")
    with client(server.url) as conn:
        login(conn)
        assert server.closed.wait(5)
        monkeypatch.setattr(connection_module._Link, "quiet", lambda self: True)
        assert login(conn).status == 200
        assert conn.connections_opened == 2
    assert [seen.connection for seen in server.received] == [0, 1]


def test_a_request_that_was_written_is_never_sent_again(serve):
    server = serve()
    server.queue("json", "close_after_request")
    with client(server.url) as conn:
        login(conn)
        error = fails(lambda: login(conn), "NETWORK")
        assert error.sent is True
        assert conn.connections_opened == 1
    assert len(server.received) == 2  # the second login arrived once, and only once


def test_an_end_of_file_after_writing_is_not_resent(serve, monkeypatch):
    # The server closed while idle but the check missed it: the write went
    # out, so it may have been received, and it is not sent again.
    server = serve(idle_close_after=0.05)
    server.queue("json_then_close")
    with client(server.url) as conn:
        login(conn)
        assert server.closed.wait(5)
        monkeypatch.setattr(connection_module._Link, "quiet", lambda self: True)
        error = fails(lambda: login(conn), "NETWORK")
        assert error.sent is True
        assert conn.connections_opened == 1
    assert len(server.received) == 1


def test_a_server_that_closes_at_once(serve):
    server = serve("close")
    with client(server.url) as conn:
        fails(lambda: login(conn), "NETWORK")


# Checked before anything is sent.

@pytest.mark.parametrize("char", ["\r", "\n", "\r\n", "\x00", "\x1b", "\t", "\x7f", "\x85"])
def test_a_control_character_in_a_header_is_refused_unsent(serve, char):
    server = serve()
    headers = [("User-Agent", "t"), ("X-PrivateKey", API_KEY[:8] + char + API_KEY[8:])]
    with client(server.url) as conn:
        error = fails(lambda: conn.request("POST", LOGIN, headers, BODY), "INVALID_REQUEST")
        assert error.detail == "header X-PrivateKey has a control character"
        assert error.sent is False
        assert conn.connections_opened == 0
    assert server.connections == 0


@pytest.mark.parametrize("headers, detail", [
    ([("X Bad", "v")], "a header name is not a valid HTTP token"),
    ([("X-Key\r\nInjected", "v")], "a header name is not a valid HTTP token"),
    ([("Host", "elsewhere")], "header Host is set by the connection itself"),
    ([("content-length", "5")], "header content-length is set by the connection itself"),
    ([("Authorization", "Bearer \u20acSECRETTOKEN")],
     "header Authorization has a character beyond latin-1"),
])
def test_unsendable_headers_are_refused(serve, headers, detail):
    server = serve()
    with client(server.url) as conn:
        assert fails(lambda: conn.request("GET", "/", headers), "INVALID_REQUEST").detail == detail
    assert server.connections == 0


@pytest.mark.parametrize("method, path", [("GET", "no-slash"), ("GET", "/a b"), ("GET", "/\n"),
                                          ("GE T", "/"), ("", "/"), ("GET", "/caf\u00e9")])
def test_unsendable_request_lines_are_refused(serve, method, path):
    server = serve()
    with client(server.url) as conn:
        fails(lambda: conn.request(method, path, []), "INVALID_REQUEST")
    assert server.connections == 0


@pytest.mark.parametrize("url", ["ftp://example.test", "https://", "not a url", "",
                                 "https://example.test:99999", "https://example.test:x",
                                 "https://user:pr0xy-SECRETPW@example.test", "https://[::1",
                                 "http://example.test/?q=1", "https://example.test/\n/x",
                                 "https://exa mple.test"])
def test_a_garbage_base_url_is_an_invalid_request_not_a_crash(url):
    conn = Connection(url, timeout=TIMEOUT, environ={}, resolve=resolver())
    fails(lambda: conn.request("GET", "/", []), "INVALID_REQUEST")
    fails(conn.local_ipv4, "INVALID_REQUEST")
    assert "SECRETPW" not in repr(conn)
    conn.close()


def test_timeout_must_be_positive():
    with pytest.raises(ValueError):
        Connection("https://example.test", timeout=0)


# One deadline per request, whatever the other side does.

@pytest.mark.parametrize("mode", ["trickle_head", "trickle_body", "trickle_chunked", "hang"])
def test_a_reply_that_trickles_or_never_comes_times_out(serve, mode):
    server = serve(mode, trickle_interval=0.05)
    with client(server.url) as conn:
        start = time.monotonic()
        error = fails(lambda: login(conn), "TIMEOUT", BOUND)
        assert time.monotonic() - start >= TIMEOUT - 0.05  # and not before its time
        assert error.sent is True
        assert conn._link is None  # closed


def test_a_server_that_accepts_and_never_speaks_times_out(serve):
    server = serve("silent")
    with client(server.url) as conn:
        fails(lambda: login(conn), "TIMEOUT")


def test_a_server_that_never_reads_a_large_request_times_out(serve):
    server = serve("silent")
    with client(server.url) as conn:
        error = fails(lambda: conn.request("POST", "/", HEADERS, b"x" * (32 << 20)), "TIMEOUT")
        assert error.sent is True


def test_a_tls_handshake_that_never_completes_times_out(serve):
    server = serve("silent", tls=True)
    with client(server.url) as conn:
        error = fails(lambda: login(conn), "TIMEOUT")
        assert error.detail == "the TLS handshake timed out"
        assert error.sent is False


def test_a_proxy_that_trickles_its_answer_times_out(serve):
    target = serve(tls=True)
    proxy = serve("proxy_trickle", trickle_interval=0.05)
    with client(target.named_url, environ={"HTTPS_PROXY": proxy.proxy_url}) as conn:
        error = fails(lambda: login(conn), "TIMEOUT")
        assert error.proxy_variable == "HTTPS_PROXY" and error.sent is False
    assert target.connections == 0


def test_slow_steps_within_the_deadline_still_succeed(serve):
    # Each wait is cut into slices and resumed: a handshake and a reply that
    # each take longer than one slice must still work.
    server = serve("slow_tls", tls=True, slow_seconds=0.4)
    server.queue("slow")
    with client(server.url, timeout=3) as conn:
        assert login(conn).status == 200
        assert login(conn).status == 200
        assert conn.connections_opened == 1


def test_the_deadline_is_per_request(serve):
    server = serve(slow_seconds=0.2)
    server.queue("slow", "slow", "slow")
    with client(server.url, timeout=0.4) as conn:
        for _ in range(3):  # 0.6 s in all, each within 0.4 s
            assert login(conn).status == 200


# The name is looked up once, within the deadline.

def test_a_lookup_that_never_returns_times_out(hanging):
    with client("https://api.example.test", resolve=hanging) as conn:
        error = fails(lambda: login(conn), "DNS")
        assert error.detail == "name lookup timed out"
        assert error.sent is False
        fails(conn.local_ipv4, "DNS")  # waits for the same lookup again
    assert hanging.calls == 1


def test_the_name_is_looked_up_once_per_connection_object(serve):
    server = serve()
    server.queue("json_close", "json_close")
    calls: list[str] = []
    with client(f"http://localhost:{server.port}", resolve=resolver(calls=calls)) as conn:
        assert conn.local_ipv4() == "127.0.0.1"
        for _ in range(3):
            login(conn)
        assert conn.local_ipv4() == "127.0.0.1"
        assert conn.connections_opened == 3
    assert calls == ["localhost"]


def test_local_ipv4_connects_once_and_the_request_reuses_it(serve):
    server = serve()
    with client(server.url) as conn:
        assert conn.local_ipv4() == "127.0.0.1"
        login(conn)
        assert conn.connections_opened == 1
    assert server.connections == 1


def test_local_ipv4_falls_back_over_ipv6():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback")
    with listener:
        port = listener.getsockname()[1]
        with Connection(f"http://[::1]:{port}", timeout=TIMEOUT, environ={}) as conn:
            assert conn.local_ipv4() == "127.0.0.1"


def test_an_unknown_name_is_a_dns_error():
    with client("https://api.example.test") as conn:
        error = fails(lambda: login(conn), "DNS")
        assert error.detail.startswith("name lookup failed")


def closed_port() -> int:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    return port


def test_a_refused_connection():
    # Windows retries a refused connect for about 2 s: allow for it.
    with client(f"http://127.0.0.1:{closed_port()}", timeout=3) as conn:
        assert fails(lambda: login(conn), "CONNECTION_REFUSED", 3.5).sent is False


# TLS: always verified.

def test_tls_is_verified_and_sends_the_server_name(serve):
    server = serve(tls=True)
    with client(f"https://localhost:{server.port}") as conn:
        assert login(conn).status == 200
    assert server.sni == ["localhost"]


def test_an_untrusted_certificate_is_a_tls_error(serve):
    server = serve(tls=True)
    # No context given: the system's trust store, which does not know the stand-in.
    with Connection(server.url, timeout=TIMEOUT, environ={}, resolve=resolver()) as conn:
        error = fails(lambda: login(conn), "TLS")
        assert "certificate" in error.detail and error.sent is False
    assert server.received == []


def test_a_certificate_for_another_name_is_a_tls_error(serve):
    server = serve(tls=True)
    url = f"https://api.example.test:{server.port}"
    with client(url, resolve=resolver({"api.example.test": "127.0.0.1"})) as conn:
        error = fails(lambda: login(conn), "TLS")
        assert "mismatch" in error.detail.lower() or "not valid" in error.detail
    assert server.received == []


def test_tls_to_a_server_that_does_not_speak_tls_is_a_tls_error(serve):
    server = serve("banner")
    with client(f"https://127.0.0.1:{server.port}") as conn:
        fails(lambda: login(conn), "TLS")


# Proxies from the given environment.

def test_https_through_a_proxy_tunnel_with_credentials(serve):
    target = serve(tls=True)
    proxy = serve("proxy_tunnel")
    environ = {"HTTPS_PROXY": f"http://agent:{PROXY_PASSWORD}%40x@127.0.0.1:{proxy.port}"}
    with client(target.named_url, environ=environ) as conn:
        assert login(conn).status == 200
        assert login(conn).status == 200
        assert conn.connections_opened == 1
        assert PROXY_PASSWORD not in repr(conn)
    [connect] = proxy.received
    assert connect.request_line == f"CONNECT angel.test:{target.port} HTTP/1.1"
    expected = base64.b64encode(f"agent:{PROXY_PASSWORD}@x".encode()).decode()
    assert connect.header("Proxy-Authorization") == f"Basic {expected}"
    assert len(target.received) == 2
    assert all(seen.header("Proxy-Authorization") is None for seen in target.received)


@pytest.mark.parametrize("credentials", ["", f"agent:{PROXY_PASSWORD}@"])
def test_a_proxy_that_wants_credentials(serve, credentials):
    proxy = serve("proxy_407")
    environ = {"HTTPS_PROXY": f"http://{credentials}127.0.0.1:{proxy.port}"}
    with client("https://api.example.test", environ=environ) as conn:
        error = fails(lambda: login(conn), "PROXY_AUTH")
        assert error.proxy_variable == "HTTPS_PROXY" and error.sent is False
        assert ("refused its credentials" in error.detail) == bool(credentials)


def test_a_proxy_that_refuses_the_tunnel(serve):
    proxy = serve("proxy_502")
    with client("https://api.example.test", environ={"https_proxy": proxy.proxy_url}) as conn:
        error = fails(lambda: login(conn), "PROXY_ERROR")
        assert error.proxy_variable == "https_proxy"
        assert error.detail == "the proxy refused the tunnel (HTTP 502)"


def test_a_proxy_whose_name_is_unknown(serve):
    environ = {"HTTPS_PROXY": "http://proxy.example.test:3128"}
    with client("https://api.example.test", environ=environ) as conn:
        error = fails(lambda: login(conn), "PROXY_UNREACHABLE")
        assert error.proxy_variable == "HTTPS_PROXY"


def test_a_proxy_whose_lookup_hangs(hanging):
    environ = {"HTTPS_PROXY": "http://proxy.example.test:3128"}
    with client("https://api.example.test", environ=environ, resolve=hanging) as conn:
        error = fails(lambda: login(conn), "PROXY_UNREACHABLE")
        assert error.detail == "the proxy's name lookup timed out"


def test_a_proxy_that_refuses_connections():
    environ = {"HTTPS_PROXY": f"127.0.0.1:{closed_port()}"}
    with client("https://api.example.test", environ=environ, timeout=3) as conn:
        error = fails(lambda: login(conn), "PROXY_UNREACHABLE", 3.5)
        assert error.detail == "the proxy refused the connection"


@pytest.mark.parametrize("value", ["socks5://127.0.0.1:1080", "http://127.0.0.1:port",
                                   f"http://agent:{PROXY_PASSWORD}@:3128"])
def test_an_unusable_proxy_setting(value):
    with client("https://api.example.test", environ={"HTTPS_PROXY": value}) as conn:
        error = fails(lambda: login(conn), "PROXY_UNREACHABLE")
        assert error.proxy_variable == "HTTPS_PROXY"


def test_the_lower_case_variable_wins_and_an_empty_one_turns_the_proxy_off(serve):
    proxy = serve("proxy_502")
    environ = {"https_proxy": proxy.proxy_url, "HTTPS_PROXY": "http://proxy.example.test:1"}
    with client("https://api.example.test", environ=environ) as conn:
        assert fails(lambda: login(conn), "PROXY_ERROR").proxy_variable == "https_proxy"
    # As urllib reads them: an empty https_proxy is how a user turns HTTPS_PROXY off.
    server = serve(tls=True)
    environ = {"https_proxy": "", "HTTPS_PROXY": proxy.proxy_url}
    with client(server.named_url, environ=environ, resolve=resolver({"angel.test": "127.0.0.1"})
                ) as conn:
        assert login(conn).status == 200


NAMED = {"angel.test": "127.0.0.1"}


def test_no_proxy_and_the_other_scheme_go_direct(serve):
    server = serve(tls=True)
    dead = {"HTTPS_PROXY": "http://proxy.example.test:1"}
    for environ in ({**dead, "NO_PROXY": "example.com, angel.test"},
                    {**dead, "no_proxy": "*"},
                    {"HTTP_PROXY": "http://proxy.example.test:1"}):
        with client(server.named_url, environ=environ, resolve=resolver(NAMED)) as conn:
            assert login(conn).status == 200


@pytest.mark.parametrize("url, no_proxy, bypassed", [
    ("https://api.angelone.in", "angelone.in", True),
    ("https://api.angelone.in", ".angelone.in", True),
    ("https://angelone.in", "angelone.in", True),
    ("https://notangelone.in", "angelone.in", False),
    ("https://api.angelone.in", "api.angelone.in:443", True),
    ("https://api.angelone.in", "api.angelone.in:8443", False),
    ("https://api.angelone.in", "", False),
    ("https://api.angelone.in", " , ", False),
])
def test_no_proxy_rules_are_urllibs(url, no_proxy, bypassed):
    environ = {"HTTPS_PROXY": "http://proxy.example.test:3128", "NO_PROXY": no_proxy}
    chosen = connection_module._choose_proxy(connection_module._Target(url), environ)
    assert (chosen is None) is bypassed


def test_plain_http_through_a_proxy_uses_the_absolute_form(serve):
    proxy = serve("proxy_tunnel")
    environ = {"HTTP_PROXY": f"http://agent:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}"}
    with client("http://api.example.test:8080/base", environ=environ) as conn:
        assert login(conn).status == 200
    [seen] = proxy.received
    assert seen.request_line == f"POST http://api.example.test:8080/base{LOGIN} HTTP/1.1"
    assert seen.headers[0] == ("Host", "api.example.test:8080")
    assert seen.header("Proxy-Authorization", ).startswith("Basic ")


def test_a_plain_http_proxy_that_wants_credentials(serve):
    proxy = serve("proxy_407")
    with client("http://api.example.test", environ={"HTTP_PROXY": proxy.proxy_url}) as conn:
        error = fails(lambda: login(conn), "PROXY_AUTH")
        assert error.sent is True and error.proxy_variable == "HTTP_PROXY"


def test_cgi_scripts_ignore_upper_case_http_proxy(serve):
    server = serve()
    environ = {"HTTP_PROXY": "http://proxy.example.test:1", "REQUEST_METHOD": "GET"}
    with client(server.named_url, environ=environ, resolve=resolver(NAMED)) as conn:
        assert login(conn).status == 200


# Replies are untrusted.

@pytest.mark.parametrize("mode", ["big", "big_chunked"])
def test_a_reply_over_the_cap_is_a_bad_reply(serve, mode):
    server = serve(mode)
    with client(server.url, timeout=5) as conn:
        error = fails(lambda: login(conn), "BAD_REPLY", 5)
        assert error.detail == "reply over 1 MiB" and error.sent is True


def test_the_cap_is_configurable(serve):
    server = serve(big_bytes=1001)
    server.queue("json", "big")
    with client(server.url, max_reply_bytes=1000) as conn:
        assert login(conn).status == 200
        assert fails(lambda: login(conn), "BAD_REPLY").detail == "reply over 1000 bytes"


def test_headers_over_the_cap_are_a_bad_reply(serve):
    server = serve("huge_headers")
    with client(server.url) as conn:
        error = fails(lambda: login(conn), "BAD_REPLY")
        assert error.detail == "the reply's headers are over 64 KiB"


def test_garbage_is_a_bad_reply_and_never_quoted(serve):
    server = serve("garbage")
    with client(server.url) as conn:
        error = fails(lambda: login(conn), "BAD_REPLY")
        assert error.detail == "the reply was not HTTP"


def test_a_banner_instead_of_a_reply_is_a_bad_reply(serve):
    server = serve("banner")
    with client(server.url) as conn:
        fails(lambda: login(conn), "BAD_REPLY")


def test_a_server_that_reads_and_closes(serve):
    server = serve("close_after_request")
    with client(server.url) as conn:
        error = fails(lambda: login(conn), "NETWORK")
        assert error.sent is True
        assert error.detail == "the server closed the new connection without answering"


# Ctrl-C.

@pytest.fixture
def interrupt_soon():
    """Send this process SIGINT after the given delay, as Ctrl-C would."""
    if sys.platform == "win32":
        pytest.skip("SIGINT cannot be sent to oneself this way on Windows")
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals only reach the main thread")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timers: list[threading.Timer] = []

    def arm(delay: float) -> None:
        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        timer.daemon = True
        timers.append(timer)
        timer.start()
    yield arm
    for timer in timers:
        timer.cancel()
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_a_hanging_request(serve, interrupt_soon):
    server = serve("hang")
    conn = client(server.url, timeout=30)
    interrupt_soon(0.3)
    watch = Stopwatch()
    with pytest.raises(KeyboardInterrupt):
        login(conn)
    assert watch.seconds < 0.3 + 1
    assert conn._link is None


def test_ctrl_c_during_a_hanging_lookup(hanging, interrupt_soon):
    conn = client("https://api.example.test", timeout=30, resolve=hanging)
    interrupt_soon(0.3)
    watch = Stopwatch()
    with pytest.raises(KeyboardInterrupt):
        login(conn)
    assert watch.seconds < 0.3 + 1
    lookups = [t for t in threading.enumerate() if t.name == "angel-totp-lookup"]
    assert lookups and all(t.daemon for t in lookups)  # cannot keep the process alive


# The object itself.

def test_close_is_idempotent_and_a_later_request_reconnects(serve):
    server = serve()
    conn = client(server.url)
    conn.close()
    login(conn)
    conn.close()
    conn.close()
    login(conn)
    assert conn.connections_opened == 2
    with conn:
        pass
    assert conn._link is None


def test_transport_error_fields():
    error = TransportError("TIMEOUT", "no complete reply within 1 s", sent=True)
    assert str(error) == "no complete reply within 1 s [TIMEOUT]"
    assert error.proxy_variable is None and error.sent is True
    assert isinstance(error, connection_module.AngelTotpError)


def _silent_listener() -> tuple[socket.socket, list[socket.socket]]:
    """A loopback port whose backlog is full: new connects hang (their SYN is dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    time.sleep(0.05)
    return listener, fillers


@pytest.mark.skipif(sys.platform != "linux", reason="a full backlog drops SYNs on Linux")
def test_a_dead_first_address_leaves_time_for_the_next(serve):
    server = serve()
    listener, fillers = _silent_listener()
    probe = socket.socket()
    probe.settimeout(0.3)
    try:
        probe.connect(listener.getsockname())
        pytest.skip("this kernel answers connects past a full backlog")
    except (TimeoutError, OSError):
        pass
    finally:
        probe.close()
    dead = listener.getsockname()

    def two_addresses(host, port, *rest):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", dead),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    watch = Stopwatch()
    try:
        with client(server.url, timeout=2, resolve=two_addresses) as connection:
            reply = connection.request("GET", "/", [("Accept", "application/json")])
        assert reply.status == 200
        assert watch.seconds < 2 + 0.5
    finally:
        listener.close()
        for filler in fillers:
            filler.close()


def test_the_lookup_is_the_one_in_socket_at_call_time(serve, monkeypatch):
    server = serve()
    seen = []
    real = socket.getaddrinfo

    def patched(host, *rest):
        seen.append(host)
        return real(host, *rest)

    monkeypatch.setattr(socket, "getaddrinfo", patched)
    with Connection(server.url, timeout=2) as connection:
        connection.request("GET", "/", [("Accept", "application/json")])
    assert seen == ["127.0.0.1"]


def test_a_timeout_that_is_not_positive_is_a_library_input_error():
    from angel_totp.errors import AngelTotpError, InvalidInputError
    with pytest.raises(InvalidInputError) as caught:
        Connection("https://example.invalid", timeout=0)
    assert isinstance(caught.value, AngelTotpError) and caught.value.what == "timeout"


def test_connecting_ahead_of_a_request_counts_against_its_deadline(serve):
    """local_ipv4() opens the connection; the request gets only what is left."""
    server = serve("hang")
    real = resolver()

    def slow(host, port, *rest):
        time.sleep(0.6)
        return real(host, port, *rest)

    started = time.monotonic()
    connection = client(server.url, timeout=1.0, resolve=slow)
    try:
        connection.local_ipv4()
        with pytest.raises(TransportError) as caught:
            connection.request("GET", "/", [("Accept", "application/json")])
    finally:
        connection.close()
    assert caught.value.errorcode == "TIMEOUT"
    assert time.monotonic() - started < 1.0 + 0.3  # one deadline, not 0.6 s + a fresh 1.0 s

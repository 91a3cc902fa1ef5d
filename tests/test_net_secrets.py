"""Issue 16, item 1 on the network side: what an error tracker would record.

Credentials go into protocol's requests and the connection as Hidden; when
a request fails in any way, no frame of the traceback (walked as Sentry
walks it) holds one as plain text, and no repr shows one.
"""

from __future__ import annotations

import json
import socket

import pytest
from conftest import assert_no_plain_credentials
from hostile_server import HostileServer

from angel_totp import protocol
from angel_totp.connection import Connection, TransportError
from angel_totp.hidden import Hidden

KEY, PIN, CODE, TOKEN = "kQ7pZ2mXw9SECRET", "908172", "654321", "eyJhbGciOi.SECRETTOKEN.sig"
PROXY_PASSWORD = "pr0xy-SECRETPW"


def resolve(host, port, *rest):
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]


def send(url: str, request: protocol.Request, environ: dict | None = None) -> TransportError:
    with Connection(url, timeout=0.5, environ=environ or {}, resolve=resolve) as conn, \
            pytest.raises(TransportError) as caught:
        conn.request(request.method, request.path, request.headers, request.body_bytes())
    # (The caller's own environ holds the proxy's password: not ours to hide.)
    assert_no_plain_credentials(caught.value, KEY, PIN, CODE, TOKEN)
    return caught.value


def login_request() -> protocol.Request:
    return protocol.login_request(Hidden(KEY), "127.0.0.1", "A123456", Hidden(PIN), Hidden(CODE))


@pytest.mark.time_bound(20)
@pytest.mark.parametrize("mode", ["hang", "close_after_request", "garbage", "big",
                                  "trickle_body", "huge_headers", "forged_first"])
def test_no_frame_holds_a_credential_when_a_request_fails(mode):
    with HostileServer(big_bytes=(1 << 20) + 1) as server:
        server.queue("json", mode)
        with Connection(server.url, timeout=0.5, environ={}, resolve=resolve) as conn:
            profile = protocol.profile_request(Hidden(KEY), "127.0.0.1", Hidden(TOKEN))
            conn.request(profile.method, profile.path, profile.headers)
            request = login_request()
            with pytest.raises(TransportError) as caught:
                conn.request(request.method, request.path, request.headers, request.body_bytes())
    assert_no_plain_credentials(caught.value, KEY, PIN, CODE, TOKEN)
    assert json.loads(server.received[0].body or b"null") is None


@pytest.mark.time_bound(10)
def test_no_frame_holds_a_credential_when_a_header_is_refused():
    request = protocol.login_request(Hidden(KEY + "\r\nX: y"), "127.0.0.1", "A123456",
                                     Hidden(PIN), Hidden(CODE))
    assert send("http://127.0.0.1:9", request).errorcode == "INVALID_REQUEST"


@pytest.mark.time_bound(10)
def test_no_frame_holds_a_credential_when_the_proxy_fails():
    with HostileServer("proxy_407") as proxy:
        environ = {"HTTP_PROXY": proxy.proxy_url.replace("//", f"//agent:{PROXY_PASSWORD}@")}
        error = send("http://api.example.test", login_request(), environ)
    assert error.errorcode == "PROXY_AUTH"
    assert PROXY_PASSWORD not in str(error) + repr(error.args) + error.detail


@pytest.mark.time_bound(10)
def test_a_refused_connection_holds_no_credential():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert send(f"http://127.0.0.1:{port}", login_request()).errorcode == "CONNECTION_REFUSED"

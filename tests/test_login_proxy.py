"""HTTPS_PROXY, HTTP_PROXY and NO_PROXY behave as in other tools.

The stand-in is reached by NAMED_HOST, a name for 127.0.0.1: a base URL
written as this machine never goes through a proxy.
"""

from __future__ import annotations

import socket
import threading

import pytest
from conftest import ANGEL_SECRET, API_KEY, CLIENT_CODE, PIN, login_env, run_login
from hostile_server import NAMED_HOST, HostileServer
from login_helpers import check, resolver_hook
from smartapi_standin import CERT, LOGIN, StandIn


class TunnelProxy:
    """A minimal HTTP proxy on 127.0.0.1: CONNECT tunnels and absolute-URI forwarding."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.seen: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def close(self):
        self.listener.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            request_line = head.split(b"\r\n", 1)[0].decode()
            self.seen.append(request_line)
            method, target, _ = request_line.split(" ", 2)
            target = target.replace(NAMED_HOST, "127.0.0.1")
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                rest = head.split(b"\r\n\r\n", 1)[1]
            else:  # http://host:port/path -> forward as is, with the path only
                hostport, path = target.split("//", 1)[1].split("/", 1)
                host, port = hostport.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                rest = head.replace(target.encode(), b"/" + path.encode(), 1)
            with upstream:
                if rest:
                    upstream.sendall(rest)
                pump = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                pump.start()
                _pipe(client, upstream)
                pump.join(5)


def _pipe(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def named(server) -> str:
    """The server's URL by a name that is not this machine's."""
    return server.url.replace("127.0.0.1", NAMED_HOST)


@pytest.fixture
def proxy():
    server = TunnelProxy()
    yield server
    server.close()


@pytest.fixture
def tls_standin():
    server = StandIn(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN,
                     secret=ANGEL_SECRET, tls=True).start()
    yield server
    server.stop()


def test_https_proxy_tunnels_the_tls_login(tls_standin, proxy):
    env = login_env(tls_standin, SSL_CERT_FILE=str(CERT), HTTPS_PROXY=proxy.url,
                    ANGEL_BASE_URL=named(tls_standin))
    result = run_login(server=tls_standin, env=env)
    assert result.returncode == 0, result.stderr
    port = tls_standin.url.rsplit(":", 1)[1]
    assert proxy.seen and all(line.startswith(f"CONNECT {NAMED_HOST}:{port}")
                              for line in proxy.seen)
    assert len(tls_standin.calls(LOGIN)) == 1


def test_http_proxy_forwards_plain_http(standin, proxy):
    result = run_login(server=standin, env=login_env(standin, HTTP_PROXY=proxy.url,
                                                     ANGEL_BASE_URL=named(standin)))
    assert result.returncode == 0, result.stderr
    assert any(line.startswith(f"POST {named(standin)}{LOGIN}") for line in proxy.seen)


def test_no_proxy_bypasses_the_proxy(standin, proxy, tmp_path_factory):
    hook = resolver_hook(tmp_path_factory.mktemp("resolver"), names={NAMED_HOST: "127.0.0.1"})
    env = login_env(standin, HTTP_PROXY=proxy.url, NO_PROXY=NAMED_HOST,
                    ANGEL_BASE_URL=named(standin), **hook)
    result = run_login(server=standin, env=env)
    assert result.returncode == 0, result.stderr
    assert proxy.seen == []


def test_an_unreachable_proxy_has_its_own_message_naming_the_variable(standin):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = check(server=standin, env=login_env(standin, HTTP_PROXY=dead,
                                                  ANGEL_BASE_URL=named(standin)), bound=5)
    assert result.returncode == 3
    assert result.lines()[-2:] == [
        "error: the proxy could not be reached (the proxy refused the connection)",
        "hint: check the proxy's host and port in HTTP_PROXY, or unset it if you need no proxy"]
    assert standin.requests == []


def test_a_proxy_whose_name_does_not_resolve_is_blamed_not_the_base_url(tls_standin,
                                                                        tmp_path_factory):
    hook = resolver_hook(tmp_path_factory.mktemp("resolver"), "fail")
    env = login_env(tls_standin, HTTPS_PROXY="http://proxy.invalid:3128",
                    ANGEL_BASE_URL=named(tls_standin), **hook)
    result = check(env=env, bound=5)
    assert result.returncode == 3
    assert result.lines()[0] == ("error: the proxy could not be reached: the proxy's name "
                                 "lookup failed (Name or service not known)")
    assert "HTTPS_PROXY" in result.lines()[1] and "--base-url" not in result.stderr


@pytest.mark.parametrize("variable,target", [("HTTPS_PROXY", "tls"), ("HTTP_PROXY", "plain")])
def test_a_proxy_that_wants_credentials_has_its_own_message(tls_standin, standin, variable,
                                                            target):
    server = tls_standin if target == "tls" else standin
    with HostileServer("proxy_407") as proxy:
        result = check("--json", env=login_env(server, ANGEL_BASE_URL=named(server),
                                               **{variable: proxy.proxy_url}), bound=5)
    assert result.returncode == 3
    verdict = result.json()
    assert verdict["errorcode"] == "PROXY_AUTH"
    assert verdict["cause"] == "the proxy wants credentials (HTTP 407)"
    assert variable in verdict["hint"] and "GARBAGE" not in result.output
    assert server.requests == []


def test_a_proxy_refusing_its_credentials_never_shows_them(tls_standin):
    with HostileServer("proxy_407") as proxy:
        url = proxy.proxy_url.replace("http://", "http://trader:s3cretPW99@")
        result = check(env=login_env(tls_standin, HTTPS_PROXY=url,
                                     ANGEL_BASE_URL=named(tls_standin)), bound=5)
    assert result.returncode == 3
    assert "the proxy refused its credentials (HTTP 407)" in result.lines()[0]
    assert "s3cretPW99" not in result.output and "trader" not in result.output


def test_a_proxy_that_cannot_reach_angel_one(tls_standin):
    with HostileServer("proxy_502") as proxy:
        result = check(env=login_env(tls_standin, HTTPS_PROXY=proxy.proxy_url,
                                     ANGEL_BASE_URL=named(tls_standin)), bound=5)
    assert result.returncode == 3
    assert result.lines()[0] == ("error: the proxy refused to connect to Angel One: the proxy "
                                 "refused the tunnel (HTTP 502)")
    assert "HTTPS_PROXY" in result.lines()[1]


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
def test_a_loopback_base_url_never_goes_through_the_proxy(standin, proxy, variable):
    # The PIN would cross the network in clear: loopback is exempt, as from
    # the plain-http warning.
    result = run_login(server=standin, env=login_env(standin, **{variable: proxy.url}))
    assert result.returncode == 0, result.stderr
    assert proxy.seen == []


def test_an_https_proxy_is_refused_before_anything_is_sent(tls_standin, proxy):
    url = proxy.url.replace("http://", "https://trader:s3cretPW99@")
    result = check(env=login_env(tls_standin, HTTPS_PROXY=url,
                                 ANGEL_BASE_URL=named(tls_standin)), bound=5)
    assert result.returncode == 3
    assert "https:// proxy is not supported" in result.lines()[0]
    assert "HTTPS_PROXY" in result.output and "s3cretPW99" not in result.output
    assert proxy.seen == [] and tls_standin.requests == []


def test_a_proxy_that_closes_the_tunnel_is_named_not_blamed_on_tls(tls_standin):
    with HostileServer("proxy_connect_close") as proxy:
        result = check(env=login_env(tls_standin, HTTPS_PROXY=proxy.proxy_url,
                                     ANGEL_BASE_URL=named(tls_standin)), bound=5)
    assert result.returncode == 3
    assert "proxy closed the tunnel" in result.lines()[0]
    assert "HTTPS_PROXY" in result.lines()[1]
    assert "certificate" not in result.output.lower() and "SSL_CERT_FILE" not in result.output

"""HTTPS_PROXY, HTTP_PROXY and NO_PROXY behave as in other tools."""

from __future__ import annotations

import socket
import threading

import pytest

from conftest import ANGEL_SECRET, API_KEY, CLIENT_CODE, PIN, login_env, run_login
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
    env = login_env(tls_standin, SSL_CERT_FILE=str(CERT), HTTPS_PROXY=proxy.url)
    result = run_login(server=tls_standin, env=env)
    assert result.returncode == 0, result.stderr
    port = tls_standin.url.rsplit(":", 1)[1]
    assert proxy.seen and all(line.startswith(f"CONNECT 127.0.0.1:{port}") for line in proxy.seen)
    assert len(tls_standin.calls(LOGIN)) == 1


def test_http_proxy_forwards_plain_http(standin, proxy):
    result = run_login(server=standin, env=login_env(standin, HTTP_PROXY=proxy.url))
    assert result.returncode == 0, result.stderr
    assert any(line.startswith(f"POST {standin.url}{LOGIN}") for line in proxy.seen)


def test_no_proxy_bypasses_the_proxy(standin, proxy):
    env = login_env(standin, HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1")
    result = run_login(server=standin, env=env)
    assert result.returncode == 0, result.stderr
    assert proxy.seen == []


def test_unreachable_proxy_is_a_network_failure(standin):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = run_login(server=standin, env=login_env(standin, HTTP_PROXY=dead))
    assert result.returncode == 3
    assert "connection was refused" in result.stderr
    assert "proxy" in result.stderr

"""Benchmark guard: nothing leaves this machine, and what tried to is recorded.

On PYTHONPATH for every benchmarked process, so that nothing (the official
SDK looks up its public IP at import time) can reach beyond loopback:

* a name lookup (``getaddrinfo``, ``gethostbyname``, ``gethostbyname_ex``)
  of anything but a loopback name or address is refused;
* a connection to an address outside 127.0.0.0/8 and ::1 is refused, in
  case something skips the lookup;
* ``NETGUARD_MAP="name=127.0.0.1:PORT,..."`` answers a lookup of ``name``
  with that loopback address and port instead, so that a benchmark can put
  a local imitation (behind the same slow link) where the real service
  would be, e.g. the SDK's ``https://api.ipify.org``.

Refused names and addresses are appended to the file named by NETGUARD_LOG.
"""

import errno
import os
import socket

_ALLOWED = {None, "localhost", "127.0.0.1", "::1", ""}
_real_getaddrinfo = socket.getaddrinfo
_real_gethostbyname = socket.gethostbyname
_real_gethostbyname_ex = socket.gethostbyname_ex
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _mapped():
    table = {}
    for entry in os.environ.get("NETGUARD_MAP", "").split(","):
        name, _, where = entry.strip().partition("=")
        host, _, port = where.rpartition(":")
        if name and host.startswith("127.") and port.isdigit():
            table[name.lower()] = (host, int(port))
    return table


_MAP = _mapped()


def _log(what):
    log = os.environ.get("NETGUARD_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(f"{what}\n")


def _loopback(name):
    return name in _ALLOWED or str(name).startswith("127.")


def _name(host):
    return host.decode() if isinstance(host, bytes) else host


def _guarded_getaddrinfo(host, port=None, *args, **kwargs):
    name = _name(host)
    if isinstance(name, str) and name.lower() in _MAP:
        mapped_host, mapped_port = _MAP[name.lower()]
        return _real_getaddrinfo(mapped_host, mapped_port, *args, **kwargs)
    if not _loopback(name):
        _log(name)
        raise socket.gaierror(socket.EAI_NONAME, "blocked by the benchmark's network guard")
    return _real_getaddrinfo(host, port, *args, **kwargs)


def _guarded_gethostbyname(host):
    if not _loopback(_name(host)):
        _log(_name(host))
        raise socket.gaierror(socket.EAI_NONAME, "blocked by the benchmark's network guard")
    return _real_gethostbyname(host)


def _guarded_gethostbyname_ex(host):
    if not _loopback(_name(host)):
        _log(_name(host))
        raise socket.gaierror(socket.EAI_NONAME, "blocked by the benchmark's network guard")
    return _real_gethostbyname_ex(host)


def _check_address(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        host = str(address[0])
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            _log(host)
            raise OSError(errno.ENETUNREACH, "blocked by the benchmark's network guard")


def _guarded_connect(self, address):
    _check_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check_address(self, address)
    return _real_connect_ex(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.gethostbyname = _guarded_gethostbyname
socket.gethostbyname_ex = _guarded_gethostbyname_ex
socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex

"""Benchmark guard: refuse every name lookup except loopback, and record it.

On PYTHONPATH for every benchmarked process, so that nothing (the official
SDK looks up its public IP at import time) can reach beyond this machine.
Blocked names are appended to the file named by NETGUARD_LOG.
"""

import os
import socket

_ALLOWED = {None, "localhost", "127.0.0.1", "::1", ""}
_real_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name not in _ALLOWED and not str(name).startswith("127."):
        log = os.environ.get("NETGUARD_LOG")
        if log:
            with open(log, "a") as handle:
                handle.write(f"{name}\n")
        raise socket.gaierror(socket.EAI_NONAME, "blocked by the benchmark's network guard")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _guarded_getaddrinfo

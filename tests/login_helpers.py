"""Helpers for the login check's and the login API's tests (beside conftest's).

* :func:`check` runs the login check with ``--min-validity 0`` (waiting for
  the next code is not what most tests are about) and times it;
* :func:`resolver_hook` makes a ``sitecustomize`` that replaces the name
  lookup in a script run as a subprocess, so that no test touches DNS;
* :func:`run_check_in_process` runs the command in this process, to compare
  what it prints with what the API raised.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from conftest import (
    ANGEL_SECRET,
    API_KEY,
    CLIENT_CODE,
    PIN,
    Stopwatch,
    assert_clean_output,
    assert_no_leak,
    run_login,
)

# What a run may take beyond its --timeout: the contract's 1 s, plus the
# start of a Python process on a busy test machine.
STARTUP_S = 1.0


class Timed:
    """A finished run and its wall time."""

    def __init__(self, result: subprocess.CompletedProcess, elapsed: float) -> None:
        self.result = result
        self.elapsed = elapsed
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict:
        return json.loads(self.stdout)

    def lines(self) -> list[str]:
        """stderr's lines, without the waiting note (it depends on timing)."""
        return [line for line in self.stderr.splitlines()
                if not line.startswith("the current code expires in ")]


def check(*args: str, bound: float = 30.0, **kwargs) -> Timed:
    """The login check, as a user runs it, with no wait for the next code.

    Fails the test if it took longer than ``bound`` seconds, if anything
    leaked (conftest's run_login checks the secret, API key, PIN, issued
    tokens, tracebacks and written files), or if a control character
    reached the output.
    """
    started = time.monotonic()
    result = run_login("--min-validity", "0", *args, **kwargs)
    timed = Timed(result, time.monotonic() - started)
    assert timed.elapsed < bound, f"took {timed.elapsed:.1f} s, more than {bound} s"
    assert_clean_output(timed.output)
    return timed


def assert_nothing_leaked(text: str, *values: str) -> None:
    """No credential of the usual set, nor any of ``values``, in any case."""
    assert_no_leak(text, ANGEL_SECRET, API_KEY, PIN)
    lowered = text.lower()
    for value in values:
        assert value.lower() not in lowered, "a credential appeared in the output"


# Name lookups, replaced in a subprocess.

HOOK = '''\
import socket, threading
_real = socket.getaddrinfo
_names = {names!r}
_behaviour = {behaviour!r}


def _lookup(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("127.0.0.1", "localhost", "::1"):
        return _real(host, *args, **kwargs)
    if host in _names:
        return _real(_names[host], *args, **kwargs)
    if _behaviour == "hang":
        threading.Event().wait()  # a resolver that never answers
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


socket.getaddrinfo = _lookup
'''


def resolver_hook(folder: Path, behaviour: str = "fail",
                  names: dict[str, str] | None = None) -> dict[str, str]:
    """Environment variables that make a Python subprocess resolve names offline.

    ``127.0.0.1``, ``localhost`` and ``names`` (mapped to loopback
    addresses) resolve; any other name fails (``behaviour="fail"``) or
    hangs forever (``"hang"``). Returns the variables to add to the
    subprocess's environment.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(HOOK.format(names=names or {},
                                                         behaviour=behaviour))
    return {"PYTHONPATH": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}


# The command in this process.

def settings_for(server=None, **overrides: str | None) -> dict[str, str | None]:
    """The login's settings (ANGEL_*, TOTP_SECRET), for the stand-in ``server``."""
    values: dict[str, str | None] = {
        "ANGEL_API_KEY": API_KEY, "ANGEL_CLIENT_CODE": CLIENT_CODE, "ANGEL_PIN": PIN,
        "TOTP_SECRET": ANGEL_SECRET, "ANGEL_BASE_URL": server.url if server else None}
    values.update(overrides)
    return values


def run_in_process(monkeypatch, capsys, *argv: str, settings: dict[str, str | None],
                   bound: float = 10.0, tokens: tuple[str, ...] = ()) -> Timed:
    """``angel-login-check --min-validity 0 argv`` in this process, with ``settings``.

    Checks what :func:`check` checks: time, leaks (also of ``tokens``), and
    control characters. Faster than a subprocess, for the many cases where
    no terminal, signal or stream of the process itself is the point.
    """
    import signal

    from angel_totp import session
    from angel_totp.cli import console, login_check
    # A run of the command is a process of its own: no code step of an earlier one.
    monkeypatch.setattr(session, "_last_steps", {})
    for name, value in settings.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    capsys.readouterr()
    before = sorted(os.listdir("."))
    handler = signal.getsignal(signal.SIGTERM)
    watch = Stopwatch()
    try:
        code = console.run(login_check.main, ["--min-validity", "0", *argv])
    finally:
        signal.signal(signal.SIGTERM, handler)
    elapsed = watch.seconds
    out, err = capsys.readouterr()
    result = Timed(subprocess.CompletedProcess(argv, code, out, err), elapsed)
    assert elapsed < bound, f"took {elapsed:.1f} s, more than {bound} s"
    assert "Traceback" not in result.output
    assert_clean_output(result.output)
    assert_nothing_leaked(result.output, *(token[-20:] for token in tokens))
    assert sorted(os.listdir(".")) == before, "the run wrote files"
    return result


def without_numbers(text: str) -> str:
    """Text with its numbers blanked: two runs measure the clock slightly differently,
    and an offset near 0 s may fall either side of it."""
    return re.sub(r"\d+(\.\d+)?", "N", re.sub(r"\b(ahead of|behind|in step with)\b", "off",
                                              text))

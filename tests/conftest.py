"""Shared helpers: run the scripts as a user would, and check nothing leaks."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATE = ROOT / "generate_totp.py"

# RFC 6238 appendix B keys (ASCII digits), base32-encoded without padding.
RFC_SHA1 = base64.b32encode(b"1234567890" * 2).decode().rstrip("=")
RFC_SHA256 = base64.b32encode(b"1234567890" * 3 + b"12").decode().rstrip("=")
RFC_SHA512 = base64.b32encode(b"1234567890" * 6 + b"1234").decode().rstrip("=")
# A secret shaped like Angel One's: 26 base32 letters.
ANGEL_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEH"

_SCRUBBED = ("TOTP_SECRET", "TOTP", "ANGEL_API_KEY", "ANGEL_CLIENT_CODE", "ANGEL_PIN",
             "ANGEL_BASE_URL", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
             "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def secret_forms(secret: str) -> list[str]:
    """The ways a secret could show up in output: as given and normalised."""
    plain = secret.replace(" ", "").replace("-", "").rstrip("=")
    forms = {secret.strip(), plain, plain.upper(), plain.lower()}
    if len(plain) >= 12:
        forms.add(plain[:12].upper())  # a long fragment leaks too
    return [f for f in forms if len(f) >= 6]


def assert_no_leak(text: str, *secrets: str) -> None:
    lowered = text.lower()
    for secret in secrets:
        for form in secret_forms(secret):
            assert form.lower() not in lowered, "a secret appeared in the output"


def run_generate(*args: str, stdin: str | None = None, env: dict | None = None,
                 cwd: Path | str | None = None, secrets: tuple[str, ...] = (),
                 timeout: float = 30) -> subprocess.CompletedProcess:
    """Run generate_totp.py; fail the test if any given secret is printed."""
    result = subprocess.run(
        [sys.executable, str(GENERATE), *args],
        input=stdin if stdin is not None else "",
        capture_output=True, text=True, env=env if env is not None else clean_env(),
        cwd=cwd, timeout=timeout,
    )
    assert_no_leak(result.stdout + result.stderr, *secrets)
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """An empty folder to run in, so no test sees the developer's .env."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


LOGIN_CHECK = ROOT / "test_api_connection.py"
API_KEY = "kQ7pZ2mXw9"
CLIENT_CODE = "A123456"
PIN = "908172"


@pytest.fixture
def standin():
    from smartapi_standin import StandIn
    server = StandIn(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN,
                     secret=ANGEL_SECRET).start()
    yield server
    server.stop()


def login_env(server, **overrides: str) -> dict[str, str]:
    values = {"ANGEL_API_KEY": API_KEY, "ANGEL_CLIENT_CODE": CLIENT_CODE, "ANGEL_PIN": PIN,
              "TOTP_SECRET": ANGEL_SECRET, "ANGEL_BASE_URL": server.url}
    values.update(overrides)
    return clean_env(**{k: v for k, v in values.items() if v is not None})


def run_login(*args: str, server=None, env: dict | None = None, cwd=None,
              command: list[str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run test_api_connection.py; fail on any leaked credential, token or file."""
    before = sorted(os.listdir(cwd)) if cwd else None
    result = subprocess.run(
        (command or [sys.executable, str(LOGIN_CHECK)]) + list(args),
        input="", capture_output=True, text=True, cwd=cwd, timeout=timeout,
        env=env if env is not None else (login_env(server) if server else clean_env()),
    )
    output = result.stdout + result.stderr
    assert_no_leak(output, ANGEL_SECRET, API_KEY, PIN)
    if server is not None:
        for token in server.issued:
            assert token[-20:] not in output, "a session token appeared in the output"
    assert "Traceback" not in result.stderr
    if cwd:
        assert sorted(os.listdir(cwd)) == before, "the run wrote files (logs?)"
    return result


def assert_parsers_agree(parse_fast, build_parser, argv: list[str]) -> None:
    """A command's fast option parser reads argv exactly as its argparse does."""
    from angel_totp.console import CliError
    fast = parse_fast(argv)
    if fast is None:
        return  # argparse decides, so nothing can differ
    try:
        reference = build_parser().parse_args(argv)
    except (CliError, SystemExit):
        raise AssertionError(f"argparse rejects {argv} but the fast parser accepted it")
    assert vars(fast) == vars(reference), argv


def messages(result: subprocess.CompletedProcess) -> list[str]:
    """stderr's lines without the --min-validity waiting note, which depends on timing."""
    return [line for line in result.stderr.splitlines()
            if not line.startswith("the current code expires in ")]

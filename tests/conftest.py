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

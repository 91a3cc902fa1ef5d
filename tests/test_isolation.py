"""The suite never reads the developer's own .env, home or ANGEL_* / TOTP* variables.

A probe test runs through this suite's conftest in a copy of the project
whose root holds a hostile .env, with hostile variables set. If the
autouse isolation in conftest.py were missing, the probe would see them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

PROBE = '''
import os, subprocess, sys
from conftest import GENERATE, clean_env

def test_probe_sees_no_settings():
    assert not os.path.exists(".env")
    assert not [k for k in os.environ if k.upper().startswith(("ANGEL_", "TOTP"))]
    result = subprocess.run([sys.executable, str(GENERATE), "-q"], input="",
                            capture_output=True, text=True, env=clean_env(), timeout=30)
    assert result.returncode == 2, result.stderr
    assert "TOTP_SECRET is not set in the environment or " in result.stderr
'''


def test_a_hostile_env_file_in_the_root_is_never_read(tmp_path: Path):
    started = time.monotonic()
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "angel_totp", copy / "angel_totp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "tests").mkdir()
    for name in ("conftest.py", "smartapi_standin.py"):
        shutil.copy(ROOT / "tests" / name, copy / "tests" / name)
    shutil.copy(ROOT / "generate_totp.py", copy / "generate_totp.py")
    (copy / "tests" / "test_probe.py").write_text(PROBE)
    (copy / ".env").write_text("TOTP_SECRET=JBSWY3DPEHPK3PXPJBSWY3DPEH\nANGEL_API_KEY=hostile\n")
    env = {"PATH": "/usr/bin:/bin", "TOTP_SECRET": "JBSWY3DPEHPK3PXPJBSWY3DPEH",
           "ANGEL_PIN": "1111", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-o", "addopts=", "tests/test_probe.py"],
                            cwd=copy, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 passed" in result.stdout
    assert time.monotonic() - started < 60

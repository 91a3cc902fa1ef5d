"""The packages: an sdist that is a whole checkout (scripts, docs, licence, the
complete tests, which pass in it), and a wheel that holds the package alone.

Built with ``python -m build --no-isolation`` from a copy of the checkout (so
the checkout gets no ``build/`` or ``*.egg-info``), the wheel from the sdist, as
``python -m build`` does. Skips where ``build`` or setuptools 77 is missing
(``pip install -r requirements-dev.txt`` brings both).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT, clean_env


def _usable() -> str | None:
    try:
        metadata.version("build")
        setuptools = metadata.version("setuptools")
    except metadata.PackageNotFoundError as missing:
        return f"{missing.name} is not installed (pip install -r requirements-dev.txt)"
    if int(setuptools.split(".")[0]) < 77:
        return f"setuptools {setuptools} cannot read the SPDX licence; 77 or newer can"
    return None


pytestmark = [pytest.mark.skipif(_usable() is not None, reason=str(_usable())),
              pytest.mark.time_bound(90)]

NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", "*.pyc", "build",
                                    "dist", "*.egg-info", ".pytest_cache", ".hypothesis",
                                    ".venv-*", "results", ".env")


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> tuple[Path, Path]:
    source = tmp_path_factory.mktemp("source") / "angel-totp"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                             str(out), str(source)], capture_output=True, text=True,
                            env=clean_env(), timeout=80)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def sdist_files(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        return {name.partition("/")[2] for name in archive.getnames() if archive.getmember(
            name).isfile()}


def test_the_sdist_is_a_whole_checkout(packages) -> None:
    files = sdist_files(packages[0])
    wanted = {"LICENSE", "README.md", "CHANGELOG.md", ".env.example", "requirements.txt",
              "requirements-dev.txt", "generate_totp.py", "test_api_connection.py",
              "angel_totp/py.typed"}
    wanted |= {path.relative_to(ROOT).as_posix() for folder in ("docs", "tests", "angel_totp")
               for path in (ROOT / folder).rglob("*")
               if path.is_file() and "__pycache__" not in path.parts}
    assert not wanted - files, f"missing from the sdist: {sorted(wanted - files)}"
    assert ".env" not in files and not any("__pycache__" in name for name in files)


def test_the_wheel_holds_the_package_alone(packages) -> None:
    with zipfile.ZipFile(packages[1]) as wheel:
        names = wheel.namelist()
        info = next(name for name in names if name.endswith(".dist-info/METADATA"))
        fields = wheel.read(info).decode("utf-8")
    outside = [name for name in names
               if not name.startswith("angel_totp/") and ".dist-info/" not in name]
    assert not outside, f"the wheel holds more than the package: {outside}"
    assert "angel_totp/py.typed" in names and "angel_totp/cli/__init__.py" in names
    assert not any(name.startswith("angel_totp/") and "tests" in name for name in names)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "License-Expression: MIT" in fields
    for classifier in ("Typing :: Typed", "Operating System :: OS Independent",
                       "Environment :: Console", "Programming Language :: Python :: 3.10",
                       "Programming Language :: Python :: 3.13"):
        assert f"Classifier: {classifier}" in fields
    assert "Description-Content-Type: text/markdown" in fields
    assert "# angel-totp" in fields, "the README is the long description"


@pytest.mark.skipif(sys.platform == "win32", reason="the sample tests start POSIX shells")
def test_the_sdist_runs_its_own_tests(packages, tmp_path) -> None:
    with tarfile.open(packages[0]) as archive:
        archive.extractall(tmp_path, filter="data") if hasattr(tarfile, "data_filter") \
            else archive.extractall(tmp_path)
    (unpacked,) = tmp_path.iterdir()
    env = clean_env()
    env.pop("PYTHONPATH", None)
    # A sample, not the whole suite twice: the docs' links and names, both scripts'
    # --help, and the README's examples against the stand-in (conftest, helpers, data).
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
         "tests/test_docs.py", "-k", "links or public_name or option or (example and README)"],
        cwd=unpacked, env=env, capture_output=True, text=True, timeout=80)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    where = subprocess.run([sys.executable, "-c", "import angel_totp; print(angel_totp.__file__)"],
                           cwd=unpacked, env=env, capture_output=True, text=True, timeout=30)
    assert Path(where.stdout.strip()).is_relative_to(unpacked), "the tests ran another copy"

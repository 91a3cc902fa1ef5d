"""Who can read the env file, and which file is written: attacks as root and nobody.

Each test does what the issue describes, with the tool it names; it skips where
that tool, Linux or root is missing.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from angel_totp import envfile
from angel_totp.errors import EnvFileError

ROOT = Path(__file__).resolve().parent.parent
linux_root = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0, reason="needs root on Linux")
NOBODY = 65534


def fixed(values):
    return lambda current: (values, float("inf"))


def as_nobody(*command: str) -> subprocess.CompletedProcess:
    if shutil.which("runuser") is None:
        pytest.skip("needs runuser")
    return subprocess.run(["runuser", "-u", "nobody", "--", *command], capture_output=True,
                          text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": readable_package()})


_copies: list[str] = []


def readable_package() -> str:
    """A folder nobody may read, holding a copy of the package: the checkout may sit in
    a private folder (CI clones into one made by mktemp, 0700)."""
    if not _copies:
        import atexit
        import tempfile
        folder = tempfile.mkdtemp(prefix="angel-totp-code-")
        os.chmod(folder, 0o755)
        shutil.copytree(ROOT / "angel_totp", Path(folder) / "angel_totp",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for path in Path(folder).rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        atexit.register(shutil.rmtree, folder, True)
        _copies.append(folder)
    return _copies[0]


@pytest.fixture
def open_tmp():
    """A folder that nobody may enter (pytest's own are root's, 0700)."""
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="envaccess-"))
    os.chmod(folder, 0o755)
    yield folder
    subprocess.run(["chattr", "-R", "-a", str(folder)], capture_output=True)
    shutil.rmtree(folder)


def python_for_nobody() -> str:
    """A Python that nobody may run (the test venv may not be)."""
    for python in (sys.executable, "/usr/bin/python3"):
        if as_nobody(python, "-c", "import sys; assert sys.version_info >= (3, 10)"
                     ).returncode == 0:
            return python
    pytest.skip("no Python that nobody may run")


def sticky_folder(base: Path) -> Path:
    folder = base / "shared"
    folder.mkdir()
    os.chmod(folder, 0o1777)  # like /tmp
    return folder


@linux_root
def test_a_symlink_swapped_in_mid_run_by_another_user_is_not_followed(open_tmp):
    folder = sticky_folder(open_tmp)
    trap = folder / "mine"
    assert as_nobody("sh", "-c", f"umask 0; : > {trap}").returncode == 0
    env_path = folder / ".env"

    def compute(current):  # while the values are chosen, nobody swaps in a link
        done = as_nobody("ln", "-s", str(trap), str(env_path))
        assert done.returncode == 0, done.stderr
        return {"TOTP": "123456", "TOTP_SECRET": "JBSWY3DPEHPK3PXP"}, float("inf")
    with pytest.raises(EnvFileError) as caught:
        envfile.update_env_file(env_path, compute)
    assert "symbolic link" in caught.value.message
    assert trap.read_bytes() == b"" and env_path.is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == [".env", "mine"]


@linux_root
def test_a_symlink_the_kernel_would_refuse_to_follow_is_refused(open_tmp):
    folder = sticky_folder(open_tmp)
    trap, env_path = folder / "mine", folder / ".env"
    assert as_nobody("sh", "-c", f"umask 0; : > {trap}; ln -s {trap} {env_path}"
                     ).returncode == 0
    for attempt in (envfile.check_writable, lambda p: envfile.update_env_file(
            p, fixed({"TOTP_SECRET": "JBSWY3DPEHPK3PXP"}))):
        with pytest.raises(EnvFileError) as caught:
            attempt(env_path)
        assert caught.value.reason == "permission" and "not followed" in caught.value.message
    assert trap.read_bytes() == b""


def _acl_user_read(uid: int) -> bytes:
    """A POSIX ACL as the kernel stores it: u::rw-, u:uid:r--, g::---, m::r--, o::---."""
    undefined = 0xFFFFFFFF
    entries = [(0x01, 6, undefined), (0x02, 4, uid), (0x04, 0, undefined),
               (0x10, 4, undefined), (0x20, 0, undefined)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


@linux_root
def test_acl_extended_attributes_owner_and_group_are_kept(open_tmp):
    env_path = open_tmp / ".env"
    env_path.write_text("TOTP=000000\n")
    os.chmod(env_path, 0o600)
    os.chown(env_path, NOBODY, NOBODY)
    try:
        if shutil.which("setfacl"):
            subprocess.run(["setfacl", "-m", "u:nobody:r", str(env_path)], check=True)
        else:
            os.setxattr(env_path, "system.posix_acl_access", _acl_user_read(NOBODY))
        os.setxattr(env_path, "user.backup", b"keep me")
    except OSError as error:
        pytest.skip(f"this filesystem keeps no ACL or xattr: {error}")
    before = {name: os.getxattr(env_path, name) for name in os.listxattr(env_path)}
    mode = os.stat(env_path).st_mode
    envfile.update_env_file(env_path, fixed({"TOTP": "123456"}))
    after = os.stat(env_path)
    assert env_path.read_text() == "TOTP=123456\n"
    assert {name: os.getxattr(env_path, name) for name in os.listxattr(env_path)} == before
    assert (after.st_mode, after.st_uid, after.st_gid) == (mode, NOBODY, NOBODY)


@linux_root
def test_a_file_of_a_group_the_user_is_not_in_is_refused_before_anything(open_tmp):
    folder = open_tmp / "home"
    folder.mkdir()
    os.chown(folder, NOBODY, NOBODY)
    env_path = folder / ".env"
    env_path.write_text("TOTP=000000\n")
    os.chown(env_path, NOBODY, 0)  # nobody:root 0640, and nobody is not in root
    os.chmod(env_path, 0o640)
    script = ("import sys; from angel_totp import envfile\n"
              "for call in (envfile.check_writable, lambda p: envfile.update_env_file(\n"
              "        p, lambda c: ({'TOTP': '1'}, 1e99))):\n"
              "    try: call(sys.argv[1])\n"
              "    except envfile.EnvFileError as error: print(error.reason, error)\n")
    result = as_nobody(python_for_nobody(), "-c", script, str(env_path))
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("permission") and "group 0" in line
                                   for line in lines), result.stdout + result.stderr
    info = os.stat(env_path)
    assert (info.st_uid, info.st_gid, env_path.read_text()) == (NOBODY, 0, "TOTP=000000\n")
    assert os.listdir(folder) == [".env"]


def _check_writable_behind_a_bind_mount(source: Path, env_path: Path) -> str:
    """What check_writable says of ``env_path`` with ``source`` bind-mounted on it."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare")
    source.write_text("TOTP=000000\n")
    env_path.write_text("")
    script = ("import sys; from angel_totp import envfile\n"
              "try: envfile.check_writable(sys.argv[1])\n"
              "except envfile.EnvFileError as error: print(error.reason, error.hint)\n")
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'mount --bind "$1" "$2" && exec "{sys.executable}" '
         f'-c "$3" "$2"', "sh", str(source), str(env_path), script],
        capture_output=True, text=True, timeout=30, env={**os.environ,
                                                          "PYTHONPATH": str(ROOT)})
    if "mount" not in result.stdout and result.returncode != 0:
        pytest.skip(f"no mount namespace here: {result.stderr.strip()[:80]}")
    assert source.read_text() == "TOTP=000000\n"
    return result.stdout + result.stderr


@linux_root
def test_a_bind_mounted_file_is_refused_before_any_wait(open_tmp):
    said = _check_writable_behind_a_bind_mount(open_tmp / "host.env", open_tmp / ".env")
    assert said.startswith("mount ") and "mount its folder" in said


@linux_root
@pytest.mark.time_bound(30)
def test_a_bind_mounted_file_whose_path_the_mount_table_escapes_is_refused(open_tmp):
    # /proc/self/mountinfo writes a space, tab, newline and backslash as \ooo.
    folder = open_tmp / "my env\\files\tand\nmore"
    folder.mkdir()
    said = _check_writable_behind_a_bind_mount(open_tmp / "host.env", folder / ".env")
    assert said.startswith("mount "), said


@linux_root
def test_a_folder_where_files_cannot_be_removed_is_refused_and_left_clean(open_tmp):
    folder = open_tmp / "appendonly"
    folder.mkdir()
    (folder / ".env").write_text("TOTP=000000\n")
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+a", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("needs chattr +a on this filesystem")
    try:
        for attempt in (envfile.check_writable, lambda p: envfile.update_env_file(
                p, fixed({"TOTP": "1"}))):
            with pytest.raises(EnvFileError) as caught:
                attempt(folder / ".env")
            assert caught.value.reason == "read_only" and "append-only" in caught.value.message
        assert os.listdir(folder) == [".env"]
    finally:
        subprocess.run(["chattr", "-a", str(folder)])

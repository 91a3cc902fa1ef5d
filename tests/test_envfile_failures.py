"""Failures inside the write leave the file as it was and no temp file.

In-process, on the library: faults are injected into the operating-system
calls the writer makes (a full disk, a failing fsync, Ctrl-C or a SIGTERM
handler's SystemExit at every single step), and into the filesystem itself
where the test can make one (a small tmpfs, a read-only mount, an
immutable file).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys

import pytest
from dotenv import dotenv_values

from angel_totp import envfile
from angel_totp.errors import EnvFileError

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits and mounts")
as_root = hasattr(os, "geteuid") and os.geteuid() == 0
INF = float("inf")




def revealed(written):
    return {key: value.reveal() for key, value in written.items()}


def set_values(path, values, **kwargs):
    return envfile.update_env_file(str(path), lambda parsed: (values, INF), **kwargs)


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("broken", ["replace", "fsync", "write"])
def test_failure_mid_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch, broken):
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\nTOTP=000000\n")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(envfile.os, broken, fail)
    monkeypatch.setattr(envfile, "_exchange", lambda source, target: False)  # os.replace
    with pytest.raises(EnvFileError) as caught:
        set_values(env_path, {"TOTP": "123456"})
    assert "no space left on device" in str(caught.value)
    assert caught.value.reason == "io" and caught.value.path == str(env_path)
    assert "--" not in str(caught.value) + (caught.value.hint or "")
    assert env_path.read_text() == "A=1\nTOTP=000000\n"
    assert _listing(tmp_path) == [".env"]


# Every call the writer makes to the operating system, and the moment it
# changes the file; an interrupt is injected at each in turn.
STEPS = ["open", "write", "fsync", "fchmod", "ftruncate", "lseek", "replace", "link",
         "unlink", "close", "fstat", "stat", "read", "pread", "scandir"]


@pytest.mark.parametrize("swap", [True, False], ids=["atomic swap", "plain rename"])
@pytest.mark.parametrize("exception", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("exists", [True, False])
def test_an_interrupt_at_any_step_leaves_the_old_or_new_file_and_no_temp(
        tmp_path, monkeypatch, exception, exists, swap):
    if not swap:
        monkeypatch.setattr(envfile, "_exchange", lambda source, target: False)
    env_path = tmp_path / ".env"
    old = "A=1\r\nTOTP=000000 # c\r\n"
    new = "A=1\r\nTOTP=123456 # c\r\n" if exists else "TOTP=123456\n"
    calls = {"count": 0, "at": -1}
    real = {name: getattr(os, name) for name in STEPS if hasattr(os, name)}

    def counting(name):
        def call(*args, **kwargs):
            calls["count"] += 1
            if calls["count"] == calls["at"]:
                raise exception(f"injected at {name}")
            return real[name](*args, **kwargs)
        return call

    def run(at):
        calls["count"], calls["at"] = 0, at
        with monkeypatch.context() as patch:
            for name in real:
                patch.setattr(envfile.os, name, counting(name))
            try:
                set_values(env_path, {"TOTP": "123456"})
            except exception:
                return False
            except EnvFileError:
                return False
        return True

    if exists:
        env_path.write_text(old)
    assert run(-1)
    total = calls["count"]
    assert total > 10
    for at in range(1, total + 1):
        if exists:
            env_path.write_bytes(old.encode())
        elif env_path.exists():
            env_path.unlink()
        finished = run(at)
        state = env_path.read_bytes().decode() if env_path.exists() else None
        assert state in ((old if exists else None), new), f"torn at call {at}"
        assert finished is False or state == new
        assert [n for n in _listing(tmp_path) if n != ".env"] == [], f"temp left at call {at}"


def test_stale_temp_files_of_killed_runs_are_removed_but_not_a_live_one(tmp_path):
    (tmp_path / ".env").write_text("A=1\n")
    (tmp_path / ".env.totp-tmp-abc123").write_text("half")
    (tmp_path / ".env.keep-me").write_text("not ours")
    (tmp_path / ".other.totp-tmp-x").write_text("another file's")
    live = None
    if os.name != "nt":
        import fcntl
        (tmp_path / ".env.totp-tmp-live").write_text("a run in progress")
        live = os.open(tmp_path / ".env.totp-tmp-live", os.O_RDONLY)
        fcntl.flock(live, fcntl.LOCK_EX)
    try:
        set_values(tmp_path / ".env", {"TOTP": "123456"})
    finally:
        if live is not None:
            os.close(live)
    expected = [".env", ".env.keep-me", ".other.totp-tmp-x"]
    if live is not None:
        expected.append(".env.totp-tmp-live")
    assert _listing(tmp_path) == sorted(expected)


def test_compute_decides_what_to_keep(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP_SECRET=OLD\n")

    def compute(parsed):
        values = {"TOTP": "1"}
        if not parsed.has_nonempty("TOTP_SECRET"):
            values["TOTP_SECRET"] = "NEW"
        return values, INF

    result = envfile.update_env_file(str(env_path), compute)
    assert revealed(result.written) == {"TOTP": "1"} and result.replaced
    assert env_path.read_text() == "TOTP_SECRET=OLD\nTOTP=1\n"


def test_an_empty_secret_is_filled_in_place(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("# paste it here\nTOTP_SECRET=\nTOTP=\n")

    def compute(parsed):
        assert not parsed.has_nonempty("TOTP_SECRET")
        return {"TOTP": "123456", "TOTP_SECRET": "JBSWY3DPEHPK3PXPJBSWY3DPEH"}, INF

    envfile.update_env_file(str(env_path), compute)
    assert env_path.read_text() == (
        "# paste it here\nTOTP_SECRET=JBSWY3DPEHPK3PXPJBSWY3DPEH\nTOTP=123456\n")


@pytest.mark.parametrize("make,reason", [
    (lambda tmp: str(tmp / "no" / ".env"), "no_folder"),
    (lambda tmp: "", "not_a_file"),
    (lambda tmp: (tmp / "dir").mkdir() or str(tmp / "dir"), "not_a_file"),
    (lambda tmp: (tmp / "f").write_text("x") and str(tmp / "f" / ".env"), "no_folder"),
])
def test_paths_that_cannot_be_written_are_refused_beforehand(tmp_path, make, reason):
    path = make(tmp_path)
    before = _listing(tmp_path)
    for attempt in (envfile.check_writable, lambda p: set_values(p, {"TOTP": "1"})):
        with pytest.raises(EnvFileError) as caught:
            attempt(path)
        assert caught.value.reason == reason
        assert caught.value.hint and "--" not in caught.value.hint
    assert _listing(tmp_path) == before


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symlinks")
def test_a_dangling_symlink_into_a_missing_folder_is_refused(tmp_path):
    (tmp_path / ".env").symlink_to(tmp_path / "gone" / "real.env")
    with pytest.raises(EnvFileError) as caught:
        envfile.check_writable(str(tmp_path / ".env"))
    assert caught.value.reason == "no_folder"
    envfile.check_writable(str(tmp_path / "fresh.env"))  # a new file in a real folder is fine
    assert not (tmp_path / "fresh.env").exists() and _listing(tmp_path) == [".env"]


@posix_only
def test_a_read_only_file_is_refused_untouched_even_as_root(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=000000\n")
    env_path.chmod(0o400)
    before = env_path.stat()
    for attempt in (envfile.check_writable, lambda p: set_values(p, {"TOTP": "1"})):
        with pytest.raises(EnvFileError) as caught:
            attempt(str(env_path))
        assert caught.value.reason == "read_only"
        assert "read-only (mode 0400)" in caught.value.message
        assert "chmod u+w" in (caught.value.hint or "")
    assert env_path.read_text() == "TOTP=000000\n"
    assert env_path.stat().st_mtime_ns == before.st_mtime_ns
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o400


@pytest.mark.skipif(not hasattr(os, "link"), reason="hard links")
def test_a_hard_linked_file_is_refused_untouched(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=000000\n")
    os.link(env_path, tmp_path / "other-name")
    for attempt in (envfile.check_writable, lambda p: set_values(p, {"TOTP": "1"})):
        with pytest.raises(EnvFileError) as caught:
            attempt(str(env_path))
        assert caught.value.reason == "hard_linked" and "2 hard links" in caught.value.message
    assert env_path.read_text() == (tmp_path / "other-name").read_text() == "TOTP=000000\n"
    assert os.stat(env_path).st_ino == os.stat(tmp_path / "other-name").st_ino


@posix_only
@pytest.mark.skipif(not as_root, reason="root: os.access says yes to everything")
@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr")
def test_an_immutable_file_is_refused_untouched(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=000000\n")
    if subprocess.run(["chattr", "+i", str(env_path)], capture_output=True).returncode:
        pytest.skip("this filesystem has no immutable attribute")
    try:
        for attempt in (envfile.check_writable, lambda p: set_values(p, {"TOTP": "1"})):
            with pytest.raises(EnvFileError) as caught:
                attempt(str(env_path))
            assert caught.value.reason == "read_only" and "immutable" in caught.value.message
        assert env_path.read_text() == "TOTP=000000\n"
    finally:
        subprocess.run(["chattr", "-i", str(env_path)], check=True)


@posix_only
@pytest.mark.skipif(as_root, reason="root may write a folder whatever its mode")
def test_a_folder_without_write_permission_is_refused(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / ".env").write_text("TOTP=1\n")
    folder.chmod(0o500)
    try:
        with pytest.raises(EnvFileError) as caught:
            envfile.check_writable(str(folder / ".env"))
        assert caught.value.reason == "permission"
    finally:
        folder.chmod(0o700)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs, mounted for the test (root on Linux only)."""
    if not sys.platform.startswith("linux") or not as_root or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root on Linux")
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                           str(mount)], capture_output=True)
    if made.returncode:
        pytest.skip("mount is not allowed here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_filesystem_never_leaves_a_torn_or_empty_file(small_tmpfs):
    env_path = small_tmpfs / ".env"
    old = "".join(f"KEY_{i}=value-{i}\n" for i in range(2000)) + "TOTP=000000\n"  # ~37 KB
    env_path.write_text(old)
    with pytest.raises(EnvFileError) as caught:
        set_values(env_path, {"TOTP": "123456"})
    assert caught.value.reason == "io" and "no space left on device" in caught.value.message
    assert "free some space" in (caught.value.hint or "")
    assert env_path.read_text() == old
    assert _listing(small_tmpfs) == [".env"]
    # A small file still fits: the same filesystem is fine once there is room.
    env_path.write_text("TOTP=000000\n")
    set_values(env_path, {"TOTP": "123456"})
    assert env_path.read_text() == "TOTP=123456\n" and _listing(small_tmpfs) == [".env"]


def test_a_read_only_filesystem_is_refused_untouched(small_tmpfs):
    env_path = small_tmpfs / ".env"
    env_path.write_text("TOTP=000000\n")
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)],
                             capture_output=True)
    if remount.returncode:
        pytest.skip("cannot remount read-only here")
    for attempt in (envfile.check_writable, lambda p: set_values(p, {"TOTP": "1"})):
        with pytest.raises(EnvFileError) as caught:
            attempt(str(env_path))
        assert caught.value.reason == "read_only"
    assert env_path.read_text() == "TOTP=000000\n"
    assert not (small_tmpfs / "new.env").exists()
    with pytest.raises(EnvFileError) as caught:
        envfile.check_writable(str(small_tmpfs / "new.env"))
    assert caught.value.reason == "read_only"


def test_permission_denied_on_read_is_reported_with_a_hint(tmp_path, monkeypatch):
    # Root reads any file, so CI cannot make one unreadable; simulate the OS's answer.
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\n")
    real_open = os.open

    def denied(path, *args, **kwargs):
        if os.fspath(path) == str(env_path):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(envfile.os, "open", denied)
    with pytest.raises(EnvFileError) as caught:
        envfile.read_env_file(str(env_path))
    assert str(caught.value) == f"cannot read {env_path}: permission denied"
    assert "check the permissions" in (caught.value.hint or "")
    assert caught.value.reason == "permission"


@pytest.mark.parametrize("content,reason,words", [
    (b"A=1\nB=caf\xe9\n", "not_utf8", "not UTF-8 text (byte 10"),
    (b'A=1\nB="never closed\nC=3\n', "syntax", "line 2 cannot be parsed"),
])
def test_a_bad_file_is_refused_untouched(tmp_path, content, reason, words):
    env_path = tmp_path / ".env"
    env_path.write_bytes(content)
    for attempt in (envfile.read_env_file, lambda p: set_values(p, {"TOTP": "1"})):
        with pytest.raises(EnvFileError) as caught:
            attempt(str(env_path))
        assert caught.value.reason == reason and words in caught.value.message
        assert "untouched" in (caught.value.hint or "")
    assert env_path.read_bytes() == content and _listing(tmp_path) == [".env"]


def test_reading_a_missing_file_a_folder_and_a_fifo(tmp_path):
    assert envfile.read_env_file(str(tmp_path / "absent.env")) is None
    with pytest.raises(EnvFileError) as caught:
        envfile.read_env_file(str(tmp_path))
    assert caught.value.reason == "not_a_file" and "is a folder" in caught.value.message
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        for attempt in (envfile.read_env_file, envfile.check_writable,
                        lambda p: set_values(p, {"TOTP": "1"})):
            with pytest.raises(EnvFileError) as caught:  # and never hangs on the FIFO
                attempt(str(tmp_path / "pipe"))
            assert caught.value.reason == "not_a_file"


def test_read_values_are_what_load_dotenv_loads(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_bytes(b"export A='x y' # c\r\nB=${A}-z\r\nTOTP_SECRET=\r\n")
    found = envfile.read_env_file(env_path)
    assert found is not None
    assert found.values() == {"A": "x y", "B": "x y-z", "TOTP_SECRET": ""} == dotenv_values(
        env_path)
    assert found.values().get("A") == "x y" and "NOPE" not in found.values()
    assert not found.has_nonempty("TOTP_SECRET")
    assert "x y" not in repr(found)

"""The env-file writer under races, with the faults injected, not hoped for.

The lock is held from the test itself (``flock`` on another descriptor of
the file, which conflicts as another process's would); another program's
change is made from inside ``compute`` or from the very function that
replaces the file; the clock is a fake one. Every test is bounded in time.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from dotenv import dotenv_values, set_key

from angel_totp import envfile
from angel_totp.errors import EnvFileError

INF = float("inf")
posix_only = pytest.mark.skipif(os.name == "nt", reason="flock is POSIX; Windows has its own test")
windows_only = pytest.mark.skipif(os.name != "nt", reason="the msvcrt lock file is Windows-only")


pytestmark = pytest.mark.time_bound(30)


def revealed(written):
    return {key: value.reveal() for key, value in written.items()}


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def fixed(values, calls=None):
    """A compute that records each call and returns ``values``."""
    def compute(parsed):
        if calls is not None:
            calls.append(parsed._text)
        return dict(values), INF
    return compute


class HeldLock:
    """The env file's lock, held as another program would hold it."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt
            self.fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT)
            msvcrt.locking(self.fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl
            self.fd = os.open(self.path, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __exit__(self, *exc):
        self.release()


def test_a_held_lock_makes_the_writer_wait_then_give_up_naming_that_file(tmp_path):
    env_a = tmp_path / ".env.a"
    env_a.write_text("TOTP=000000\n")
    calls = []
    with HeldLock(env_a):
        started = time.monotonic()
        with pytest.raises(EnvFileError) as caught:
            envfile.update_env_file(str(env_a), fixed({"TOTP": "1"}, calls), lock_timeout=0.4)
        waited = time.monotonic() - started
    assert 0.4 <= waited < 3
    assert caught.value.reason == "locked" and caught.value.path == str(env_a)
    assert caught.value.message == f"{env_a} is locked by another program for over 0.4 s"
    assert "--" not in caught.value.message + (caught.value.hint or "")
    assert calls == []  # nothing was chosen before the lock
    assert env_a.read_text() == "TOTP=000000\n" and _listing(tmp_path) == [".env.a"]


def test_the_writer_goes_on_once_the_lock_is_released(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=000000\n")
    with HeldLock(env_path) as held:
        timer = threading.Timer(0.3, held.release)
        timer.start()
        started = time.monotonic()
        result = envfile.update_env_file(str(env_path), fixed({"TOTP": "123456"}),
                                         lock_timeout=10)
        waited = time.monotonic() - started
        timer.join()
    assert 0.3 <= waited < 5 and result.replaced
    assert env_path.read_text() == "TOTP=123456\n"


def test_a_lock_on_one_file_never_blocks_another_file_in_the_same_folder(tmp_path):
    env_a, env_b = tmp_path / ".env.a", tmp_path / ".env.b"
    env_a.write_text("TOTP=000000\n")
    env_b.write_text("TOTP=000000\n")
    with HeldLock(env_a):
        started = time.monotonic()
        envfile.update_env_file(str(env_b), fixed({"TOTP": "123456"}), lock_timeout=5)
        envfile.update_env_file(str(tmp_path / ".env.c"), fixed({"TOTP": "1"}), lock_timeout=5)
        assert time.monotonic() - started < 2
        with pytest.raises(EnvFileError) as caught:
            envfile.update_env_file(str(env_a), fixed({"TOTP": "1"}), lock_timeout=0.2)
    assert caught.value.path == str(env_a) and str(env_b) not in caught.value.message
    assert env_b.read_text() == "TOTP=123456\n" and env_a.read_text() == "TOTP=000000\n"
    assert _listing(tmp_path) == [".env.a", ".env.b", ".env.c"]


@posix_only
def test_a_file_replaced_while_the_writer_waited_is_locked_again_and_read_anew(
        tmp_path, monkeypatch):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=000000\n")
    waiting = threading.Event()
    real_try = envfile._try_flock

    def try_flock(fd):
        got = real_try(fd)
        if not got:
            waiting.set()
        return got

    monkeypatch.setattr(envfile, "_try_flock", try_flock)
    results = []
    with HeldLock(env_path) as held:
        writer = threading.Thread(target=lambda: results.append(envfile.update_env_file(
            str(env_path), fixed({"TOTP": "123456"}), lock_timeout=10)))
        writer.start()
        assert waiting.wait(10), "the writer never waited for the lock"
        # Another program replaces the file while the writer waits on the old one.
        (tmp_path / "new").write_text("OTHER=kept\nTOTP=000000\n")
        os.replace(tmp_path / "new", env_path)
        held.release()
        writer.join(10)
    assert results and results[0].replaced
    assert env_path.read_text() == "OTHER=kept\nTOTP=123456\n"


def test_a_change_made_while_the_values_are_chosen_is_kept(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\nTOTP=000000\n")
    calls = []

    def compute(parsed):
        calls.append(parsed._text)
        if len(calls) == 1:  # another program, which takes no lock, adds a key
            set_key(str(env_path), "OTHER", "kept", quote_mode="never")
        return {"TOTP": f"12345{len(calls)}"}, INF

    result = envfile.update_env_file(str(env_path), compute)
    assert result.attempts == 2 and result.computes == 2
    assert revealed(result.written) == {"TOTP": "123452"}
    assert calls[1] == "A=1\nTOTP=000000\nOTHER=kept\n"
    assert env_path.read_text() == "A=1\nTOTP=123452\nOTHER=kept\n"
    assert _listing(tmp_path) == [".env"]


@pytest.mark.parametrize("how", ["set_key", "append", "rewrite_same_size", "delete", "create"])
def test_a_change_just_before_the_replace_is_detected_and_redone(tmp_path, monkeypatch, how):
    env_path = tmp_path / ".env"
    if how != "create":
        env_path.write_text("A=1\nTOTP=000000\n")
    real_commit = envfile._commit
    done = []

    def change_then_commit(temp, target, seen):
        if not done:
            done.append(how)
            if how == "set_key":
                set_key(str(env_path), "OTHER", "kept", quote_mode="never")
            elif how == "append":
                with open(env_path, "a") as handle:
                    handle.write("OTHER=kept\n")
            elif how == "rewrite_same_size":
                with open(env_path, "r+") as handle:
                    handle.write("A=2")
            elif how == "delete":
                os.unlink(env_path)
            else:
                env_path.write_text("OTHER=kept\n")
        return real_commit(temp, target, seen)

    monkeypatch.setattr(envfile, "_commit", change_then_commit)
    result = envfile.update_env_file(str(env_path), fixed({"TOTP": "123456"}))
    assert result.attempts == 2
    expected = {"set_key": "A=1\nTOTP=123456\nOTHER=kept\n",
                "append": "A=1\nTOTP=123456\nOTHER=kept\n",
                "rewrite_same_size": "A=2\nTOTP=123456\n",
                "delete": "TOTP=123456\n",
                "create": "OTHER=kept\nTOTP=123456\n"}[how]
    assert env_path.read_text() == expected
    assert _listing(tmp_path) == [".env"]


def _can_swap(folder) -> bool:
    (folder / "swap-a").write_text("a")
    (folder / "swap-b").write_text("b")
    swapped = envfile._exchange(str(folder / "swap-a"), str(folder / "swap-b"))
    os.unlink(folder / "swap-a")
    os.unlink(folder / "swap-b")
    return swapped


@posix_only
@pytest.mark.parametrize("swap", [True, False], ids=["atomic swap", "plain rename"])
def test_an_append_to_the_old_file_during_the_rename_itself_is_not_lost(
        tmp_path, monkeypatch, swap):
    """An appender that opened the file before the rename writes into the old
    inode: the writer sees it afterwards and redoes the update on it."""
    if swap and not _can_swap(tmp_path):
        pytest.skip("no atomic swap (renameat2) here")
    if not swap:
        monkeypatch.setattr(envfile, "_exchange", lambda source, target: False)
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\nTOTP=000000\n")
    real_rename = envfile._rename_over
    appended = []

    def append_then_rename(source, target):
        if not appended:
            appended.append(True)
            with open(env_path, "a") as handle:  # after the last comparison
                handle.write("LATE=kept\n")
        return real_rename(source, target)

    monkeypatch.setattr(envfile, "_rename_over", append_then_rename)
    result = envfile.update_env_file(str(env_path), fixed({"TOTP": "123456"}))
    assert env_path.read_text() == "A=1\nTOTP=123456\nLATE=kept\n"
    assert result.replaced and result.computes == 2
    assert _listing(tmp_path) == [".env"]


def test_another_programs_rename_during_ours_is_not_lost(tmp_path, monkeypatch):
    """dotenv.set_key renames its own file into place; if it does so in the
    instant between the last comparison and our rename, the atomic swap
    hands us its file, and the update is redone on it."""
    if not _can_swap(tmp_path):
        pytest.skip("no atomic swap (renameat2) here: the plain rename cannot see this")
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\nTOTP=000000\n")
    real_rename = envfile._rename_over
    done = []

    def set_key_then_rename(source, target):
        if not done:
            done.append(True)
            set_key(str(env_path), "OTHER", "kept", quote_mode="never")
        return real_rename(source, target)

    monkeypatch.setattr(envfile, "_rename_over", set_key_then_rename)
    result = envfile.update_env_file(str(env_path), fixed({"TOTP": "123456"}))
    assert env_path.read_text() == "A=1\nTOTP=123456\nOTHER=kept\n"
    assert result.computes == 2
    assert _listing(tmp_path) == [".env"]


def test_a_file_that_keeps_changing_is_given_up_untouched(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\nTOTP=000000\n")
    calls = []

    def compute(parsed):
        calls.append(1)
        set_key(str(env_path), f"OTHER_{len(calls)}", "x", quote_mode="never")
        return {"TOTP": "123456"}, INF

    with pytest.raises(EnvFileError) as caught:
        envfile.update_env_file(str(env_path), compute, attempts=3)
    assert caught.value.reason == "changing" and len(calls) == 3
    assert "kept changing" in caught.value.message
    # Only the other program's changes are in it: ours was never written.
    assert env_path.read_text() == "A=1\nTOTP=000000\nOTHER_1=x\nOTHER_2=x\nOTHER_3=x\n"
    assert _listing(tmp_path) == [".env"]


def test_values_that_went_stale_before_the_replace_are_chosen_again(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=000000\n")
    now = [1000.0]
    calls = []

    def compute(parsed):
        calls.append(parsed._text)
        code = f"00000{len(calls)}"
        if len(calls) == 1:
            now[0] += 10  # the first choice takes long (a slow disk, a wait)
        return {"TOTP": code}, 1005.0 if len(calls) == 1 else 1020.0

    result = envfile.update_env_file(str(env_path), compute, clock=lambda: now[0])
    assert result.computes == 2 and result.attempts == 1
    assert calls[0] == calls[1] == "TOTP=000000\n"  # chosen again on the same text
    assert revealed(result.written) == {"TOTP": "000002"} and result.good_until == 1020.0
    assert env_path.read_text() == "TOTP=000002\n"


def test_values_that_are_always_stale_are_never_written(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=000000\n")
    with pytest.raises(EnvFileError) as caught:
        envfile.update_env_file(str(env_path), lambda parsed: ({"TOTP": "1"}, 0.0))
    assert caught.value.reason == "changing"
    assert env_path.read_text() == "TOTP=000000\n" and _listing(tmp_path) == [".env"]


def test_the_result_says_exactly_what_was_written(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=123456\n")
    same = envfile.update_env_file(str(env_path), fixed({"TOTP": "123456"}))
    assert not same.replaced and revealed(same.written) == {"TOTP": "123456"}
    uri = "otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&period=60"
    both = envfile.update_env_file(str(env_path), lambda parsed: (
        {"TOTP": "654321", "TOTP_SECRET": uri}, 1e12))
    assert both.replaced and revealed(both.written) == {"TOTP": "654321", "TOTP_SECRET": uri}
    assert both.good_until == 1e12 and both.path == str(env_path)
    assert dotenv_values(env_path) == {"TOTP": "654321", "TOTP_SECRET": uri}
    assert uri not in repr(both)


@posix_only
def test_mode_owner_and_symlinks_are_kept_and_new_files_are_private(tmp_path):
    real = tmp_path / "secrets"
    real.mkdir()
    target = real / "angel.env"
    target.write_text("A=1\n")
    target.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(target, 1234, 1234)
    (tmp_path / ".env").symlink_to(target)
    result = envfile.update_env_file(str(tmp_path / ".env"), fixed({"TOTP": "1"}))
    assert result.target == str(target)
    assert (tmp_path / ".env").is_symlink() and target.read_text() == "A=1\nTOTP=1\n"
    info = os.stat(target)
    assert info.st_mode & 0o777 == 0o640
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (1234, 1234)
    assert _listing(real) == ["angel.env"]
    envfile.update_env_file(str(tmp_path / "new.env"), fixed({"TOTP": "1"}))
    assert os.stat(tmp_path / "new.env").st_mode & 0o777 == 0o600


@posix_only
def test_the_new_file_is_locked_before_it_takes_the_old_ones_place(tmp_path, monkeypatch):
    """Between the rename and the end of the update, another writer that
    opens the new file must wait for it too."""
    import fcntl
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=000000\n")
    real_rename = envfile._rename_over
    seen = []

    def rename_then_probe(source, target):
        swapped = real_rename(source, target)
        fd = os.open(target, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append("free")
        except BlockingIOError:
            seen.append("locked")
        finally:
            os.close(fd)
        return swapped

    monkeypatch.setattr(envfile, "_rename_over", rename_then_probe)
    envfile.update_env_file(str(env_path), fixed({"TOTP": "123456"}))
    assert seen == ["locked"]


def test_writers_in_threads_lose_nothing(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("".join(f"K{i}=v{i}\n" for i in range(2000)))
    errors = []

    def write(n):
        try:
            envfile.update_env_file(str(env_path), fixed({f"WRITER_{n}": f"done{n}"}))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not errors
    text = env_path.read_text()
    for n in range(8):
        assert text.count(f"WRITER_{n}=done{n}\n") == 1
    assert _listing(tmp_path) == [".env"]


@windows_only
def test_windows_lock_file_is_per_file_and_removed(tmp_path):  # pragma: no cover - Windows
    env_a, env_b = tmp_path / ".env.a", tmp_path / ".env.b"
    env_a.write_text("TOTP=000000\n")
    env_b.write_text("TOTP=000000\n")
    with HeldLock(env_a):
        envfile.update_env_file(str(env_b), fixed({"TOTP": "1"}), lock_timeout=2)
        with pytest.raises(EnvFileError) as caught:
            envfile.update_env_file(str(env_a), fixed({"TOTP": "1"}), lock_timeout=0.2)
        assert caught.value.reason == "locked" and caught.value.path == str(env_a)
    assert not (tmp_path / ".env.b.lock").exists()
    assert env_b.read_text() == "TOTP=1\n"

"""Red team, round seven: the rules that envfile.py and store.py each decided, moved into
safefile (check_regular, check_one_name, check_replaceable, absolute). Each test does what
broke; where the old code (12f4743) behaved otherwise, the test says so."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ANGEL_SECRET, API_KEY, CLIENT_CODE, PIN, assert_no_leak
from test_daily_session import store  # noqa: F401 - fixture
from test_redteam_local import MOUNTED_CHILD, _in_a_mount_namespace, needs_posix


@needs_posix
@pytest.mark.time_bound(20)
def test_a_bind_mounted_lock_file_is_refused_not_written_through(store, tmp_path):  # noqa: F811
    # The lock file's record is written in place: bind-mounted (docker -v of the whole
    # state folder's files, or a mount namespace), the pid would land in the file mounted
    # over it, one the user never asked to be written, as a hard link's other name would.
    # check_one_name refuses the hard link; the mount, another name of the same kind, went
    # through (old code too).
    elsewhere = tmp_path / "host.txt"
    elsewhere.write_bytes(b"keep me\n")
    elsewhere.chmod(0o600)
    store.parent.mkdir(mode=0o700, exist_ok=True)
    lock = store.with_name(store.name + ".lock")
    lock.write_bytes(b"")
    lock.chmod(0o600)
    credentials = json.dumps([API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET])
    result = _in_a_mount_namespace(
        'mount --bind "$1" "$2" && exec "$3" -c "$4" "$5" "$6" "http://127.0.0.1:1"',
        str(elsewhere), str(lock), sys.executable, MOUNTED_CHILD, credentials, str(store))
    assert_no_leak(result.stdout + result.stderr, API_KEY, PIN, ANGEL_SECRET)
    assert elsewhere.read_bytes() == b"keep me\n", "the lock's record went into another file"
    assert result.stdout.startswith("SessionStoreError"), result.stdout + result.stderr[-300:]
    assert "mount" in result.stdout


@needs_posix
@pytest.mark.time_bound(10)
@pytest.mark.parametrize("named", [".", "~"])
def test_a_store_that_is_a_folder_is_never_to_be_removed(named, tmp_path):
    # daily_session(store=".") or a folder meant as "put it in here": check_regular now
    # says "is a folder", and the store's hint told the user to remove it (the current
    # folder, their home; as root, even "/"); the old code said the same after "is not a
    # regular file".
    import os

    import angel_totp
    path = os.path.expanduser(named)
    with pytest.raises(angel_totp.SessionStoreError) as caught:
        angel_totp.daily_login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, store=path,
                               base_url="http://127.0.0.1:1", timeout=1, min_validity=0)
    error = caught.value
    assert error.reason == "not_a_file" and "folder" in error.message
    assert error.hint and "remove" not in error.hint, error.hint
    assert "\n" not in error.message + error.hint
    from conftest import assert_no_plain_credentials
    assert_no_plain_credentials(error, API_KEY, PIN, ANGEL_SECRET)


@needs_posix
@pytest.mark.time_bound(20)
def test_a_dotdot_after_a_symlink_writes_the_file_the_kernel_names(tmp_path, monkeypatch):
    # --env-file link/../.env, link -> other/deep: the kernel (and the read) names
    # other/.env. safefile.absolute normalised "link/.." to the current folder before
    # realpath saw the link, so the update read one file and appended TOTP to another,
    # the .env of the current folder, which the user never named (the old code's
    # realpath resolved the link first).
    from conftest import run_generate
    deep = tmp_path / "other" / "deep"
    deep.mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").write_bytes(b"B=2\n")
    (work / "link").symlink_to(deep)
    result = run_generate("--secret-stdin", "--write", "--env-file", "link/../.env",
                          stdin=ANGEL_SECRET + "\n", cwd=work, secrets=(ANGEL_SECRET,))
    assert result.returncode == 0, result.stderr
    assert (work / ".env").read_bytes() == b"B=2\n", "a file the user never named changed"
    assert (tmp_path / "other" / ".env").read_text().startswith("TOTP=")


@needs_posix
@pytest.mark.time_bound(20)
def test_a_hard_link_another_user_made_leaves_a_way_out():
    # Another user given rw on .env by an ACL links it into a folder of theirs. The
    # user cannot remove that name; the old hint offered "or copy it to a file of its
    # own", check_one_name's shared hint kept only "remove the other links".
    import os
    import shutil
    import subprocess

    from conftest import clean_env, run_generate
    if os.geteuid() != 0 or not shutil.which("setfacl") or not shutil.which("runuser"):
        pytest.skip("needs root, setfacl and runuser")
    import tempfile
    from pathlib import Path
    top = Path(tempfile.mkdtemp())  # pytest's folders are 0700: the other user needs a way
    top.chmod(0o755)
    folder = top / "project"
    folder.mkdir(mode=0o755)
    env = folder / ".env"
    env.write_bytes(b"TOTP=111111\n")
    env.chmod(0o600)
    theirs = top / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    if subprocess.run(["setfacl", "-m", "u:nobody:rw", str(env)]).returncode or \
            subprocess.run(["runuser", "-u", "nobody", "--", "ln", str(env),
                            str(theirs / "mine")], env=clean_env()).returncode:
        pytest.skip("the other user could not link it here")
    try:
        result = run_generate("--secret-stdin", "--write", stdin=ANGEL_SECRET + "\n",
                              cwd=folder, secrets=(ANGEL_SECRET,))
        assert env.read_bytes() == b"TOTP=111111\n"
    finally:
        shutil.rmtree(top)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    assert "copy" in lines[1], "the only remedy left to the user is not offered"


@needs_posix
@pytest.mark.time_bound(10)
def test_a_lock_file_removed_while_waiting_is_not_held_alone(store, monkeypatch):  # noqa: F811
    # The lock file removed while a caller waits for it (a clean-up of the state folder,
    # rm -rf of stale files): the caller locked the nameless file, and the next caller
    # made a new lock file and locked that too; two logins at once, through one store.
    # check_one_name says a file with no name left is found "later"; the lock never did.
    import fcntl
    import os

    from angel_totp import store as store_module
    lock = str(store) + ".lock"
    real = store_module.lock_by
    removed: list[bool] = []

    def removed_first(fd: int, deadline: float) -> bool:
        if not removed:
            removed.append(True)
            os.unlink(lock)
        return real(fd, deadline)

    alone: list[bool] = []

    def another_caller(*args: object, **kwargs: object) -> None:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone.append(False)
        except BlockingIOError:
            alone.append(True)
        finally:
            os.close(fd)
        raise KeyboardInterrupt  # end the run here, as Ctrl-C would

    monkeypatch.setattr(store_module, "lock_by", removed_first)
    monkeypatch.setattr(store_module, "log_in", another_caller)
    import angel_totp
    with pytest.raises(KeyboardInterrupt):
        angel_totp.daily_login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, store=str(store),
                               base_url="http://127.0.0.1:1", timeout=1, min_validity=0)
    assert alone == [True], "another caller got the store's lock at the same time"


@needs_posix
@pytest.mark.time_bound(10)
def test_a_missing_setting_names_the_file_looked_in_after_a_symlink(tmp_path, monkeypatch):
    # env_file="link/../.env", link -> other/deep: the file read is other/.env, but
    # settings.absolute_path (a third "made absolute" beside safefile.absolute) normalised
    # "link/.." away and named the current folder's .env, which here holds the secret:
    # "TOTP_SECRET is not set in <a file that sets it>".
    import os

    import angel_totp
    deep = tmp_path / "other" / "deep"
    deep.mkdir(parents=True)
    (tmp_path / "other" / ".env").write_bytes(b"A=1\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").write_bytes(f"TOTP_SECRET={ANGEL_SECRET}\n".encode())
    (work / "link").symlink_to(deep)
    monkeypatch.chdir(work)
    with pytest.raises(angel_totp.MissingSecretError) as caught:
        angel_totp.code_from_env("link/../.env", min_validity=0)
    named = str(caught.value).partition(" or ")[2].split()[0]
    assert os.path.isabs(named), named
    assert os.path.realpath(named) == os.path.realpath(tmp_path / "other" / ".env"), named


@pytest.mark.time_bound(20)
def test_a_missing_env_file_in_a_missing_folder_is_not_offered_write(tmp_path):
    # --env-file nod/x.env without --write: the hint (said where the file is read since
    # it moved into console.env_file) offered "add --write to create it"; doing so only
    # fails again: "folder ... does not exist".
    from conftest import run_generate
    result = run_generate("--env-file", "nod/x.env", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert "--write" not in lines[1], lines[1]
    retried = run_generate("--env-file", "nod/x.env", "--write", "--secret-stdin",
                           stdin=ANGEL_SECRET + "\n", cwd=tmp_path, secrets=(ANGEL_SECRET,))
    assert retried.returncode != 0  # what the hint would have led to


@needs_posix
@pytest.mark.time_bound(10)
def test_a_lock_file_that_is_a_folder_is_called_one(store):  # noqa: F811
    # check_regular decides "a folder" for the store and its lock file alike, but a
    # folder where the lock file goes never got there: opening it for writing failed
    # first, and it was "cannot be used (is a directory)", reason io, hint "check its
    # owner and permissions", which are fine.
    import angel_totp
    store.with_name(store.name + ".lock").mkdir()
    with pytest.raises(angel_totp.SessionStoreError) as caught:
        angel_totp.daily_login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, store=str(store),
                               base_url="http://127.0.0.1:1", timeout=1, min_validity=0)
    error = caught.value
    assert error.reason == "not_a_file", (error.reason, str(error))
    assert "folder" in error.message and "permissions" not in (error.hint or "")

"""Red team, round four, local side: the env-file writer, the session store and
generate_totp.py attacked as another user, an administrator and a careless user would.

Faults are injected (mount namespaces, strace, monkeypatched calls), never waited for.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import ANGEL_SECRET, API_KEY, CLIENT_CODE, PIN, assert_clean_output, assert_no_leak
from test_redteam_local import BROKEN_STORE, MOUNTED_CHILD, _in_a_mount_namespace

POSIX = os.name == "posix"


def _raised(call) -> BaseException | None:
    """The error ``call`` raised, caught here: no frame of the test holds the values."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - whatever it is, the test checks it
        return error
    return None
needs_posix = pytest.mark.skipif(not POSIX, reason="POSIX folders, links and mounts")


@needs_posix
@pytest.mark.time_bound(20)
def test_a_bind_mounted_store_reached_through_a_linked_folder_is_refused_before_login(
        standin, tmp_path):
    # HOME (or XDG_STATE_HOME) reached through a symbolic link, as /home -> /data/home,
    # and the store bind-mounted (docker -v): the mount table names the real path.
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "linked").symlink_to(real)
    elsewhere = tmp_path / "host.json"
    elsewhere.write_bytes(BROKEN_STORE)
    elsewhere.chmod(0o600)
    (real / f"{CLIENT_CODE}.json").write_bytes(b"")
    (real / f"{CLIENT_CODE}.json").chmod(0o600)
    store = tmp_path / "linked" / f"{CLIENT_CODE}.json"
    credentials = json.dumps([API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET])
    result = _in_a_mount_namespace(
        'mount --bind "$1" "$2" && exec "$3" -c "$4" "$5" "$6" "$7"',
        str(elsewhere), str(real / f"{CLIENT_CODE}.json"), sys.executable, MOUNTED_CHILD,
        credentials, str(store), standin.url)
    output = result.stdout + result.stderr
    assert_no_leak(output, API_KEY, PIN, ANGEL_SECRET)
    assert_clean_output(result.stdout)
    assert result.stdout.startswith("SessionStoreError"), output[-300:]
    assert "mount" in result.stdout and standin.count("login") == 0


# A disk that fails the read-back after the new file took the old one's place: the
# error must not say the file was left untouched (the user would trust the old code).

@pytest.mark.time_bound(10)
@pytest.mark.parametrize("swap", [True, False], ids=["atomic swap", "plain rename"])
def test_a_failed_read_back_never_claims_the_file_was_untouched(tmp_path, monkeypatch, swap):
    from angel_totp import envfile
    from angel_totp.errors import EnvFileError
    if not swap:
        monkeypatch.setattr(envfile, "_exchange", lambda source, target: False)
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\nTOTP=000000\n")
    real = envfile.read_start

    def failing_on_the_new_file(fd: int, limit: int) -> bytes:
        data = real(fd, limit)
        if b"654321" in data:  # the read-back of the file just written
            raise OSError(5, "Input/output error")
        return data
    monkeypatch.setattr(envfile, "read_start", failing_on_the_new_file)
    with pytest.raises(EnvFileError) as caught:
        envfile.update_env_file(path, lambda current: ({"TOTP": "654321"}, float("inf")))
    text = f"{caught.value}\n{caught.value.hint}"
    assert_clean_output(text)
    assert path.read_bytes() == b"A=1\nTOTP=654321\n"  # it was replaced ...
    assert "untouched" not in text and "left as it was" not in text  # ... so never this
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


@pytest.mark.time_bound(10)
def test_a_change_lost_after_the_swap_never_claims_the_file_was_untouched(tmp_path,
                                                                          monkeypatch):
    # Another program writes into the old file during each swap: the run gives up,
    # but the file holds the new code by then.
    from angel_totp import envfile
    from angel_totp.errors import EnvFileError
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\nTOTP=000000\n")
    monkeypatch.setattr(envfile, "_changed",
                        lambda fd, seen: envfile._Seen(os.fstat(fd), b"A=2\n"))
    with pytest.raises(EnvFileError) as caught:
        envfile.update_env_file(path, lambda current: ({"TOTP": "654321"}, float("inf")),
                                attempts=1)
    text = f"{caught.value}\n{caught.value.hint}"
    assert_clean_output(text)
    assert caught.value.reason == "changing"
    assert b"TOTP=654321" in path.read_bytes()
    assert "untouched" not in text and "left as it was" not in text


# Another user's link in a folder everyone may write (/tmp), as a folder of the path:
# the kernel (fs.protected_symlinks) refuses to follow it, so must the writer.

@pytest.mark.time_bound(10)
def test_a_folder_link_the_kernel_would_refuse_to_follow_is_refused(tmp_path):
    import shutil
    import subprocess

    from angel_totp import envfile
    from angel_totp.errors import EnvFileError
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs root, Linux and runuser")
    base = Path("/tmp") / f"rt4-{os.getpid()}-{tmp_path.name}"  # reachable by nobody
    base.mkdir(mode=0o755)
    try:
        shared, victim = base / "shared", base / "victim"
        shared.mkdir()
        shared.chmod(0o1777)  # like /tmp
        victim.mkdir(mode=0o700)
        made = subprocess.run(["runuser", "-u", "nobody", "--", "ln", "-s", str(victim),
                               str(shared / "project")], capture_output=True)
        if made.returncode:
            pytest.skip("nobody cannot make a link here")
        env_path = shared / "project" / ".env"
        for attempt in (envfile.check_writable, lambda p: envfile.update_env_file(
                p, lambda current: ({"TOTP": "123456"}, float("inf")))):
            with pytest.raises(EnvFileError) as caught:
                attempt(env_path)
            text = f"{caught.value}\n{caught.value.hint}"
            assert_clean_output(text)
            assert caught.value.reason == "permission" and "not followed" in text
        assert list(victim.iterdir()) == []
    finally:
        shutil.rmtree(base)


# A careless bot's compute() returns a code as a number beside its secret: the error
# an error tracker records must hold the secret nowhere, and be the library's own.

@pytest.mark.time_bound(10)
def test_a_compute_returning_a_number_beside_the_secret_leaks_nothing(tmp_path):
    from conftest import assert_no_plain_credentials

    import angel_totp
    from angel_totp import envfile
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\n")

    def compute(current):
        return {"TOTP_SECRET": ANGEL_SECRET, "TOTP": 123456}, float("inf")
    try:
        envfile.update_env_file(path, compute)
    except Exception as error:  # noqa: BLE001 - whatever it is, the test checks it
        caught = error
    else:
        raise AssertionError("no error was raised")
    assert_no_plain_credentials(caught, ANGEL_SECRET)  # no frame holds it
    assert isinstance(caught, angel_totp.AngelTotpError), repr(caught)
    assert_clean_output(str(caught))
    assert_no_leak(str(caught), ANGEL_SECRET)
    assert path.read_bytes() == b"A=1\n"


# A bot that builds its TotpSecret by hand from a file it read: over 1,024 characters is
# refused as a pasted file is, whatever way the text comes in.

@pytest.mark.time_bound(10)
def test_a_hand_made_secret_over_the_length_limit_is_refused():
    from conftest import assert_no_plain_credentials

    from angel_totp.errors import InvalidSecretError
    from angel_totp.hidden import Hidden
    from angel_totp.secret import MAX_SECRET_LENGTH, TotpSecret, parse_secret
    times = MAX_SECRET_LENGTH // len(ANGEL_SECRET) + 1
    for made in (lambda: TotpSecret(ANGEL_SECRET * times),
                 lambda: TotpSecret(Hidden(ANGEL_SECRET * times)), lambda: ANGEL_SECRET * times):
        error = _raised(lambda made=made: parse_secret(made()))
        assert isinstance(error, InvalidSecretError) and "too long" in error.message, error
        assert_clean_output(f"{error}\n{error.hint}")
        assert_no_leak(f"{error}\n{error.hint}", ANGEL_SECRET)
        assert_no_plain_credentials(error, ANGEL_SECRET)


@pytest.mark.time_bound(10)
def test_a_failed_check_of_the_displaced_file_never_claims_the_file_was_untouched(
        tmp_path, monkeypatch):
    # After the atomic swap the old file, now under the temporary name, is opened to
    # see whether another program wrote into it meanwhile: that open fails (EMFILE).
    from angel_totp import envfile
    from angel_totp.errors import EnvFileError
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\nTOTP=000000\n")
    real = os.open

    def failing_on_the_displaced_file(name, flags, *args, **kwargs):
        if ".totp-tmp-" in os.fspath(name) and not flags & os.O_CREAT:
            raise OSError(24, "Too many open files")
        return real(name, flags, *args, **kwargs)
    monkeypatch.setattr(envfile.os, "open", failing_on_the_displaced_file)
    error = _raised(lambda: envfile.update_env_file(
        path, lambda current: ({"TOTP": "654321"}, float("inf"))))
    monkeypatch.undo()
    assert isinstance(error, EnvFileError), error
    text = f"{error}\n{error.hint}"
    assert_clean_output(text)
    if path.read_bytes() == b"A=1\nTOTP=654321\n":  # swapped (Linux): never "untouched"
        assert "untouched" not in text and "left as it was" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


@pytest.mark.time_bound(10)
def test_text_another_program_wrote_during_the_swap_never_claims_untouched(tmp_path,
                                                                            monkeypatch):
    # What another program wrote into the old file in the instant of the swap cannot be
    # parsed: the run stops, but the file already holds the new code.
    from angel_totp import envfile
    from angel_totp.errors import EnvFileError
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\nTOTP=000000\n")
    monkeypatch.setattr(envfile, "_changed",
                        lambda fd, seen: envfile._Seen(os.fstat(fd), b"A='unclosed\n"))
    error = _raised(lambda: envfile.update_env_file(
        path, lambda current: ({"TOTP": "654321"}, float("inf"))))
    assert isinstance(error, EnvFileError), error
    text = f"{error}\n{error.hint}"
    assert_clean_output(text)
    assert b"TOTP=654321" in path.read_bytes()
    assert "untouched" not in text and "left as it was" not in text


@pytest.mark.time_bound(10)
def test_a_new_file_made_before_a_failure_never_claims_untouched(tmp_path, monkeypatch):
    # --save-secret on a new .env: the file is made (a hard link to the temporary one),
    # then removing the temporary name fails once (EIO).
    from angel_totp import envfile
    from angel_totp.errors import EnvFileError
    path = tmp_path / ".env"
    real, failed = os.unlink, []

    def failing_once(name, *args, **kwargs):
        if ".totp-tmp-" in os.fspath(name) and not failed:
            failed.append(name)
            raise OSError(5, "Input/output error")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(envfile.os, "unlink", failing_once)
    error = _raised(lambda: envfile.update_env_file(
        path, lambda current: ({"TOTP_SECRET": ANGEL_SECRET}, float("inf"))))
    monkeypatch.undo()
    if error is None:  # done in spite of it: then the file is whole, and alone
        assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]
        return
    assert isinstance(error, EnvFileError), error
    text = f"{error}\n{error.hint}"
    assert_clean_output(text)
    assert_no_leak(text, ANGEL_SECRET)
    if path.exists():
        assert "untouched" not in text and "left as it was" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) in ([".env"], [])


@pytest.mark.time_bound(10)
def test_a_displaced_old_file_whose_removal_failed_once_is_not_left_behind(tmp_path,
                                                                          monkeypatch):
    # A transient EIO on removing the old file (swapped out under the temporary name):
    # the run succeeds, and no temporary file stays beside .env.
    from angel_totp import envfile
    path = tmp_path / ".env"
    path.write_bytes(f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n".encode())
    real, failed = os.unlink, []

    def failing_once(name, *args, **kwargs):
        if ".totp-tmp-" in os.fspath(name) and not failed:
            failed.append(name)
            raise OSError(5, "Input/output error")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(envfile.os, "unlink", failing_once)
    envfile.update_env_file(path, lambda current: ({"TOTP": "654321"}, float("inf")))
    monkeypatch.undo()
    assert failed, "the fault was not injected"
    assert path.read_bytes() == f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=654321\n".encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]

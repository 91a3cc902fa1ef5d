"""Failures inside the write leave the file as it was and no temp file."""

from __future__ import annotations

import os

import pytest

from angel_totp import envfile


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("broken", ["replace", "fsync", "write"])
def test_failure_mid_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch, broken):
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\nTOTP=000000\n")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if broken == "replace":
        monkeypatch.setattr(envfile.os, "replace", fail)
    elif broken == "fsync":
        monkeypatch.setattr(envfile.os, "fsync", fail)
    else:
        real_fdopen = os.fdopen

        class FullDisk:
            def __init__(self, handle):
                self.handle = handle

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.handle.close()

            def write(self, data):
                raise OSError(28, "No space left on device")

        monkeypatch.setattr(envfile.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(envfile.EnvFileError) as caught:
        envfile.update_env_file(str(env_path), {"TOTP": "123456"})
    assert "no space left on device" in str(caught.value)
    assert env_path.read_text() == "A=1\nTOTP=000000\n"
    assert _listing(tmp_path) == [".env"]


def test_stale_temp_files_of_killed_runs_are_removed(tmp_path):
    (tmp_path / ".env").write_text("A=1\n")
    (tmp_path / ".env.totp-tmp-abc123").write_text("half")
    (tmp_path / ".env.keep-me").write_text("not ours")
    envfile.update_env_file(str(tmp_path / ".env"), {"TOTP": "123456"})
    assert _listing(tmp_path) == [".env", ".env.keep-me"]


def test_keep_existing_does_not_overwrite(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP_SECRET=OLD\n")
    written = envfile.update_env_file(str(env_path), {"TOTP_SECRET": "NEW", "TOTP": "1"},
                                      keep_existing=frozenset({"TOTP_SECRET"}))
    assert written == {"TOTP_SECRET": False, "TOTP": True}
    assert env_path.read_text() == "TOTP_SECRET=OLD\nTOTP=1\n"


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(envfile.EnvFileError) as caught:
        envfile.update_env_file(str(tmp_path / "no" / ".env"), {"TOTP": "1"})
    assert "does not exist" in str(caught.value)


def test_permission_denied_on_read_is_reported_with_a_hint(tmp_path, monkeypatch):
    # Root reads any file, so CI cannot make one unreadable; simulate the OS's answer.
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(envfile.EnvFileError) as caught:
        envfile.read_env_file(str(env_path), named_by_user=True)
    assert str(caught.value) == f"cannot read {env_path}: permission denied"
    assert "check the permissions" in caught.value.hint
    assert caught.value.usage is False  # exit 1: the file exists but cannot be read

"""The env file as a user sees it: exact bytes after --write, and every refusal."""

from __future__ import annotations

import os
import stat

import pytest
from conftest import ANGEL_SECRET, RFC_SHA1, clean_env, run_generate

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
as_root = hasattr(os, "geteuid") and os.geteuid() == 0


def write_with(folder, *args, stdin=ANGEL_SECRET, env=None):
    result = run_generate("--secret-stdin", "-q", "--min-validity", "0", *args,
                          stdin=stdin, cwd=folder, env=env, secrets=(ANGEL_SECRET,))
    return result, result.stdout.strip()


LAYOUT = (
    "\ufeff# Angel One settings\r\n"
    "\r\n"
    "export ANGEL_API_KEY='key with spaces'  # app key\r\n"
    'TOTP="111111" # refreshed by cron\r\n'
    "MULTI=\"line one\r\nline two\"\r\n"
    "  export TOTP=222222   # second copy\r\n"
    "ANGEL_CLIENT_CODE=A123456\r\n"
    "TOTP='333333'\r\n"
    "LAST=no-final-newline"
)


def test_write_changes_only_totp_values(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_bytes(LAYOUT.encode())
    env_path.chmod(0o600)
    result, code = write_with(tmp_path, "--write")
    assert result.returncode == 0, result.stderr
    expected = (LAYOUT.replace('"111111"', f'"{code}"').replace("=222222", f"={code}")
                .replace("'333333'", f"'{code}'"))
    assert env_path.read_bytes() == expected.encode()
    assert "updated TOTP in .env" in result.stderr
    assert result.stdout == code + "\n"


def test_absent_totp_is_appended_in_the_files_style(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_bytes(b"A=1\r\nB=2\r\n")
    result, code = write_with(tmp_path, "--write")
    assert env_path.read_bytes() == f"A=1\r\nB=2\r\nTOTP={code}\r\n".encode()


def test_missing_final_newline_stays_missing_when_appending(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_bytes(b"A=1\nB=2")
    result, code = write_with(tmp_path, "--write")
    assert env_path.read_bytes() == f"A=1\nB=2\nTOTP={code}".encode()


def test_second_run_changes_the_same_line(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_bytes(b"A=1\n")
    write_with(tmp_path, "--write")
    write_with(tmp_path, "--write")
    assert env_path.read_text().count("TOTP=") == 1


@posix_only
def test_permissions_are_kept_and_loose_ones_warned_about(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=1\n")
    env_path.chmod(0o640)
    result, _ = write_with(tmp_path, "--write")
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o640
    assert "warning: .env can be read by other users (mode 0640)" in result.stderr
    assert "hint: chmod 600 .env" in result.stderr


@posix_only
def test_private_file_gets_no_warning(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("TOTP=1\n")
    env_path.chmod(0o600)
    result, _ = write_with(tmp_path, "--write")
    assert "warning" not in result.stderr
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600


@posix_only
def test_new_file_is_created_0600(tmp_path):
    result, code = write_with(tmp_path, "--write", "--env-file", "new.env")
    assert result.returncode == 0, result.stderr
    new = tmp_path / "new.env"
    assert new.read_text() == f"TOTP={code}\n"
    assert stat.S_IMODE(new.stat().st_mode) == 0o600


def test_named_missing_file_without_write_is_a_usage_error(tmp_path):
    result = run_generate("--env-file", "nope.env", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: env file nope.env does not exist")
    assert not (tmp_path / "nope.env").exists()


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symlinks")
def test_symlink_is_written_through_and_kept(tmp_path):
    real_dir = tmp_path / "secrets"
    real_dir.mkdir()
    target = real_dir / "angel.env"
    target.write_text("A=1\nTOTP=000000\n")
    target.chmod(0o600)
    (tmp_path / ".env").symlink_to(target)
    result, code = write_with(tmp_path, "--write")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".env").is_symlink()
    assert os.readlink(tmp_path / ".env") == str(target)
    assert target.read_text() == f"A=1\nTOTP={code}\n"
    assert sorted(p.name for p in real_dir.iterdir()) == ["angel.env"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "secrets"]


def test_no_temporary_file_is_left_behind(tmp_path):
    (tmp_path / ".env").write_text("A=1\n")
    write_with(tmp_path, "--write")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


@pytest.mark.parametrize("content,words", [
    (b"A=1\nB=caf\xe9\n", "not UTF-8 text (byte 10"),
    (b'A=1\nB="never closed\nC=3\n', "line 2 cannot be parsed"),
])
def test_bad_file_exits_1_and_is_left_untouched(tmp_path, content, words):
    env_path = tmp_path / ".env"
    env_path.write_bytes(content)
    env_path.chmod(0o600)
    before = env_path.stat()
    result, _ = write_with(tmp_path, "--write")
    assert result.returncode == 1
    assert result.stdout == ""  # nothing printed before the file was checked
    assert words in result.stderr.splitlines()[0]
    assert result.stderr.startswith("error: ") and "\nhint: " in result.stderr
    assert env_path.read_bytes() == content
    assert env_path.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_bad_file_is_refused_when_reading_the_secret_too(tmp_path):
    (tmp_path / ".env").write_bytes(b"TOTP_SECRET=" + ANGEL_SECRET.encode() + b"\nX='open\n")
    result = run_generate(cwd=tmp_path, secrets=(ANGEL_SECRET,))
    assert result.returncode == 1
    assert "line 2 cannot be parsed" in result.stderr


def test_a_folder_named_as_the_env_file_is_a_usage_error(tmp_path):
    (tmp_path / "conf").mkdir()
    result, _ = write_with(tmp_path, "--write", "--env-file", "conf")
    assert result.returncode == 2
    assert result.stderr.startswith("error: conf is a folder")


def test_a_folder_at_the_default_path_is_a_failure(tmp_path):
    (tmp_path / ".env").mkdir()
    result, _ = write_with(tmp_path, "--write")
    assert result.returncode == 1
    assert result.stderr.startswith("error: .env is a folder")


@pytest.mark.skipif(as_root or os.name == "nt", reason="root reads any file")
def test_unreadable_file_exits_1(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\n")
    env_path.chmod(0)
    result, _ = write_with(tmp_path, "--write")
    assert result.returncode == 1
    assert "permission denied" in result.stderr


def test_secret_comes_from_env_file_and_environment_wins(tmp_path):
    import pyotp
    (tmp_path / ".env").write_text(f"TOTP_SECRET='{ANGEL_SECRET}'\n")
    from_file = run_generate("-q", "--time", "59", cwd=tmp_path, secrets=(ANGEL_SECRET,))
    assert from_file.stdout.strip() == pyotp.TOTP(ANGEL_SECRET).at(59)
    from_env = run_generate("-q", "--time", "59", cwd=tmp_path,
                            env=clean_env(TOTP_SECRET=RFC_SHA1),
                            secrets=(ANGEL_SECRET, RFC_SHA1))
    assert from_env.stdout.strip() == "287082"


def test_stdin_wins_over_environment(tmp_path):
    result = run_generate("--secret-stdin", "-q", "--time", "59", stdin=RFC_SHA1,
                          cwd=tmp_path, env=clean_env(TOTP_SECRET=ANGEL_SECRET))
    assert result.stdout.strip() == "287082"


def test_env_file_option_picks_another_file(tmp_path):
    (tmp_path / "angel.env").write_text(f"TOTP_SECRET={RFC_SHA1}\n")
    result = run_generate("--env-file", "angel.env", "-q", "--time", "59", cwd=tmp_path)
    assert result.stdout.strip() == "287082"


def test_invalid_secret_in_env_file_names_its_source(tmp_path):
    (tmp_path / ".env").write_text("TOTP_SECRET=JBSWY3DPEH0K3PXPJBSWY3DPEH\n")
    (tmp_path / ".env").chmod(0o600)
    result = run_generate(cwd=tmp_path, secrets=("JBSWY3DPEH0K3PXPJBSWY3DPEH",))
    assert result.returncode == 2
    assert result.stderr.startswith("error: TOTP_SECRET in .env is not a valid TOTP secret: "
                                    "character 11")


def test_without_a_terminal_nothing_is_written_unless_asked(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text(f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")
    for args in ((), ("--no-write",)):
        result = run_generate(*args, cwd=tmp_path, secrets=(ANGEL_SECRET,))
        assert result.returncode == 0
        assert env_path.read_text() == f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n"


def test_save_secret_adds_it_once_and_the_next_run_uses_it(tmp_path):
    env_path = tmp_path / ".env"
    env_path.write_text("A=1\n")
    spaced = " ".join(ANGEL_SECRET[i:i + 4] for i in range(0, 26, 4)).lower()
    result, code = write_with(tmp_path, "--write", "--save-secret", stdin=spaced)
    assert result.returncode == 0, result.stderr
    assert env_path.read_text() == f"A=1\nTOTP={code}\nTOTP_SECRET={ANGEL_SECRET}\n"
    assert "saved TOTP_SECRET in .env" in result.stderr
    again, _ = write_with(tmp_path, "--save-secret", stdin=RFC_SHA1)
    assert "already has a TOTP_SECRET; it was left as it was" in again.stderr
    assert f"TOTP_SECRET={ANGEL_SECRET}\n" in env_path.read_text()
    reuse = run_generate("-q", "--time", "59", cwd=tmp_path, secrets=(ANGEL_SECRET,))
    import pyotp
    assert reuse.stdout.strip() == pyotp.TOTP(ANGEL_SECRET).at(59)


def test_write_never_puts_the_secret_in_the_file(tmp_path):
    (tmp_path / ".env").write_text("A=1\n")
    write_with(tmp_path, "--write")
    assert ANGEL_SECRET not in (tmp_path / ".env").read_text()


def test_time_and_write_do_not_mix(tmp_path):
    result, _ = write_with(tmp_path, "--write", "--time", "59")
    assert result.returncode == 2
    assert not (tmp_path / ".env").exists()


def test_empty_secret_in_a_fresh_copy_of_the_example_counts_as_missing(tmp_path):
    import shutil

    from conftest import ROOT
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    (tmp_path / ".env").chmod(0o600)
    result = run_generate(cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: TOTP_SECRET in {tmp_path / '.env'} is empty")
    assert "hint: use --secret-stdin" in result.stderr

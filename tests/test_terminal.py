"""The terminal flows, driven through a pseudo-terminal as a person would."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import ANGEL_SECRET, GENERATE, assert_no_leak, clean_env

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.skipif(os.name == "nt", reason="pexpect.spawn needs a POSIX pty")


class Session:
    """A spawned generate_totp.py whose whole transcript is kept."""

    def __init__(self, folder, *args, env=None):
        self.child = pexpect.spawn(sys.executable, [str(GENERATE), *args], cwd=str(folder),
                                   env=env or clean_env(), encoding="utf-8", timeout=15)
        self.transcript = []
        self.child.logfile_read = self  # collects everything the terminal showed

    def write(self, data):
        self.transcript.append(data)

    def flush(self):
        pass

    def expect(self, pattern):
        return self.child.expect(pattern)

    def answer(self, prompt, reply):
        """Wait for a prompt, then type a reply and Enter."""
        self.child.expect(prompt)
        self.child.sendline(reply)

    def finish(self) -> tuple[int, str]:
        self.child.expect(pexpect.EOF)
        self.child.close()
        text = "".join(self.transcript)
        assert_no_leak(text, ANGEL_SECRET)
        assert "Traceback" not in text
        status = self.child.exitstatus
        if status is None:  # killed by a signal
            status = 128 + self.child.signalstatus
        return status, text


def test_hidden_prompt_then_update_yes_and_save_no(tmp_path):
    session = Session(tmp_path)
    session.answer(r"TOTP secret \(input hidden\): ", ANGEL_SECRET.lower())
    session.expect(r"TOTP (\d{6}) \(valid for \d+ s\)")
    code = session.child.match.group(1)
    session.answer(r"Update TOTP in \.env\? \[y/N\] ", "y")
    session.answer(r"Save this secret as TOTP_SECRET in \.env .*\[y/N\] ", "")
    status, text = session.finish()
    assert status == 0
    assert (tmp_path / ".env").read_text() == f"TOTP={code}\n"
    assert "updated TOTP in .env" in text


def test_update_no_writes_nothing(tmp_path):
    session = Session(tmp_path)
    session.answer("input hidden", ANGEL_SECRET)
    session.answer(r"\[y/N\] ", "n")
    session.answer(r"\[y/N\] ", "no")
    status, _ = session.finish()
    assert status == 0
    assert not (tmp_path / ".env").exists()


def test_typed_secret_saved_when_user_says_yes(tmp_path):
    (tmp_path / ".env").write_text("A=1\n")
    (tmp_path / ".env").chmod(0o600)
    session = Session(tmp_path)
    session.answer("input hidden", " ".join([ANGEL_SECRET[:13], ANGEL_SECRET[13:]]))
    session.answer(r"Update TOTP.*\[y/N\] ", "")
    session.answer(r"Save this secret.*\[y/N\] ", "y")
    status, text = session.finish()
    assert status == 0
    assert (tmp_path / ".env").read_text() == f"A=1\nTOTP_SECRET={ANGEL_SECRET}\n"
    assert "saved TOTP_SECRET in .env" in text


def test_ctrl_c_at_the_secret_prompt_exits_130(tmp_path):
    session = Session(tmp_path)
    session.expect("input hidden")
    session.child.sendintr()
    status, text = session.finish()
    assert status == 130
    assert "interrupted" in text


def test_ctrl_c_at_the_update_question_exits_130(tmp_path):
    session = Session(tmp_path)
    session.answer("input hidden", ANGEL_SECRET)
    session.expect(r"\[y/N\] ")
    session.child.sendintr()
    status, _ = session.finish()
    assert status == 130
    assert not (tmp_path / ".env").exists()


def test_end_of_input_at_the_prompt_is_a_clean_error(tmp_path):
    session = Session(tmp_path)
    session.expect("input hidden")
    session.child.sendeof()
    status, text = session.finish()
    assert status == 2
    assert "error: no secret was entered (end of input)" in text


def test_empty_answer_at_the_prompt_is_a_clean_error(tmp_path):
    session = Session(tmp_path)
    session.answer("input hidden", "")
    status, text = session.finish()
    assert status == 2
    assert "error: no secret was entered" in text


def test_secret_stdin_on_a_terminal_does_not_echo(tmp_path):
    session = Session(tmp_path, "--secret-stdin", "--no-write")
    session.answer("input hidden", ANGEL_SECRET)
    session.expect(r"TOTP \d{6}")
    status, text = session.finish()
    assert status == 0
    assert "[y/N]" not in text


def test_no_write_never_asks(tmp_path):
    (tmp_path / ".env").write_text(f"TOTP_SECRET={ANGEL_SECRET}\n")
    (tmp_path / ".env").chmod(0o600)
    session = Session(tmp_path, "--no-write")
    status, text = session.finish()
    assert status == 0
    assert "[y/N]" not in text and "TOTP " in text


def test_write_flag_does_not_ask(tmp_path):
    (tmp_path / ".env").write_text(f"TOTP_SECRET={ANGEL_SECRET}\n")
    (tmp_path / ".env").chmod(0o600)
    session = Session(tmp_path, "--write")
    status, text = session.finish()
    assert status == 0
    assert "[y/N]" not in text
    assert "TOTP=" in (tmp_path / ".env").read_text()


def test_watch_redraws_in_place_and_ctrl_c_exits_0(tmp_path):
    env = clean_env(TOTP_SECRET=ANGEL_SECRET)
    session = Session(tmp_path, "--watch", env=env)
    for _ in range(2):
        session.expect(r"\rTOTP \d{6} \(valid for \d+ s\)")
    session.child.sendintr()
    status, text = session.finish()
    assert status == 0
    assert text.count("\rTOTP ") >= 2  # redrawn with a carriage return
    assert text.count("\n") <= 2  # one redrawn line, not a line per second


def test_empty_secret_in_env_file_leads_to_the_prompt(tmp_path):
    (tmp_path / ".env").write_text("TOTP_SECRET=\nTOTP=\n")
    (tmp_path / ".env").chmod(0o600)
    session = Session(tmp_path, "--no-write")
    session.answer("input hidden", ANGEL_SECRET)
    session.expect(r"TOTP \d{6}")
    status, _ = session.finish()
    assert status == 0


def test_a_slow_answer_writes_a_code_that_is_still_valid(tmp_path):
    import time
    uri = f"otpauth://totp/x?secret={ANGEL_SECRET}&period=2"  # codes last 2 s
    env = clean_env(TOTP_SECRET=uri)
    session = Session(tmp_path, "--min-validity", "1", env=env)
    session.expect(r"TOTP (\d{6})")
    printed = session.child.match.group(1)
    session.expect(r"\[y/N\] ")
    time.sleep(2.5)  # the printed code has expired by now
    session.child.sendline("y")
    status, text = session.finish()
    assert status == 0
    written = (tmp_path / ".env").read_text().strip().split("=")[1]
    assert written != printed
    assert f"the code above has expired; wrote the next one, {written}" in text

"""The terminal flows, driven through a pseudo-terminal as a person would.

Each run's clock is a virtual one (tests/faults/sitecustomize.py) that starts
where the test says in a code's 30 seconds, so no test depends on when it
happens to run; waits pass 20 times faster.
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import ANGEL_SECRET, GENERATE, Dialogue, assert_clean_output, assert_no_leak
from generate_helpers import STEP, STEP_START, fault_env

pexpect = pytest.importorskip("pexpect")
pytestmark = [pytest.mark.skipif(os.name == "nt", reason="pexpect.spawn needs a POSIX pty"),
              pytest.mark.time_bound(3)]

MID_STEP = f"{STEP_START + 10}:20"  # 20 s left: no run waits unless a test says so


def session(folder, *args, start: str = MID_STEP, **env) -> Dialogue:
    return Dialogue(GENERATE, *args, cwd=folder, env=fault_env(GEN_FAULT_CLOCK=start, **env))


def private_env(folder, text: str) -> None:
    (folder / ".env").write_text(text)
    (folder / ".env").chmod(0o600)


def done(run: Dialogue) -> tuple[int, str]:
    """The exit status and transcript; no secret, traceback or control character
    shown (but a terminal's CR LF and the \\r and ESC [K of a redrawn line)."""
    status, text = run.finish(ANGEL_SECRET)
    assert_clean_output(lines_shown(text).replace("\r", "").replace("\x1b[K", ""))
    return status, text


def lines_shown(text: str) -> str:
    """The transcript as lines: a terminal shows a newline as CR LF."""
    return text.replace("\r\n", "\n")


def test_hidden_prompt_then_save_no_and_update_yes(tmp_path):
    run = session(tmp_path)
    run.answer(r"TOTP secret \(input hidden\): ", ANGEL_SECRET.lower())
    run.expect(r"TOTP (\d{6}) \(valid for 20 s\)")
    code = run.child.match.group(1)
    run.answer(r"Save this secret as TOTP_SECRET in \.env .*\[y/N\] ", "")
    run.answer(r"Update TOTP in \.env\? \[y/N\] ", "y")
    status, text = done(run)
    assert status == 0
    assert (tmp_path / ".env").read_text() == f"TOTP={code}\n"
    assert "updated TOTP in .env" in text


def test_update_no_writes_nothing(tmp_path):
    run = session(tmp_path)
    run.answer("input hidden", ANGEL_SECRET)
    run.answer(r"\[y/N\] ", "n")
    run.answer(r"\[y/N\] ", "no")
    status, _ = done(run)
    assert status == 0
    assert not (tmp_path / ".env").exists()


def test_typed_secret_saved_when_user_says_yes(tmp_path):
    private_env(tmp_path, "A=1\n")
    run = session(tmp_path)
    run.answer("input hidden", " ".join([ANGEL_SECRET[:13], ANGEL_SECRET[13:]]))
    run.answer(r"Save this secret.*\[y/N\] ", "y")
    run.answer(r"Update TOTP.*\[y/N\] ", "")
    status, text = done(run)
    assert status == 0
    assert (tmp_path / ".env").read_text() == f"A=1\nTOTP_SECRET={ANGEL_SECRET}\n"
    assert "saved TOTP_SECRET in .env" in text


def test_the_offer_to_save_appears_for_an_empty_secret_as_in_the_example(tmp_path):
    private_env(tmp_path, "# from .env.example\nTOTP_SECRET=\nTOTP=\n")
    run = session(tmp_path)
    run.answer("input hidden", ANGEL_SECRET)
    run.answer(r"Save this secret as TOTP_SECRET.*\[y/N\] ", "y")
    run.answer(r"Update TOTP.*\[y/N\] ", "y")
    status, text = done(run)
    assert status == 0
    written = re.search(r"TOTP (\d{6})", text).group(1)
    assert (tmp_path / ".env").read_text() == (f"# from .env.example\nTOTP_SECRET={ANGEL_SECRET}"
                                               f"\nTOTP={written}\n")


def test_ctrl_c_at_the_secret_prompt_exits_130(tmp_path):
    run = session(tmp_path)
    run.expect("input hidden")
    run.child.sendintr()
    status, text = done(run)
    assert status == 130
    assert "interrupted" in text


def test_ctrl_c_at_the_update_question_exits_130(tmp_path):
    run = session(tmp_path)
    run.answer("input hidden", ANGEL_SECRET)
    run.expect(r"\[y/N\] ")
    run.child.sendintr()
    status, _ = done(run)
    assert status == 130
    assert not (tmp_path / ".env").exists()


def test_end_of_input_at_the_prompt_is_a_clean_error(tmp_path):
    run = session(tmp_path)
    run.expect("input hidden")
    run.child.sendeof()
    status, text = done(run)
    assert status == 2
    assert "error: no secret was entered (end of input)" in text


def test_empty_answer_at_the_prompt_is_a_clean_error(tmp_path):
    run = session(tmp_path)
    run.answer("input hidden", "")
    status, text = done(run)
    assert status == 2
    assert "error: no secret was entered" in text


def test_secret_stdin_on_a_terminal_does_not_echo(tmp_path):
    run = session(tmp_path, "--secret-stdin", "--no-write")
    run.answer("input hidden", ANGEL_SECRET)
    run.expect(r"TOTP \d{6}")
    status, text = done(run)
    assert status == 0
    assert "[y/N]" not in text


def test_no_write_never_asks(tmp_path):
    private_env(tmp_path, f"TOTP_SECRET={ANGEL_SECRET}\n")
    status, text = done(session(tmp_path, "--no-write"))
    assert status == 0
    assert "[y/N]" not in text and "TOTP " in text


def test_write_flag_does_not_ask(tmp_path):
    private_env(tmp_path, f"TOTP_SECRET={ANGEL_SECRET}\n")
    status, text = done(session(tmp_path, "--write"))
    assert status == 0
    assert "[y/N]" not in text
    assert "TOTP=" in (tmp_path / ".env").read_text()


@pytest.mark.parametrize("fmt", ["-q", "--json"])
def test_quiet_and_json_never_ask_even_on_a_terminal(tmp_path, fmt):
    # CODE=$(angel-totp -q) in a terminal: standard input is still the terminal.
    private_env(tmp_path, f"TOTP_SECRET={ANGEL_SECRET}\n")
    status, text = done(session(tmp_path, fmt))
    assert status == 0
    assert "Update TOTP" not in text and "[y/N]" not in text
    assert (tmp_path / ".env").read_text() == f"TOTP_SECRET={ANGEL_SECRET}\n"
    assert_clean_output(lines_shown(text))


def test_a_bad_min_validity_is_refused_before_any_prompt(tmp_path):
    status, text = done(session(tmp_path, "--min-validity", "30"))
    assert status == 2
    assert "input hidden" not in text and "[y/N]" not in text
    assert lines_shown(text).startswith("error: argument --min-validity: the validity must be")


def test_empty_secret_in_env_file_leads_to_the_prompt(tmp_path):
    private_env(tmp_path, "TOTP_SECRET=\nTOTP=\n")
    run = session(tmp_path, "--no-write")
    run.answer("input hidden", ANGEL_SECRET)
    run.expect(r"TOTP \d{6}")
    status, _ = done(run)
    assert status == 0


def test_the_wait_is_a_countdown_redrawn_on_one_line(tmp_path):
    private_env(tmp_path, f"TOTP_SECRET={ANGEL_SECRET}\n")
    start = f"{STEP_START + STEP - 3.4}:20"  # 3.4 s left, under --min-validity 5
    status, text = done(session(tmp_path, "-q", start=start))
    assert status == 0
    shown = lines_shown(text)
    assert shown.count("\n") == 1 and shown.endswith("\n")  # only the code's own line
    frames = [frame.replace("\x1b[K", "") for frame in shown.split("\r")]
    countdown = [frame for frame in frames if frame.startswith("waiting ")]
    assert countdown == [f"waiting {n} s for the next code (--min-validity 5)"
                         for n in (4, 3, 2, 1)]
    assert re.fullmatch(r"\d{6}\n", frames[-1])
    assert "expires in 0 s" not in text and "waiting 0 s" not in text
    assert_clean_output(shown.replace("\r", "").replace("\x1b[K", ""))


def _watch(folder, columns: int):
    env = fault_env(GEN_FAULT_CLOCK=f"{STEP_START + 27.5}:20", TOTP_SECRET=ANGEL_SECRET)
    return Dialogue(GENERATE, "--watch", cwd=folder, env=env, timeout=10,
                    dimensions=(24, columns)).child


@pytest.mark.parametrize("columns", [30, 16])
def test_watch_in_a_narrow_terminal_redraws_in_place_and_ctrl_c_is_0(tmp_path, columns):
    child = _watch(tmp_path, columns)
    seen: list[str] = []
    while len({re.search(r"\d{6}", frame).group(0) for frame in seen}) < 2:
        assert len(seen) < 8, seen  # redrawn each second, across a change of code
        child.expect(r"\r([^\r]*)\x1b\[K")
        seen.append(child.match.group(1))
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    rest = lines_shown(child.before)
    assert rest.count("\n") <= 1 and "Traceback" not in rest
    for frame in seen:
        assert 6 <= len(frame) <= columns - 1, frame  # fits: never wraps, never scrolls
        assert re.search(r"\b\d{6}\b", frame)
        assert_clean_output(frame)
    assert len(seen) == 4  # 2 s, 1 s, 0 s, then the next code's 29 s
    assert_no_leak("".join(seen) + rest, ANGEL_SECRET)

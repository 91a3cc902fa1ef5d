"""Red team, the two commands end to end: a careless user and a hostile environment.

Each test does what a user or the machine did to break a promise, as a subprocess;
each checks that no credential, no token and no control character reached the output."""

from __future__ import annotations

import json
import os

import pytest
from conftest import assert_clean_output, login_env, run_login
from login_helpers import check
from smartapi_standin import LOGIN

pytestmark = pytest.mark.time_bound(20)

class Unreachable:
    """A base URL nothing answers on: the runs here end before any request."""
    url = "http://127.0.0.1:9"


ENV_TEXT = "# my broker settings\nANGEL_API_KEY=kept-as-is\n"


@pytest.mark.parametrize("spelling", ["same", "absolute", "symlink", "hardlink"])
def test_store_never_replaces_the_env_file(standin, tmp_path, spelling):
    # --store .env (a slip: "keep it with my settings") replaced the user's .env
    # with the session file, since a store that is not a session is replaced.
    work = tmp_path / "work"
    work.mkdir()
    env_file = work / ".env"
    env_file.write_text(ENV_TEXT)
    env_file.chmod(0o600)
    store = {"same": ".env", "absolute": str(env_file)}.get(spelling, str(work / "other"))
    if spelling == "symlink":
        os.symlink(env_file, store)
    elif spelling == "hardlink":
        os.link(env_file, store)
    before = sorted(os.listdir(work))
    for args in (("--store", store), ("--store", store, "--json")):
        result = check(*args, server=standin, cwd=work)
        assert result.returncode == 2, result.stderr
        assert env_file.read_text() == ENV_TEXT, "the env file was damaged"
        assert sorted(os.listdir(work)) == before, "a lock file was left beside the env file"
        assert "is the env file" in result.stderr and "hint: " in result.stderr
        assert result.stderr.count("\n") == 2
        if "--json" in args:
            assert json.loads(result.stdout)["ok"] is False
    assert standin.calls(LOGIN) == [], "a login was sent before the store was refused"


def test_store_with_an_empty_path_is_a_usage_error(standin, tmp_path):
    # --store= (a variable that expanded to nothing) silently used the default store.
    state = tmp_path / "state"
    env = login_env(standin, XDG_STATE_HOME=str(state), HOME=str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    for args in (("--store=",), ("--store", ""), ("--json", "--store", " ")):
        result = run_login("--min-validity", "0", *args, env=env, cwd=work)
        assert result.returncode == 2, result.stderr
        assert_clean_output(result.stdout + result.stderr)
        assert result.stderr.startswith("error: ") and "--store" in result.stderr
        if "--json" in args:
            assert json.loads(result.stdout)["errorcode"] == "USAGE"
    assert standin.requests == [] and not state.exists()


@pytest.mark.parametrize("missing", ["ANGEL_PIN", "ANGEL_API_KEY", "ANGEL_CLIENT_CODE"])
def test_end_of_input_at_a_prompt_names_the_setting_in_plain_words(tmp_path, missing):
    # Ctrl-D at the PIN prompt said "no the PIN was entered", "type the the PIN".
    pytest.importorskip("pexpect")
    from conftest import API_KEY, LOGIN_CHECK, PIN, Dialogue
    env = login_env(Unreachable, **{missing: None})
    prompt = {"ANGEL_PIN": "PIN", "ANGEL_API_KEY": "API key",
              "ANGEL_CLIENT_CODE": "Client code"}[missing]
    dialogue = Dialogue(LOGIN_CHECK, cwd=tmp_path, env=env)
    dialogue.expect(prompt)
    dialogue.child.sendeof()
    status, text = dialogue.finish(API_KEY, PIN)
    assert status == 2
    assert " the the " not in text and "no the " not in text
    words = {"ANGEL_PIN": "PIN", "ANGEL_API_KEY": "API key",
             "ANGEL_CLIENT_CODE": "client code"}[missing]
    assert f"error: no {words} was entered" in text
    assert_clean_output(text.replace("\r", ""))


@pytest.mark.parametrize("where", ["folder", "under a file", "under the env file"])
def test_store_path_that_cannot_be_a_file_exits_2_before_any_prompt(standin, tmp_path, where):
    # --store naming a folder (or a path under a file) is a bad option value: exit 2
    # before anything is asked or sent, as for --env-file; it was exit 1 after the login
    # settings were gathered (a PIN typed at the prompt for nothing).
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").write_text(ENV_TEXT)
    (work / ".env").chmod(0o600)
    (work / "notes.txt").write_text("mine\n")
    store = {"folder": str(tmp_path), "under a file": str(work / "notes.txt" / "s.json"),
             "under the env file": str(work / ".env" / "deeper" / "s.json")}[where]
    before = sorted(os.listdir(work))
    for args in (("--store", store), ("--json", "--store", store)):
        result = check(*args, server=standin, cwd=work)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: --store ") and "\nhint: " in result.stderr
        if "--json" in args:
            assert json.loads(result.stdout)["errorcode"] == "USAGE"
    assert standin.requests == [] and sorted(os.listdir(work)) == before
    assert (work / ".env").read_text() == ENV_TEXT


SECRET_ARGUMENT = "Zq8SecretTyped4u"


@pytest.mark.parametrize("argv", [
    ["--st", SECRET_ARGUMENT], ["--sto=" + SECRET_ARGUMENT], ["\u2014store", SECRET_ARGUMENT],
    ["--=" + SECRET_ARGUMENT], ["--", SECRET_ARGUMENT], ["--json=" + SECRET_ARGUMENT],
    ["--dry-run", "--pin", SECRET_ARGUMENT], ["--store", "--api-key=" + SECRET_ARGUMENT]])
def test_login_check_never_repeats_an_argument_and_takes_no_abbreviation(tmp_path, argv):
    for args in (argv, ["--json", *argv]):
        result = run_login(*args, env=login_env(Unreachable), cwd=tmp_path)
        assert result.returncode == 2
        output = result.stdout + result.stderr
        assert_clean_output(output)
        assert SECRET_ARGUMENT.lower() not in output.lower()
        assert "never arguments" in result.stderr
        if "--json" in args:
            assert json.loads(result.stdout)["errorcode"] == "USAGE"

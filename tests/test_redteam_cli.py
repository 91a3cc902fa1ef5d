"""Red team, the two commands end to end: a careless user and a hostile environment.

Each test does what a user or the machine did to break a promise, as a subprocess;
each checks that no credential, no token and no control character reached the output."""

from __future__ import annotations

import json
import os

import pytest
from conftest import login_env, run_login
from login_helpers import check
from smartapi_standin import LOGIN

pytestmark = pytest.mark.time_bound(20)

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
        assert result.stderr.startswith("error: ") and "--store" in result.stderr
        if "--json" in args:
            assert json.loads(result.stdout)["errorcode"] == "USAGE"
    assert standin.requests == [] and not state.exists()

"""test_api_connection.py --store: today's session kept for bots, reused by the next run.

The store lives outside the run's folder: the check writes nothing else."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_login
from login_helpers import check
from smartapi_standin import LOGIN, LOGOUT, PROFILE

pytestmark = pytest.mark.time_bound(20)


def test_store_keeps_the_session_and_a_second_run_reuses_it(standin, tmp_path):
    store = tmp_path / "state" / "session.json"
    work = tmp_path / "work"
    work.mkdir()
    first = check("--store", str(store), server=standin, cwd=work)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("Login OK: ")
    assert f"session kept for today in {store} (not logged out)" in lines
    assert standin.calls(LOGOUT) == [] and len(standin.calls(LOGIN)) == 1
    assert store.exists()
    if os.name != "nt":
        assert store.stat().st_mode & 0o077 == 0
    for token in standin.issued:
        assert token[-20:] not in first.stdout + first.stderr

    second = check("--store", str(store), "--json", server=standin, cwd=work)
    assert second.returncode == 0, second.stderr
    reply = json.loads(second.stdout)
    assert reply["ok"] is True and reply["reused"] is True and reply["stored"] == str(store)
    assert len(standin.calls(LOGIN)) == 1, "the second run logged in again"
    assert len(standin.calls(PROFILE)) == 2 and standin.calls(LOGOUT) == []


def test_store_without_a_path_uses_the_per_user_default(standin, tmp_path):
    from angel_totp.store import default_store_path
    state = tmp_path / "xdg-state"
    from conftest import login_env
    env = login_env(standin, XDG_STATE_HOME=str(state), HOME=str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    first = run_login("--min-validity", "0", "--store", env=env, cwd=work)
    assert first.returncode == 0, first.stderr
    path = default_store_path("A123456", environ=env)
    assert f"session kept for today in {path} (not logged out)" in first.stdout
    assert os.path.exists(path) and standin.calls(LOGOUT) == []


def test_without_store_the_check_still_logs_out(standin, tmp_path):
    result = check(server=standin, cwd=tmp_path)
    assert result.returncode == 0 and len(standin.calls(LOGOUT)) == 1
    assert "kept for today" not in result.stdout


def test_store_cannot_be_combined_with_dry_run(standin, tmp_path):
    result = check("--store", "--dry-run", server=standin, cwd=tmp_path)
    assert result.returncode == 2 and standin.requests == []

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
from conftest import API_KEY, CLIENT_CODE, PIN, assert_clean_output, assert_no_leak
from conftest import ANGEL_SECRET
from test_redteam_local import BROKEN_STORE, MOUNTED_CHILD, _in_a_mount_namespace

POSIX = os.name == "posix"
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

"""Red team, local: the env-file reader, the settings and the session store attacked
as another user, an administrator, an error tracker and a careless bot author would.

Each test does what broke a promise of the contract; faults are injected (monkeypatched
system calls, a child killed at a chosen instant), never waited for.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    ANGEL_SECRET,
    API_KEY,
    CLIENT_CODE,
    PIN,
    ROOT,
    assert_clean_output,
    assert_no_leak,
    assert_no_plain_credentials,
    clean_env,
    write_env_file,
)

import angel_totp
from angel_totp import store as store_module

POSIX = os.name == "posix"
needs_posix = pytest.mark.skipif(not POSIX, reason="POSIX folders, links and signals")
needs_root = pytest.mark.skipif(not POSIX or os.geteuid() != 0, reason="needs root")


def _raised(call) -> BaseException:
    """The error ``call`` raised, caught here (this frame is not in its traceback)."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - whatever it is, the test checks it
        return error
    raise AssertionError("no error was raised")


def _assert_clean(error: BaseException, *credentials: str) -> None:
    """An AngelTotpError with no credential, in its text or any frame, nor a control."""
    assert isinstance(error, angel_totp.AngelTotpError), repr(error)
    text = f"{error}\n{getattr(error, 'hint', '') or ''}"
    assert_no_leak(text, *credentials)
    assert_clean_output(text)
    assert_no_plain_credentials(error, *credentials)


@pytest.fixture
def store(tmp_path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    return folder / f"{CLIENT_CODE}.json"


def daily(server, store: Path | str, **options) -> angel_totp.Session:
    values = {"store": str(store), "base_url": server.url, "min_validity": 0, "timeout": 2,
              **options}
    return angel_totp.daily_login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, **values)


# A careless bot's env file: ${VAR} that multiplies at each line.

def _expansion_bomb(levels: int) -> str:
    lines, previous = ["A=" + "x" * 1000], "A"
    for name in "BCDEFGH"[:levels]:
        lines.append(f"{name}=" + f"${{{previous}}}" * 100)
        previous = name
    return "\n".join(lines) + f"\nTOTP_SECRET={ANGEL_SECRET}\n"


@pytest.mark.time_bound(5)
def test_a_var_bomb_is_refused_in_bounded_memory(workdir):
    # 3 KB of text that load_dotenv() would expand to 10 MB (one more line: 1 GB).
    path = write_env_file(workdir, _expansion_bomb(2))
    error = _raised(lambda: angel_totp.code_from_env(str(path), 0))
    assert isinstance(error, angel_totp.EnvFileError) and error.reason == "too_large"
    assert str(path) in str(error)
    _assert_clean(error, ANGEL_SECRET)


@pytest.mark.time_bound(10)
def test_a_deeper_var_bomb_does_not_exhaust_memory(workdir):
    path = write_env_file(workdir, _expansion_bomb(5))
    child = ("import resource, angel_totp\n"
             "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
             "try:\n    angel_totp.code_from_env('.env', 0)\n"
             "except angel_totp.EnvFileError as error:\n    print(error.reason)\n")
    if not hasattr(os, "fork"):
        pytest.skip("resource limits are POSIX")
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                            cwd=path.parent, env=clean_env(PYTHONPATH=str(ROOT)), timeout=8)
    assert result.stdout.strip() == "too_large", result.stderr[-300:]


def test_the_environ_given_is_the_environment_the_env_file_expands_from(workdir, monkeypatch):
    write_env_file(workdir, "TOTP_SECRET=${MY_SECRET}\n")
    monkeypatch.setenv("MY_SECRET", "NOT" + ANGEL_SECRET)  # the process's, not the bot's
    from angel_totp.settings import Settings
    assert Settings(".env", {"MY_SECRET": ANGEL_SECRET}).value("TOTP_SECRET") == ANGEL_SECRET
    assert Settings(".env", {}).get("TOTP_SECRET").empty


def test_a_syntax_error_on_a_secrets_line_holds_no_secret_in_any_frame(workdir):
    path = write_env_file(workdir, f"ANGEL_PIN={PIN}\nTOTP_SECRET='{ANGEL_SECRET}\n")
    error = _raised(lambda: angel_totp.code_from_env(str(path), 0))
    assert isinstance(error, angel_totp.EnvFileError) and error.reason == "syntax"
    _assert_clean(error, ANGEL_SECRET, PIN)


# A careless bot's arguments.

class _NotTextPath(os.PathLike):  # type: ignore[type-arg]
    def __fspath__(self):
        return 5


@pytest.mark.parametrize("call", [
    lambda: angel_totp.daily_session(_NotTextPath()),
    lambda: angel_totp.code_from_env(_NotTextPath()),
    lambda: angel_totp.daily_login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET,
                                   store=_NotTextPath()),
], ids=["daily_session", "code_from_env", "daily_login_store"])
def test_a_path_object_that_gives_no_text_is_invalid_input(call):
    error = _raised(call)
    assert isinstance(error, angel_totp.InvalidInputError), repr(error)
    _assert_clean(error, ANGEL_SECRET, API_KEY, PIN)


@pytest.mark.parametrize("variable", ["HOME", "XDG_STATE_HOME"])
def test_a_nul_in_the_state_folders_variable_is_invalid_input(variable, standin):
    environ = {"HOME": "/nonexistent", variable: "/tmp/a\0b"}
    error = _raised(lambda: angel_totp.default_store_path(CLIENT_CODE, environ))
    assert isinstance(error, angel_totp.InvalidInputError), repr(error)
    error = _raised(lambda: angel_totp.daily_login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET,
                                                   base_url=standin.url, environ=environ))
    assert isinstance(error, angel_totp.InvalidInputError), repr(error)
    assert standin.requests == []


# The store's folder, raced and restricted.

@needs_posix
def test_a_symlink_raced_in_for_a_missing_folder_is_not_chmodded(standin, tmp_path,
                                                                  monkeypatch):
    # Another user plants a link where the missing folder is about to be made.
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o755)
    victim.chmod(0o755)
    folder = tmp_path / "shared" / "angel-totp"
    made = os.makedirs

    def racing_makedirs(name, mode=0o777, exist_ok=False):
        made(os.path.dirname(name), exist_ok=True)
        os.symlink(victim, name)

    monkeypatch.setattr(os, "makedirs", racing_makedirs)
    error = _raised(lambda: daily(standin, folder / "A123456.json"))
    assert isinstance(error, angel_totp.SessionStoreError), repr(error)
    assert (victim.stat().st_mode & 0o777) == 0o755, "the link's target was chmodded"
    assert standin.requests == []


def _append_only(folder: Path) -> None:
    if not shutil.which("chattr") or os.geteuid() != 0:
        pytest.skip("needs chattr and root")
    if subprocess.run(["chattr", "+a", str(folder)], capture_output=True).returncode:
        pytest.skip("this file system has no append-only attribute")


@needs_posix
def test_an_append_only_store_folder_is_refused_before_any_login(standin, store):
    _append_only(store.parent)
    try:
        error = _raised(lambda: daily(standin, store))
        left = sorted(os.listdir(store.parent))
    finally:
        subprocess.run(["chattr", "-a", str(store.parent)], check=True)
    assert isinstance(error, angel_totp.SessionStoreError), repr(error)
    assert standin.count("login") == 0, "a code was spent on a session that cannot be kept"
    assert not [name for name in left if name.endswith(".tmp")], "a temporary file was left"
    _assert_clean(error, API_KEY, PIN, ANGEL_SECRET, *standin.issued)


# The store's writes, faulted.

@needs_posix
def test_a_failed_folder_sync_leaves_no_ended_session_in_the_store(standin, store,
                                                                    monkeypatch):
    def failing_sync(folder: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_module, "fsync_folder", failing_sync)
    error = _raised(lambda: daily(standin, store))
    assert isinstance(error, angel_totp.SessionStoreError), repr(error)
    _assert_clean(error, API_KEY, PIN, ANGEL_SECRET, *standin.issued)
    assert standin.count("logout") == 1
    monkeypatch.undo()
    standin.enforce_rate_limit = False
    # The session that was logged out must not come back from the store.
    if store.exists():
        with daily(standin, store, verify=False) as session:
            assert not session.reused, "an ended session was handed out from the store"


STORE_CRASH = """
import os, signal, sys
import angel_totp
from angel_totp import store
real = os.replace
def crash(source, target):
    os.kill(os.getpid(), signal.SIGKILL)   # power cut between the write and the rename
store.os.replace = crash
angel_totp.daily_login(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], store=sys.argv[1],
                       base_url=sys.argv[6], min_validity=0, timeout=5)
"""


@needs_posix
@pytest.mark.time_bound(20)
def test_a_holder_killed_mid_save_leaves_no_token_file_beside_the_store(standin, store,
                                                                        monkeypatch):
    killed = subprocess.run([sys.executable, "-c", STORE_CRASH, str(store), API_KEY,
                             CLIENT_CODE, PIN, ANGEL_SECRET, standin.url],
                            capture_output=True, text=True, timeout=15,
                            env=clean_env(PYTHONPATH=str(ROOT)))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-300:]
    assert_no_leak(killed.stdout + killed.stderr, API_KEY, PIN, ANGEL_SECRET)
    clock = _FakeClock(next(iter(standin.used_timecodes)) * 30 + 2)  # the same step
    monkeypatch.setattr(time, "time", clock.time)
    standin.enforce_rate_limit = False
    daily(standin, store, sleep=clock.sleep)
    assert standin.count("login") == 2 and len(standin.used_timecodes) == 2
    assert sorted(os.listdir(store.parent)) == sorted([store.name, store.name + ".lock"])


@needs_posix
def test_a_long_store_name_that_fits_is_saved(standin, tmp_path):
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    store = folder / ("A" * 245 + ".json")  # its lock file's name is 255 bytes: it fits
    with daily(standin, store) as session:
        assert not session.reused
    assert store.exists() and standin.count("logout") == 0


# A holder killed mid-login: the next caller must neither wait forever nor reuse its code.

LOGIN_CRASH = """
import os, signal, sys
import angel_totp
from angel_totp import store
def crash(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)   # the login was answered; nothing saved yet
store._save = crash
angel_totp.daily_login(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], store=sys.argv[1],
                       base_url=sys.argv[6], min_validity=0, timeout=5)
"""


class _FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@needs_posix
@pytest.mark.time_bound(20)
def test_a_holder_killed_mid_login_neither_blocks_nor_lends_its_code_step(standin, store,
                                                                          monkeypatch):
    killed = subprocess.run([sys.executable, "-c", LOGIN_CRASH, str(store), API_KEY,
                             CLIENT_CODE, PIN, ANGEL_SECRET, standin.url],
                            capture_output=True, text=True, timeout=15,
                            env=clean_env(PYTHONPATH=str(ROOT)))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-300:]
    assert standin.count("login") == 1 and len(standin.used_timecodes) == 1
    # The next caller, in the same code step as the killed one (a fake clock: no wait).
    clock = _FakeClock(next(iter(standin.used_timecodes)) * 30 + 2)
    monkeypatch.setattr(time, "time", clock.time)
    standin.enforce_rate_limit = False
    with daily(standin, store, sleep=clock.sleep) as session:
        assert not session.reused
    assert standin.count("login") == 2 and len(standin.used_timecodes) == 2


# A store that can be read but not replaced: refused before a code is spent.

BROKEN_STORE = b"{not a session"


def _in_a_mount_namespace(script: str, *args: str) -> subprocess.CompletedProcess:
    if not POSIX or os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("mount namespaces are not allowed here")
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                           "sh", *args], capture_output=True, text=True, timeout=15,
                          env=clean_env(PYTHONPATH=str(ROOT)))


@needs_posix
def test_an_immutable_store_is_refused_before_any_login(standin, store):
    store.write_bytes(BROKEN_STORE)
    store.chmod(0o600)
    if not shutil.which("chattr") or os.geteuid() != 0 or subprocess.run(
            ["chattr", "+i", str(store)], capture_output=True).returncode:
        pytest.skip("needs chattr +i and root")
    try:
        error = _raised(lambda: daily(standin, store))
    finally:
        subprocess.run(["chattr", "-i", str(store)], check=True)
    assert isinstance(error, angel_totp.SessionStoreError), repr(error)
    assert standin.count("login") == 0, "a code was spent on a session that cannot be kept"
    assert "immutable" in str(error) and error.hint
    _assert_clean(error, API_KEY, PIN, ANGEL_SECRET)


MOUNTED_CHILD = """
import json, sys
import angel_totp
try:
    angel_totp.daily_login(*json.loads(sys.argv[1]), store=sys.argv[2], base_url=sys.argv[3],
                           min_validity=0, timeout=5)
except angel_totp.AngelTotpError as error:
    print(type(error).__name__, error)
else:
    print("saved")
"""


@needs_posix
@pytest.mark.time_bound(20)
def test_a_bind_mounted_store_is_refused_before_any_login(standin, store, tmp_path):
    # docker run -v ./A123456.json:/state/A123456.json: the file cannot be replaced.
    elsewhere = tmp_path / "host.json"
    elsewhere.write_bytes(BROKEN_STORE)
    elsewhere.chmod(0o600)
    store.write_bytes(b"")
    store.chmod(0o600)
    credentials = json.dumps([API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET])
    result = _in_a_mount_namespace(
        'mount --bind "$1" "$2" && exec "$3" -c "$4" "$5" "$2" "$6"',
        str(elsewhere), str(store), sys.executable, MOUNTED_CHILD, credentials, standin.url)
    assert_no_leak(result.stdout + result.stderr, API_KEY, PIN, ANGEL_SECRET)
    assert result.stdout.startswith("SessionStoreError"), result.stdout + result.stderr[-300:]
    assert "mount" in result.stdout and standin.count("login") == 0


@needs_posix
@pytest.mark.time_bound(20)
def test_a_full_disk_leaves_no_token_file_and_logs_the_session_out(standin, tmp_path):
    folder = tmp_path / "small"
    folder.mkdir(mode=0o700)
    credentials = json.dumps([API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET])
    script = ('mount -t tmpfs -o size=64k,mode=0700 tmpfs "$1" && : > "$1/A123456.json.lock" '
              '&& chmod 600 "$1/A123456.json.lock" && echo 123 > "$1/A123456.json.lock" '
              '&& (cat /dev/zero > "$1/fill" 2>/dev/null; true) '
              '&& "$2" -c "$3" "$4" "$1/A123456.json" "$5"; ls -A "$1"')
    result = _in_a_mount_namespace(script, str(folder), sys.executable, MOUNTED_CHILD,
                                   credentials, standin.url)
    output = result.stdout + result.stderr
    assert_no_leak(output, API_KEY, PIN, ANGEL_SECRET)
    for token in standin.issued:
        assert token[-20:] not in output
    assert "Traceback" not in output
    assert result.stdout.startswith("SessionStoreError"), output[-400:]
    assert result.stdout.split("\n", 1)[1].split() == ["A123456.json.lock", "fill"]
    assert standin.count("login") == standin.count("logout")


# Links: a lock file linked to another file, a folder reached through another user's link.

@needs_posix
def test_a_lock_file_hard_linked_to_another_file_is_not_truncated(standin, store, tmp_path):
    # Where hard links are not protected, whoever can make the link chooses what is emptied.
    precious = tmp_path / "id_ed25519"
    precious.write_bytes(b"private key\n")
    precious.chmod(0o600)
    os.link(precious, f"{store}.lock")
    error = _raised(lambda: daily(standin, store))
    assert isinstance(error, angel_totp.SessionStoreError), repr(error)
    assert "link" in str(error) and error.hint
    assert precious.read_bytes() == b"private key\n"
    assert standin.requests == []


@needs_root
def test_a_store_folder_reached_through_another_users_link_is_refused(standin, store,
                                                                       tmp_path):
    import pwd
    nobody = pwd.getpwnam("nobody").pw_uid
    link = tmp_path / "their-link"
    link.symlink_to(store.parent)  # another user can point it elsewhere at any time
    os.lchown(link, nobody, -1)
    error = _raised(lambda: daily(standin, link / store.name))
    assert isinstance(error, angel_totp.SessionStoreError), repr(error)
    assert error.reason == "unsafe" and "link" in str(error)
    assert standin.requests == []


# Regressions that held: bad env files, traceback locals, threads.

@needs_posix
@pytest.mark.time_bound(5)
@pytest.mark.parametrize("kind", ["folder", "fifo", "/dev/zero", "/dev/urandom", "sparse"])
def test_an_env_file_that_is_no_file_is_refused_at_once(workdir, kind):
    path = {"folder": workdir / "d", "fifo": workdir / "f", "sparse": workdir / "big"}.get(
        kind, Path(kind))
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "sparse":
        with open(path, "wb") as handle:
            handle.truncate(1 << 30)
    error = _raised(lambda: angel_totp.daily_session(str(path), min_validity=0))
    assert isinstance(error, angel_totp.EnvFileError), repr(error)
    assert error.reason in ("not_a_file", "too_large")
    _assert_clean(error)


@needs_posix
@pytest.mark.parametrize("setup", ["locked", "corrupt_then_refused"])
def test_no_frame_of_a_store_failure_holds_a_credential(standin, store, setup, monkeypatch):
    for name, value in {"ANGEL_API_KEY": API_KEY, "ANGEL_CLIENT_CODE": CLIENT_CODE,
                        "ANGEL_PIN": "111111", "TOTP_SECRET": ANGEL_SECRET,
                        "ANGEL_BASE_URL": standin.url}.items():
        monkeypatch.setenv(name, value)
    if setup == "locked":
        import fcntl
        monkeypatch.setattr(store_module, "login_time", lambda timeout: 0.1)
        holder = os.open(f"{store}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(holder, fcntl.LOCK_EX)
    else:
        store.write_bytes(b'{"version": 1, "jwt_token": "eyJ' + API_KEY.encode() + b'"')
        store.chmod(0o600)
    try:
        error = _raised(lambda: angel_totp.daily_session(None, store=str(store),
                                                         min_validity=0, timeout=2))
    finally:
        if setup == "locked":
            os.close(holder)
    assert isinstance(error, angel_totp.SessionStoreError if setup == "locked"
                      else angel_totp.LoginRefusedError), repr(error)
    _assert_clean(error, API_KEY, "111111", ANGEL_SECRET, *standin.issued)


@needs_posix
@pytest.mark.time_bound(20)
def test_threads_calling_daily_session_at_once_make_one_login(standin, store):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        sessions = list(pool.map(lambda _: daily(standin, store), range(4)))
    assert standin.count("login") == 1
    assert len({session.jwt_token for session in sessions}) == 1
    assert sorted(session.reused for session in sessions) == [False, True, True, True]


@needs_posix
def test_a_second_api_key_for_the_same_client_code_leaves_the_first_ones_store(standin, store,
                                                                               monkeypatch):
    first = daily(standin, store)
    clock = _FakeClock(time.time())
    monkeypatch.setattr(time, "time", clock.time)
    standin.enforce_rate_limit = False
    error = _raised(lambda: angel_totp.daily_login(
        "zz" + API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, store=str(store),
        base_url=standin.url, min_validity=0, timeout=2, sleep=clock.sleep))
    assert isinstance(error, angel_totp.LoginRefusedError), repr(error)
    _assert_clean(error, API_KEY, "zz" + API_KEY, PIN, ANGEL_SECRET, *standin.issued)
    again = daily(standin, store, verify=False)
    assert again.reused and again.jwt_token == first.jwt_token


@needs_posix
@pytest.mark.parametrize("call", ["replace", "fsync"])
def test_a_failed_save_keeps_the_old_store_and_leaves_no_temporary_file(standin, store,
                                                                         monkeypatch, call):
    store.write_bytes(BROKEN_STORE)
    store.chmod(0o600)

    def failing(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, call, failing)
    error = _raised(lambda: daily(standin, store))
    monkeypatch.undo()
    assert isinstance(error, angel_totp.SessionStoreError), repr(error)
    _assert_clean(error, API_KEY, PIN, ANGEL_SECRET, *standin.issued)
    assert store.read_bytes() == BROKEN_STORE
    assert sorted(os.listdir(store.parent)) == sorted([store.name, store.name + ".lock"])
    assert standin.count("logout") == standin.count("login") == 1


@pytest.mark.parametrize("secret", [
    ANGEL_SECRET[:10] + "1" + ANGEL_SECRET[11:],             # not a base32 letter
    f"otpauth://totp/x?secret={ANGEL_SECRET}&digits=99",      # a bad URI parameter
    f"otpauth://totp/x?secret={ANGEL_SECRET}&secret={ANGEL_SECRET}",
    ANGEL_SECRET * 50,                                         # too long
    ANGEL_SECRET + "\u00e9",                                   # a non-ASCII letter
])
@pytest.mark.parametrize("where", ["env_file", "environment"])
def test_no_frame_of_a_refused_secret_holds_it(workdir, monkeypatch, secret, where):
    if where == "env_file":
        write_env_file(workdir, f"TOTP_SECRET='{secret}'\n")
    else:
        monkeypatch.setenv("TOTP_SECRET", secret)
    error = _raised(lambda: angel_totp.code_from_env(".env", 0))
    assert isinstance(error, angel_totp.InvalidSecretError), repr(error)
    _assert_clean(error, secret, ANGEL_SECRET[:12])


@needs_posix
@pytest.mark.time_bound(5)
@pytest.mark.parametrize("planted", ["fifo", "another_users", "symlink"])
def test_a_planted_lock_file_is_refused_before_any_request(standin, store, tmp_path, planted):
    lock = Path(f"{store}.lock")
    if planted == "fifo":
        os.mkfifo(lock, 0o600)
    elif planted == "symlink":
        (tmp_path / "theirs").write_bytes(b"")
        lock.symlink_to(tmp_path / "theirs")
    else:
        if os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        import pwd
        lock.write_bytes(b"")
        lock.chmod(0o600)
        os.chown(lock, pwd.getpwnam("nobody").pw_uid, -1)
    error = _raised(lambda: daily(standin, store))
    assert isinstance(error, angel_totp.SessionStoreError), repr(error)
    assert standin.requests == []
    _assert_clean(error, API_KEY, PIN, ANGEL_SECRET)


@pytest.mark.time_bound(10)
def test_the_login_check_refuses_a_var_bomb_as_a_file_it_cannot_read(workdir):
    write_env_file(workdir, _expansion_bomb(2))
    result = subprocess.run([sys.executable, str(ROOT / "test_api_connection.py"), "--json"],
                            capture_output=True, text=True, cwd=workdir,
                            env=clean_env(), timeout=8)
    assert result.returncode == 2, result.stderr
    answer = json.loads(result.stdout)
    assert answer["ok"] is False and "expands" in answer["message"]
    assert_no_leak(result.stdout + result.stderr, ANGEL_SECRET)
    assert_clean_output(result.stdout + result.stderr)


@needs_posix
@pytest.mark.parametrize("layout", ["same", "store_links_to_env", "env_links_to_store"])
def test_a_store_that_is_the_env_file_is_refused_not_replaced(standin, workdir, layout):
    env = write_env_file(workdir, f"ANGEL_API_KEY={API_KEY}\nANGEL_CLIENT_CODE={CLIENT_CODE}\n"
                                  f"ANGEL_PIN={PIN}\nTOTP_SECRET={ANGEL_SECRET}\n"
                                  f"ANGEL_BASE_URL={standin.url}\n", name="settings.env")
    before = env.read_bytes()
    env_file, store = {"same": ("settings.env", "settings.env"),
                       "store_links_to_env": ("settings.env", "link"),
                       "env_links_to_store": ("link", "settings.env")}[layout]
    if layout != "same":
        (workdir / "link").symlink_to(env)
    error = _raised(lambda: angel_totp.daily_session(env_file, store=store, min_validity=0,
                                                     timeout=2))
    assert isinstance(error, (angel_totp.InvalidInputError, angel_totp.SessionStoreError))
    assert env.read_bytes() == before and standin.requests == []
    _assert_clean(error, API_KEY, PIN, ANGEL_SECRET)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.time_bound(10)
def test_a_child_forked_while_the_lock_is_held_does_not_keep_it(standin, store, monkeypatch):
    # A bot's worker pool forks while another thread is in daily_session().
    wait_here, release = os.pipe()
    real_read, children = store_module._read, []

    def forking_read(path):
        pid = os.fork()
        if pid == 0:  # the worker lives on after the parent's call has returned
            os.read(wait_here, 1)
            os._exit(0)
        children.append(pid)
        return real_read(path)

    monkeypatch.setattr(store_module, "_read", forking_read)
    daily(standin, store)
    monkeypatch.setattr(store_module, "_read", real_read)
    monkeypatch.setattr(store_module, "login_time", lambda timeout: 0.3)
    try:
        error = None
        try:
            again = daily(standin, store, verify=False)
        except angel_totp.SessionStoreError as raised:
            error = raised
        assert error is None, f"the forked child kept the lock: {error}"
        assert again.reused
    finally:
        os.write(release, b"x")
        for pid in children:
            os.waitpid(pid, 0)
        os.close(wait_here)
        os.close(release)


@needs_posix
def test_a_relative_store_after_the_current_folder_was_removed_is_an_error(standin, workdir,
                                                                           monkeypatch):
    gone = workdir / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    error = _raised(lambda: daily(standin, "A123456.json"))
    assert isinstance(error, angel_totp.SessionStoreError), repr(error)
    assert "current folder" in str(error) and standin.requests == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the name swap is Linux's")
@pytest.mark.time_bound(10)
def test_a_displaced_old_file_that_cannot_be_removed_keeps_no_secret(tmp_path, monkeypatch):
    from angel_totp import envfile
    env = tmp_path / ".env"
    env.write_text(f"TOTP_SECRET={ANGEL_SECRET}\nTOTP=000000\n")
    env.chmod(0o600)
    real_unlink = os.unlink

    def refuse_temp(name, *args, **kwargs):
        if ".totp-tmp-" in os.fspath(name):
            raise PermissionError(1, "Operation not permitted")
        return real_unlink(name, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refuse_temp)
    result = envfile.update_env_file(str(env), lambda current: ({"TOTP": "123456"}, float("inf")))
    assert result.written["TOTP"].reveal() == "123456"
    assert "TOTP=123456" in env.read_text()
    for left in tmp_path.iterdir():
        if left.name != ".env" and not left.name.endswith(".lock"):
            assert ANGEL_SECRET not in left.read_text(), "the old file kept the secret"

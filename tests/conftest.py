"""Shared helpers: run the scripts as a user would, and check nothing leaks."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATE = ROOT / "generate_totp.py"

# RFC 6238 appendix B keys (ASCII digits), base32-encoded without padding.
RFC_SHA1 = base64.b32encode(b"1234567890" * 2).decode().rstrip("=")
RFC_SHA256 = base64.b32encode(b"1234567890" * 3 + b"12").decode().rstrip("=")
RFC_SHA512 = base64.b32encode(b"1234567890" * 6 + b"1234").decode().rstrip("=")
# A secret shaped like Angel One's: 26 base32 letters.
ANGEL_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEH"

_SCRUBBED = ("TOTP_SECRET", "TOTP", "ANGEL_API_KEY", "ANGEL_CLIENT_CODE", "ANGEL_PIN",
             "ANGEL_BASE_URL", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
             "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _is_ours(k)}
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def secret_forms(secret: str) -> list[str]:
    """The ways a secret could show up in output: as given and normalised."""
    plain = secret.replace(" ", "").replace("-", "").rstrip("=")
    forms = {secret.strip(), plain, plain.upper(), plain.lower()}
    if len(plain) >= 12:
        forms.add(plain[:12].upper())  # a long fragment leaks too
    return [f for f in forms if len(f) >= 6]


def assert_no_leak(text: str, *secrets: str) -> None:
    lowered = text.lower()
    for secret in secrets:
        for form in secret_forms(secret):
            assert form.lower() not in lowered, "a secret appeared in the output"


def run_generate(*args: str, stdin: str | None = None, env: dict | None = None,
                 cwd: Path | str | None = None, secrets: tuple[str, ...] = (),
                 timeout: float = 30) -> subprocess.CompletedProcess:
    """Run generate_totp.py; fail the test if any given secret is printed."""
    result = subprocess.run(
        [sys.executable, str(GENERATE), *args],
        input=stdin if stdin is not None else "",
        capture_output=True, text=True, env=env if env is not None else clean_env(),
        cwd=cwd, timeout=timeout,
    )
    assert_no_leak(result.stdout + result.stderr, *secrets)
    assert "Traceback" not in result.stderr
    return result


def _is_ours(name: str) -> bool:
    upper = name.upper()
    return upper.startswith(("ANGEL_", "TOTP")) or upper in {n.upper() for n in _SCRUBBED}


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """Every test: an empty current folder and home, and none of the user's settings.

    So no test reads the developer's .env, home folder, ANGEL_* / TOTP*
    variables or proxy settings, in-process or in the scripts it runs.
    """
    folder = tmp_path_factory.mktemp("run")
    home = tmp_path_factory.mktemp("home")
    monkeypatch.chdir(folder)
    for name in list(os.environ):
        if _is_ours(name):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    # In-process runs register credentials with the output gate and install a
    # SIGTERM handler: neither may carry over to the next test.
    from angel_totp.cli import console
    monkeypatch.setattr(console, "_hidden", [])
    import signal
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield folder
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "time_bound(seconds): fail the test after that long")
    import signal
    # A suite started in the background (`pytest &`, some CI runners) inherits
    # SIGINT ignored, and so would every script it runs: the Ctrl-C tests need
    # the default, as a user's terminal gives it.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # The scripts run hundreds of times: with PYTHONDONTWRITEBYTECODE (set on some
    # machines, this one included) each run compiled the package again, a third of
    # the suite's CPU time. As on a user's machine, they keep their bytecode.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(autouse=True)
def time_bound(request):
    """Fail a test that runs over its bound (60 s unless marked) instead of hanging the run."""
    import signal
    if not hasattr(signal, "setitimer"):
        yield
        return
    marker = request.node.get_closest_marker("time_bound")
    seconds = marker.args[0] if marker else 60

    def expired(signum, frame):
        raise TimeoutError(f"test took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def workdir(isolated: Path) -> Path:
    """The test's own empty folder (also the current one)."""
    return isolated


def write_env_file(folder: Path, text: str, name: str = ".env", mode: int = 0o600) -> Path:
    """A private env file with exactly this text (bytes as given, no newline translation)."""
    path = Path(folder) / name
    path.write_bytes(text.encode("utf-8"))
    if os.name != "nt":
        path.chmod(mode)
    return path


LOGIN_CHECK = ROOT / "test_api_connection.py"
API_KEY = "kQ7pZ2mXw9"
CLIENT_CODE = "A123456"
PIN = "908172"


@pytest.fixture
def standin():
    from smartapi_standin import StandIn
    server = StandIn(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN,
                     secret=ANGEL_SECRET).start()
    yield server
    server.stop()


def login_env(server, **overrides: str) -> dict[str, str]:
    values = {"ANGEL_API_KEY": API_KEY, "ANGEL_CLIENT_CODE": CLIENT_CODE, "ANGEL_PIN": PIN,
              "TOTP_SECRET": ANGEL_SECRET, "ANGEL_BASE_URL": server.url}
    values.update(overrides)
    return clean_env(**{k: v for k, v in values.items() if v is not None})


def run_login(*args: str, server=None, env: dict | None = None, cwd=None,
              command: list[str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run test_api_connection.py; fail on any leaked credential, token or file."""
    before = sorted(os.listdir(cwd)) if cwd else None
    result = subprocess.run(
        (command or [sys.executable, str(LOGIN_CHECK)]) + list(args),
        input="", capture_output=True, text=True, cwd=cwd, timeout=timeout,
        env=env if env is not None else (login_env(server) if server else clean_env()),
    )
    output = result.stdout + result.stderr
    assert_no_leak(output, ANGEL_SECRET, API_KEY, PIN)
    if server is not None:
        for token in server.issued:
            assert token[-20:] not in output, "a session token appeared in the output"
    assert "Traceback" not in result.stderr
    if cwd:
        assert sorted(os.listdir(cwd)) == before, "the run wrote files (logs?)"
    return result


def messages(result: subprocess.CompletedProcess) -> list[str]:
    """stderr's lines without the --min-validity waiting note, which depends on timing."""
    from angel_totp.cli.waiting import NOTE_START
    return [line for line in result.stderr.splitlines() if not line.startswith(NOTE_START)]


def signal_when(proc: subprocess.Popen, ready: Callable[[], object], signum: int, *,
                within: float, ends_within: float) -> tuple[str, str]:
    """Send ``signum`` to ``proc`` as soon as ``ready()`` (which must come while it runs,
    within ``within`` seconds); its output, which must end ``ends_within`` seconds later."""
    try:
        deadline = time.monotonic() + within  # a busy machine starts a process slowly
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(f"it ended before it was ready: {proc.communicate()}")
            assert time.monotonic() < deadline, f"not ready within {within} s"
            time.sleep(0.01)
        proc.send_signal(signum)
        return proc.communicate(timeout=ends_within)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def assert_clean_output(text: str) -> None:
    """No control character but line ends, and no escape sequence, reached the output."""
    import re
    bad = re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]",
                    text)
    assert bad is None, f"a control character reached the output: {bad.group(0)!r}"


class Dialogue:
    """A command on a pseudo-terminal, driven prompt by prompt; the transcript is kept."""

    def __init__(self, script: Path, *args: str, cwd: Path | str | None = None,
                 env: dict | None = None, timeout: float = 15,
                 dimensions: tuple[int, int] = (24, 80)) -> None:
        import pexpect
        self.pexpect = pexpect
        self.child = pexpect.spawn(sys.executable, [str(script), *args],
                                   cwd=str(cwd or os.getcwd()), env=env or clean_env(),
                                   encoding="utf-8", timeout=timeout, dimensions=dimensions)
        self.transcript: list[str] = []
        self.child.logfile_read = self  # collects everything the terminal showed

    def write(self, data: str) -> None:
        self.transcript.append(data)

    def flush(self) -> None:
        pass

    def expect(self, pattern):
        return self.child.expect(pattern)

    def answer(self, prompt: str, reply: str) -> None:
        """Wait for a prompt, then type a reply and Enter."""
        self.child.expect(prompt)
        self.child.sendline(reply)

    def text(self) -> str:
        return "".join(self.transcript)

    def finish(self, *secrets: str) -> tuple[int, str]:
        """Wait for the end; no secret and no traceback may have been shown."""
        self.child.expect(self.pexpect.EOF)
        self.child.close()
        text = self.text()
        assert_no_leak(text, *secrets)
        assert "Traceback" not in text
        status = self.child.exitstatus
        if status is None:  # killed by a signal
            status = 128 + self.child.signalstatus
        return status, text


def _plain_texts(value: object, depth: int = 0):
    """Every string an error tracker could show for ``value``: repr, and inside containers."""
    if depth > 4:
        return
    if isinstance(value, str):  # a str subclass too: trackers show its text, not its repr
        yield str.__str__(value)
        return
    if isinstance(value, (bytes, bytearray)):
        yield bytes(value).decode("utf-8", "replace")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _plain_texts(key, depth + 1)
            yield from _plain_texts(item, depth + 1)
        return
    if isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _plain_texts(item, depth + 1)
        return
    try:
        yield repr(value)
    except Exception:  # a repr that fails shows nothing
        return


def _holds(text: str, credential: str) -> bool:
    """Whether ``text`` holds ``credential``; one of digits only (a PIN, a code) counts
    where it stands alone, not inside a longer number (a timestamp, a port)."""
    if not credential.isdigit():
        return credential in text
    import re
    return re.search(rf"(?<!\d){credential}(?!\d)", text) is not None


def assert_no_plain_credentials(error: BaseException, *credentials: str) -> None:
    """No frame of ``error``'s traceback (or the chain a tracker shows) holds a credential.

    Walks what Sentry records: each frame's locals, by repr and through
    lists, tuples, sets and dicts; then ``__cause__``, or ``__context__``
    unless suppressed.
    """
    seen: BaseException | None = error
    while seen is not None:
        texts = [str(seen)] + [repr(arg) for arg in seen.args]
        tb = seen.__traceback__
        while tb is not None:
            for name, value in tb.tb_frame.f_locals.items():
                texts.extend(f"{name}={text}" for text in _plain_texts(value))
            tb = tb.tb_next
        for text in texts:
            for credential in credentials:
                assert not _holds(text, credential), \
                    f"a credential is held in plain text: {text[:80]}"
        seen = seen.__cause__ if seen.__cause__ is not None else (
            None if seen.__suppress_context__ else seen.__context__)


@pytest.fixture(autouse=True)
def no_login_steps_on_record(monkeypatch):
    """Each test starts with no login of this process on record.

    No two logins of a process use one code step (Angel One accepts each code
    once); tests that each log in to their own stand-in must not wait for one
    another's step, should a port come round again.
    """
    from angel_totp import session
    monkeypatch.setattr(session, "_last_steps", {})


@pytest.fixture
def serve():
    """Start hostile servers (tests/hostile_server.py); all are stopped when the test ends."""
    servers = []

    def start(mode: str = "json", **options):
        from hostile_server import HostileServer  # only for the tests that use it
        server = HostileServer(mode, **options).start()
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.stop()


class Stopwatch:
    """Wall time since it started, less the time this thread waited for a CPU.

    What a run would take on an idle machine: the bounds the contract sets in
    wall-clock time hold on a busy test machine too, where this thread may
    wait its turn for a core. Linux's schedstat gives that wait; elsewhere it
    is the plain wall time.
    """

    def __init__(self) -> None:
        import threading
        import time
        self._time = time
        self._stat = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self._started = time.monotonic()
        self._waited = self._run_delay()

    def _run_delay(self) -> float:
        try:
            with open(self._stat) as stat:
                return int(stat.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    @property
    def seconds(self) -> float:
        waited = self._run_delay() - self._waited
        return self._time.monotonic() - self._started - waited

"""Whole-process benchmarks: start-up, the login check against the official SDK,
and the time to a verdict from a hanging server.

Run it with ``bash benchmarks/run``, which makes the two venvs this needs.
Every timing is a whole process, from alternating runs (A B A B ...), and is
reported as a median with the ratio between the two. Nothing leaves the
machine: servers are the local stand-in on 127.0.0.1, and a guard on
PYTHONPATH refuses any other name lookup (and records it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from smartapi_standin import StandIn  # noqa: E402

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEH"
API_KEY, CLIENT_CODE, PIN = "kQ7pZ2mXw9", "A123456", "908172"
GUARD = ROOT / "benchmarks" / "netguard"

ONE_LINER_STDIN = ("import sys,pyotp; "
                   "print(pyotp.TOTP(sys.stdin.readline().strip()).now())")
ONE_LINER_DOTENV = ("from dotenv import dotenv_values; import pyotp; "
                    "print(pyotp.TOTP(dotenv_values('.env')['TOTP_SECRET']).now())")


def timed(command: list[str], *, stdin: str = "", cwd=None, env=None) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(command, input=stdin, capture_output=True, text=True,
                            cwd=cwd, env=env, timeout=120)
    return time.perf_counter() - started, result


def alternate(a, b, runs: int) -> tuple[list[float], list[float]]:
    """Run a() and b() alternately; each returns seconds. One warm-up each first."""
    a(), b()
    times_a, times_b = [], []
    for _ in range(runs):
        times_a.append(a())
        times_b.append(b())
    return times_a, times_b


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def base_env(**extra: str) -> dict[str, str]:
    # Bytecode is cached as on a user's machine. Some machines set
    # PYTHONDONTWRITEBYTECODE, which would recompile our modules on every run
    # while pip has precompiled the libraries: not a fair race.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANGEL_", "TOTP"))
           and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env.update(extra)
    return env


# Start-up.

def bench_startup(python: str, runs: int) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    env_file = folder / ".env"
    env_file.write_text(f"ANGEL_CLIENT_CODE={CLIENT_CODE}\nTOTP_SECRET={SECRET}\n")
    env_file.chmod(0o600)
    env = base_env()
    script = str(ROOT / "generate_totp.py")

    def run(command, stdin=""):
        def once():
            seconds, result = timed(command, stdin=stdin, cwd=folder, env=env)
            assert result.returncode == 0 and len(result.stdout.strip()) == 6, result.stderr
            return seconds
        return once

    rows = ["| path | generate_totp.py | one-liner | ratio |", "|---|---|---|---|"]
    cases = [
        ("secret on stdin: `--secret-stdin -q` vs pyotp one-liner",
         [python, script, "--secret-stdin", "-q", "--min-validity", "0"],
         [python, "-c", ONE_LINER_STDIN], SECRET + "\n"),
        ("secret in .env: `-q --no-write` vs dotenv_values + pyotp one-liner",
         [python, script, "-q", "--no-write", "--min-validity", "0"],
         [python, "-c", ONE_LINER_DOTENV], ""),
    ]
    for label, ours, theirs, stdin in cases:
        times_ours, times_theirs = alternate(run(ours, stdin), run(theirs, stdin), runs)
        a, b = statistics.median(times_ours), statistics.median(times_theirs)
        rows.append(f"| {label} | {ms(a)} | {ms(b)} | {a / b:.2f}x |")
    return rows


# The login check against the official SDK.

def login_env(server: StandIn, guard_log: Path, **overrides: str) -> dict[str, str]:
    values = {"ANGEL_API_KEY": API_KEY, "ANGEL_CLIENT_CODE": CLIENT_CODE, "ANGEL_PIN": PIN,
              "TOTP_SECRET": SECRET, "ANGEL_BASE_URL": server.url,
              "PYTHONPATH": str(GUARD), "NETGUARD_LOG": str(guard_log)}
    values.update(overrides)
    return base_env(**values)


class Client:
    def __init__(self, name: str, command: list[str]):
        self.name = name
        self.command = command
        self.requests: list[int] = []
        self.files: set[str] = set()
        self.blocked: set[str] = set()

    def run(self, server: StandIn, guard_log: Path, **overrides) -> tuple[float, subprocess.CompletedProcess, list[Path]]:
        folder = Path(tempfile.mkdtemp(prefix="bench-login-"))
        before = len(server.requests)
        guard_log.write_text("")
        seconds, result = timed(self.command, cwd=folder,
                                env=login_env(server, guard_log, **overrides))
        self.requests.append(len(server.requests) - before)
        written = sorted(p for p in folder.rglob("*") if p.is_file())
        self.files.update(str(p.relative_to(folder)) for p in written)
        self.blocked.update(filter(None, guard_log.read_text().split()))
        return seconds, result, written


def bench_login(python: str, sdk_python: str, runs: int) -> list[str]:
    server = StandIn(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN, secret=SECRET,
                     enforce_rate_limit=False, reject_reused_codes=False).start()
    guard_log = Path(tempfile.mkdtemp(prefix="bench-guard-")) / "blocked.txt"
    ours = Client("test_api_connection.py", [python, str(ROOT / "test_api_connection.py"),
                                             "--min-validity", "0"])
    sdk = Client("smartapi-python 1.5.5", [sdk_python, str(ROOT / "benchmarks" / "sdk_login.py")])
    try:
        def timing(client):
            def once():
                seconds, result, _ = client.run(server, guard_log)
                assert result.returncode == 0 and "Login OK" in result.stdout, \
                    f"{client.name}: {result.stdout}{result.stderr}"
                return seconds
            return once

        times_ours, times_sdk = alternate(timing(ours), timing(sdk), runs)
        a, b = statistics.median(times_ours), statistics.median(times_sdk)
        rows = ["| | test_api_connection.py | smartapi-python 1.5.5 |", "|---|---|---|",
                f"| wall time, good login (median of {runs}) | {ms(a)} | {ms(b)} |",
                f"| ratio | {a / b:.2f}x | 1.00x |",
                f"| requests per run | {statistics.median(ours.requests):g} | "
                f"{statistics.median(sdk.requests):g} |",
                f"| third-party lookups attempted (blocked) | {_names(ours.blocked)} | "
                f"{_names(sdk.blocked)} |",
                f"| files written in the working folder | {_names(ours.files)} | "
                f"{_names(sdk.files)} |"]

        # A failed login: what each prints, and what it leaves behind.
        failed = {}
        for client in (ours, sdk):
            time.sleep(1.1)
            _, result, written = client.run(server, guard_log, ANGEL_PIN="111111")
            leaked = [p for p in written if "111111" in p.read_text(errors="replace")
                      or API_KEY in p.read_text(errors="replace")]
            failed[client.name] = (result, written, leaked)
        rows += ["", f"A failed login (wrong PIN `111111`, API key `{API_KEY}`):", ""]
        for name, (result, written, leaked) in failed.items():
            output = (result.stdout + result.stderr).strip()
            shown = "yes" if "111111" in output or API_KEY in output else "no"
            rows.append(f"- **{name}** exits {result.returncode}; its terminal output "
                        f"shows the PIN or API key: {shown}. It prints:")
            rows.append("")
            rows += [f"      {line[:150]}" for line in output.splitlines()[:5]] or ["      (nothing)"]
            rows.append("")
            for path in leaked:
                text = path.read_text(errors="replace")
                rows.append(f"  It wrote `{path.relative_to(path.parents[2])}`, which holds:")
                rows.append("")
                for needle in (f"'X-PrivateKey': '{API_KEY}'", "'password': '111111'"):
                    at = text.find(needle)
                    if at >= 0:
                        rows.append(f"      ...{text[max(0, at - 40):at + len(needle) + 20]}...")
                rows.append("")
            if not leaked:
                rows.append(f"  Files written: {_names([str(p) for p in written])}; "
                            "none contains the PIN or API key.")
                rows.append("")
        return rows
    finally:
        server.stop()


def _names(items) -> str:
    items = sorted(items)
    return ", ".join(f"`{i}`" for i in items) if items else "none"


# A server that never answers.

def bench_hang(python: str, sdk_python: str) -> list[str]:
    server = StandIn(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN, secret=SECRET,
                     enforce_rate_limit=False, reject_reused_codes=False).start()
    server.hang("login")
    guard_log = Path(tempfile.mkdtemp(prefix="bench-guard-")) / "blocked.txt"
    rows = ["| client | timeout | time to a verdict (median of 3) | exit | target |",
            "|---|---|---|---|---|"]
    try:
        for timeout in ("2", "5"):
            client = Client("ours", [python, str(ROOT / "test_api_connection.py"),
                                     "--timeout", timeout, "--min-validity", "0"])
            times, code = [], None
            for _ in range(3):
                seconds, result, _ = client.run(server, guard_log)
                times.append(seconds)
                code = result.returncode
            verdict = statistics.median(times)
            met = "met" if verdict <= float(timeout) + 1 else "MISSED"
            rows.append(f"| test_api_connection.py | {timeout} s | {verdict:.2f} s | {code} | "
                        f"<= {float(timeout) + 1:g} s: {met} |")
        sdk = Client("sdk", [sdk_python, str(ROOT / "benchmarks" / "sdk_login.py")])
        seconds, result, _ = sdk.run(server, guard_log)
        how = " (a traceback)" if "Traceback" in result.stderr else ""
        rows.append(f"| smartapi-python 1.5.5 | 7 s (its default) | {seconds:.2f} s (1 run) | "
                    f"{result.returncode}{how} | |")
    finally:
        server.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdk-python", required=True, help="the SDK venv's python")
    parser.add_argument("--runs", type=int, default=31, help="alternating pairs per timing")
    args = parser.parse_args()
    python = sys.executable

    report = [f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}, "
              f"{platform.system()}; `bash benchmarks/run --runs {args.runs}`. Bytecode cached, as on a "
              "user's machine; medians of alternating runs.", ""]
    report += ["### Start-up", ""] + bench_startup(python, args.runs)
    report += ["", "### The login check against the official SDK", ""]
    report += bench_login(python, args.sdk_python, max(11, args.runs // 3))
    report += ["", "### A server that never answers", ""] + bench_hang(python, args.sdk_python)
    text = "\n".join(report) + "\n"
    print(text)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

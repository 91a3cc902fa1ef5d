"""What today's shared session saves a bot over a slow link.

    python benchmarks/session_bench.py [--runs 9] [--rtt-ms 100]

Times, in one process, the call a bot starts with: ``daily_login()`` (what
``daily_session()`` does once the settings are read) when it must log in
(an empty store: clock-free login, profile, save), and when it reuses the
stored session with ``verify=True`` (one profile request on a new
connection) and ``verify=False`` (no request). The stand-in (TLS) sits
behind ``delay_link.py``'s round-trip time; the three cases alternate, and
each is reported as a median, in round trips, and as a ratio to the fresh
login measured in the same run. Process start-up is left out: it is the
same for all three. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]
from delay_link import DelayLink  # noqa: E402
from smartapi_standin import CERT, StandIn  # noqa: E402

import angel_totp  # noqa: E402
from angel_totp import session as session_module  # noqa: E402

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEH"
API_KEY, CLIENT_CODE, PIN = "kQ7pZ2mXw9", "A123456", "908172"


class Case:
    """One way of starting a bot: its times, and the requests and connections it made."""

    def __init__(self, label: str, run: Callable[[int], angel_totp.Session]) -> None:
        self.label, self.run = label, run
        self.times: list[float] = []
        self.requests: set[int] = set()
        self.connections: set[int] = set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="rounds (default 9)")
    parser.add_argument("--rtt-ms", type=float, default=100.0,
                        help="the link's round-trip time in ms (default 100)")
    args = parser.parse_args()
    os.environ["SSL_CERT_FILE"] = str(CERT)  # trust the stand-in, as the tests do
    rtt = args.rtt_ms / 1000
    server = StandIn(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN, secret=SECRET, tls=True,
                     enforce_rate_limit=False, reject_reused_codes=False).start()
    link = DelayLink(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), args.rtt_ms).start()
    folder = Path(tempfile.mkdtemp(prefix="bench-session-"))
    folder.chmod(0o700)
    kept = folder / "kept.json"

    def call(store: Path, verify: bool = True) -> angel_totp.Session:
        return angel_totp.daily_login(API_KEY, CLIENT_CODE, PIN, SECRET, store=str(store),
                                      base_url=link.url, min_validity=0, verify=verify)

    def fresh(run: int) -> angel_totp.Session:
        # Each fresh login stands for another bot's first call of a day; the
        # stand-in accepts codes again, so no wait for the next step is timed.
        session_module._last_steps.clear()
        return call(folder / f"fresh-{run}.json")

    cases = [Case("fresh login (empty store)", fresh),
             Case("reuse, verify=True", lambda run: call(kept)),
             Case("reuse, verify=False", lambda run: call(kept, verify=False))]
    try:
        fresh(-1)  # warm-up: imports, the first TLS context
        session_module._last_steps.clear()
        call(kept)  # the day's one login
        for run in range(args.runs):
            for case in cases:
                before = len(server.requests)
                link.reset()
                started = time.perf_counter()
                session = case.run(run)
                case.times.append(time.perf_counter() - started)
                case.requests.add(len(server.requests) - before)
                case.connections.add(link.connections)
                assert session.reused is (case is not cases[0])
    finally:
        link.stop()
        server.stop()
    base = statistics.median(cases[0].times)
    print(f"daily_login() over a TLS link with a {args.rtt_ms:g} ms round trip, "
          f"median of {args.runs}:\n")
    print("| case | requests | connections | median | round trips | vs a fresh login |")
    print("|---|---|---|---|---|---|")
    for case in cases:
        median = statistics.median(case.times)
        print(f"| {case.label} | {_set(case.requests)} | {_set(case.connections)} | "
              f"{median * 1000:.1f} ms | {median / rtt:.2f} | {median / base:.3f}x |")


def _set(values: set[int]) -> str:
    return "/".join(str(value) for value in sorted(values))


if __name__ == "__main__":
    main()

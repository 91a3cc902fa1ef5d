"""Time and peak memory of rewriting TOTP in a large ``.env``.

Each size runs in a fresh subprocess, so that one run's memory does not
hide the next one's. The file is made of lines like a real ``.env``
(quoted values, inline comments) with ``TOTP=000000`` as its last line;
the timed part is one ``update_env_file`` call, which locks, reads,
parses, chooses the value, writes a temporary file, fsyncs, replaces the
file and reads it back.

Peak memory is the child's peak resident set size (``resource``), less
its size just before the call; where ``resource`` is missing (Windows),
the peak of Python allocations (``tracemalloc``) is shown instead.

    python benchmarks/envfile_bench.py                 # 0.1, 0.5 and 1 MB
    python benchmarks/envfile_bench.py --sizes 1       # some sizes only

An env file over 1 MiB is refused unread, so 1 MB (about 14,000 lines) is
the largest that is rewritten.
    python benchmarks/envfile_bench.py --root DIR      # another checkout (e.g. an older commit)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import inspect, json, os, sys, time
sys.path.insert(0, sys.argv[1])
path = sys.argv[2]
try:
    import resource
except ImportError:
    resource = None
    import tracemalloc
from angel_totp import envfile

def rss_bytes():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024

params = inspect.signature(envfile.update_env_file).parameters
if "compute" in params:
    run = lambda: envfile.update_env_file(path, lambda parsed: ({"TOTP": "123456"}, float("inf")))
else:  # the API before the rewrite: a dict of values
    run = lambda: envfile.update_env_file(path, {"TOTP": "123456"})
if resource is None:
    tracemalloc.start()
before = rss_bytes() if resource is not None else 0
started = time.perf_counter()
run()
seconds = time.perf_counter() - started
if resource is not None:
    peak, how = rss_bytes() - before, "rss"
else:
    peak, how = tracemalloc.get_traced_memory()[1], "tracemalloc"
with open(path, "rb") as handle:
    handle.seek(-12, os.SEEK_END)
    assert handle.read() == b"TOTP=123456\n", "the rewrite did not happen"
print(json.dumps({"seconds": seconds, "peak": peak, "how": how}))
"""


def make_file(path: Path, megabytes: float) -> int:
    """A .env of about ``megabytes`` MB; returns its exact size in bytes."""
    target = int(megabytes * 1_000_000)
    size = 0
    with open(path, "wb") as handle:
        handle.write(b"# a large env file for the benchmark\n")
        i = 0
        block = []
        while size < target:
            line = f'KEY_{i}="value number {i} with some padding text"  # comment {i}\n'.encode()
            block.append(line)
            size += len(line)
            i += 1
            if len(block) == 10_000:
                handle.write(b"".join(block))
                block = []
        handle.write(b"".join(block))
        handle.write(b"TOTP=000000\n")
    return path.stat().st_size


def run_size(root: Path, megabytes: float, timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="envbench-") as folder:
        path = Path(folder) / ".env"
        size = make_file(path, megabytes)
        os.chmod(path, 0o600)
        try:
            result = subprocess.run([sys.executable, "-c", CHILD, str(root), str(path)],
                                    capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"size": size, "error": f"over {timeout:.0f} s"}
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["?"])[-1]
            return {"size": size, "error": last[:80]}
        figures: dict[str, object] = json.loads(result.stdout)
        figures["size"] = size
        return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[0.1, 0.5, 1],
                        metavar="MB", help="file sizes in MB (default: 0.1 0.5 1)")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout whose angel_totp is measured (default: this one)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="give up on one size after this many seconds")
    args = parser.parse_args(argv)

    command = " ".join(shlex.quote(part) for part in
                       ["python", "benchmarks/envfile_bench.py", *(sys.argv[1:] if argv is None
                                                                    else argv)])
    print(f"# {command}")
    print(f"# Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
          f"root {args.root}")
    print(f"{'file':>9}  {'time':>9}  {'peak memory':>12}  {'x file size':>11}")
    for megabytes in args.sizes:
        figures = run_size(args.root, megabytes, args.timeout)
        size = int(figures["size"])  # type: ignore[call-overload]
        label = f"{size / 1e6:.1f} MB"
        if "error" in figures:
            print(f"{label:>9}  {'failed: ' + str(figures['error'])}")
            continue
        seconds = float(figures["seconds"])  # type: ignore[arg-type]
        peak = int(figures["peak"])  # type: ignore[call-overload]
        note = "" if figures["how"] == "rss" else "  (tracemalloc)"
        print(f"{label:>9}  {seconds:>7.2f} s  {peak / 1e6:>9.1f} MB  {peak / size:>10.1f}x{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Faults injected into a real run of the commands, chosen by environment variables.

Put this folder on PYTHONPATH; Python imports this module before the
script starts. Each fault happens at a chosen point, so that the tests
never hope for a race:

GEN_FAULT_CLOCK="START[:SPEED]"
    time.time() says START (Unix seconds) and moves only when the program
    sleeps: however slowly the process starts, it sees the instant the test
    chose. time.sleep() passes SPEED times faster than it says (time.time()
    and time.monotonic() advance by the full amount).
GEN_FAULT_JUMP="SECONDS:ACK_FILE"
    on SIGUSR1, the clock jumps SECONDS ahead, then ACK_FILE is created.
GEN_FAULT_SIGINT_ON_IMPORT="MODULE"
    SIGINT (Ctrl-C) arrives while MODULE is being imported.
GEN_FAULT_PAUSE_FSYNC="READY_FILE"
    the first os.fsync() creates READY_FILE, then waits (up to 20 s) for a
    signal: the temporary file is fully written at that point.
"""

import os
import signal
import sys
import time

_real_time, _real_monotonic, _real_sleep = time.time, time.monotonic, time.sleep


def _virtual_clock(spec):
    start, _, speed_text = spec.partition(":")
    speed = float(speed_text or 1)
    origin = _real_monotonic()
    state = {"passed": 0.0}

    def now():
        return float(start) + state["passed"]

    def monotonic():
        return origin + state["passed"]

    def sleep(seconds):
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        _real_sleep(seconds / speed)
        state["passed"] += seconds

    def jump(seconds):
        state["passed"] += seconds

    time.time, time.monotonic, time.sleep = now, monotonic, sleep
    return jump


def _jump_on_usr1(spec, jump):
    seconds, _, ack = spec.partition(":")

    def handler(signum, frame):
        jump(float(seconds))
        with open(ack, "w"):
            pass

    signal.signal(signal.SIGUSR1, handler)


class _SigintOnImport:
    def __init__(self, name):
        self.name = name

    def find_spec(self, name, path=None, target=None):
        if name == self.name:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None


def _pause_fsync(ready):
    real_fsync = os.fsync
    calls = []

    def fsync(fd):
        real_fsync(fd)
        if not calls:
            calls.append(fd)
            with open(ready, "w"):
                pass
            _real_sleep(20)

    os.fsync = fsync


_jump = None
if os.environ.get("GEN_FAULT_CLOCK"):
    _jump = _virtual_clock(os.environ["GEN_FAULT_CLOCK"])
if os.environ.get("GEN_FAULT_JUMP"):
    _jump_on_usr1(os.environ["GEN_FAULT_JUMP"], _jump or (lambda seconds: None))
if os.environ.get("GEN_FAULT_SIGINT_ON_IMPORT"):
    sys.meta_path.insert(0, _SigintOnImport(os.environ["GEN_FAULT_SIGINT_ON_IMPORT"]))
if os.environ.get("GEN_FAULT_PAUSE_FSYNC"):
    _pause_fsync(os.environ["GEN_FAULT_PAUSE_FSYNC"])

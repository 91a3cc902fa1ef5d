"""A code comes after at most one wait, or an error comes at once (issue 15, item 7).

``fresh_code(secret, 29.96)`` used to wait forever: each wake-up landed just
past the step, where 29.95 s were left, short of 29.96, so it waited for the
next step, and the next. Here a fake clock that moves only when slept on
stands at every edge of a step, and the sleeps are counted.
"""

from __future__ import annotations

import math

import pytest
from conftest import RFC_SHA1
from hypothesis import given, settings
from hypothesis import strategies as st

from angel_totp import AngelTotpError, InvalidInputError, fresh_code
from angel_totp.codes import code_at

STEP = 1_000_000_020  # a multiple of 30: a step starts here


class FakeClock:
    """Moves only when slept on, by the time slept plus ``overshoot``; counts sleeps."""

    def __init__(self, now: float, overshoot: float = 0.0) -> None:
        self.now = now
        self.overshoot = overshoot
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        assert len(self.slept) <= 1, "a second wait"
        self.now += seconds + self.overshoot

    def fresh(self, min_validity: float, uncertainty: float = 0.0, secret: str = RFC_SHA1):
        return fresh_code(secret, min_validity, clock=self, sleep=self.sleep,
                          uncertainty=uncertainty)


EDGES = [0.0, 1e-9, 0.01, 0.05, 0.0500001, 0.1, 14.5, 29.9, 29.95, 29.99, 30 - 1e-9]


@pytest.mark.time_bound(10)
@pytest.mark.parametrize("min_validity", [29.96, 29.95, 29.91, 29.999, 29.5, 30 - 1e-9])
def test_a_validity_no_wait_can_be_sure_to_meet_is_refused_at_once(min_validity):
    for phase in EDGES:
        clock = FakeClock(STEP + phase)
        with pytest.raises(InvalidInputError) as caught:
            clock.fresh(min_validity)
        assert caught.value.what == "min_validity" and not clock.slept


@pytest.mark.time_bound(10)
@pytest.mark.parametrize("min_validity,uncertainty", [(28, 0.98), (28, 0.96), (27.9, 1.0001),
                                                      (25, 2.5)])
def test_server_time_with_a_slow_reply_is_refused_at_once(min_validity, uncertainty):
    # --server-time --min-validity 28 against a server whose reply takes about 1 s
    clock = FakeClock(STEP + 29.5)
    with pytest.raises(InvalidInputError) as caught:
        clock.fresh(min_validity, uncertainty)
    assert caught.value.what == "uncertainty" and not clock.slept


@pytest.mark.time_bound(10)
@pytest.mark.parametrize("min_validity,uncertainty", [(29, 0), (5, 0), (27.9, 0.95),
                                                      (0, 14.9), (1, 0.5)])
def test_at_every_step_edge_a_code_comes_after_at_most_one_wait(min_validity, uncertainty):
    waited = 0
    for phase in EDGES:
        for overshoot in (0.0, 0.001, 0.049):  # each wake-up just past the step
            clock = FakeClock(STEP + phase, overshoot)
            code = clock.fresh(min_validity, uncertainty)
            late = clock.now + uncertainty
            assert len(clock.slept) <= 1
            waited += len(clock.slept)
            assert code == code_at(RFC_SHA1, clock.now)
            assert math.floor((clock.now - uncertainty) / 30) == math.floor(late / 30)
            assert code.valid_until - late >= min_validity
    assert waited  # the edges do make it wait


@pytest.mark.time_bound(30)
@settings(max_examples=300, deadline=None)
@given(phase=st.floats(0, 30, exclude_max=True), min_validity=st.floats(0, 30),
       uncertainty=st.floats(0, 16), overshoot=st.floats(0, 0.05))
def test_a_code_or_an_error_never_a_second_wait(phase, min_validity, uncertainty, overshoot):
    clock = FakeClock(STEP + phase, overshoot)
    try:
        code = clock.fresh(min_validity, uncertainty)
    except InvalidInputError:
        assert not clock.slept  # refused at once, before any wait
        return
    late = clock.now + uncertainty
    assert len(clock.slept) <= 1 and code.valid_until - late >= min_validity


@pytest.mark.time_bound(10)
def test_a_clock_that_does_not_follow_sleep_is_an_error_after_one_wait():
    slept: list[float] = []
    with pytest.raises(AngelTotpError) as caught:  # a stopped clock: the old loop never ended
        fresh_code(RFC_SHA1, 5, clock=lambda: STEP + 28.0, sleep=slept.append)
    assert len(slept) == 1 and "clock" in caught.value.message
    backwards = iter([STEP + 28.0, STEP + 27.0])
    with pytest.raises(AngelTotpError):  # set back during the wait
        fresh_code(RFC_SHA1, 5, clock=lambda: next(backwards), sleep=lambda s: None)

"""The pacer: one message per display frame per view, one budget per kernel (a fake clock, no threads)."""

from __future__ import annotations

import pytest

from lazystream_widget.limits import KERNEL_MAX_MESSAGES_PER_S, WIDGET_MAX_MESSAGES_PER_S
from lazystream_widget.pacing import Pacer

FRAME = 1 / 60


def test_defaults_come_from_the_limits():
    p = Pacer()
    assert p.frame_s == pytest.approx(1 / WIDGET_MAX_MESSAGES_PER_S) and p.rate == KERNEL_MAX_MESSAGES_PER_S
    assert WIDGET_MAX_MESSAGES_PER_S <= 60, "at most one message per display frame"
    assert KERNEL_MAX_MESSAGES_PER_S <= 600, "well under Jupyter's iopub_msg_rate_limit (1,000/s)"


def test_a_quiet_view_sends_at_once_then_once_per_frame():
    p = Pacer(frame_s=FRAME, rate=1000, burst=100)
    assert p.take("view", 10.0), "the first delta after a quiet spell goes at once"
    assert not p.take("view", 10.0 + FRAME / 2), "a second message within the frame waits"
    assert p.due("view", 10.0 + FRAME / 2) == pytest.approx(10.0 + FRAME)
    assert p.take("view", 10.0 + FRAME)
    assert p.take("view", 11.0), "after a quiet spell: at once again"


def test_views_have_their_own_frames():
    p = Pacer(frame_s=FRAME, rate=1000, burst=100)
    assert p.take("a", 5.0) and p.take("b", 5.0) and not p.take("a", 5.001)


def test_all_views_share_one_kernel_budget():
    p = Pacer(frame_s=FRAME, rate=100, burst=10)
    now = 100.0
    sent = sum(p.take(f"view{i}", now) for i in range(50))
    assert sent == 10, "a burst of at most `burst` messages"
    # then `rate` per second in all, however many views want to send
    t, sent = now, 0
    while t < now + 2.0:
        t += 0.001
        sent += sum(p.take(f"view{i}", t) for i in range(50))
    assert 190 <= sent <= 210
    assert p.due("view0", t) > t  # the budget, not the frame, holds it back


def test_messages_that_must_go_are_charged_and_repaid():
    p = Pacer(frame_s=FRAME, rate=100, burst=5)
    p.charge(None, 1.0, messages=25)  # e.g. 12 runs starting at once: run_start + state each
    assert not p.take("view", 1.0)
    assert p.due("view", 1.0) == pytest.approx(1.0 + 21 / 100), "the debt is repaid at the budget's rate"
    assert p.take("view", 1.0 + 21 / 100)


def test_a_headless_run_is_paced_by_its_frame_only():
    p = Pacer(frame_s=FRAME, rate=100, burst=1)
    assert p.take("view", 1.0)
    assert not p.take("other", 1.0), "the budget is spent"
    assert p.take("headless", 1.0, budget=False), "a run without a display sends nothing: no budget"
    assert not p.take("headless", 1.001, budget=False)


def test_a_slow_send_does_not_shorten_the_next_gap():
    p = Pacer(frame_s=FRAME, rate=1000, burst=100)
    assert p.take("view", 1.0)
    p.sent("view", 1.010)  # the message actually left 10 ms later
    assert p.due("view", 1.011) == pytest.approx(1.010 + FRAME)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="rate > 0"):
        Pacer(rate=0)

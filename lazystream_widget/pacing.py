"""When may a view send its next message: one per display frame per view, one budget per kernel.

Two limits, both from what a notebook can take:

* **Per view** (a *lane*): at most one message per display frame (``1 / WIDGET_MAX_MESSAGES_PER_S``).
  The browser paints at most once a frame, so a second message within a frame only costs
  Jupyter's ~650-byte envelope and a browser task. A lane that has been quiet for a frame
  sends at once: the first delta after a pause is never held back.
* **Per kernel**: all lanes together at most ``KERNEL_MAX_MESSAGES_PER_S`` (a token bucket
  with a burst of ``KERNEL_MESSAGE_BURST``), well under Jupyter's ``iopub_msg_rate_limit``
  (1,000 messages/s averaged over 3 s, past which the server drops messages). With many
  views streaming at once each gets a share, and each message carries more tokens.

Messages that must go whatever the budget (a run's start and its final state) are
:meth:`Pacer.charge`\\ d: they count, and may put the bucket in debt that later deltas repay.

The pacer is plain arithmetic on a clock: the pump asks it, and tests drive it with a fake clock.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from .limits import KERNEL_MAX_MESSAGES_PER_S, KERNEL_MESSAGE_BURST, WIDGET_MAX_MESSAGES_PER_S


class Pacer:
    def __init__(
        self,
        frame_s: float = 1.0 / WIDGET_MAX_MESSAGES_PER_S,
        rate: float = KERNEL_MAX_MESSAGES_PER_S,
        burst: float = KERNEL_MESSAGE_BURST,
    ) -> None:
        if frame_s < 0 or rate <= 0 or burst < 1:
            raise ValueError(f"Pacer needs frame_s >= 0, rate > 0 and burst >= 1; got {frame_s}, {rate}, {burst}")
        self.frame_s = frame_s
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._filled_at: float | None = None
        self._last_sent: dict[Hashable, float] = {}
        self._lock = threading.Lock()  # the pump thread asks; runs starting in other threads charge

    def _refill(self, now: float) -> None:
        if self._filled_at is None:
            self._filled_at = now
        elif now > self._filled_at:
            self._tokens = min(self.burst, self._tokens + (now - self._filled_at) * self.rate)
            self._filled_at = now

    def due(self, lane: Hashable, now: float, budget: bool = True) -> float:
        """The earliest time ``lane`` may send (``<= now``: now); ``budget=False``: the lane's own limit only."""
        with self._lock:
            return self._due(lane, now, budget)

    def _due(self, lane: Hashable, now: float, budget: bool) -> float:
        lane_due = self._last_sent.get(lane, -1e18) + self.frame_s
        if not budget:
            return lane_due
        self._refill(now)
        budget_due = now if self._tokens >= 1 else now + (1 - self._tokens) / self.rate
        return max(lane_due, budget_due)

    def budget_due(self, now: float) -> float:
        """The earliest time the kernel's budget allows one more message (``<= now``: now)."""
        with self._lock:
            self._refill(now)
            return now if self._tokens >= 1 else now + (1 - self._tokens) / self.rate

    def take(self, lane: Hashable, now: float, budget: bool = True) -> bool:
        """Send now if the limits allow it (and count it); False: wait until :meth:`due`."""
        with self._lock:
            if self._due(lane, now, budget) > now:
                return False
            if budget:
                self._tokens -= 1
            self._last_sent[lane] = now
            return True

    def sent(self, lane: Hashable, at: float) -> None:
        """Note when a message of ``lane`` actually went (after :meth:`take`): a slow send never shortens the gap."""
        with self._lock:
            if at > self._last_sent.get(lane, -1e18):
                self._last_sent[lane] = at

    def charge(self, lane: Hashable | None, now: float, messages: int = 1) -> None:
        """Count messages that go whatever the limits (a run's start, its final state)."""
        with self._lock:
            self._refill(now)
            self._tokens -= messages
            if lane is not None:
                self._last_sent[lane] = now

    def forget(self, lane: Hashable) -> None:
        """Drop a lane that has no live run left (its view may be gone)."""
        with self._lock:
            self._last_sent.pop(lane, None)

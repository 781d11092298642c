"""What one socket, and one principal's sockets, may ask of a server process.

A frame costs the server a database round trip or more (the token's check, then the operation), so a
client that sends thousands a second would take a worker's event loop and a database connection from every
other socket of the process. Each socket gets a token bucket: `rate` frames a second on average, `burst` at
once. A frame past it is refused with a `rate_limited` error frame and not handled; a client that keeps
sending after `burst` refusals in a row is closed (1008), so that a flood costs at most that many answers.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic


class FrameBudget:
    """A token bucket over `clock` (seconds): `take()` says whether one more frame may be handled now."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock or monotonic
        self._tokens = float(burst)
        self._at = self._clock()
        self.refused_in_a_row = 0

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            self.refused_in_a_row = 0
            return True
        self.refused_in_a_row += 1
        return False

    @property
    def exhausted(self) -> bool:
        """The client went on past `burst` refusals in a row: close it rather than answer more."""
        return self.refused_in_a_row > self.burst

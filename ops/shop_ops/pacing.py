"""A bounded rate for the commands that send messages (replay, local redrive): never more than
`per_second` on average, so a large replay does not flood a subscriber (or its gateway) at once."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("the rate must be positive")
        self._interval = 1 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def take(self, count: int) -> None:
        """Wait until `count` more messages may go, then account for them."""
        now = self._clock()
        if self._next is not None and self._next > now:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + count * self._interval

"""A circuit breaker for a shared dependency (Redis): after a failure, callers skip it
for a while instead of each waiting out a timeout, then one call probes it again.

The gateway keeps serving without Redis (rate limits fall back to a per-process share,
the exact cache is bypassed); the breaker makes that fallback cost nothing per request.
"""

import logging
import time

log = logging.getLogger("aigw.gateway")

OPEN_FOR_S = 1.0


class Breaker:
    def __init__(self, name: str, open_for_s: float = OPEN_FOR_S, clock=time.monotonic):
        self.name = name
        self.open_for_s = open_for_s
        self.clock = clock
        self._open_until = 0.0
        self.down = False  # for /metrics and health
        self.failures = 0

    def available(self) -> bool:
        return self.clock() >= self._open_until

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        self._open_until = self.clock() + self.open_for_s
        if not self.down:
            self.down = True
            log.warning(
                "%s unavailable (%s): serving without it until it answers again",
                self.name,
                type(exc).__name__,
            )

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            log.warning("%s is back", self.name)

"""The analytics refresh: `aigw up` rebuilds the marts every few minutes, in the background.

A thread, since a build is a dbt subprocess that runs for seconds: it never touches the
server's event loop. A build that fails (dbt's tests, an unreachable database, a missing
role) is logged and tried again at the next interval; nothing here can stop the stack.
When another build of the same database is running (`aigw analytics run`, the classify
endpoint, another replica's refresh), this round is skipped.
"""

import logging
import threading

from api import analytics

log = logging.getLogger("aigw.jobs.analytics")

FIRST_DELAY_S = 30.0  # the stack comes up first; the first build follows shortly after


class AnalyticsRefresher:
    def __init__(self, database_url: str, interval_s: float, first_delay_s: float = FIRST_DELAY_S):
        self.database_url = database_url
        self.interval_s = interval_s
        self.first_delay_s = first_delay_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.last_result: analytics.BuildResult | None = None
        self.last_error: str | None = None
        self._process = None

    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="analytics-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()  # a build cut short leaves the marts of the last one
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def run_once(self) -> None:
        """One refresh; never raises."""
        self.runs += 1
        try:
            result = analytics.build(self.database_url, wait=False, on_start=self._started)
        except analytics.BuildBusy:
            log.info("analytics refresh skipped: another build is running")
            return
        except Exception as exc:  # any failure is this round's only: log, retry next time
            self.last_error = str(exc)
            log.warning("analytics refresh failed: %s (retrying in %.0fs)", exc, self.interval_s)
            return
        self.last_result = result
        if result.ok:
            self.last_error = None
            log.info("analytics refreshed in %.1fs", result.elapsed_s)
        else:
            failed = ", ".join(n.name for n in result.failures) or "; ".join(
                result.output_tail[-3:]
            )
            self.last_error = failed
            log.warning("analytics refresh failed (%s); retrying in %.0fs", failed, self.interval_s)

    def _started(self, process) -> None:
        self._process = process

    def _loop(self) -> None:
        if self._stop.wait(self.first_delay_s):
            return
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self.interval_s):
                return

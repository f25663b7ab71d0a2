"""What the gateway keeps of a table (the model registry, the guardrails), reloaded in
the background when the database says it changed: a change that arrives during a reload
makes one more after it, and whatever goes wrong leaves what is kept in force."""

import abc
import asyncio
import logging

from api.gateway.principals import DATABASE_AWAY


class Reloading(abc.ABC):
    """`load()` reads the table now; `changed()` reloads it in the background."""

    what = "it"  # named in the log
    log = logging.getLogger("aigw.gateway")

    _reload: asyncio.Task | None = None
    _again = False

    @abc.abstractmethod
    async def load(self):
        """Read the table now (each keeper its own)."""

    def changed(self) -> None:
        """Reload in the background; a change during a reload makes one more after it."""
        if self._reload is not None and not self._reload.done():
            self._again = True
            return
        self._reload = asyncio.create_task(self._reloading())

    async def _reloading(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self.load()
            except DATABASE_AWAY as exc:  # the channel's return will bring a reload
                self.log.warning("%s not reloaded: %s", self.what, type(exc).__name__)
                return
            except Exception:  # what is kept stays in force; say so loudly
                self.log.exception("%s not reloaded", self.what)
                return

    async def stop(self) -> None:
        if self._reload is not None:
            self._reload.cancel()
            await asyncio.gather(self._reload, return_exceptions=True)

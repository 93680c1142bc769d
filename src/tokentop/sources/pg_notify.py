"""``notify_channel``: wake the follower when the user's own schema notifies a channel.

A session of its own LISTENs on the channel (tokentop creates nothing: the channel is notified by the
user's trigger or application, ``NOTIFY usage_logs_insert`` / ``pg_notify('usage_logs_insert', ...)``);
each notification ends the follower's wait at once, so a commit is read without waiting for the next
poll. Polling goes on regardless (a notification lost with a dropped session is caught up at the next
poll), and a listening session that fails is opened again with backoff; the source's status says when
it is not listening. The payload is never read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from tokentop.sources.pg_tables import quote

RETRY = (1.0, 2.0, 5.0, 15.0)


class Wakeup:
    def __init__(self, channel: str, connect: Callable[[], Awaitable[Any]],
                 note: Callable[[str | None], None]) -> None:
        self.channel, self._connect, self._note = channel, connect, note
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.listening = False

    async def wait(self, timeout: float) -> None:
        """Until a notification arrives or ``timeout`` passes."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name=f"tokentop LISTEN {self.channel}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()

    async def _listen(self) -> None:
        failures = 0
        while True:
            conn = None
            try:
                conn = await self._connect()
                await conn.execute(f"LISTEN {quote(self.channel)}")
                self.listening, failures = True, 0
                self._note(None)
                self._event.set()  # (commits made before listening: read them now)
                async for _ in conn.notifies():
                    self._event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - polling goes on; say so and listen again
                self.listening = False
                delay = RETRY[min(failures, len(RETRY) - 1)]
                failures += 1
                self._note(f"not listening on {self.channel} ({type(exc).__name__}); polling, retrying in {delay:g} s")
                await asyncio.sleep(delay)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.listening = False

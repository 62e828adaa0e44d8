"""Group commit: messages that finish DATA while the writers are busy go in the next batch.

A few writers at a time (`max_writers`): while they wait on fsync and on the database, the messages
of every other connection gather, and the next free writer takes all of them (up to `max_batch`)
for one blob-folder fsync pass and one commit. At low load a batch is one message, so nothing
waits for a timer; under load batches grow with the load and share the cost of a commit. More than
one writer, because a batch spends most of its time waiting on the disk (blob fsyncs, then the
database's commit): a second batch's fsyncs overlap the first one's, and the filesystem journal
and PostgreSQL's WAL each commit concurrent flushes together. Writers lock folder rows in mailbox
order (`store`), so they wait for each other rather than deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Enough to share a commit widely (Postfix delivers over 20 connections by default); few enough
# that one batch's memory stays small (messages are held in memory anyway until delivered).
MAX_BATCH = 64
# Measured in bench/lmtp.py (bench/README.md): 1 writer leaves the disk idle between batches.
MAX_WRITERS = 4


class Batcher(Generic[Item, Result]):
    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int = MAX_BATCH,
        max_writers: int = MAX_WRITERS,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._max_writers = max_writers
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writers: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        """Queue `item` for the next batch; its result (or the batch's exception) when written."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._writers) < self._max_writers:
            writer = asyncio.create_task(self._drain())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        # A submitter cancelled meanwhile (its connection dropped) cancels only its own future: the
        # write runs in the writer task, for the whole batch, whatever happens to its submitters.
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let the submitters of this loop iteration join the first batch
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Wait for the batches already queued to be written."""
        if self._writers:
            # shield: a cancelled close() must not cancel the writers.
            await asyncio.shield(asyncio.gather(*self._writers, return_exceptions=True))

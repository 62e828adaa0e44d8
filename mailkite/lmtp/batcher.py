"""Group commit: messages that finish DATA while a batch is being written go in the next one.

One writer at a time: while a batch is in the database, the messages of every other connection
gather, and the next batch writes all of them with one blob-folder fsync pass and one commit. At
low load a batch is one message, so nothing waits for a timer; under load the batch grows with
the load, and the cost of a commit is shared. One writer also means two batches of this process
never hold folder locks against each other.
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


class Batcher(Generic[Item, Result]):
    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Queue `item` for the next batch; its result (or the batch's exception) when written."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        # A submitter cancelled meanwhile (its connection dropped) cancels only its own future: the
        # write runs in the writer task, for the whole batch, whatever happens to its submitters.
        return await future

    async def _drain(self) -> None:
        try:
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
        finally:
            self._writer = None

    async def close(self) -> None:
        """Wait for the batches already queued to be written."""
        if self._writer is not None:
            await asyncio.shield(self._writer)  # a cancelled close() must not cancel the writer

"""The group commit on its own: batches bounded in size, each item its own result, a failure
confined to its batch, and nothing submitted left unanswered."""

from __future__ import annotations

import asyncio

import pytest

from mailkite.lmtp.batcher import Batcher


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_items_arriving_during_a_write_share_the_next_batch_up_to_its_size():
    batches: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    async def main() -> list[int]:
        batcher: Batcher[int, int] = Batcher(write, max_batch=3)
        return await asyncio.gather(*(batcher.submit(n) for n in range(10)))

    assert run(main()) == [n * 10 for n in range(10)]
    assert batches == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_a_failed_write_fails_its_own_batch_only():
    async def write(items: list[int]) -> list[int]:
        if 2 in items:
            raise OSError("disk full")
        return items

    async def main() -> list[object]:
        batcher: Batcher[int, int] = Batcher(write, max_batch=2)
        return await asyncio.gather(*(batcher.submit(n) for n in range(6)), return_exceptions=True)

    results = run(main())
    assert results[:2] == [0, 1] and results[4:] == [4, 5]
    assert isinstance(results[2], OSError) and isinstance(results[3], OSError)


def test_a_cancelled_submitter_does_not_stop_the_write():
    written: list[int] = []

    async def write(items: list[int]) -> list[int]:
        await asyncio.sleep(0.05)
        written.extend(items)
        return items

    async def main() -> int:
        batcher: Batcher[int, int] = Batcher(write)
        first = asyncio.ensure_future(batcher.submit(1))
        second = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0.01)
        first.cancel()  # its connection dropped while the batch was in the database
        with pytest.raises(asyncio.CancelledError):
            await first
        await batcher.close()
        return await second

    assert run(main()) == 2
    assert written == [1, 2]

"""A fair queue in front of the login threads (issue 10: one address must not lock everyone out).

Logins wait in one lane per source address and the free threads take them round-robin across
lanes, so a newcomer waits for at most the logins already running plus one turn of each other
address, however many an attacker has queued. Each source address and each key id may hold at
most `share` logins (waiting or running), and all together at most `capacity`; past either the
login is refused at once with QueueFull, which the caller penalises like a failed login.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """More logins are waiting than the login queue allows."""


class ShareExceeded(QueueFull):
    """This address or key id already holds its share of the login queue."""


class _Job(Generic[T]):
    __slots__ = ("call", "future", "started")

    def __init__(self, call: Callable[[], T], future: asyncio.Future[T]) -> None:
        self.call = call
        self.future = future
        self.started = False


class FairQueue:
    def __init__(self, executor: ThreadPoolExecutor, *, threads: int, capacity: int, share: int) -> None:
        self.executor = executor
        self.threads = threads
        self.capacity = capacity
        self.share = share
        self.running = 0
        self.held = 0  # logins waiting or running
        self._lanes: OrderedDict[str, deque[_Job[Any]]] = OrderedDict()  # next lane to serve first
        self._held_by: Counter[str] = Counter()

    async def run(self, owners: tuple[str, ...], call: Callable[[], T]) -> T:
        """Run `call` on a login thread; owners[0] (the source address) names its lane."""
        if self.held >= self.capacity:
            raise QueueFull()
        if any(self._held_by[owner] >= self.share for owner in owners):
            raise ShareExceeded()
        loop = asyncio.get_running_loop()
        job: _Job[T] = _Job(call, loop.create_future())
        lane = owners[0] if owners else ""
        self._lanes.setdefault(lane, deque()).append(job)
        self.held += 1
        self._held_by.update(owners)
        try:
            self._dispatch(loop)
            return await job.future
        finally:
            self.held -= 1
            self._held_by.subtract(owners)
            for owner in owners:
                if self._held_by[owner] <= 0:
                    del self._held_by[owner]
            if not job.started:  # cancelled while waiting (the client went away): leave the lane
                jobs = self._lanes.get(lane)
                if jobs is not None and job in jobs:
                    jobs.remove(job)
                    if not jobs:
                        del self._lanes[lane]

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        while self.running < self.threads and self._lanes:
            lane, jobs = next(iter(self._lanes.items()))
            job = jobs.popleft()
            if jobs:
                self._lanes.move_to_end(lane)  # round-robin: this address waits for the others
            else:
                del self._lanes[lane]
            job.started = True
            self.running += 1
            done = self.executor.submit(job.call)
            done.add_done_callback(functools.partial(self._from_thread, loop, job))

    def _from_thread(self, loop: asyncio.AbstractEventLoop, job: _Job[Any], finished: Future[Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody waits
            loop.call_soon_threadsafe(self._finished, loop, job, finished)

    def _finished(self, loop: asyncio.AbstractEventLoop, job: _Job[Any], finished: Future[Any]) -> None:
        self.running -= 1
        if not job.future.done():  # else its waiter was cancelled while the thread ran
            error = finished.exception()
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(finished.result())
        self._dispatch(loop)

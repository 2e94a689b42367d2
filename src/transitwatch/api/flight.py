"""Heavy API work, computed once and never on the event loop.

* :class:`SingleFlight` (threads): concurrent callers asking for the same key wait for one
  computation; results are kept in a bounded LRU. Used for target views, which every question
  about one target shares.
* :class:`Gate` (asyncio): one request's answer is computed in a small worker pool (a concurrency
  limit: the event loop stays free for ``/api/summary``, the dashboard's files and cached
  answers), identical concurrent requests share one computation, finished answers are cached
  (bounded LRU), and a request still waiting after ``deadline`` seconds gets
  :class:`Busy` (HTTP 503 with ``Retry-After``) while the computation goes on and fills the cache
  for the retry. Too many distinct computations queued at once are refused at once the same way.

Caches are valid for one state of the database: :meth:`Gate.invalidate` /
:meth:`SingleFlight.clear` drop them when it changes (a live service that writes).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["Busy", "Gate", "SingleFlight"]

T = TypeVar("T")


_NONE = object()


class Busy(Exception):
    """The server cannot answer in time; ``retry_after`` seconds is a reasonable wait."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SingleFlight(Generic[T]):
    """A thread-safe bounded LRU cache whose misses are computed once per key at a time."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._done: OrderedDict[Hashable, T] = OrderedDict()
        self._running: dict[Hashable, concurrent.futures.Future[T]] = {}
        # Bumped by clear(): a computation begun before it read the old data and is not kept.
        self._generation = 0
        self.computed = 0  # how many computations ran (for tests and stats)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            future = self._running.get(key)
            owner = future is None
            if future is None:
                future = self._running[key] = concurrent.futures.Future()
            generation = self._generation
        if not owner:
            return future.result()
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                if self._running.get(key) is future:
                    del self._running[key]
            future.set_exception(exc)
            raise
        with self._lock:
            self.computed += 1
            if self._running.get(key) is future:
                del self._running[key]
            if generation == self._generation:
                self._done[key] = value
                while len(self._done) > self.max_entries:
                    self._done.popitem(last=False)
        future.set_result(value)
        return value

    def clear(self) -> None:
        """Forget every kept value (the data changed). Computations under way may have read the
        old data: their callers get their value, but it is not kept, and later callers do not
        wait for them (else an answer begun just before a write would be kept until the next)."""
        with self._lock:
            self._generation += 1
            self._done.clear()
            self._running.clear()

    def __len__(self) -> int:
        return len(self._done)


class Gate:
    """Answers computed in ``workers`` threads, single-flight per key, cached (bounded), each
    request bounded by ``deadline`` seconds (see the module doc)."""

    def __init__(self, *, workers: int = 4, deadline: float = 20.0, max_pending: int = 64,
                 max_entries: int = 2048) -> None:
        self.workers = workers
        self.deadline = deadline
        self.max_pending = max_pending
        self.max_entries = max_entries
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="transitwatch-api")
        self._results: OrderedDict[Hashable, Any] = OrderedDict()
        # Answers of an earlier state of the data, given while their recomputation runs (refresh()).
        self._stale: dict[Hashable, Any] = {}
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0
        self.computed = 0
        self.refused = 0

    @property
    def retry_after(self) -> int:
        return max(1, round(self.deadline / 2))

    def cached(self, key: Hashable) -> tuple[bool, Any]:
        if key in self._results:
            self._results.move_to_end(key)
            return True, self._results[key]
        return False, None

    async def run(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s value for ``key``: from the cache, from a computation already running
        for the same key, or from a new one in the worker pool. Exceptions of ``compute`` (e.g.
        HTTPException 404) reach every waiter and are not cached. Raises :class:`Busy`."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (a restarted server, a new test client)
            self._loop, self._pending = loop, {}
        hit, value = self.cached(key)
        if hit:
            return value  # type: ignore[no-any-return]
        future = self._pending.get(key)
        stale = self._stale.get(key, _NONE)
        if future is None:
            if len(self._pending) >= self.max_pending and stale is not _NONE:
                return stale  # type: ignore[no-any-return]
            if len(self._pending) >= self.max_pending:
                self.refused += 1
                raise Busy(f"the server is busy ({len(self._pending)} answers being computed); "
                           "try again shortly", self.retry_after)
            future = loop.run_in_executor(self._executor, compute)
            self._pending[key] = future
            generation = self._generation

            def finished(f: asyncio.Future[Any], key: Hashable = key) -> None:
                if self._pending.get(key) is f:
                    del self._pending[key]
                if f.cancelled() or f.exception() is not None:
                    return  # retrieved: no "exception never retrieved" warning
                self.computed += 1
                if generation == self._generation:
                    self._results[key] = f.result()
                    self._stale.pop(key, None)
                    while len(self._results) > self.max_entries:
                        self._results.popitem(last=False)
                elif key in self._stale:
                    self._stale[key] = f.result()  # already old, but newer than what was kept

            future.add_done_callback(finished)
        if stale is not _NONE:
            return stale  # type: ignore[no-any-return]  # the new answer is on its way
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.deadline)
        except TimeoutError:
            raise Busy(f"this answer takes longer than {self.deadline:g} s to compute; it goes on "
                       "in the background: try again shortly", self.retry_after) from None

    def invalidate(self) -> None:
        """Forget every cached answer (the data changed); running computations are not cached."""
        self._generation += 1
        self._results.clear()
        self._stale = {}

    def refresh(self) -> None:
        """The data moved on (a live feed's batch): cached answers become stale. A request for one
        gets it at once while its recomputation runs, so a busy writer never makes a reader wait
        for one; the next request gets the new answer."""
        self._generation += 1
        old, self._results = self._results, OrderedDict()
        stale = {**self._stale, **old}
        while len(stale) > self.max_entries:
            stale.pop(next(iter(stale)))
        self._stale = stale

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

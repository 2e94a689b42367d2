"""A watchdog that ends a run at its deadline even when the code running is stuck.

``watch --for 1h`` must stop after an hour whatever a message or a detector does. A check between
messages cannot promise that (a detector looping on hostile input never returns to the check), so
a timer thread interrupts the main thread: first with a signal, whose handler raises
:class:`WatchdogExpired` at the next Python bytecode (a pure-Python endless loop ends there, and a
blocking system call is interrupted); if the run has still not ended ``grace`` seconds later (stuck
in C code), it writes one line to stderr and ends the process with exit status 1.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType, TracebackType

__all__ = ["Watchdog", "WatchdogExpired"]


class WatchdogExpired(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error to catch
    """Raised in the main thread when the deadline passed and the run did not end by itself.
    A BaseException so that ``except Exception`` around stuck code does not swallow it."""


class Watchdog:
    """``with Watchdog(seconds): run()`` — ``run()`` ends by ``seconds`` (plus ``grace``).

    Only the main thread can receive the signal; elsewhere only the hard exit applies (disable it
    with ``hard_exit=False``, e.g. inside a server that runs the watch in a thread).
    """

    def __init__(self, seconds: float, *, grace: float = 5.0, hard_exit: bool = True,
                 what: str = "the run") -> None:
        self.seconds = max(0.0, seconds)
        self.grace = grace
        self.hard_exit = hard_exit
        self.what = what
        self.fired = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous: signal.Handlers | None | object = None
        self._main = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self._done.is_set():
            return
        raise WatchdogExpired(f"{self.what} did not end at its deadline ({self.seconds:g} s)")

    def _run(self) -> None:
        if self._done.wait(self.seconds):
            return
        self.fired = True
        if self._main:
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)
        if self._done.wait(self.grace) or not self.hard_exit:
            return
        print(f"transitwatch: error: {self.what} was stuck past its deadline "
              f"({self.seconds:g} s + {self.grace:g} s); stopped", file=sys.stderr, flush=True)
        os._exit(1)

    def __enter__(self) -> Watchdog:
        if self._main:
            self._previous = signal.signal(signal.SIGALRM, self._handler)
        self._thread = threading.Thread(target=self._run, name="transitwatch-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        if self._main:
            signal.signal(signal.SIGALRM, self._previous)  # type: ignore[arg-type]

"""The real clock of the live player: `time.perf_counter`, waiting coarse then spinning to each deadline;
a queue of commands (keys) can end a wait early."""

from __future__ import annotations

import queue
import sys
import time
from contextlib import contextmanager
from typing import Iterator

SPIN = 0.002  # the last stretch before a deadline is spun, not slept: sleeps overshoot by up to a millisecond
SWITCH_INTERVAL = 0.0005  # seconds; see quick_thread_switches()


class MonotonicClock:
    """`time.perf_counter`, waiting coarse then spinning; a queue of commands (keys) can end a wait early."""

    def __init__(self, commands=None):
        self._commands = commands  # a queue.Queue of command strings, or None without a keyboard

    def now(self) -> float:
        return time.perf_counter()

    def wait_until(self, deadline: float) -> str | None:
        """Return None at `deadline`, or a command as soon as one arrives."""
        while True:
            left = deadline - time.perf_counter()
            if left <= SPIN:
                break
            # Bounded waits keep Ctrl+C prompt whatever the platform does with blocked waits.
            coarse = min(left - SPIN, 0.5)
            if self._commands is None:
                time.sleep(coarse)
                continue
            try:
                return self._commands.get(timeout=coarse)
            except queue.Empty:
                continue
        while time.perf_counter() < deadline:
            if self._commands is not None and not self._commands.empty():
                return self._commands.get_nowait()
        return None


@contextmanager
def quick_thread_switches() -> Iterator[None]:
    """While inside, threads hand the interpreter lock to each other sooner, and the one keeping time is late less.

    Other threads (preparing audio, drawing the screen) hold the lock for up to the switch interval (5 ms by
    default) at a time; the previous interval is put back on the way out.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)

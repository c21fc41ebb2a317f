"""Measuring processes for the benchmark: wall time and peak memory of one child, alternating pairs, statistics.

Peak memory is the child's own maximum resident set size, from os.wait4 (the kernel's accounting for exactly
that process, not a sampled guess), so one measurement never leaks into the next.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence


@dataclass(frozen=True)
class Run:
    """One finished child process: wall seconds, peak RSS in MB, exit status, its stderr, and the CPU seconds
    (user + system) of it and of every process it waited for (speech workers, the baseline's espeak-ng and sox):
    steadier than wall time on a shared machine."""

    seconds: float
    peak_mb: float
    status: int
    stderr: str
    cpu_seconds: float = 0.0


class BenchError(Exception):
    """A measured command failed; the message quotes it and its stderr."""


def run(command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None) -> Run:
    """Run `command` to the end; raise BenchError if it fails (a failed run is not a figure).

    >>> run(["true"]).status
    0
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        list(command), env=dict(env) if env is not None else None, cwd=cwd,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    assert child.stderr is not None
    stderr = child.stderr.read().decode("utf-8", "replace")  # read to the end first: a full pipe would block it
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
    child.stderr.close()
    if child.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited with {child.returncode}: {stderr.strip()[-800:]}")
    return Run(seconds, usage.ru_maxrss / 1024, child.returncode, stderr, usage.ru_utime + usage.ru_stime)


def alternate(a: Callable[[], float], b: Callable[[], float], pairs: int) -> list[tuple[float, float]]:
    """`pairs` (a, b) measurements, the order swapped every pair so neither side always runs second.

    >>> alternate(lambda: 1.0, lambda: 2.0, 3)
    [(1.0, 2.0), (1.0, 2.0), (1.0, 2.0)]
    """
    results = []
    for index in range(pairs):
        if index % 2 == 0:
            first = a()
            results.append((first, b()))
        else:
            second = b()
            results.append((a(), second))
    return results


def median_ratio(pairs: Sequence[tuple[float, float]]) -> float:
    """The median of a/b over the pairs: robust to a noisy neighbour slowing one whole pair.

    >>> median_ratio([(1.0, 2.0), (3.0, 3.0), (100.0, 1.0)])
    1.0
    """
    return statistics.median(a / b for a, b in pairs)


def medians(pairs: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The median of each side.

    >>> medians([(1.0, 4.0), (2.0, 5.0), (9.0, 6.0)])
    (2.0, 5.0)
    """
    return statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)


@dataclass(frozen=True)
class Lateness:
    """How late sounds started against the routine's own schedule, in milliseconds."""

    mean_ms: float
    worst_ms: float
    drift_ms: float  # how late the last sound was: the schedule's error accumulated over the whole run
    sounds: int


def lateness(log: Sequence[Mapping], sample_rate: int) -> Lateness:
    """Lateness from a `play --timing-log`, against the ideal schedule anchored at the first sound.

    The player shifts its own schedule when a sound is late (so nothing overlaps) and logs lateness against
    the shifted one; measuring against the timeline's offsets instead counts every such shift, so drift
    cannot hide in it.

    >>> log = [{"sample": 0, "scheduled": 1.0, "actual": 1.0},
    ...        {"sample": 22050, "scheduled": 2.0, "actual": 2.004},
    ...        {"sample": 44100, "scheduled": 3.0, "actual": 3.002}]
    >>> lateness(log, 22050)
    Lateness(mean_ms=2.0, worst_ms=4.0, drift_ms=2.0, sounds=3)
    """
    if not log:
        raise BenchError("the timing log is empty: nothing was played")
    origin = log[0]["scheduled"] - log[0]["sample"] / sample_rate
    late = [(line["actual"] - origin - line["sample"] / sample_rate) * 1000 for line in log]
    return Lateness(round(statistics.fmean(late), 3), round(max(late), 3), round(late[-1], 3), len(late))

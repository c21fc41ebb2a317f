"""When this process started, read from Linux's /proc, so the timing log can count from the command's start."""

from __future__ import annotations

import os
import time

MAX_AGE = 3600.0  # seconds; an older reading is taken as a misreading


def age_from_proc(stat: str, uptime: str, ticks_per_second: int) -> float:
    """The age in seconds of the process whose `/proc/PID/stat` text is `stat`, given `/proc/uptime`'s text.

    Raises ValueError when either text is not what Linux writes.

    >>> stat = "4242 (a (strange) name) S 1 4242 4242 0 -1 4194560 " + "0 " * 12 + "1500 0 0"
    >>> age_from_proc(stat, "20.00 30.00\\n", 100)
    5.0
    """
    try:
        fields = stat.rsplit(")", 1)[1].split()  # the name in brackets may hold spaces and brackets itself
        started = int(fields[19])  # field 22 of stat: the start time, in clock ticks after boot
        up = float(uptime.split()[0])
    except IndexError:
        raise ValueError("not the text of /proc/PID/stat and /proc/uptime") from None
    return up - started / ticks_per_second


def process_started_at() -> float:
    """The `time.perf_counter()` reading at which this process started (Linux); now, where unknown.

    >>> 0.0 <= time.perf_counter() - process_started_at() < 3600.0
    True
    """
    now = time.perf_counter()
    try:
        with open("/proc/self/stat", encoding="ascii") as stat, open("/proc/uptime", encoding="ascii") as uptime:
            age = age_from_proc(stat.read(), uptime.read(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        return now
    return now - age if 0.0 <= age < MAX_AGE else now

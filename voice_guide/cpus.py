"""How many CPUs this process may run on: what synthesis and levelling spread their work over."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process is allowed to run on (its affinity mask, e.g. under `taskset` or a container's
    cpuset), not every CPU the machine has; at least 1.

    >>> usable_cpus() >= 1
    True
    """
    counted = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counted is not None:
        return counted() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1

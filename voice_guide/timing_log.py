"""The player's timing log: one JSON line per sound played, for measuring how well the schedule is kept.

The log is written as the routine plays (it can be followed live), under export's rules for files: never over
a file without `force`, never over anything but a regular file, never through a symbolic link, never over the
routine itself; and a log that cannot be written never stops the routine.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Iterable, TextIO

from .atomicfile import check_destinations
from .errors import OutputError
from .printable import printable
from .scheduler import Listener, Played
from .timeline import SAMPLE_RATE


class TimingLog(Listener):
    """One JSON line per sound played, times in seconds since `origin` (the command's start).

    A line that cannot be written (a full disk) stops the writing, not the routine: `failure` keeps the reason
    for the player to report once the reminders have been said.
    """

    def __init__(self, stream: TextIO, origin: float, sample_rate: int = SAMPLE_RATE):
        self._stream = stream
        self._origin = origin
        self._rate = sample_rate
        self._lock = threading.Lock()  # spoken commands are logged from the listening thread
        self.failure: OSError | None = None

    def playing(self, played: Played) -> None:
        if self.failure is not None:
            return
        try:
            self._write_played(played)
        except OSError as error:
            self.failure = error

    def close(self) -> None:
        """Close the log; what could not be written is already in `failure`."""
        try:
            self._stream.close()
        except OSError as error:
            self.failure = self.failure or error

    def _write_played(self, played: Played) -> None:
        event = played.event
        line = {
            "index": played.index,
            "kind": event.kind,
            "step": event.step,
            "role": event.role,
            "text": event.text,
            "sample": event.start,
            "samples": event.length,
            "scheduled": round(played.scheduled - self._origin, 6),
            "actual": round(played.actual - self._origin, 6),
            "lateness_ms": round(played.lateness * 1000, 3),
            "open_ms": round((played.returned - played.actual) * 1000, 3) if played.returned is not None else None,
        }
        self._write(line)

    def heard(self, phrase: str, command: str, decided: float, start: float, end: float, score: float) -> None:
        """A spoken command taken: its phrase, when it was decided and said (clock seconds), its score."""
        if self.failure is not None:
            return
        try:
            self._write({
                "kind": "command", "phrase": phrase, "command": command,
                "time": round(decided - self._origin, 6),
                "said": [round(start - self._origin, 6), round(end - self._origin, 6)], "score": score,
            })
        except OSError as error:
            self.failure = error

    def _write(self, line: dict) -> None:
        import json  # here: the log is opened before play's chime, and json is not needed until it is written to

        with self._lock:
            self._stream.write(json.dumps(line) + "\n")
            self._stream.flush()


def open_log(path: Path, *, force: bool = False, inputs: Iterable[Path] = ()) -> TextIO:
    """The log file, opened for writing before any sound, so a bad path fails first (OutputError)."""
    check_destinations({"--timing-log": path}, force=force, inputs=inputs)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | (0 if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as error:  # it changed since it was checked: appeared, or became a link
        raise OutputError(f"{printable(str(path))}: cannot write the timing log ({error.strerror or error})") from error
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputError(f"{printable(str(path))} is not a regular file: voice-guide never replaces one, even with --force")
    os.ftruncate(fd, 0)
    return open(fd, "w", encoding="utf-8")

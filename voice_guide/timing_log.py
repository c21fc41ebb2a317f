"""The player's timing log: one JSON line per sound played, for measuring how well the schedule is kept."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TextIO

from .errors import OutputError
from .scheduler import Listener, Played
from .timeline import SAMPLE_RATE


class TimingLog(Listener):
    """One JSON line per sound played, times in seconds since `origin` (the command's start)."""

    def __init__(self, stream: TextIO, origin: float, sample_rate: int = SAMPLE_RATE):
        self._stream = stream
        self._origin = origin
        self._rate = sample_rate
        self._lock = threading.Lock()  # spoken commands are logged from the listening thread

    def playing(self, played: Played) -> None:
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
        self._write({
            "kind": "command", "phrase": phrase, "command": command,
            "time": round(decided - self._origin, 6),
            "said": [round(start - self._origin, 6), round(end - self._origin, 6)], "score": score,
        })

    def _write(self, line: dict) -> None:
        with self._lock:
            self._stream.write(json.dumps(line) + "\n")
            self._stream.flush()


def open_log(path: Path) -> TextIO:
    """The log file, opened for writing (before any sound, so a bad path fails first)."""
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as error:
        raise OutputError(f"{path}: cannot write the timing log ({error.strerror or error})") from error


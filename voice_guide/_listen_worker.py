"""The listening process: microphone -> recogniser -> commands, one JSON line per command on stdout.

Run by `hearing.Hearing` as `python -m voice_guide._listen_worker SENSITIVITY [--levels]`. It is a process of
its own, at a lower priority (NICENESS), so that decoding (which holds Python's interpreter lock) can never
delay a scheduled sound, and the audio never leaves it. Its stdin carries the player's own sounds, in clock
time (time.perf_counter, the same clock in every process on one machine):

    {"sound": [start, end]}     the player handed a sound to the device
    {"cut": t}                  every sound stopped at t

Its stdout says, one JSON object a line:

    {"ok": true} | {"ok": false, "error": "..."}          once, when ready (or not)
    {"heard": "next step", "command": "next", "start": t, "end": t, "score": s, "decided": t}
    {"level": dBFS}                                       with --levels, four times a second
    {"error": "..."}                                      the microphone failed; the process ends
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from typing import IO

from . import listening
from .microphone import RATE, Microphone, MicrophoneError
from .recogniser import Ears, RecogniserError

SOUNDS_KEPT = 64
NICENESS = 10  # below the player's priority: on a busy machine the player's scheduled sounds come first


class Sounds:
    """The player's own sounds as (start, end) clock times, fed from stdin by a thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sounds: list[tuple[float, float]] = []
        self.closed = threading.Event()

    def read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if "sound" in message:
                    start, end = message["sound"]
                    self._sounds.append((float(start), float(end)))
                    del self._sounds[:-SOUNDS_KEPT]
                elif "cut" in message:
                    t = float(message["cut"])
                    self._sounds = [(s, min(e, t)) for s, e in self._sounds]
        self.closed.set()

    def snapshot(self) -> list[tuple[float, float]]:
        with self._lock:
            return list(self._sounds)


def _say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    import numpy as np

    sensitivity = float(argv[0]) if argv else listening.DEFAULT_SENSITIVITY
    try:
        os.nice(NICENESS)
    except (AttributeError, OSError):
        pass  # not on this system, or not allowed: it still runs in its own process
    report_levels = "--levels" in argv
    sounds = Sounds()
    threading.Thread(target=sounds.read, args=(sys.stdin,), name="sounds", daemon=True).start()
    try:
        microphone = Microphone().__enter__()
        ears = Ears(sensitivity)
    except (MicrophoneError, RecogniserError) as error:
        _say({"ok": False, "error": str(error)})
        return 1
    origin = math.inf  # clock time of the stream's first sample: the earliest estimate is the least delayed
    last_level = 0.0
    _say({"ok": True})
    try:
        while not sounds.closed.is_set():
            try:
                pcm, arrived = microphone.read()
            except MicrophoneError as error:
                _say({"error": str(error)})
                return 1
            samples = np.frombuffer(pcm, dtype="<i2")
            decided = ears.hear(samples)
            now = ears.time
            origin = min(origin, arrived - now)
            for command in decided:
                start, end = origin + command.start, origin + command.end
                if listening.clear_of(start, end, sounds.snapshot()):
                    _say({"heard": command.phrase, "command": command.command, "start": start, "end": end,
                          "score": command.score, "decided": origin + now})
            if report_levels and now - last_level >= 0.25:
                last_level = now
                _say({"level": round(10 * math.log10(float(np.mean(samples.astype(np.float64) ** 2)) / 32768 ** 2 + 1e-12), 1)})
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    finally:
        microphone.__exit__(None, None, None)
        ears.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

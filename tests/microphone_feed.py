"""A test microphone: ALSA's `file` plugin reading a FIFO that a thread writes at real-time pace.

The default capture device of tests/alsa/microphone.conf.in reads raw S16_LE at 16 kHz mono from a FIFO. The
plugin does one read() per period and leaves whatever the FIFO did not hold as zeros, so the feed writes
exactly one period (1024 frames, microphone.PERIOD) per write: atomic on a pipe, so every period is whole.
Between the clips it is asked to say, it writes faint noise (a real microphone is never digitally silent),
and it goes on until stopped.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import listen_corpus as corpus  # noqa: E402

from voice_guide.microphone import PERIOD, RATE  # noqa: E402

ALSA = Path(__file__).resolve().parent / "alsa"


def microphone_config(folder: Path) -> tuple[dict, Path, Path]:
    """(environment for the child, the FIFO it records from, the folder where what it plays appears)."""
    played = folder / "played"
    played.mkdir()
    fifo = folder / "heard.raw"
    os.mkfifo(fifo)
    config = folder / "asound-microphone.conf"
    text = (ALSA / "microphone.conf.in").read_text()
    config.write_text(text.replace("{played}", str(played / "out.raw")).replace("{heard}", str(fifo)))
    return {"ALSA_CONFIG_PATH": str(config)}, fifo, played


class Feed:
    """Writes the FIFO from a thread once the device opens it; `say(samples)` queues a clip to be said next."""

    def __init__(self, fifo: Path, noise: corpus.Noise = corpus.QUIET, seed: int = 0):
        self._fifo = fifo
        self._noise = noise
        self._rng = np.random.default_rng(seed)
        self._clips: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.opened_at: float | None = None  # perf_counter when the device opened the FIFO
        self.said: list[tuple[float, float]] = []  # perf_counter start and end of each clip said
        self._thread = threading.Thread(target=self._write, name="microphone-feed", daemon=True)
        self._thread.start()

    def say(self, samples: np.ndarray) -> None:
        self._clips.put(samples)

    def _write(self) -> None:
        try:
            with open(self._fifo, "wb") as fifo:  # blocks until the device opens it
                start = self.opened_at = time.perf_counter()
                written = 0
                pending = np.zeros(0, dtype=np.int16)
                while not self._stop.is_set():
                    if not len(pending):
                        try:
                            clip = self._clips.get_nowait()
                            now = start + written / RATE
                            self.said.append((now, now + len(clip) / RATE))
                            pending = clip
                        except queue.Empty:
                            pass
                    block = corpus.background(PERIOD, self._noise, self._rng)
                    if len(pending):
                        part = pending[:PERIOD]
                        block[: len(part)] += part / 32767
                        pending = pending[PERIOD:]
                    fifo.write(corpus.to_int16(block).tobytes())
                    fifo.flush()
                    written += PERIOD
                    wait = start + written / RATE - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
        except (BrokenPipeError, OSError):
            return  # the device closed the FIFO: the stream is over

    def stop(self) -> None:
        self._stop.set()
        if self.opened_at is None:  # nobody ever opened the FIFO: unblock our own open()
            try:
                os.close(os.open(self._fifo, os.O_RDONLY | os.O_NONBLOCK))
            except OSError:
                pass
        self._thread.join(timeout=5.0)

"""The mixer: the final samples of every sounding event, shared by the player and the exporter.

Both paths ask the mixer for an event's samples and convert them with `pcm.to_pcm16`, so what is heard live is
bit-for-bit what is written to a WAV file. The clips are levelled for the file's loudness target; the live
player scales them by the routine's volume (`scaled`), which at 1.0 changes nothing. A clip whose 16-bit form
is in the disk cache is handed out as such (`pcm`), with no numpy: a warm WAV or MP3 export imports none.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Iterable, Protocol, Sequence

from . import chime
from ._mix_cache import MixCache
from .cpus import usable_cpus
from .pcm import float_samples, to_pcm16
from .targets import ClipTargets, clip_targets
from .timeline import CHIME, SAMPLE_RATE, SILENCE, SPEECH, Event

if TYPE_CHECKING:
    from pathlib import Path


    import numpy


class SpeechSource(Protocol):
    def pcm16(self, text: str, *, wait: bool = True) -> bytes | None:
        """The clip as made (16-bit little-endian mono PCM); without `wait`, None unless it is made already."""

    def clip_id(self, text: str, raw: bytes | None = None, *, wait: bool = True) -> bytes | None:
        """What names the clip as made, different whenever its samples are (`raw`: pcm16(text), if read), without
        reading its samples; without `wait`, None unless it is made already."""


class Mixer:
    """Levels speech and chimes for one routine, to `targets` (see targets.clip_targets; default: the default
    file target with no chimes to make up for).

    With `cache_dir`, final clips are also kept on disk (see _mix_cache), so the next run with the same clips
    and settings does no levelling at all. `prefetch()` levels clips in the background, on every core, while the
    caller does something else (in `export`: waiting for the speech engine).
    """

    def __init__(
        self,
        speech: SpeechSource,
        *,
        targets: ClipTargets | None = None,
        cache_dir: "Path | None" = None,
    ):
        self._speech = speech
        self.targets = targets if targets is not None else clip_targets()
        self._store = MixCache(cache_dir) if cache_dir is not None else None
        self._cached_speech = lru_cache(maxsize=256)(self._level_speech)
        self._keys: dict[str, str] = {}  # text -> its final clip's name in the disk cache
        self._read: OrderedDict[str, bytes] = OrderedDict()  # 16-bit entries read (and checked) in this run, by key
        self._read_bytes = 0
        self._lock = threading.Lock()
        self._making: dict[str | None, threading.Lock] = {}  # per clip: two threads never level the same one
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    def clip(self, event: Event) -> "numpy.ndarray":
        """The float32 samples of a speech or chime event, exactly `event.length` long."""
        if event.kind == SPEECH:
            samples = self._speech_clip(event.text)
        elif event.kind == CHIME:
            samples = self._once(None, self._chime)
        else:
            raise ValueError(f"a {event.kind} event has no clip")
        if len(samples) != event.length:
            raise ValueError(
                f"clip for {event.text or event.kind!r} is {len(samples)} samples, the timeline says {event.length}"
            )
        return samples

    def pcm(self, event: Event, volume: float = 1.0) -> bytes:
        """The event's samples at the live player's `volume` as 16-bit PCM: to_pcm16(scaled(clip(event), volume)).

        The chime is made without numpy (chime.pcm16, the same arithmetic), so the first sound of a routine does
        not wait for numpy to load; so is a speech clip at full volume whose 16-bit form the disk cache holds.
        """
        if event.kind == CHIME:
            if event.length != chime.CHIME_LENGTH:
                raise ValueError(f"a chime is {chime.CHIME_LENGTH} samples, the timeline says {event.length}")
            if volume == 1.0 and self._store is not None:
                return self._stored_chime()
            return chime.pcm16(self.targets.chime_lufs, volume)
        if event.kind == SPEECH and volume == 1.0 and self._store is not None:
            return self._stored_pcm16(event)
        return to_pcm16(scaled(self.clip(event), volume))

    def part(self, events: "Sequence[Event]") -> "PartClips":
        """The clips of one file of a split export (`events`: the part's, in order, covering it), at that file's
        own loudness: ffmpeg's meter reads each part at the file target by itself, as it reads the whole file.

        A part is its slice of the whole file with one gain of its own (see loudness.part_gain_db): a part of a
        chime and a short word is raised, an introduction without a chime lowered; a raised clip's peaks go
        through the limiter again. So the parts are not the samples the player plays; the whole file is.
        """
        from .loudness import part_gain_db

        start = events[0].start if events else 0
        length = sum(event.length for event in events)
        sounds = [(event.start - start, self.clip(event)) for event in events if event.kind != SILENCE]
        return PartClips(self, part_gain_db(sounds, length, SAMPLE_RATE, self.targets.file_lufs))

    def ready(self, texts: Iterable[str]) -> bool:
        """Whether every one of these texts is spoken already and its final clip is in the disk cache (then
        nothing is left to level: no numpy needed for a 16-bit output). Does not wait for speech."""
        if self._store is None:
            return False
        for text in dict.fromkeys(texts):
            key = self._key(text, wait=False)
            if key is None or not self._store.has(key):
                return False
        return True

    def prefetch(self, texts: Iterable[str], *, chime: bool = True, threads: int | None = None) -> None:
        """Level the chime and these texts' clips in background threads, in order; returns at once.

        One thread per usable CPU (`threads`: how many): numpy lets go of the interpreter while it works on a
        clip, so each takes the next clip not yet taken, and every clip is still levelled once. Failures are left
        for clip() to raise when the clip is really asked for.

        >>> mixer.prefetch(["Sit down.", "Relax your foot."])  # doctest: +SKIP
        """
        jobs: deque[Callable[[], object]] = deque()
        if chime:
            jobs.append(lambda: self._once(None, self._chime))
        for text in dict.fromkeys(texts):
            jobs.append(lambda text=text: self._speech_clip(text))

        def work() -> None:
            while not self._stopped.is_set():
                with self._lock:
                    if not jobs:
                        return
                    make = jobs.popleft()
                self._quietly(make)

        for number in range(max(1, min(threads or usable_cpus(), len(jobs)))):
            thread = threading.Thread(target=work, name=f"mixer-prefetch-{number}", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # no memory for another thread: fewer level in the background, none is lost
                break
            self._threads.append(thread)

    CLOSE_WAIT = 5.0  # seconds to let the clips being levelled finish; a stuck one is left to its daemon thread

    def close(self, *, wait: bool = True) -> None:
        """Stop prefetching, then keep the disk cache within its bound.

        `wait`: the clips being levelled are finished first, if they finish soon (their work is kept in the cache).
        After a stop or a failure nothing waits: a clip can take seconds on a loaded machine, and nobody needs it
        (its thread is a daemon; the cache never holds half an entry)."""
        self._stopped.set()
        deadline = time.monotonic() + (self.CLOSE_WAIT if wait else 0.0)
        for thread in self._threads if wait else ():
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._store is not None:
            self._store.evict()

    def _speech_clip(self, text: str) -> "numpy.ndarray":
        return self._once(text, lambda: self._cached_speech(text))

    def _stored_pcm16(self, event: Event) -> bytes:
        """A speech clip's 16-bit form from the disk cache; when missing or damaged, made from the float clip and
        stored again.

        Whoever finds the entry unusable writes it again: the float clip may come from this run's memory, not the
        store, and a damaged entry read here may be removed just after a prefetch thread (or another export)
        wrote the good one in its place.
        """
        assert self._store is not None
        key = self._key(event.text)
        stored = self._read_pcm16(key)
        if stored is None:
            stored = to_pcm16(self.clip(event))
            if not self._store.has_pcm16(key):
                self._store.put_pcm16(key, stored)
        if len(stored) != 2 * event.length:
            raise ValueError(f"clip for {event.text!r} is {len(stored) // 2} samples, the timeline says "
                             f"{event.length}")
        return stored

    def _stored_chime(self) -> bytes:
        """The chime at full volume, from the disk cache: chime.pcm16 is pure Python, tens of ms each run."""
        assert self._store is not None
        key = self._store.key("chime", b"", loudness=self.targets.chime_lufs)
        pcm = self._read_pcm16(key)
        if pcm is None or len(pcm) != 2 * chime.CHIME_LENGTH:
            with self._lock:
                self._forget(key)
            pcm = chime.pcm16(self.targets.chime_lufs)
            self._store.put_pcm16(key, pcm)
        return pcm

    READ_KEPT = 16 << 20  # bytes of 16-bit entries kept in memory per run: each repeated clip is read once

    def _read_pcm16(self, key: str) -> bytes | None:
        """A 16-bit entry of the disk cache, read and checked once per run (MixCache.get_pcm16): a clip said
        again, or the chime before every step, comes from memory, the most recently used within READ_KEPT."""
        assert self._store is not None
        with self._lock:
            kept = self._read.get(key)
            if kept is not None:
                self._read.move_to_end(key)
                return kept
        stored = self._store.get_pcm16(key)
        if stored is None or len(stored) > self.READ_KEPT:
            return stored
        with self._lock:
            if key not in self._read:
                self._read[key] = stored
                self._read_bytes += len(stored)
            while self._read_bytes > self.READ_KEPT:
                self._read_bytes -= len(self._read.popitem(last=False)[1])
        return stored

    def _forget(self, key: str) -> None:
        """Drop a kept entry (caller holds the lock)."""
        dropped = self._read.pop(key, None)
        if dropped is not None:
            self._read_bytes -= len(dropped)

    def _key(self, text: str, *, wait: bool = True) -> str | None:
        """The disk cache's name for the text's final clip (a hash of what names its raw clip, SpeechSource.clip_id,
        and the settings); None when not `wait`ing and the text is not spoken yet."""
        with self._lock:
            key = self._keys.get(text)
        if key is None:
            made = self._speech.clip_id(text, wait=wait)
            if made is None:
                return None
            key = self._store_key(made)
            with self._lock:
                self._keys[text] = key
        return key

    def _store_key(self, made: bytes) -> str:
        assert self._store is not None
        return self._store.key("speech", made, loudness=self.targets.speech_lufs, limit_db=self.targets.limit_db)

    def _once(self, name: str | None, make: Callable[[], "numpy.ndarray"]) -> "numpy.ndarray":
        with self._lock:
            lock = self._making.setdefault(name, threading.Lock())
        with lock:
            return make()

    @staticmethod
    def _quietly(make: Callable[[], object]) -> None:
        try:
            make()
        except Exception:  # noqa: BLE001 - clip() makes it again and raises it where it matters
            pass

    # loudness is numpy from its first line: imported when a clip is first levelled, so that commands which
    # never level (check, a warm play) do not load it.
    def _level_speech(self, text: str) -> "numpy.ndarray":
        from .loudness import level_speech

        raw = self._speech.pcm16(text)
        assert raw is not None
        lufs, limit_db = self.targets.speech_lufs, self.targets.limit_db
        if self._store is None:
            return _read_only(level_speech(float_samples(raw), SAMPLE_RATE, lufs, limit_db))
        key = self._store_key(self._speech.clip_id(text, raw))  # of the very samples levelled here
        with self._lock:
            self._keys[text] = key
        stored = self._store.get(key)
        if stored is not None:
            return stored
        out = _read_only(level_speech(float_samples(raw), SAMPLE_RATE, lufs, limit_db))
        self._store.put(key, out)
        return out

    def _chime(self) -> "numpy.ndarray":
        return chime.chime_samples(self.targets.chime_lufs)  # a plain gain: no levelling, nothing to cache


class PartClips:
    """A ClipSource: the mixer's clips with one part's gain (Mixer.part); each distinct clip regained once."""

    def __init__(self, mixer: Mixer, gain_db: float):
        self._mixer = mixer
        self.gain_db = gain_db
        self._made: dict[int, tuple["numpy.ndarray", "numpy.ndarray"]] = {}

    def clip(self, event: Event) -> "numpy.ndarray":
        from .loudness import regained

        samples = self._mixer.clip(event)
        if id(samples) not in self._made:  # the clip is kept with its result, so its id cannot be reused
            self._made[id(samples)] = (samples, _read_only(regained(samples, self.gain_db, SAMPLE_RATE)))
        return self._made[id(samples)][1]

    def pcm(self, event: Event) -> bytes:
        return to_pcm16(self.clip(event))


def _read_only(samples: "numpy.ndarray") -> "numpy.ndarray":
    samples.setflags(write=False)  # shared by every event that says the same line
    return samples


def scaled(samples: "numpy.ndarray", volume: float) -> "numpy.ndarray":
    """A clip at the live player's `volume` (1.0: the clip itself, the very samples the export writes)."""
    import numpy as np

    if volume == 1.0:
        return samples
    return samples * np.float32(volume)

"""Speech: text to PCM (float32 mono at SAMPLE_RATE) through a speech engine, cached on disk, made in parallel.

The engine (espeak-ng through pyttsx3, or Piper: see engine.py) only ever runs in worker subprocesses (see
_speech_worker): this process never imports pyttsx3 or onnxruntime, so a hung or crashing engine can be
killed, and its stdout noise never reaches ours. Clips are cached by (engine, voice identity, rate, text);
a warm cache answers length() from a WAV header alone.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import cachefiles, routine
from .cpus import usable_cpus
from ._espeak_engine import EspeakEngine
from ._piper_engine import PiperEngine
from ._speech_cache import ClipCache, ClipKey, clip_identity
from ._speech_process import WorkerDied, WorkerProcess, WorkerRefused, WorkerStalled, started_early, take_early
from .engine import DEFAULT_ENGINE, DEFAULT_RATE, ENGINE_NAMES, Engine, ResolvedVoice
from .errors import BadInputError, EngineError
from .pcm import float_samples
from .routine import DEFAULT_VOLUME
from .voices import VoiceInfo, VoiceList

if TYPE_CHECKING:
    import numpy

__all__ = ["DEFAULT_RATE", "DEFAULT_VOLUME", "Synthesizer", "VoiceInfo", "VoiceList", "list_voices", "voice_lists"]

DEFAULT_TIMEOUT = 20.0  # seconds per utterance (Environment.speech_timeout is what the program passes)
_CLIPS_IN_MEMORY = 32  # decoded clips kept for samples(); cues repeat ("thirty seconds left")
_SHOWN_TEXT = 60


_ENGINES = {EspeakEngine.name: EspeakEngine, PiperEngine.name: PiperEngine}
assert tuple(_ENGINES) == ENGINE_NAMES


def make_engine(name: str | None, cache: ClipCache, voices_dir: Path | None = None) -> Engine:
    """The engine called `name` (None: the default), or BadInputError naming the ones there are.

    >>> make_engine("piper", ClipCache(Path("/tmp"))).name
    'piper'
    """
    name = name or DEFAULT_ENGINE
    if name not in _ENGINES:
        raise BadInputError(f"unknown speech engine {name!r}; use one of: {', '.join(ENGINE_NAMES)}")
    if name == PiperEngine.name:
        return PiperEngine(cache, voices_dir)
    return EspeakEngine(cache)


def list_voices(
    engines: Sequence[str] = ENGINE_NAMES,
    *,
    cache_dir: Path,
    voices_dir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[VoiceInfo]:
    """Every voice each engine offers here, marked by engine (espeak-ng's are listed by one worker; Piper's
    are the voice files found in `voices_dir` and in installed packages).

    >>> any(v.engine == "espeak-ng" for v in list_voices(cache_dir=Path("/tmp/speech")))  # doctest: +SKIP
    True
    """
    return [voice for listed in voice_lists(engines, cache_dir=cache_dir, voices_dir=voices_dir,
                                            timeout=timeout).values() for voice in listed.voices]


def voice_lists(
    engines: Sequence[str] = ENGINE_NAMES,
    *,
    cache_dir: Path,
    voices_dir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, VoiceList]:
    """Each engine's voices, the one it uses by default and its variants, by engine name (see list_voices).

    >>> voice_lists(cache_dir=Path("/tmp/speech"))["espeak-ng"].default_id  # doctest: +SKIP
    'gmw/en'
    """
    cache, warnings = _open_cache(cache_dir)
    found: dict[str, VoiceList] = {}
    for name in engines:
        engine = make_engine(name, cache, voices_dir)

        def ask(request: dict[str, Any], doing: str, engine: Engine = engine) -> dict[str, Any]:
            def once() -> dict[str, Any]:
                worker = _start_worker(engine.command(None), timeout)
                try:
                    return _ask(worker, request, timeout, doing)
                finally:
                    worker.close()

            return _twice(once)

        found[name] = engine.voices(ask)
    if warnings:  # a private temporary cache: nobody else will read it
        shutil.rmtree(cache.root, ignore_errors=True)
    return found


def _twice(ask: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A request to a worker, asked again once if the engine crashed, hung or died the first time (a missing
    engine or one that refuses is not retried: it would only fail the same way)."""
    try:
        return ask()
    except _Retryable:
        pass
    try:
        return ask()
    except _Retryable as error:
        raise EngineError(f"{error} (tried twice)") from None


@dataclass
class _Sent:
    """A request sent to a worker for one text: where its clip is being written, and its reply once read."""

    text: str
    key: ClipKey
    out: Path
    cache: ClipCache
    reply: dict[str, Any] | None = None


@dataclass
class _Slot:
    """The worker a driver thread owns (None until it needs one), and the request sent to it ahead of the one it
    is answering, if any (see Synthesizer._send_ahead)."""

    worker: WorkerProcess | None = None
    ahead: _Sent | None = None


class Synthesizer:
    """Speaks texts with one voice setting; each clip is made once, then served from the disk cache.

    `voice.engine` picks the engine (engine.ENGINE_NAMES; None: espeak-ng). `workers` caps the worker
    processes (default: min(the CPUs this process may use, the engine's maximum)); `timeout` is per utterance (a worker that
    does not answer in time is killed and the utterance retried once). `voices_dir` is where the user's own
    voice files are looked for (Environment.voices_dir; None: only in installed packages). `worker_command` starts a
    worker differently (tests use it to run the engine without forking, or to start one that hangs).
    `first_line_first`: one worker until the first clip is out (a player is waiting for it), then the rest.
    `levelling`: the caller levels the clips on every core meanwhile (an export): an engine whose lines are cheap
    (Engine.leaves_a_cpu: espeak-ng) then starts one worker fewer than the CPUs, at least one. On two cores one
    espeak worker makes arch's 19 lines while this process imports numpy and levels on the other core; a second
    only added its start-up (~0.1 s of CPU) and more runnable processes than cores (scripts/bench_versions.py,
    cold export: 0.89x the wall and 0.92x the CPU time of two workers; 40 distinct lines 0.81x / 0.94x).

    >>> with Synthesizer(routine.Voice(rate=170), cache_dir=Path("/tmp/speech")) as speech:  # doctest: +SKIP
    ...     speech.prefetch(["Sit down.", "Relax your foot."])
    ...     seconds = speech.length("Sit down.") / 22050
    """

    def __init__(
        self,
        voice: routine.Voice,
        *,
        cache_dir: Path,
        workers: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        worker_command: Sequence[str] | None = None,
        voices_dir: Path | None = None,
        first_line_first: bool = True,
        levelling: bool = False,
    ):
        self._requested = voice
        self._first_line_first = first_line_first
        self._cache, self._cache_warnings = _open_cache(cache_dir)
        self._cache_is_private = bool(self._cache_warnings)  # the fallback: a temporary folder of our own
        self._engine = make_engine(voice.engine, self._cache, voices_dir)
        self._filled = voice.filled_in(self._engine.name, self._engine.default_rate)
        self._rate, self._volume = self._filled.rate, self._filled.volume
        most = self._engine.max_workers
        cpus = usable_cpus() - 1 if levelling and self._engine.leaves_a_cpu else usable_cpus()
        self._max_workers = max(1, workers if workers is not None else min(cpus, most))
        self._timeout = timeout
        self._command = tuple(worker_command) if worker_command else None

        self._cond = threading.Condition()
        self._pending: deque[str] = deque()  # texts waiting for a driver thread, most urgent first
        self._making: set[str] = set()  # texts a driver thread is working on
        self._lengths: dict[str, int] = {}
        self._failures: dict[str, Exception] = {}
        self._threads: list[threading.Thread] = []
        self._idle: list[WorkerProcess] = []  # started, not yet owned by a driver thread
        self._live: list[WorkerProcess] = []  # every worker alive, so close() can stop them all
        self._fatal: EngineError | None = None  # the engine cannot start at all: fail fast after once
        self._closed = False
        self._started = 0
        self._spares_starting = 0  # workers being started ahead of need (export)
        self._committed = False  # a clip was added to the cache: it is kept within its bound at close

        self._resolve_lock = threading.Lock()
        self._voice: ResolvedVoice | None = None
        self._clips: OrderedDict[str, "numpy.ndarray"] = OrderedDict()

    # -- what the caller sees ------------------------------------------------------------------

    @property
    def resolved(self) -> routine.Voice:
        """The voice as used: engine, voice id (after any fallback), rate and volume filled in, and its language."""
        voice = self._resolution()
        return routine.Voice(voice=voice.id, rate=self._rate, volume=self._volume, engine=self._engine.name,
                             language=voice.language)

    @property
    def language(self) -> str | None:
        """The language tag of the voice used (like 'en-us'), when its engine says.

        >>> Synthesizer(routine.Voice(engine="piper")).language  # doctest: +SKIP
        'en-us'
        """
        return self._resolution().language

    @property
    def requested(self) -> routine.Voice:
        """The voice as asked for, engine, rate and volume filled in: known at once, without asking the engine,
        while `resolved` may have to wait for a worker to list the voices (its language is not known here)."""
        return self._filled

    @property
    def cache_is_private(self) -> bool:
        """True when this run keeps its speech in a temporary folder of its own (the cache could not be used)."""
        return self._cache_is_private

    @property
    def warnings(self) -> tuple[str, ...]:
        """Things the user should know, e.g. that the voice asked for was not found."""
        return self._cache_warnings + self._resolution().warnings

    @property
    def engine_starting(self) -> bool:
        """True while the worker started early for this engine (a cold cache: see launch) waits to be taken: the
        voice is then resolved by asking it, once it has started, so the caller may prepare something meanwhile."""
        if self._voice is not None:
            return False
        try:
            command = self._command or self._engine.command(None)
        except EngineError:  # an engine whose workers start only for a known voice (Piper): none started early
            return False
        return started_early(command)

    @property
    def workers_started(self) -> int:
        """How many worker processes this synthesizer has started (0 when the cache had everything)."""
        return self._started

    def prefetch(self, texts: Sequence[str]) -> None:
        """Start making the clips not made yet, in this order, in the background; returns at once.

        >>> speech.prefetch(["Sit down.", "Relax your foot."])  # doctest: +SKIP
        """
        for text in texts:
            _check_text(text)
        with self._cond:
            self._ensure_open()
            for text in texts:
                if not self._planned(text):
                    self._pending.append(text)
            self._add_threads()

    def length(self, text: str) -> int:
        """The clip's length in samples at SAMPLE_RATE; blocks until it is known.

        >>> speech.length("Sit down.")  # doctest: +SKIP
        17311
        """
        _check_text(text)
        with self._cond:
            self._ensure_open()
            known = self._known(text)
            if known is not None:
                return known
        frames = self._cache.length(self._key(text))
        if frames is not None:
            with self._cond:
                self._lengths[text] = frames
            return frames
        return self._make(text)

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """length() of each text, made in parallel: what a compiler wants for a whole routine.

        >>> speech.lengths(["Sit down.", "Relax your foot."])  # doctest: +SKIP
        [17311, 23702]
        """
        self.prefetch(texts)
        return [self.length(text) for text in texts]

    def samples(self, text: str) -> "numpy.ndarray":
        """The clip: float32 mono in [-1, 1) at SAMPLE_RATE, read-only, len == length(text); blocks.

        >>> speech.samples("Sit down.").dtype  # doctest: +SKIP
        dtype('float32')
        """
        with self._cond:
            if text in self._clips:
                self._clips.move_to_end(text)
                return self._clips[text]
        raw = self.pcm16(text)
        assert raw is not None
        data = float_samples(raw)
        with self._cond:
            self._clips[text] = data
            if len(self._clips) > _CLIPS_IN_MEMORY:
                self._clips.popitem(last=False)
        return data

    def pcm16(self, text: str, *, wait: bool = True) -> bytes | None:
        """The clip as the engine made it: 16-bit little-endian mono PCM at SAMPLE_RATE, len == 2 * length(text);
        blocks until it is made (without `wait`: None unless it is in the cache already). No numpy needed.

        >>> len(speech.pcm16("Sit down.")) // 2  # doctest: +SKIP
        17311
        """
        _check_text(text)
        if not wait and self._cache.length(self._key(text)) is None:
            return None  # not made yet (or being made)
        frames = self.length(text)
        key = self._key(text)
        data = self._cache.pcm16(key)
        if data is None or len(data) != 2 * frames:
            # Damaged (or replaced) since its header was read: make it again, once.
            self._cache.discard(self._cache.path(key))
            with self._cond:
                self._lengths.pop(text, None)
            frames = self._make(text)
            data = self._cache.pcm16(key)
            if data is None or len(data) != 2 * frames:
                raise EngineError(f"the speech cache entry for {_shown(text)} cannot be read: {self._cache.path(key)}")
        return data

    def clip_id(self, text: str, raw: bytes | None = None, *, wait: bool = True) -> bytes | None:
        """What names the clip as made, for caches of what is made from it (the mixer's final clips): its key,
        length and checksum (_speech_cache.clip_identity), which change whenever its samples do. Of `raw` when
        given (pcm16(text), read already); else from its cache entry's head and end, its samples not read: blocks
        until it is made (without `wait`: None unless it is in the cache already).

        >>> len(speech.clip_id("Sit down."))  # doctest: +SKIP
        44
        """
        _check_text(text)
        key = self._key(text)
        if raw is not None:
            return clip_identity(key, raw)
        if wait:
            self.length(text)
        found = self._cache.identity(key)
        if found is None:
            return clip_identity(key, self.pcm16(text)) if wait else None  # damaged since made: pcm16 remakes it
        frames, identity = found
        with self._cond:
            self._lengths.setdefault(text, frames)  # a length known on the way: compile asks for it next
        return identity

    def close(self) -> None:
        """Stop the workers. Clips already made stay in the cache."""
        with self._cond:
            self._closed = True
            workers = list(self._live)
            self._cond.notify_all()
        for worker in workers:
            worker.kill()
        for thread in self._threads:
            thread.join(timeout=2.0)
        if self._cache_is_private:  # nobody else will ever read it
            shutil.rmtree(self._cache.root, ignore_errors=True)
        elif self._committed:
            self._cache.evict()

    def __enter__(self) -> "Synthesizer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- scheduling ----------------------------------------------------------------------------

    def _known(self, text: str) -> int | None:
        """Length already known (caller holds the lock); raises the failure if making it failed."""
        if text in self._failures:
            raise self._failures[text]
        return self._lengths.get(text)

    def _planned(self, text: str) -> bool:
        """Made, failed, queued or being made (caller holds the lock)."""
        return text in self._lengths or text in self._failures or text in self._making or text in self._pending

    def _make(self, text: str) -> int:
        """Have a driver thread make `text` before anything else queued, and wait for it."""
        with self._cond:
            if text in self._pending:
                self._pending.remove(text)
            if text not in self._making:
                self._pending.appendleft(text)
                self._add_threads()
            while True:
                self._ensure_open()
                known = self._known(text)
                if known is not None:
                    return known
                self._cond.wait()

    def _add_threads(self) -> None:
        """Wake idle driver threads, and start more while there is more work than threads (lock held)."""
        self._cond.notify_all()
        if self._closed:
            return
        wanted = min(self._max_workers, len(self._making) + len(self._pending))
        if self._first_line_first and not self._lengths and not self._failures:
            # Until the first clip is out, one thread: a second worker starting up would compete with
            # the first utterance for the CPU, and the player is waiting for that one (about 40% later
            # on two cores). The others start as soon as it is done. (An export waits for all of them.)
            wanted = min(wanted, 1)
        while len(self._threads) < wanted:
            thread = threading.Thread(target=self._drive, name=f"speech-{len(self._threads)}", daemon=True)
            try:
                thread.start()
            except RuntimeError as error:  # no memory for another thread (a memory limit, ulimit -v)
                if not self._threads:  # nobody would ever make what is waited for: fail it now
                    failure = EngineError(f"cannot start speech ({error}): not enough memory; is a memory limit "
                                          "set (ulimit -v)?")
                    for text in self._pending:
                        self._failures[text] = failure
                    self._pending.clear()
                return  # fewer threads than wanted: slower, not wrong
            self._threads.append(thread)

    def _drive(self) -> None:
        """A driver thread: take texts off the queue; answer from the cache, else from its own worker."""
        slot = _Slot()  # this thread's worker, started when first needed, replaced when it fails
        try:
            self._drive_slot(slot)
        finally:
            if slot.ahead is not None:  # closed while a request was on its way: its clip is nobody's
                slot.ahead.cache.discard(slot.ahead.out)

    def _drive_slot(self, slot: "_Slot") -> None:
        while True:
            with self._cond:
                while slot.ahead is None and not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                sent_ahead = slot.ahead is not None
                if sent_ahead:
                    text = slot.ahead.text  # taken off the queue when it was sent
                else:
                    text = self._pending.popleft()
                    self._making.add(text)
            frames: int | None = None
            failure: Exception | None = None
            try:
                key = self._key(text)
                frames = None if sent_ahead else self._cache.length(key)  # one sent is answered: read its reply
                if frames is None:
                    frames = self._synthesize(slot, text, key)
            except EngineError as error:
                failure = error
            except Exception as error:  # noqa: BLE001 - never leave a waiter hanging on a bug
                failure = EngineError(f"speech failed for {_shown(text)}: {type(error).__name__}: {error}")
            with self._cond:
                self._making.discard(text)
                if frames is not None:
                    self._lengths[text] = frames
                elif failure is not None and not self._closed:
                    self._failures[text] = failure
                self._add_threads()  # wakes the waiters; more threads if the queue has grown

    def _synthesize(self, slot: "_Slot", text: str, key: ClipKey) -> int:
        """Make one clip with the slot's worker; one that hangs or dies is replaced and the text tried once more."""
        voice = self._resolution()
        problem = ""
        for _attempt in range(2):
            sent = self._claim_ahead(slot, text)  # sent already, before the previous text was answered
            fresh = sent is None
            if sent is None:
                self._drain_ahead(slot)  # a request for another text is on its way: its reply comes first
                if slot.worker is None:
                    slot.worker = self._take_worker(voice)
                cache = self._cache
                try:
                    out = cache.temporary(key)
                except OSError as error:
                    if error.errno in (errno.ENOSPC, errno.EDQUOT) and self._spill(cache):
                        return self._synthesize(slot, text, key)
                    raise EngineError(f"cannot write to the speech cache {cache.root}: {error.strerror}") from None
                sent = _Sent(text, key, out, cache)
            worker, cache, out = slot.worker, sent.cache, sent.out
            assert worker is not None  # a request sent ahead is dropped whenever its worker is
            try:
                if fresh:
                    worker.send(self._request(voice, sent))
                self._send_ahead(slot, voice)
                reply = sent.reply if sent.reply is not None else worker.receive(self._timeout,
                                                                                   f"saying {_shown(text)}")
                if reply.get("missing"):  # part of the engine is not installed: retrying cannot help
                    cache.discard(out)
                    raise EngineError(reply["error"])
                if reply.get("crashed"):
                    raise WorkerDied(f"crashed while saying {_shown(text)}: {reply.get('error')}")
            except (WorkerStalled, WorkerDied) as error:
                self._retire(worker)  # first: with whatever it forked, which may still be writing a clip
                cache.discard(out)
                self._drop_ahead(slot)  # sent to the same worker: it goes back to the queue
                slot.worker, problem = None, str(error)
                continue
            if not reply.get("ok"):
                cache.discard(out)
                if "No space left on device" in str(reply.get("error")):
                    if self._spill(cache):
                        return self._synthesize(slot, text, key)
                    raise EngineError(f"no space left on the device holding the speech cache {cache.root}; "
                                      "free some space, or set XDG_CACHE_HOME to a folder with room")
                raise EngineError(f"speech engine {voice.engine} failed on {_shown(text)}: {reply.get('error')}")
            frames = cache.commit(out, key)
            self._committed = True
            if frames is None:
                raise EngineError(f"speech engine {voice.engine} wrote an unreadable clip for {_shown(text)}")
            return frames
        raise EngineError(f"speech engine {voice.engine} {problem} (tried twice)")

    def _request(self, voice: ResolvedVoice, sent: "_Sent") -> dict[str, Any]:
        return {**self._engine.request(voice, self._rate, sent.text), "key": sent.key.blob().decode("utf-8"),
                "out": str(sent.out)}

    # An export wants every line: while its worker says one, the next is already on its way to it, so the worker
    # never waits for this process between lines (it did, 10-50 ms a line, while this process levelled clips and
    # its threads took turns). Replies come in the order sent. A player waits for particular lines (the next to
    # play, one a key asked for), so it does not send ahead.

    def _send_ahead(self, slot: "_Slot", voice: ResolvedVoice) -> None:
        """Send the slot's worker the next text in the queue, if nothing is sent ahead yet (an export only)."""
        if self._first_line_first or slot.ahead is not None or slot.worker is None:
            return
        with self._cond:
            if self._closed or not self._pending:
                return
            text = self._pending.popleft()
            self._making.add(text)
        cache = self._cache
        try:
            key = self._key(text)
            # Made meanwhile (another run): the queue answers it from the cache.
            sent = None if cache.length(key) is not None else _Sent(text, key, cache.temporary(key), cache)
        except (OSError, EngineError):  # it is made in its turn, which says what is wrong
            sent = None
        if sent is None:
            self._requeue(text)
            return
        try:
            slot.worker.send(self._request(voice, sent))
        except WorkerDied:  # the worker is gone: the reply awaited says so and replaces it
            cache.discard(sent.out)
            self._requeue(text)
            return
        slot.ahead = sent

    def _claim_ahead(self, slot: "_Slot", text: str) -> "_Sent | None":
        """The request sent ahead for `text`, taken off the slot, or None."""
        sent = slot.ahead
        if sent is None or sent.text != text:
            return None
        slot.ahead = None
        return sent

    def _drain_ahead(self, slot: "_Slot") -> None:
        """Read the reply to the request sent ahead, keeping it for its turn, so that a request sent now is the
        next one answered; a worker that hangs or dies on it is replaced, and the text goes back to the queue."""
        sent = slot.ahead
        if sent is None or sent.reply is not None:
            return
        assert slot.worker is not None
        try:
            sent.reply = slot.worker.receive(self._timeout, f"saying {_shown(sent.text)}")
        except (WorkerStalled, WorkerDied):
            self._retire(slot.worker)
            self._drop_ahead(slot)
            slot.worker = None

    def _drop_ahead(self, slot: "_Slot") -> None:
        """Forget the request sent ahead (its worker is being replaced): its clip is removed, its text queued first."""
        sent, slot.ahead = slot.ahead, None
        if sent is not None:
            sent.cache.discard(sent.out)
            self._requeue(sent.text)

    def _requeue(self, text: str) -> None:
        with self._cond:
            self._making.discard(text)
            if not self._closed and not self._planned(text):
                self._pending.appendleft(text)
            self._cond.notify_all()

    def _spill(self, full: ClipCache) -> bool:
        """The cache's disk is full: go on with a private temporary cache (removed at close), once. True when
        synthesis can be tried again (also when another thread has already switched)."""
        with self._cond:
            if self._cache is not full:
                return True
            if self._cache_is_private:
                return False
            try:
                fallback = _private_folder()
            except OSError:
                return False
            self._cache_warnings += (f"no space left for the speech cache in {str(full.root)!r}; this run keeps "
                                     f"its speech in {str(fallback)!r} and removes it at the end",)
            # Clips already in the full cache are made again here when next read: the same text gives the same samples.
            self._cache, self._cache_is_private = ClipCache(fallback), True
            return True

    def _take_worker(self, voice: ResolvedVoice | None = None) -> WorkerProcess:
        """An idle worker, or a new one started for `voice` (None: while resolving it)."""
        with self._cond:
            while not self._idle and self._spares_starting and self._fatal is None and not self._closed:
                self._cond.wait()  # one is on its way: starting another would only compete with it
            if self._fatal is not None:
                raise self._fatal
            if self._idle:
                return self._idle.pop()
            self._ensure_open()
            self._started += 1
            first = self._started == 1
            spares = self._max_workers - 1 if first and not self._first_line_first else 0
            self._spares_starting += spares
        if first:  # only runs that synthesize pay for this; a warm `check` never lists the folder
            self._cache.sweep()
        for number in range(spares):
            # The others start beside this one, not after the voice is known or the first line is made: an
            # export wants every line, and a worker spends most of its start-up importing pyttsx3.
            try:
                threading.Thread(target=self._start_spare, args=(voice,), name=f"speech-spare-{number}",
                                 daemon=True).start()
            except RuntimeError:  # no memory for the thread: the driver threads start their own workers
                with self._cond:
                    self._spares_starting -= 1
        try:
            worker = _start_worker(self._command or self._engine.command(voice), self._timeout)
        except EngineError as error:
            with self._cond:
                self._fatal = error
                self._cond.notify_all()
            raise
        self._keep(worker)
        return worker

    def _start_spare(self, voice: ResolvedVoice | None) -> None:
        """Start a worker for a driver thread to take later; one that cannot start (for whatever reason: no memory
        for its process or its reader thread) is left to the driver threads, which start their own and report what
        goes wrong. Whatever happens, the count of spares on their way goes down, so nobody waits for this one."""
        worker: WorkerProcess | None = None
        kept = False
        try:
            worker = _start_worker(self._command or self._engine.command(voice), self._timeout)
        except Exception:  # noqa: BLE001 - see above
            worker = None
        finally:
            with self._cond:
                self._spares_starting -= 1
                self._cond.notify_all()
                kept = worker is not None and not self._closed
                if kept:
                    self._started += 1
                    self._live.append(worker)
                    self._idle.append(worker)
        if worker is not None and not kept:  # close() ran while it started
            worker.kill()

    def _keep(self, worker: WorkerProcess) -> None:
        """Count a started worker as live, so close() stops it (it is killed at once if close() ran already)."""
        with self._cond:
            self._live.append(worker)
            if self._closed:  # close() ran while it started: it missed this one
                worker.kill()
                self._ensure_open()

    def _retire(self, worker: WorkerProcess) -> None:
        worker.kill()
        with self._cond:
            if worker in self._live:
                self._live.remove(worker)

    def _ensure_open(self) -> None:
        if self._closed:
            raise EngineError("the speech synthesizer is closed")

    # -- voice and cache keys ------------------------------------------------------------------

    def _key(self, text: str) -> ClipKey:
        voice = self._resolution()
        return ClipKey(voice.engine, voice.identity, self._rate, text)

    def _resolution(self) -> ResolvedVoice:
        """The voice, resolved once per synthesizer by its engine."""
        with self._resolve_lock:
            if self._voice is None:
                self._voice = self._engine.resolve(self._requested.voice, self._ask_while_resolving)
            return self._voice

    def _ask_while_resolving(self, request: dict[str, Any], doing: str) -> dict[str, Any]:
        """One request to a worker started before the voice is known (asked again once if it crashed or hung);
        the worker is kept for the first driver thread."""
        taken: list[WorkerProcess] = []

        def ask() -> dict[str, Any]:
            worker = self._take_worker(None)
            try:
                reply = _ask(worker, request, self._timeout, doing)
            except EngineError:
                self._retire(worker)
                raise
            taken.append(worker)
            return reply

        reply = _twice(ask)
        worker = taken[0]
        with self._cond:
            self._idle.append(worker)  # it has started; the first driver thread may as well use it
        return {**reply, "engine": reply.get("engine") or worker.engine}


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"cannot speak empty text: {text!r}")


def _shown(text: str) -> str:
    """A text as quoted in messages: in full when short, else its start."""
    return repr(text if len(text) <= _SHOWN_TEXT else text[: _SHOWN_TEXT - 1] + "…")


def _start_worker(command: Sequence[str], timeout: float) -> WorkerProcess:
    """A started worker, or EngineError saying why not (engine missing, hung, crashed)."""
    try:
        early = take_early(command)
        return early.greeted(timeout) if early is not None else WorkerProcess(command, timeout=timeout)
    except WorkerRefused as error:
        raise EngineError(str(error)) from None
    except (WorkerStalled, WorkerDied) as error:
        raise EngineError(f"the speech worker {error}") from None
    except OSError as error:
        raise EngineError(f"cannot start the speech worker {command[0]!r}: {error}") from None


class _Retryable(EngineError):
    """The engine crashed, hung or died on one request: another worker may well do it."""


def _ask(worker: WorkerProcess, request: dict[str, Any], timeout: float, doing: str) -> dict[str, Any]:
    """One request; the engine's error, or the worker's, as EngineError (_Retryable when it crashed or hung)."""
    try:
        reply = worker.ask(request, timeout, doing)
    except (WorkerStalled, WorkerDied) as error:
        raise _Retryable(f"speech engine {worker.engine} {error}") from None
    if reply.get("missing"):
        raise EngineError(reply["error"])
    if reply.get("crashed"):
        raise _Retryable(f"speech engine {worker.engine} crashed while {doing}: {reply.get('error')}")
    if not reply.get("ok"):
        raise EngineError(f"speech engine {worker.engine} failed {doing}: {reply.get('error')}")
    return reply


def _open_cache(cache_dir: Path) -> tuple[ClipCache, tuple[str, ...]]:
    """The cache folder, made private (see cachefiles); a private temporary one (with a warning) when it cannot
    be, or when it is not safe to use (a link, another user's folder)."""
    try:
        cachefiles.private_folder(cache_dir)
        _probe(cache_dir)
        return ClipCache(cache_dir), ()
    except OSError as error:
        fallback = _private_folder()
        warning = f"speech cache folder {str(cache_dir)!r} is not usable ({error.strerror}); using {str(fallback)!r}"
        return ClipCache(fallback), (warning,)


def _probe(folder: Path) -> None:
    """Raise OSError unless a file can be made in `folder` (made exclusively under a random name, then removed)."""
    probe = folder / f".probe.{os.urandom(6).hex()}"
    os.close(os.open(probe, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    probe.unlink()


def _private_folder() -> Path:
    """A new temporary folder only this user can read, for a run's speech when the cache cannot be used."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="voice-guide-speech-"))

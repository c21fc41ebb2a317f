"""Keyphrase spotting with pocketsphinx: 16 kHz mono 16-bit PCM in, candidate phrases with their scores out.

pocketsphinx's keyphrase search runs every phrase's phones alongside a free phone loop and reports a phrase
where its path beats the loop by more than the phrase's threshold. A `Candidate`'s score is that margin, in
the units of the thresholds (log10 of a likelihood ratio), so one number both ranks candidates and says how
far they cleared the bar. The model (en-us acoustic model and dictionary) ships inside pocketsphinx's wheel:
nothing is downloaded. Which phrases, which thresholds and what to do with candidates is `listening`'s job.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from . import listening
from .errors import VoiceGuideError

SAMPLE_RATE = 16000  # what the acoustic model was trained on; the microphone is opened at this rate
FRAME_RATE = 100  # pocketsphinx's feature frames per second
# pocketsphinx compares `path - phone loop` in log base 1.0001, shifted right by 10 bits, and reports it
# as logmath_exp(margin - 1500): these undo that, so a score reads like the thresholds in its kws file.
_LOG10_PER_UNIT = 1024 * math.log10(1.0001)
_KWS_MAX = 1500
LOWEST_THRESHOLD = -80.0  # log10; no phrase can be asked to report below this (every cough would)


class RecogniserError(VoiceGuideError):
    """pocketsphinx is missing or its model cannot be loaded."""


@dataclass(frozen=True)
class Candidate:
    """A phrase pocketsphinx heard: its first and last frame (inclusive, 10 ms each) and its score (log10)."""

    phrase: str
    first_frame: int
    last_frame: int
    score: float

    @property
    def start(self) -> float:
        """Seconds from the start of the stream to the start of the phrase."""
        return self.first_frame / FRAME_RATE

    @property
    def end(self) -> float:
        """Seconds from the start of the stream to the end of the phrase."""
        return (self.last_frame + 1) / FRAME_RATE


def score_of(prob: float) -> float:
    """A pocketsphinx keyphrase detection's probability, as the log10 margin its threshold is written in.

    >>> round(score_of(1.0001 ** -_KWS_MAX), 6)
    0.0
    """
    return (math.log(prob) / math.log(1.0001) + _KWS_MAX) * _LOG10_PER_UNIT if prob > 0 else -math.inf


class Spotter:
    """Feeds audio to a pocketsphinx keyphrase search; returns each candidate as it appears or improves.

    `thresholds` maps each phrase to the lowest score (log10) at which pocketsphinx should report it.
    A candidate whose score rises while more audio arrives is returned again with its new score and frames.

    >>> spotter = Spotter({"next step": -20.0, "say again": -20.0})  # doctest: +SKIP
    >>> spotter.feed(pcm_bytes)                                      # doctest: +SKIP
    [Candidate(phrase='next step', first_frame=121, last_frame=195, score=14.9)]
    """

    RESTART_FRAMES = 30 * FRAME_RATE  # a fresh search now and then, so the list of past detections stays short

    def __init__(self, thresholds: Mapping[str, float], *, words: Mapping[str, str] | None = None, delay_frames: int = 5):
        try:
            import pocketsphinx
        except ImportError as error:
            raise RecogniserError(
                "listening needs pocketsphinx: install voice-guide with its listen extra "
                "(pip install 'voice-guide[listen]')"
            ) from error
        self._phrases = tuple(thresholds)
        with tempfile.TemporaryDirectory(prefix="voice-guide-kws-") as folder:
            kws = Path(folder) / "phrases.kws"
            kws.write_text(
                "".join(f"{phrase} /1e{max(threshold, LOWEST_THRESHOLD):.2f}/\n" for phrase, threshold in thresholds.items()),
                encoding="utf-8",
            )
            try:
                config = pocketsphinx.Config()
                config["lm"] = None
                config["kws_delay"] = delay_frames
                config["loglevel"] = "FATAL"
                self._decoder = pocketsphinx.Decoder(config)
                for word, phones in (words or {}).items():
                    self._decoder.add_word(word, phones, True)
                failed = self._decoder.add_kws("commands", str(kws))  # returns its error instead of raising it
                if isinstance(failed, Exception):
                    raise failed
                self._decoder.activate_search("commands")
            except (RuntimeError, ValueError, KeyError) as error:
                raise RecogniserError(f"pocketsphinx could not load its English model ({error})") from error
        missing = [word for phrase in self._phrases for word in phrase.split() if self._decoder.lookup_word(word) is None]
        if missing:
            raise RecogniserError(f"not in pocketsphinx's dictionary: {', '.join(missing)}")
        self._offset = 0  # frames before the current search started
        self._samples = 0  # samples fed to the current search
        self._seen: dict[tuple[str, int, int], float] = {}
        self._decoder.start_utt()

    @property
    def frames(self) -> int:
        """Frames heard so far (10 ms each)."""
        return self._offset + self._samples * FRAME_RATE // SAMPLE_RATE

    def feed(self, pcm: bytes) -> list[Candidate]:
        """Hear `pcm` (16-bit little-endian mono at 16 kHz); the candidates that are new or scored higher."""
        self._decoder.process_raw(pcm)
        self._samples += len(pcm) // 2
        found = []
        if self._decoder.hyp() is not None:
            for segment in self._decoder.seg():
                key = (segment.word.strip(), segment.start_frame, segment.end_frame)
                score = score_of(segment.prob)
                if self._seen.get(key, -math.inf) < score:
                    self._seen[key] = score
                    found.append(Candidate(key[0], self._offset + key[1], self._offset + key[2], score))
        return found

    def phones(self, phrase: str) -> int:
        """How many phones pocketsphinx spots in `phrase`."""
        return sum(len((self._decoder.lookup_word(word) or "").split()) for word in phrase.split())

    def restart(self) -> None:
        """Forget every candidate so far; frames go on counting from where they were."""
        self._decoder.end_utt()
        self._offset = self.frames
        self._samples = 0
        self._seen.clear()
        self._decoder.start_utt()

    def idle_long(self) -> bool:
        """Whether the current search has run long enough to be worth a restart (between phrases)."""
        return self._samples * FRAME_RATE // SAMPLE_RATE >= self.RESTART_FRAMES

    def close(self) -> None:
        try:
            self._decoder.end_utt()
        except RuntimeError:
            pass


# Real microphones have a noise floor; in near-digital silence pocketsphinx's live normalisation drifts and it
# misses most phrases (measured: 33-56% of commands at a -80 dBFS floor, 90% at -50). A faint, fixed noise is
# added to what the spotter hears (only there: nothing is kept).
COMFORT_NOISE_DBFS = -50.0


class Ears:
    """The whole of hearing, minus the device: comfort noise, spotter, loudness, decider. Stream times.

    `hear(samples)` takes int16 samples (a numpy array) and returns the commands decided so far, each with
    its start and end in seconds from the first sample heard.

    >>> ears = Ears()                                   # doctest: +SKIP
    >>> ears.hear(samples)                              # doctest: +SKIP
    [Heard(phrase='next step', command='next', start=7.4, end=8.3, score=8.0)]
    """

    def __init__(self, sensitivity: float = listening.DEFAULT_SENSITIVITY, *, seed: int | None = None):
        import numpy as np

        self._np = np
        thresholds, words, by_key = listening.spotter_entries(sensitivity=sensitivity)
        self._spotter = Spotter(thresholds, words=words)
        self.levels = listening.Levels()
        # Not asked whether each phrase was said alone (Levels.alone): measured, that lost a fifth of commands.
        shortest = {key: self._spotter.phones(key) * listening.SHORTEST_PHONE for key in thresholds}
        self._decider = listening.Decider(thresholds, by_key, shortest=shortest)
        self._rng = np.random.default_rng(seed)
        self._comfort = 32768 * 10 ** (COMFORT_NOISE_DBFS / 20)
        self.samples = 0

    @property
    def time(self) -> float:
        """Seconds heard so far."""
        return self.samples / SAMPLE_RATE

    def hear(self, samples) -> list[listening.Heard]:
        np = self._np
        noisy = samples.astype(np.float64) + self._rng.standard_normal(len(samples)) * self._comfort
        heard = np.clip(np.round(noisy), -32768, 32767).astype("<i2")
        self.samples += len(samples)
        self.levels.add(heard)
        for candidate in self._spotter.feed(heard.tobytes()):
            self._decider.add(listening.Candidate(candidate.phrase, candidate.start, candidate.end, candidate.score))
        decided = self._decider.decide(self.time)
        if not self._decider.waiting and self._spotter.idle_long():
            self._spotter.restart()
        return decided

    def close(self) -> None:
        self._spotter.close()

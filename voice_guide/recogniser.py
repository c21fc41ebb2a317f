"""Hearing commands with pocketsphinx: 16 kHz mono 16-bit PCM in, commands (`listening.Heard`) out.

Each stretch of speech (found by pocketsphinx's voice activity detector, cut by `listening.Endpoints`) is
decoded twice as it arrives: by a grammar that knows only the command phrases, and by a free phone loop.
The grammar always answers with some phrase; how much worse its path scores than the phone loop's, per
frame, says whether the phrase was really said (`listening.judge`). Both searches are fed while the person
speaks, so little is left to do when they stop. The model (en-us acoustic model, dictionary and phone
language model) ships inside pocketsphinx's wheel: nothing is downloaded.
"""

from __future__ import annotations

import math
import os
from collections import deque

from . import listening
from .errors import VoiceGuideError

SAMPLE_RATE = 16000  # what the acoustic model was trained on; the microphone is opened at this rate
FRAME_RATE = 100  # pocketsphinx's feature frames per second
_LOG_BASE = math.log(1.0001)  # pocketsphinx's scores are powers of 1.0001


class RecogniserError(VoiceGuideError):
    """pocketsphinx is missing or its model cannot be loaded."""


def _import_pocketsphinx():
    try:
        import pocketsphinx
    except ImportError as error:
        raise RecogniserError(
            "listening needs pocketsphinx: install voice-guide with its listen extra "
            "(pip install 'voice-guide[listen]')"
        ) from error
    return pocketsphinx


class Decoders:
    """The grammar search and the phone loop, fed the same audio; `finish()` gives the phrase and confidence.

    >>> decoders = Decoders()                 # doctest: +SKIP
    >>> decoders.start(); decoders.feed(pcm)  # doctest: +SKIP
    >>> decoders.finish()                     # doctest: +SKIP
    ('next step', -4.2)
    """

    def __init__(self, phrases=listening.PHRASES):
        pocketsphinx = _import_pocketsphinx()
        try:
            self._grammar = pocketsphinx.Decoder(lm=None, loglevel="FATAL")
            for word, phones in listening.pronunciations(phrases).items():
                self._grammar.add_word(word, phones, True)
            self._grammar.add_jsgf_string("commands", listening.grammar(phrases))
            self._grammar.activate_search("commands")
            phone_lm = os.path.join(pocketsphinx.get_model_path(), "en-us-phone.lm.bin")
            self._loop = pocketsphinx.Decoder(lm=None, allphone=phone_lm, loglevel="FATAL")
        except (RuntimeError, ValueError, KeyError) as error:
            raise RecogniserError(f"pocketsphinx could not load its English model ({error})") from error
        missing = [word for phrase in phrases for word in phrase.text.split()
                   if self._grammar.lookup_word(word) is None]
        if missing:
            raise RecogniserError(f"not in pocketsphinx's dictionary: {', '.join(missing)}")
        self._phrases = {phrase.text for phrase in phrases}
        self._samples = 0
        self.active = False

    def start(self) -> None:
        self._grammar.start_utt()
        self._loop.start_utt()
        self._samples = 0
        self.active = True

    def feed(self, pcm: bytes) -> None:
        self._grammar.process_raw(pcm)
        self._loop.process_raw(pcm)
        self._samples += len(pcm) // 2

    def _verdict(self) -> tuple[str | None, float]:
        phrase, loop = self._grammar.hyp(), self._loop.hyp()
        frames = self._samples * FRAME_RATE / SAMPLE_RATE
        if phrase is None or loop is None or phrase.score <= 0 or loop.score <= 0 or frames < 1:
            return None, -math.inf
        text = phrase.hypstr if phrase.hypstr in self._phrases else None
        return text, (math.log(phrase.score) - math.log(loop.score)) / _LOG_BASE / frames

    def peek(self) -> tuple[str | None, float]:
        """The phrase and confidence so far (the utterance goes on)."""
        return self._verdict()

    def finish(self) -> tuple[str | None, float]:
        """End the utterance: its phrase (None unless a whole phrase) and confidence."""
        self._grammar.end_utt()
        self._loop.end_utt()
        self.active = False
        return self._verdict()

    def close(self) -> None:
        if self.active:
            try:
                self.finish()
            except RuntimeError:
                pass


# Real microphones have a noise floor; in digital silence pocketsphinx's normalisation drifts and the voice
# activity detector flickers. A faint, fixed noise is added to what the recogniser hears (only there: nothing
# is kept).
COMFORT_NOISE_DBFS = -50.0


class Ears:
    """The whole of hearing, minus the device: comfort noise, voice activity, both searches, the verdict.

    `hear(samples)` takes int16 samples (a numpy array) and returns the commands decided so far, each with
    its start and end in seconds from the first sample heard.

    >>> ears = Ears()                                   # doctest: +SKIP
    >>> ears.hear(samples)                              # doctest: +SKIP
    [Heard(phrase='next step', command='next', start=7.4, end=8.3, score=8.0)]
    """

    def __init__(self, sensitivity: float = listening.DEFAULT_SENSITIVITY, *, seed: int | None = None):
        import numpy as np

        pocketsphinx = _import_pocketsphinx()
        self._np = np
        self._threshold = listening.threshold_for(sensitivity)
        self._decoders = Decoders()
        try:
            self._vad = pocketsphinx.Vad(mode=listening.VAD_MODE, sample_rate=SAMPLE_RATE,
                                         frame_length=listening.VAD_FRAME)
        except (RuntimeError, ValueError) as error:
            raise RecogniserError(f"pocketsphinx's voice activity detector failed ({error})") from error
        self._frame_bytes = self._vad.frame_bytes
        self._frame_seconds = self._frame_bytes / 2 / SAMPLE_RATE
        self._ends = listening.Endpoints()
        self._pending = b""
        # The frames not yet decoded, kept for the pre-roll (never written anywhere).
        self._recent: deque[bytes] = deque(maxlen=round(listening.PRE_ROLL / listening.VAD_FRAME) + 8)
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
        self._pending += np.clip(np.round(noisy), -32768, 32767).astype("<i2").tobytes()
        self.samples += len(samples)
        decided = []
        size = self._frame_bytes
        whole = len(self._pending) // size * size
        frames, self._pending = self._pending[:whole], self._pending[whole:]
        for at in range(0, whole, size):
            heard = self._frame(frames[at:at + size])
            if heard is not None:
                decided.append(heard)
        return decided

    def _frame(self, frame: bytes) -> listening.Heard | None:
        index = self._ends.frames
        verdict = self._ends.push(self._vad.is_speech(frame))
        self._recent.append(frame)
        if verdict is None:
            return None
        if verdict == listening.START:
            self._decoders.start()
            back = index + 1 - self._ends.start_frame  # the pre-roll and this frame
            self._decoders.feed(b"".join(list(self._recent)[-back:]))
            return None
        self._decoders.feed(frame)
        if verdict == listening.SPEECH:
            return None
        if verdict == listening.CHECK:
            text, confidence = self._decoders.peek()
            if text is None or confidence < self._threshold + listening.EARLY_MARGIN:
                return None
            self._ends.end_early()
        text, confidence = self._decoders.finish()
        if verdict == listening.CUT:
            return None
        seconds = self._frame_seconds
        utterance = listening.Utterance(text, self._ends.speech_frame * seconds, self._ends.end_frame * seconds,
                                        confidence)
        return listening.judge(utterance, self._threshold)

    def close(self) -> None:
        self._decoders.close()

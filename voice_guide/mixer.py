"""The mixer: the final samples of every sounding event, shared by the player and the exporter.

Both paths ask the mixer for an event's samples and convert them with `to_pcm16`, so what is heard live is
bit-for-bit what is written to a WAV file.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from .timeline import CHIME, SAMPLE_RATE, SPEECH, Event

if TYPE_CHECKING:
    import numpy


class SpeechSource(Protocol):
    def samples(self, text: str) -> "numpy.ndarray": ...


class Mixer:
    """Levels speech and chimes for one routine; `volume` (0.0-1.0) scales the final level."""

    def __init__(self, speech: SpeechSource, *, volume: float = 1.0, loudness: float | None = None):
        from .loudness import DEFAULT_TARGET_LUFS

        self._speech = speech
        self.volume = volume
        self.loudness = DEFAULT_TARGET_LUFS if loudness is None else loudness
        self._speech_clip = lru_cache(maxsize=256)(self._level_speech)

    def clip(self, event: Event) -> "numpy.ndarray":
        """The float32 samples of a speech or chime event, exactly `event.length` long."""
        if event.kind == SPEECH:
            samples = self._speech_clip(event.text)
        elif event.kind == CHIME:
            samples = self._chime()
        else:
            raise ValueError(f"a {event.kind} event has no clip")
        if len(samples) != event.length:
            raise ValueError(
                f"clip for {event.text or event.kind!r} is {len(samples)} samples, the timeline says {event.length}"
            )
        return samples

    def _level_speech(self, text: str) -> "numpy.ndarray":
        from .loudness import level_speech

        return self._finish(level_speech(self._speech.samples(text), SAMPLE_RATE, self.loudness))

    @lru_cache(maxsize=1)
    def _chime(self) -> "numpy.ndarray":
        from .chime import chime_samples
        from .loudness import level_chime

        return self._finish(level_chime(chime_samples(), SAMPLE_RATE, self.loudness))

    def _finish(self, samples: "numpy.ndarray") -> "numpy.ndarray":
        import numpy as np

        out = (samples * np.float32(self.volume)).astype(np.float32)
        out.setflags(write=False)
        return out


def to_pcm16(samples: "numpy.ndarray") -> bytes:
    """Float samples in [-1, 1] as little-endian signed 16-bit PCM: the one conversion every output uses."""
    return pcm16(samples).tobytes()


def pcm16(samples: "numpy.ndarray") -> "numpy.ndarray":
    """Float samples in [-1, 1] as an int16 array (rounded, clipped)."""
    import numpy as np

    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")

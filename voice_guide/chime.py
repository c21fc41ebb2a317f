"""The soft chime played before each new step: a short bell-like tone, computed, never recorded."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from .timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

CHIME_SECONDS = 0.8
CHIME_LENGTH = int(CHIME_SECONDS * SAMPLE_RATE)

# A major sixth (A5 + F#6) with a faint octave: bright enough to notice, soft enough not to startle.
_PARTIALS = ((880.0, 1.0, 3.5), (1479.98, 0.45, 5.0), (1760.0, 0.15, 7.0))  # (Hz, amplitude, decay per second)
_ATTACK_SECONDS = 0.008
_FADE_SECONDS = 0.05


@lru_cache(maxsize=1)
def chime_samples() -> "numpy.ndarray":
    """The raw chime, float32 mono at SAMPLE_RATE, peak 0.5 (the mixer sets its final level).

    >>> len(chime_samples()) == CHIME_LENGTH
    True
    """
    import numpy as np

    t = np.arange(CHIME_LENGTH, dtype=np.float64) / SAMPLE_RATE
    tone = sum(amp * np.exp(-decay * t) * np.sin(2 * np.pi * hz * t) for hz, amp, decay in _PARTIALS)
    envelope = np.minimum(1.0, t / _ATTACK_SECONDS)
    fade = np.clip((CHIME_SECONDS - t) / _FADE_SECONDS, 0.0, 1.0)  # ends at exactly zero: no click
    out = tone * envelope * fade
    out = (out * (0.5 / np.max(np.abs(out)))).astype(np.float32)
    out.setflags(write=False)  # shared by every chime event: nobody may change it
    return out


TICK_SECONDS = 0.04


@lru_cache(maxsize=1)
def tick_pcm() -> bytes:
    """The acknowledgement of a spoken command: a soft 40 ms tick, 16-bit mono PCM at SAMPLE_RATE.

    >>> len(tick_pcm()) == 2 * int(TICK_SECONDS * SAMPLE_RATE)
    True
    """
    import numpy as np

    t = np.arange(int(TICK_SECONDS * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * 1320.0 * t) * np.exp(-t * 90.0) * np.minimum(1.0, t / 0.002)
    return (tone * 0.12 * 32767).astype("<i2").tobytes()

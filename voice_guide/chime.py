"""The soft chime played before each new step: a short bell-like tone, computed, never recorded.

It is the first sound of a routine, so it is made without numpy (importing numpy takes longer than the whole
chime to compute): plain floats, rounded to float32 with the array module, and converted to 16-bit PCM with
exactly the arithmetic `mixer.to_pcm16` does in numpy, so the player's chime is the exported one, bit for bit.
Its level is a plain gain (it is far from the limiter's ceiling), from its loudness in a file measured once
(below -29 LUFS it measures up to 0.05 LU louder than asked: BS.1770's absolute gate drops its faint tail).
"""

from __future__ import annotations

import cmath
import math
import operator
import sys
from array import array
from functools import lru_cache
from itertools import accumulate, repeat
from operator import attrgetter
from typing import TYPE_CHECKING

from .timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

CHIME_SECONDS = 0.8
CHIME_LENGTH = int(CHIME_SECONDS * SAMPLE_RATE)

# A major sixth (A5 + F#6) with a faint octave: bright enough to notice, soft enough not to startle.
_PARTIALS = ((880.0, 1.0, 3.5), (1479.98, 0.45, 5.0), (1760.0, 0.15, 7.0))  # (Hz, amplitude, decay per second)
_ATTACK_SECONDS = 0.008  # it starts from silence (this is its fade-in)
_FADE_SECONDS = 0.05
# loudness.loudness_in_file of raw_chime(), in LUFS (the tests hold it to the meter): what sets its gain.
RAW_LOUDNESS_IN_FILE = -19.5037


@lru_cache(maxsize=1)
def raw_chime() -> tuple[float, ...]:
    """The raw chime, mono at SAMPLE_RATE, peak 0.5 (levelled() sets its final level).

    >>> len(raw_chime()) == CHIME_LENGTH, max(map(abs, raw_chime()))
    (True, 0.5)
    """
    # Each partial, a decaying sine, is the imaginary part of a complex number turned one step each sample
    # (one multiplication a sample instead of an exp and a sin). The loops over samples are map/accumulate, run
    # in C: this is computed before the first sound, and each value is the one a plain loop gives.
    tone = [0.0] * CHIME_LENGTH
    for hz, amp, decay in _PARTIALS:
        step = cmath.exp(complex(-decay, 2 * math.pi * hz) / SAMPLE_RATE)
        turns = accumulate(repeat(step, CHIME_LENGTH - 1), operator.mul, initial=complex(amp, 0.0))
        tone = list(map(operator.add, tone, map(attrgetter("imag"), turns)))
    attack, fade = _ATTACK_SECONDS * SAMPLE_RATE, _FADE_SECONDS * SAMPLE_RATE
    # The envelope is 1.0 (x * 1.0 is x) but on the attack and the fade: only those samples are multiplied.
    edges = [*range(0, math.ceil(attack) + 1), *range(CHIME_LENGTH - math.ceil(fade) - 1, CHIME_LENGTH)]
    for i in edges:
        tone[i] = tone[i] * min(1.0, i / attack) * min(1.0, max(0.0, (CHIME_LENGTH - i) / fade))
    scale = 0.5 / max(map(abs, tone))
    return tuple(map(scale.__mul__, tone))


@lru_cache(maxsize=4)
def levelled(target_lufs: float) -> array:
    """The chime at `target_lufs` as it measures in a file, as float32 values (array typecode 'f').

    >>> round(max(map(abs, levelled(RAW_LOUDNESS_IN_FILE - 6.0206))), 3)
    0.25
    """
    gain = 10 ** ((target_lufs - RAW_LOUDNESS_IN_FILE) / 20)
    return array("f", map(gain.__mul__, raw_chime()))


@lru_cache(maxsize=8)
def pcm16(target_lufs: float, volume: float = 1.0) -> bytes:
    """The levelled chime, scaled by `volume`, as 16-bit PCM: what mixer.to_pcm16(mixer.scaled(clip, volume))
    gives for the same float32 samples (made once per level: a routine has a chime at every step).

    Each step rounds as numpy's float32 arithmetic does: the product of two float32 values is exact in a
    Python float, and array("f") rounds it to the nearest float32; round() goes half to even, as np.rint.
    """
    samples = levelled(target_lufs)
    if volume != 1.0:
        factor = array("f", [volume])[0]
        samples = array("f", map(factor.__mul__, samples))
    values = list(map(round, array("f", map((32767.0).__mul__, samples))))
    if min(values) < -32768 or max(values) > 32767:
        values = [max(-32768, min(32767, x)) for x in values]
    pcm = array("h", values)
    if sys.byteorder == "big":
        pcm.byteswap()
    return pcm.tobytes()


def chime_samples(target_lufs: float) -> "numpy.ndarray":
    """The levelled chime as a read-only float32 array (the exporter's and the mixer's form)."""
    import numpy as np

    out = np.frombuffer(levelled(target_lufs), dtype=np.float32)
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

"""The soft chime played before each new step: a short bell-like tone, computed, never recorded.

It is the first sound of a routine, so it is made without numpy (importing numpy takes longer than the whole
chime to compute): plain floats, rounded to float32 with the array module, and converted to 16-bit PCM with
exactly the arithmetic `mixer.to_pcm16` does in numpy, so the player's chime is the exported one, bit for bit.
Its level is a plain gain (it is far from the limiter's ceiling), from its loudness in a file measured once
(below -29 LUFS it measures up to 0.05 LU louder than asked: BS.1770's absolute gate drops its faint tail).

The raw tone's samples are also kept, as computed, in `chime.f64` beside this module (made by `write_table`, in
the tests checked against the computation bit for bit): the computation alone is most of the cold path to the
first sound. The file starts with the definition it was computed from, and is used only while that is the
definition here; otherwise the tone is computed.
"""

from __future__ import annotations

import cmath
import math
import operator
import struct
import sys
from array import array
from functools import lru_cache
from itertools import accumulate, repeat
from operator import attrgetter
from pathlib import Path

from .timeline import SAMPLE_RATE

TYPE_CHECKING = False  # `typing` is not imported on the path to the first sound (see checkmemo)
if TYPE_CHECKING:
    from typing import Sequence

    import numpy

CHIME_SECONDS = 0.8
CHIME_LENGTH = int(CHIME_SECONDS * SAMPLE_RATE)

# A major sixth (A5 + F#6) with a faint octave: bright enough to notice, soft enough not to startle.
_PARTIALS = ((880.0, 1.0, 3.5), (1479.98, 0.45, 5.0), (1760.0, 0.15, 7.0))  # (Hz, amplitude, decay per second)
_ATTACK_SECONDS = 0.008  # it starts from silence (this is its fade-in)
_FADE_SECONDS = 0.05
# loudness.loudness_in_file of raw_chime(), in LUFS (the tests hold it to the meter): what sets its gain.
RAW_LOUDNESS_IN_FILE = -19.5037
TABLE = Path(__file__).with_name("chime.f64")
# 1.5 * 2**23: a float32 value x (|x| < 2**22) plus this, rounded to float32, is this plus round(x) (ties to
# even, as np.rint), and that integer's two's complement is the float32's low bits (see pcm16).
_ROUNDER = 12582912.0


@lru_cache(maxsize=1)
def raw_chime() -> "array[float]":
    """The raw chime, mono at SAMPLE_RATE, peak 0.5 (levelled() sets its final level), as float64 values
    (array typecode 'd', shared: never change it); from TABLE when it holds this definition's samples.

    >>> len(raw_chime()) == CHIME_LENGTH, max(map(abs, raw_chime()))
    (True, 0.5)
    """
    kept = read_table(TABLE)
    return kept if kept is not None else computed_chime()


def computed_chime() -> "array[float]":
    """raw_chime() computed from the definition (_PARTIALS, the attack and the fade)."""
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
    return array("d", map(scale.__mul__, tone))


def _definition() -> bytes:
    """What the raw chime is computed from, as TABLE's first line."""
    facts = (CHIME_LENGTH, SAMPLE_RATE, _PARTIALS, _ATTACK_SECONDS, _FADE_SECONDS)
    return f"voice-guide chime float64le {facts!r}\n".encode("ascii")


def read_table(path: Path) -> "array[float] | None":
    """The raw chime kept in `path`, or None when the file is missing, short, or of another definition."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = _definition()
    if not data.startswith(head) or len(data) != len(head) + 8 * CHIME_LENGTH:
        return None
    samples = array("d")
    samples.frombytes(data[len(head):])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def write_table(path: Path = TABLE) -> None:
    """Write the computed raw chime to `path` (after a change to its definition: `python -c "from
    voice_guide import chime; chime.write_table()"`)."""
    samples = computed_chime()
    if sys.byteorder == "big":
        samples.byteswap()
    path.write_bytes(_definition() + samples.tobytes())


@lru_cache(maxsize=4)
def levelled(target_lufs: float) -> array:
    """The chime at `target_lufs` as it measures in a file, as float32 values (array typecode 'f').

    >>> round(max(map(abs, levelled(RAW_LOUDNESS_IN_FILE - 6.0206))), 3)
    0.25
    """
    samples = array("f")
    samples.frombytes(_levelled_float32(target_lufs))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


@lru_cache(maxsize=4)
def _levelled_float32(target_lufs: float) -> bytes:
    """levelled(target_lufs) as little-endian float32 bytes (what pcm16 starts from)."""
    return _float32(_times(raw_chime(), _gain(target_lufs)))


def _times(values, factor: float) -> list[float]:
    """Each value times `factor` (a list: struct packs it as arguments; a comprehension, which makes it in about
    8 % fewer instructions than map with operator.mul)."""
    return [value * factor for value in values]


def _float32(values: list[float]) -> bytes:
    """`values` rounded to float32, little-endian. Each is rounded as array("f") and numpy's float32 arithmetic
    round, to the nearest, ties to even (a C cast); struct does it in about a third fewer instructions than
    array("f") from a list, and unpacks into floats without an array's per-item lookups."""
    return struct.pack(f"<{len(values)}f", *values)


def _floats(data: bytes) -> "Sequence[float]":
    """The values of little-endian float32 `data` (_float32's), read as Python floats (exact): on a little-endian
    machine a view of `data` as C floats (iterated, it makes each float as it is read: pcm16 takes a quarter
    fewer instructions than with all of them unpacked into a tuple first), else struct's tuple."""
    if sys.byteorder == "little":
        return memoryview(data).cast("f")
    return struct.unpack(f"<{len(data) // 4}f", data)


def _gain(target_lufs: float) -> float:
    return 10 ** ((target_lufs - RAW_LOUDNESS_IN_FILE) / 20)


@lru_cache(maxsize=8)
def pcm16(target_lufs: float, volume: float = 1.0) -> bytes:
    """The levelled chime, scaled by `volume`, as 16-bit PCM: what mixer.to_pcm16(mixer.scaled(clip, volume))
    gives for the same float32 samples (made once per level: a routine has a chime at every step).

    Each step rounds as numpy's float32 arithmetic does: the product of two float32 values is exact in a
    Python float, and _float32 rounds it to the nearest float32; adding _ROUNDER (exact in a Python float)
    and rounding to float32 again rounds to a whole number half to even, as np.rint, whose 16-bit two's
    complement is then the float32's two low bytes. A chime loud enough to clip is clipped value by value.
    """
    samples = _floats(_levelled_float32(target_lufs))
    factor = 1.0
    if volume != 1.0:
        factor = _floats(_float32([volume]))[0]
        samples = _floats(_float32(_times(samples, factor)))
    scaled = _floats(_float32(_times(samples, 32767.0)))
    # The raw peak is 0.5: one float32 rounding of each product can raise it by 2**-24 of itself at most.
    if 0.5 * _gain(target_lufs) * factor * 32767.0 * (1 + 2.0**-20) >= 32767.0:
        values = [max(-32768, min(32767, round(x))) for x in scaled]
        return struct.pack(f"<{len(values)}h", *values)
    words = _float32([value + _ROUNDER for value in scaled])
    out = bytearray(len(words) // 2)
    out[0::2] = words[0::4]  # the low byte and the next of each little-endian float32
    out[1::2] = words[1::4]
    return bytes(out)


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

"""Loudness: each clip is levelled on its own (ITU-R BS.1770 via pyloudnorm), so a whole routine sits at the target.

Levelling per clip, not per file, lets the player start before the routine is fully synthesized and still play
exactly the samples the exporter writes. Two things make per-clip levelling add up to the right whole:

- every clip is measured on its own, short ones repeated end to end, so one-word cues sit as loud as
  sentences; the pauses between clips fall under BS.1770's gates, so they do not lower the file's figure;
- speech is much peakier than its loudness (espeak-ng's crest factor is about 18 dB), so reaching -16 LUFS
  under a -1 dBTP ceiling needs a few dB of gentle, smooth peak limiting rather than just less gain.
"""

from __future__ import annotations

import numpy as np

DEFAULT_TARGET_LUFS = -16.0  # the podcast norm: comfortable on a phone
# Targets we can honour: louder than -14 LUFS, speech cannot keep its peaks under the ceiling without being
# squashed (it then stops short of the target); quieter than -30 it is hard to hear on a phone.
TARGET_RANGE_LUFS = (-30.0, -14.0)
PEAK_CEILING_DB = -1.0  # true peak the exported file must stay under
# The limiter aims lower: decoded Vorbis and MP3 files peak up to 1.3 dB above their input (measured with
# ffmpeg's ebur128 on the bundled routines), and the exported file must stay under PEAK_CEILING_DB.
LIMITER_CEILING_DB = -3.0
# A file measures lower than the clips in it: BS.1770's 400 ms blocks that straddle the edges of a clip, and
# the quieter chimes, pass the gates but pull the average down, by 0.2 LU (long sentences, few chimes) to 0.9 LU
# (short cues, a chime every few seconds) on the bundled and test routines. Clips are set this much above the
# file's target so that whole files land within about half a LU of it.
FILE_ALLOWANCE_LU = 0.5
CHIME_BELOW_VOICE_LU = 8.0  # the chime marks a step; it must not be louder than the words
OVERSAMPLING = 4  # BS.1770-4 true peak: at least 4x at 48 kHz and below
_MIN_MEASURE_SECONDS = 1.2  # three gating blocks: enough for BS.1770's gates to mean something
_LIMITER_SECONDS = 0.003  # gain glides over 2 x 3 ms: no clicks, and syllables keep their body
# A very peaky clip (a single short word) barely gets louder once the limiter works hard; past this much
# extra gain into the limiter it would only get squashed, so it stays a little under the target instead.
MAX_PUSH_DB = 6.0
_ROUNDS = 8  # limiting lowers the loudness; a few secant steps settle within 0.05 LU
_TOLERANCE_LU = 0.05


def check_target(target_lufs: float) -> float:
    """The target itself if it is one we can honour, else BadInputError saying which are.

    >>> check_target(-10)
    Traceback (most recent call last):
    ...
    voice_guide.errors.BadInputError: loudness -10 LUFS is out of range; choose from -30 to -14 LUFS (default -16)
    """
    from .errors import BadInputError

    low, high = TARGET_RANGE_LUFS
    if not (np.isfinite(target_lufs) and low <= target_lufs <= high):
        raise BadInputError(
            f"loudness {target_lufs:g} LUFS is out of range; choose from {low:g} to {high:g} LUFS "
            f"(default {DEFAULT_TARGET_LUFS:g})"
        )
    return float(target_lufs)


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """BS.1770 integrated loudness (LUFS) of a clip; -inf for silence.

    BS.1770 gates in 400 ms blocks, so a clip shorter than about a second is measured repeated end to end:
    its own loudness, the way a listener hears a short word, not diluted by blocks it only partly fills.

    >>> t = np.arange(22050) / 22050
    >>> round(integrated_loudness(0.1 * np.sin(2 * np.pi * 1000 * t), 22050))
    -23
    >>> round(integrated_loudness(0.1 * np.sin(2 * np.pi * 1000 * t[:2205]), 22050))
    -23
    """
    import pyloudnorm

    x = np.asarray(samples, dtype=np.float64)
    need = int(_MIN_MEASURE_SECONDS * sample_rate)
    if 0 < len(x) < need:
        x = np.tile(x, need // len(x) + 1)
    with np.errstate(divide="ignore"):
        return float(pyloudnorm.Meter(sample_rate).integrated_loudness(x))


def oversampled(samples: np.ndarray) -> np.ndarray:
    """The signal at OVERSAMPLING times its rate (polyphase FIR), to see the peaks between samples."""
    from scipy.signal import resample_poly

    return resample_poly(np.asarray(samples, dtype=np.float64), OVERSAMPLING, 1)


def true_peak(samples: np.ndarray) -> float:
    """The true peak (linear, 4x oversampled) of a clip; 0.0 for an empty one.

    >>> t = np.arange(22050) / 22050
    >>> wave = 0.5 * np.sin(2 * np.pi * 5512.5 * t + np.pi / 4)  # every sample misses the crests
    >>> round(float(np.max(np.abs(wave))), 2), round(true_peak(wave), 1)
    (0.35, 0.5)
    """
    if len(samples) == 0:
        return 0.0
    return float(np.max(np.abs(oversampled(samples))))


def limiter_gain(samples: np.ndarray, ceiling: float, sample_rate: int) -> np.ndarray:
    """Per-sample gain (<= 1) that keeps the true peak under `ceiling`, changing smoothly.

    Each sample's needed gain is spread over a window: a minimum filter of twice the window followed by a
    moving average of the window never rises above what any sample in reach needs (the average only mixes
    values that are each a minimum over a range containing that sample).

    >>> gain = limiter_gain(np.array([0.0] * 500 + [1.0] + [0.0] * 500), 0.5, 22050)
    >>> round(float(gain[500]), 3), float(gain[0])
    (0.5, 1.0)
    """
    return _smooth_gain(peak_envelope(samples), ceiling, sample_rate)


def peak_envelope(samples: np.ndarray) -> np.ndarray:
    """Each sample's true peak: the largest of its oversampled values (scales with the signal's gain)."""
    x = np.asarray(samples, dtype=np.float64)
    return np.abs(oversampled(x))[: len(x) * OVERSAMPLING].reshape(len(x), OVERSAMPLING).max(axis=1)


def _smooth_gain(peaks: np.ndarray, ceiling: float, sample_rate: int) -> np.ndarray:
    """The limiter's gain for a peak envelope: spread over a window, never above what a sample needs."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    half = max(1, int(_LIMITER_SECONDS * sample_rate))
    spread = minimum_filter1d(needed, size=4 * half + 1, mode="nearest")
    return np.minimum(1.0, uniform_filter1d(spread, size=2 * half + 1, mode="nearest"))  # 1 + 1e-16 is noise


def _level(samples: np.ndarray, sample_rate: int, target_lufs: float) -> np.ndarray:
    """Gain to the target, peaks limited, re-measured until the limited clip itself meets the target."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0 or not np.any(x):
        return x.astype(np.float32)
    loudness = integrated_loudness(x, sample_rate)
    if not np.isfinite(loudness):
        return x.astype(np.float32)  # too quiet to measure: nothing sensible to aim for
    ceiling = 10 ** (LIMITER_CEILING_DB / 20)
    gain_db = first_gain_db = target_lufs - loudness
    tried: list[tuple[float, float]] = []  # (gain, loudness) pairs, for the secant step
    envelope = peak_envelope(x)  # computed once: a gain only scales it
    out = x
    for _ in range(_ROUNDS):
        gain = 10 ** (gain_db / 20)
        out = x * gain * _smooth_gain(envelope * gain, ceiling, sample_rate)
        measured = integrated_loudness(out, sample_rate)
        if abs(target_lufs - measured) < _TOLERANCE_LU:
            break
        tried.append((gain_db, measured))
        pushed = min(gain_db + (target_lufs - measured) / _slope(tried), first_gain_db + MAX_PUSH_DB)
        if pushed == gain_db:
            break  # as loud as it gets without squashing the word
        gain_db = pushed
    peak = true_peak(out)
    if peak > ceiling:  # the smoothed gain is computed on the input; a last trim makes the ceiling certain
        out = out * (ceiling / peak)
    return out.astype(np.float32)


def _slope(tried: list[tuple[float, float]]) -> float:
    """dB of loudness per dB of gain between the last two tries; limiting makes it less than 1."""
    if len(tried) < 2:
        return 1.0
    (g0, m0), (g1, m1) = tried[-2:]
    if g1 == g0:
        return 1.0
    return min(1.0, max(0.1, (m1 - m0) / (g1 - g0)))  # bounded: a noisy measurement must not send it far


def level_speech(samples: np.ndarray, sample_rate: int, target_lufs: float = DEFAULT_TARGET_LUFS) -> np.ndarray:
    """One speech clip for a file at `target_lufs`: the clip itself at FILE_ALLOWANCE_LU above it, its true
    peak at most LIMITER_CEILING_DB (-3 dBTP).

    >>> t = np.arange(44100) / 22050
    >>> clip = level_speech(0.01 * np.sin(2 * np.pi * 300 * t), 22050)
    >>> round(integrated_loudness(clip, 22050), 1), true_peak(clip) <= 10 ** (LIMITER_CEILING_DB / 20)
    (-15.5, True)
    """
    return _level(samples, sample_rate, target_lufs + FILE_ALLOWANCE_LU)


def level_chime(samples: np.ndarray, sample_rate: int, target_lufs: float = DEFAULT_TARGET_LUFS) -> np.ndarray:
    """The chime for a file at `target_lufs`: CHIME_BELOW_VOICE_LU under the voice clips.

    >>> from voice_guide.chime import chime_samples
    >>> round(integrated_loudness(level_chime(chime_samples(), 22050), 22050), 1)
    -23.5
    """
    return _level(samples, sample_rate, target_lufs + FILE_ALLOWANCE_LU - CHIME_BELOW_VOICE_LU)

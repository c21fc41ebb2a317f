"""Loudness: each clip is levelled on its own (ITU-R BS.1770), so a whole routine sits at the target.

Levelling per clip, not per file, lets the player start before the routine is fully synthesized and still play
exactly the samples the exporter writes. Two things make per-clip levelling add up to the right whole:

- every clip is measured on its own, short ones repeated end to end, so one-word cues sit as loud as
  sentences; the pauses between clips fall under BS.1770's gates, so they do not lower the file's figure;
- speech is much peakier than its loudness (espeak-ng's crest factor is about 18 dB), so reaching -16 LUFS
  under a -1 dBTP ceiling needs a few dB of gentle, smooth peak limiting rather than just less gain.

Everything here is numpy only: importing scipy (directly or through pyloudnorm) costs 1.5-2 s, most of a cold
export and of the wait before the player's first word. The tests check this meter against pyloudnorm and the
true peak and gain smoothing against scipy's.
"""

from __future__ import annotations

import numpy as np

from .routine import DEFAULT_LOUDNESS
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
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0:
        return float("-inf")
    need = int(_MIN_MEASURE_SECONDS * sample_rate)
    if len(x) < need:
        x = np.tile(x, need // len(x) + 1)
    return _gated_loudness(_k_weighted(x, sample_rate), sample_rate)


# BS.1770-4 K-weighting: a high shelf (+4 dB above about 1.5 kHz: the head) then a high-pass at 38 Hz (the
# ear's low-frequency roll-off), as RBJ-cookbook biquads designed for the actual rate, as pyloudnorm does.
_SHELF_DB, _SHELF_HZ, _SHELF_Q = 4.0, 1500.0, 1 / np.sqrt(2)
_HIGH_PASS_HZ, _HIGH_PASS_Q = 38.0, 0.5
# The filters' impulse response has died away (below 1e-30) well within this many samples even at 48 kHz:
# zero padding this long makes the FFT's circular convolution equal the linear one.
_K_TAIL = 16384
_BLOCK_SECONDS, _BLOCK_STEP = 0.4, 0.25  # 400 ms gating blocks, 75 % overlap
_ABSOLUTE_GATE_LUFS, _RELATIVE_GATE_LU = -70.0, -10.0


def _biquads(sample_rate: int) -> list[tuple[tuple[float, float, float], tuple[float, float, float]]]:
    """(b, a) of the two K-weighting stages at `sample_rate`."""
    a_gain = 10 ** (_SHELF_DB / 40)
    w = 2 * np.pi * _SHELF_HZ / sample_rate
    cos, alpha = np.cos(w), np.sin(w) / (2 * _SHELF_Q)
    root = 2 * np.sqrt(a_gain) * alpha
    shelf = (
        (
            a_gain * ((a_gain + 1) + (a_gain - 1) * cos + root),
            -2 * a_gain * ((a_gain - 1) + (a_gain + 1) * cos),
            a_gain * ((a_gain + 1) + (a_gain - 1) * cos - root),
        ),
        (
            (a_gain + 1) - (a_gain - 1) * cos + root,
            2 * ((a_gain - 1) - (a_gain + 1) * cos),
            (a_gain + 1) - (a_gain - 1) * cos - root,
        ),
    )
    w = 2 * np.pi * _HIGH_PASS_HZ / sample_rate
    cos, alpha = np.cos(w), np.sin(w) / (2 * _HIGH_PASS_Q)
    high_pass = (((1 + cos) / 2, -(1 + cos), (1 + cos) / 2), (1 + alpha, -2 * cos, 1 - alpha))
    return [shelf, high_pass]


def _k_weighted(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """x through the K-weighting filters (zero initial state), as a product of frequency responses.

    numpy has no IIR filter; evaluating each biquad's response on the FFT grid is exact up to the part of the
    impulse response beyond the padding, which is negligible (see _K_TAIL).
    """
    size = 1 << int(len(x) + _K_TAIL - 1).bit_length()
    z = np.exp(-1j * np.pi * np.arange(size // 2 + 1) / (size // 2))  # e^{-jw} on the rfft grid
    response = np.ones_like(z)
    for b, a in _biquads(sample_rate):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return np.fft.irfft(np.fft.rfft(x, size) * response, size)[: len(x)]


def _gated_loudness(weighted: np.ndarray, sample_rate: int) -> float:
    """BS.1770 gated loudness of a K-weighted signal: mean squares of 400 ms blocks, then the two gates."""
    block = _BLOCK_SECONDS * sample_rate
    count = int(np.round((len(weighted) / sample_rate - _BLOCK_SECONDS) / (_BLOCK_SECONDS * _BLOCK_STEP))) + 1
    steps = np.arange(count) * _BLOCK_STEP
    # The same block bounds as pyloudnorm (so both agree to rounding); a last block running past the end is
    # a partial one, still divided by the full block length.
    lower = (_BLOCK_SECONDS * steps * sample_rate).astype(np.int64)
    upper = np.minimum((_BLOCK_SECONDS * (steps + 1) * sample_rate).astype(np.int64), len(weighted))
    energy = np.concatenate(([0.0], np.cumsum(weighted * weighted)))
    mean_squares = np.maximum(energy[upper] - energy[np.minimum(lower, upper)], 0.0) / block
    with np.errstate(divide="ignore"):
        blocks = -0.691 + 10 * np.log10(mean_squares)
        audible = mean_squares[blocks >= _ABSOLUTE_GATE_LUFS]
        if len(audible) == 0:
            return float("-inf")
        relative = -0.691 + 10 * np.log10(np.mean(audible)) + _RELATIVE_GATE_LU
        kept = mean_squares[(blocks > relative) & (blocks > _ABSOLUTE_GATE_LUFS)]
        if len(kept) == 0:
            return float("-inf")
        return float(-0.691 + 10 * np.log10(np.mean(kept)))


# The interpolation filter: a Kaiser-windowed sinc (beta 5) reaching 10 input samples either side, cut off at
# the input's Nyquist frequency: the filter scipy.signal.resample_poly designs for 4x.
_REACH = 10
_TAPS = np.sinc(np.arange(-_REACH * OVERSAMPLING, _REACH * OVERSAMPLING + 1) / OVERSAMPLING) * np.kaiser(
    2 * _REACH * OVERSAMPLING + 1, 5.0
)
_TAPS = _TAPS * (OVERSAMPLING / np.sum(_TAPS))  # unity gain at DC once the zeros between samples are filled


def oversampled(samples: np.ndarray) -> np.ndarray:
    """The signal at OVERSAMPLING times its rate (polyphase FIR), to see the peaks between samples.

    >>> oversampled(np.ones(30))[40:44].round(2).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    x = np.asarray(samples, dtype=np.float64)
    out = np.empty(len(x) * OVERSAMPLING)
    if len(x) == 0:
        return out
    for phase in range(OVERSAMPLING):
        # Output sample OVERSAMPLING*m + phase mixes the inputs around m with every OVERSAMPLING-th tap.
        out[phase::OVERSAMPLING] = np.convolve(x, _TAPS[phase::OVERSAMPLING])[_REACH : _REACH + len(x)]
    return out


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
    needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    half = max(1, int(_LIMITER_SECONDS * sample_rate))
    spread = moving_minimum(needed, 2 * half)
    return np.minimum(1.0, moving_average(spread, half))  # 1 + 1e-16 is rounding noise


def moving_minimum(values: np.ndarray, reach: int) -> np.ndarray:
    """Each value's minimum over `reach` neighbours either side, the ends extended (van Herk/Gil-Werman, O(n)).

    >>> moving_minimum(np.array([5.0, 3, 4, 9, 9, 1]), 1).tolist()
    [3.0, 3.0, 3.0, 4.0, 1.0, 1.0]
    """
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return x.copy()
    width = 2 * reach + 1
    padded = np.pad(x, (reach, reach + (-(len(x) + 2 * reach)) % width), mode="edge")
    blocks = padded.reshape(-1, width)
    # Any window of `width` spans the tail of one block and the head of the next: the minimum of a suffix
    # minimum and a prefix minimum.
    prefix = np.minimum.accumulate(blocks, axis=1).ravel()
    suffix = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(suffix[: len(x)], prefix[width - 1 : width - 1 + len(x)])


def moving_average(values: np.ndarray, reach: int) -> np.ndarray:
    """Each value's mean over `reach` neighbours either side, the ends extended (cumulative sums, O(n)).

    >>> moving_average(np.array([0.0, 3, 0, 0]), 1).tolist()
    [1.0, 1.0, 1.0, 0.0]
    """
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return x.copy()
    width = 2 * reach + 1
    sums = np.concatenate(([0.0], np.cumsum(np.pad(x, reach, mode="edge"))))
    return (sums[width:] - sums[:-width]) / width


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


def level_speech(samples: np.ndarray, sample_rate: int, target_lufs: float = DEFAULT_LOUDNESS) -> np.ndarray:
    """One speech clip for a file at `target_lufs`: the clip itself at FILE_ALLOWANCE_LU above it, its true
    peak at most LIMITER_CEILING_DB (-3 dBTP).

    >>> t = np.arange(44100) / 22050
    >>> clip = level_speech(0.01 * np.sin(2 * np.pi * 300 * t), 22050)
    >>> round(integrated_loudness(clip, 22050), 1), true_peak(clip) <= 10 ** (LIMITER_CEILING_DB / 20)
    (-15.5, True)
    """
    return _level(samples, sample_rate, target_lufs + FILE_ALLOWANCE_LU)


def level_chime(samples: np.ndarray, sample_rate: int, target_lufs: float = DEFAULT_LOUDNESS) -> np.ndarray:
    """The chime for a file at `target_lufs`: CHIME_BELOW_VOICE_LU under the voice clips.

    >>> from voice_guide.chime import chime_samples
    >>> round(integrated_loudness(level_chime(chime_samples(), 22050), 22050), 1)
    -23.5
    """
    return _level(samples, sample_rate, target_lufs + FILE_ALLOWANCE_LU - CHIME_BELOW_VOICE_LU)

"""Loudness: each clip is levelled on its own (ITU-R BS.1770), so a whole routine sits at the target.

Levelling per clip, not per file, lets the player start before the routine is fully synthesized and still play
exactly the samples the exporter writes. Two things make per-clip levelling add up to the right whole:

- every clip is measured as BS.1770 will see it in the file: with quiet around it, in every 400 ms block that
  overlaps it (`loudness_in_file`), so a one-word cue counts as it will in the file; the long pauses between
  clips fall under BS.1770's gates, so they do not lower the file's figure;
- the chimes are quieter than the voice and pull a file's figure down by how much of it they fill, which the
  script tells before anything is synthesized (`clip_targets`);
- speech is peakier than its loudness (espeak-ng's crest factor is about 18 dB), so at -19 LUFS a few peaks
  still meet the limiter: a look-ahead limiter with a smooth release, which leaves nearly every sample alone.

Everything here is numpy only: importing scipy (directly or through pyloudnorm) costs 1.5-2 s, most of a cold
export and of the wait before the player's first word. The tests check this meter against pyloudnorm and the
true peak and gain smoothing against scipy's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .routine import DEFAULT_LOUDNESS
from .targets import TRANSPARENT_DB

PEAK_CEILING_DB = -1.0  # true peak the exported file must stay under
# The limiter aims lower: decoded Vorbis and MP3 files peak above their input, by up to 0.4 dB at the default
# target and 0.7 dB at -17 LUFS (measured with ffmpeg's ebur128 on the bundled and test routines), and the
# exported file must stay under PEAK_CEILING_DB. Lower would make the limiter work more: at -3 dBTP it took more
# than 3 dB off 0.5 % of the bundled routines' speech samples; at -2, none.
LIMITER_CEILING_DB = -2.0
OVERSAMPLING = 4  # BS.1770-4 true peak: at least 4x at 48 kHz and below
_MIN_MEASURE_SECONDS = 1.2  # three gating blocks: enough for BS.1770's gates to mean something
_IN_FILE_HOP_SECONDS = 0.01  # loudness_in_file: blocks every 10 ms, i.e. every position a file may put them at
# The limiter: the gain falls at most this fast before a peak (look-ahead: it starts falling early enough to
# be there in time) and recovers at most this fast after it. In dB, so the release is exponential in amplitude.
ATTACK_DB_PER_SECOND = 1000.0  # 3 dB in 3 ms
RELEASE_DB_PER_SECOND = 40.0  # 3 dB in 75 ms: no pumping, no distortion of the syllables around a peak
_LIMITER_SMOOTHING_SECONDS = 0.001  # rounds the corners of the gain curve
FADE_IN_SECONDS = 0.005  # every clip starts from silence: a clip that opens on a vowel would tick
# A very peaky clip (a single short word) barely gets louder once the limiter works hard; past this much
# extra gain into the limiter it would only get squashed, so it stays a little under the target instead.
MAX_PUSH_DB = 6.0
# Transparency: a clip's gain stops where the limiter would take more than `limit_db` (targets.TRANSPARENT_DB
# at the default target) off more than MAX_LIMITED_SHARE of its samples, so no file has more (issue #10). A
# clip whose peaks stand out that much from its loudness (a one-word cue, raised for the chimes) stays a little
# under its target instead of being squashed: on a routine of short cues that leaves the file 0.1-0.2 LU under.
MAX_LIMITED_SHARE = 0.01
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
    return np.fft.irfft(np.fft.rfft(x, size) * _k_response(size, sample_rate), size)[: len(x)]


@lru_cache(maxsize=8)
def _k_response(size: int, sample_rate: int) -> np.ndarray:
    """The K-weighting filters' frequency response on the grid of an rfft of `size` (costs as much as the FFT)."""
    z = np.exp(-1j * np.pi * np.arange(size // 2 + 1) / (size // 2))  # e^{-jw} on the rfft grid
    response = np.ones_like(z)
    for b, a in _biquads(sample_rate):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    response.setflags(write=False)
    return response


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
    return _gated(np.maximum(energy[upper] - energy[np.minimum(lower, upper)], 0.0) / block)


def loudness_in_file(samples: np.ndarray, sample_rate: int) -> float:
    """The clip's loudness as BS.1770 sees it inside a file, quiet on either side: every 400 ms block that
    overlaps it, at every position (10 ms apart), each divided by the full block length, then gated.

    This is what the clip adds to a file's integrated loudness, wherever the file's blocks happen to fall:
    a one-word cue counts with the quiet its blocks also hold, as it does in the file.

    >>> t = np.arange(22050 * 4) / 22050
    >>> round(loudness_in_file(0.1 * np.sin(2 * np.pi * 1000 * t), 22050), 1)
    -23.4
    """
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0:
        return float("-inf")
    return _in_file(_k_weighted_in_file(x, sample_rate), sample_rate)


def _k_weighted_in_file(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """x with a block of quiet either side, K-weighted (the filters ring on into the quiet after it)."""
    block = int(round(_BLOCK_SECONDS * sample_rate))
    return _k_weighted(np.concatenate((np.zeros(block), x, np.zeros(block))), sample_rate)


def _in_file(weighted: np.ndarray, sample_rate: int) -> float:
    """loudness_in_file of a clip already padded and K-weighted by _k_weighted_in_file."""
    block = int(round(_BLOCK_SECONDS * sample_rate))
    hop = max(1, int(round(_IN_FILE_HOP_SECONDS * sample_rate)))
    energy = np.concatenate(([0.0], np.cumsum(weighted * weighted)))
    starts = np.arange(0, len(weighted) - block + 1, hop)
    return _gated(np.maximum(energy[starts + block] - energy[starts], 0.0) / block)


def _gated(mean_squares: np.ndarray) -> float:
    """BS.1770's absolute and relative gates over blocks' mean squares, as LUFS."""
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
    for phase, values in enumerate(_phases(x)):
        out[phase::OVERSAMPLING] = values
    return out


def _phases(x: np.ndarray) -> list[np.ndarray]:
    """The oversampled signal's OVERSAMPLING phases: phase p holds output samples OVERSAMPLING*m + p."""
    # Phase 0 falls on the input samples, where the windowed sinc is zero but for its centre tap.
    phases = [x * _TAPS[_REACH * OVERSAMPLING]]
    for phase in range(1, OVERSAMPLING):
        # Output sample OVERSAMPLING*m + phase mixes the inputs around m with every OVERSAMPLING-th tap.
        phases.append(np.convolve(x, _TAPS[phase::OVERSAMPLING])[_REACH : _REACH + len(x)])
    return phases


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
    """Per-sample gain (<= 1) that keeps the true peak under `ceiling`: a look-ahead limiter.

    The gain falls towards a peak at ATTACK_DB_PER_SECOND, starting early enough to be down in time, and
    recovers at RELEASE_DB_PER_SECOND; everywhere else it is exactly 1.

    >>> gain = limiter_gain(np.array([0.0] * 5000 + [1.0] + [0.0] * 5000), 0.5, 22050)
    >>> round(float(gain[5000]), 3), float(gain[0]), round(float(gain[5000 + 2205]), 2), float(gain[-1])
    (0.5, 1.0, 0.79, 1.0)
    """
    return 10 ** (limiter_db(peak_envelope(samples), ceiling, sample_rate) / 20)


def peak_envelope(samples: np.ndarray) -> np.ndarray:
    """Each sample's true peak: the largest of its oversampled values (scales with the signal's gain)."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0:
        return np.zeros(0)
    phases = _phases(x)
    envelope = np.abs(phases[0])
    for values in phases[1:]:
        np.maximum(envelope, np.abs(values), out=envelope)
    return envelope


def limiter_db(peaks: np.ndarray, ceiling: float, sample_rate: int) -> np.ndarray:
    """The limiter's gain in dB (<= 0) for a peak envelope, never above what any sample needs.

    Each sample's need is first held over a millisecond either side; the attack and release ramps are the
    lower envelope of straight lines (in dB) through every held need, which cumulative minima give in O(n);
    a moving average over the same millisecond then rounds the corners. It stays under every need: the
    average at a sample only mixes values that are each at most that sample's held need.
    """
    return _limiter_db(_decibels(peaks) - 20 * np.log10(ceiling), sample_rate)


def _decibels(peaks: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.maximum(peaks, 1e-12))


def _limiter_db(over_db: np.ndarray, sample_rate: int) -> np.ndarray:
    """limiter_db for samples `over_db` above the ceiling (negative: under it)."""
    n = len(over_db)
    if n == 0:
        return np.zeros(0)
    need = np.minimum(0.0, -over_db)
    if not np.any(need < 0):
        return np.zeros(n)  # nothing to limit: the usual case at the default target
    reach = max(1, int(_LIMITER_SMOOTHING_SECONDS * sample_rate))
    held = moving_minimum(need, reach)
    index = np.arange(n, dtype=np.float64)
    attack = ATTACK_DB_PER_SECOND / sample_rate
    release = RELEASE_DB_PER_SECOND / sample_rate
    # before a peak: min over later k of need[k] + attack * (k - n); after it: need[k] + release * (n - k)
    falling = np.minimum.accumulate((held + attack * index)[::-1])[::-1] - attack * index
    rising = np.minimum.accumulate(held - release * index) + release * index
    return np.minimum(0.0, moving_average(np.minimum(falling, rising), reach))


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


def levelled(
    samples: np.ndarray, sample_rate: int, target_lufs: float, limit_db: float = TRANSPARENT_DB
) -> tuple[np.ndarray, np.ndarray]:
    """The clip faded in, gain to the target (as measured in a file), peaks limited, re-measured until it is
    there (or until the limiter would take more than `limit_db` off more than MAX_LIMITED_SHARE of it), with the
    limiter's gain in dB for each sample (0 where it left the sample alone).

    The clip is K-weighted and oversampled once. A gain only scales both; the limiter's gain changes slowly
    next to the K-weighting filters' memory, so a limited clip is measured as the weighted clip times that
    gain (within 0.01 LU of measuring it afresh, on speech), and its true peak is computed afresh only where
    the limiter worked.
    """
    x = fade_in(np.asarray(samples, dtype=np.float64), sample_rate)
    untouched = np.zeros(len(x))
    if len(x) == 0 or not np.any(x):
        return x.astype(np.float32), untouched
    weighted = _k_weighted_in_file(x, sample_rate)
    loudness = _in_file(weighted, sample_rate)
    if not np.isfinite(loudness):
        return x.astype(np.float32), untouched  # too quiet to measure: nothing sensible to aim for
    ceiling = 10 ** (LIMITER_CEILING_DB / 20)
    gain_db = first_gain_db = target_lufs - loudness
    tried: list[tuple[float, float]] = []  # (gain, loudness) pairs, for the secant step
    envelope = peak_envelope(x)  # computed once: a gain only scales it
    envelope_db = _decibels(envelope) - LIMITER_CEILING_DB  # above the ceiling at unit gain
    pad = int(round(_BLOCK_SECONDS * sample_rate))
    limited = untouched
    most_db = first_gain_db + MAX_PUSH_DB
    for _ in range(_ROUNDS):
        limited = _limiter_db(envelope_db + gain_db, sample_rate)
        if _squashed(limited, limit_db):
            gain_db = _transparent_gain_db(envelope_db, gain_db, sample_rate, limit_db)
            limited = _limiter_db(envelope_db + gain_db, sample_rate)
            most_db = gain_db  # louder would only squash the word
        if not np.any(limited):
            break  # plain gain: the loudness is exactly the target
        gain = np.ones(len(weighted))
        gain[pad : pad + len(x)] = 10 ** (limited / 20)
        measured = _in_file(weighted * gain, sample_rate) + gain_db
        if abs(target_lufs - measured) < _TOLERANCE_LU:
            break
        tried.append((gain_db, measured))
        pushed = min(gain_db + (target_lufs - measured) / _slope(tried), most_db)
        if pushed == gain_db:
            break  # as loud as it gets without squashing the word
        gain_db = pushed
    out = x * 10 ** ((gain_db + limited) / 20)
    peak = _limited_true_peak(out, envelope * 10 ** (gain_db / 20), limited)
    if peak > ceiling:  # the gain is computed per sample; a last trim makes the ceiling certain
        out = out * (ceiling / peak)
        limited = limited + 20 * np.log10(ceiling / peak)
    return out.astype(np.float32), limited


def _squashed(limited: np.ndarray, limit_db: float) -> bool:
    """The limiter takes more than `limit_db` off more than MAX_LIMITED_SHARE of the samples."""
    return np.count_nonzero(limited < -limit_db) > MAX_LIMITED_SHARE * len(limited)


def _transparent_gain_db(envelope_db: np.ndarray, squashing_db: float, sample_rate: int, limit_db: float) -> float:
    """The largest gain under `squashing_db` (which squashes) that does not squash, within 0.02 dB.

    At `limit_db - max(envelope_db)` no sample needs more than `limit_db` off (the limiter never takes off more
    than the deepest need), so the answer lies between the two: bisected.
    """
    low, high = limit_db - float(np.max(envelope_db)), squashing_db
    while high - low > 0.02:
        middle = (low + high) / 2
        if _squashed(_limiter_db(envelope_db + middle, sample_rate), limit_db):
            high = middle
        else:
            low = middle
    return low


def _limited_true_peak(out: np.ndarray, envelope: np.ndarray, limited: np.ndarray) -> float:
    """The true peak of `out`, which is `envelope`'s signal times the limiter's gain: where that gain is 1 over
    the interpolation filter's whole reach, the envelope is exact; only around limited samples is it measured."""
    touched = moving_minimum(limited, _REACH + 1) < 0
    if not np.any(touched):
        return float(np.max(envelope))
    peak = float(np.max(envelope[~touched], initial=0.0))
    edges = np.flatnonzero(np.diff(np.concatenate(([0], touched.astype(np.int8), [0]))))
    for start, end in zip(edges[::2], edges[1::2]):
        lo, hi = max(0, start - _REACH), min(len(out), end + _REACH)  # the run with the filter's context
        values = oversampled(out[lo:hi])[(start - lo) * OVERSAMPLING : (end - lo) * OVERSAMPLING]
        peak = max(peak, float(np.max(np.abs(values))))
    return peak


def fade_in(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The samples with their first FADE_IN_SECONDS faded in (raised cosine), so no clip starts with a tick.

    >>> fade_in(np.ones(6), 1000).round(2).tolist()
    [0.0, 0.1, 0.35, 0.65, 0.9, 1.0]
    """
    x = np.array(samples, dtype=np.float64)
    n = min(len(x), max(1, int(round(FADE_IN_SECONDS * sample_rate))))
    x[:n] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    return x


def _slope(tried: list[tuple[float, float]]) -> float:
    """dB of loudness per dB of gain between the last two tries; limiting makes it less than 1."""
    if len(tried) < 2:
        return 1.0
    (g0, m0), (g1, m1) = tried[-2:]
    if g1 == g0:
        return 1.0
    return min(1.0, max(0.1, (m1 - m0) / (g1 - g0)))  # bounded: a noisy measurement must not send it far


def level_speech(
    samples: np.ndarray, sample_rate: int, target_lufs: float = DEFAULT_LOUDNESS, limit_db: float = TRANSPARENT_DB
) -> np.ndarray:
    """One speech clip at `target_lufs` as it will measure in a file (a little under it rather than squashed:
    see levelled), its true peak at most LIMITER_CEILING_DB.

    >>> t = np.arange(44100) / 22050
    >>> clip = level_speech(0.01 * np.sin(2 * np.pi * 300 * t), 22050)
    >>> round(loudness_in_file(clip, 22050), 1), true_peak(clip) <= 10 ** (LIMITER_CEILING_DB / 20)
    (-19.0, True)
    """
    return levelled(samples, sample_rate, target_lufs, limit_db)[0]

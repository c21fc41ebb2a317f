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

Levelling a clip passes over all of it only to copy it, K-weight it (FFTs) and bound its peaks block by block;
the true-peak envelope and the limiter work only where a gain tried could lift the clip to the ceiling (_Envelope,
_sparse_limiter_db). Its working copies live in buffers each thread keeps (_scratch): fresh memory for every
clip cost about as much in page faults as the FFTs.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from typing import Callable, Iterator, Sequence

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
# The filters' impulse response has died away (below 1e-30) within this long even at 48 kHz (16384 samples):
# convolving with this much of it is convolving with all of it.
_K_TAIL_SECONDS = 0.35
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


def _k_weighted(x: np.ndarray, sample_rate: int, length: int | None = None, lead: int = 0) -> np.ndarray:
    """x through the K-weighting filters (zero initial state); `length` samples of it (default len(x)), the
    filters ringing on into the quiet after x; after `lead` zeros (the quiet before x, which stays quiet).

    numpy has no IIR filter (scipy's costs more to import than all of an export's levelling): the filters'
    impulse response, cut where it has died away (see _K_TAIL_SECONDS), is convolved with x through the FFT
    (overlap-save, _k_rows), which is exact but for the part beyond.
    """
    length = len(x) if length is None else length
    padded = _k_padded(x, sample_rate, length)
    whole = np.empty(lead + len(padded) - _k_reach(sample_rate))
    whole[:lead] = 0.0
    for first, rows in _k_rows(padded, sample_rate):
        whole[lead + first : lead + first + rows.size].reshape(rows.shape)[:] = rows
    return whole[: lead + length]


def _k_reach(sample_rate: int) -> int:
    """How many inputs before it each K-weighted output needs (the impulse response's length, less one)."""
    return len(_k_impulse(sample_rate)) - 1


def _k_padded(x: np.ndarray, sample_rate: int, length: int, scratch: str | None = None) -> np.ndarray:
    """The input _k_rows takes for `length` outputs of x: _k_reach zeros, then x (its first `length` samples),
    then zeros to whole overlap-save blocks (at least as many as `length` is longer than x); in this thread's
    buffer `scratch` if given (see _scratch)."""
    reach = _k_reach(sample_rate)
    step = _k_spectrum(sample_rate)[0] - reach
    used = min(len(x), length)
    size = -(-length // step) * step + reach
    padded = np.empty(size) if scratch is None else _scratch(scratch, size)  # its quiet is zeroed, x copied
    padded[:reach] = 0.0
    padded[reach : reach + used] = x[:used]
    padded[reach + used :] = 0.0
    return padded


def _k_rows(padded: np.ndarray, sample_rate: int) -> Iterator[tuple[int, np.ndarray]]:
    """The K-weighted signal of an input laid out by _k_padded, a few overlap-save blocks at a time: (the index
    of the first output, the outputs as rows of one block's new outputs each), each valid until the next. The
    blocks are all of one size per rate, and transformed several at a time: pocketfft then uses the CPU's vector
    unit across them; into the same buffers every time (_k_buffers)."""
    reach = _k_reach(sample_rate)
    size, spectrum = _k_spectrum(sample_rate)
    step = size - reach  # new outputs per block
    frames = np.lib.stride_tricks.sliding_window_view(padded, size)[::step]
    spectra, outputs = _k_buffers(size)
    for first in range(0, len(frames), _K_BATCH):
        batch = frames[first : first + _K_BATCH]
        transformed = np.fft.rfft(batch, axis=1, out=spectra[: len(batch)])
        transformed *= spectrum
        yield first * step, np.fft.irfft(transformed, size, axis=1, out=outputs[: len(batch)])[:, reach:]


_K_BATCH = 4  # blocks transformed together: enough for the vector unit, and their buffers stay in the cache
_SCRATCH = threading.local()  # each thread's buffers (the mixer levels clips in two threads)
_SCRATCH_MOST = 1 << 21  # samples: a buffer longer than this (16 MiB, a clip of 95 s at 22050 Hz) is not kept


def _k_buffers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's buffers for _K_BATCH blocks of `size`, their spectra and their outputs: made once, not for
    every clip (fresh memory costs a page fault for every 4 KiB of it, about as much as the transforms)."""
    buffers = getattr(_SCRATCH, "fft", None)
    if buffers is None or buffers[1].shape[1] != size:
        buffers = np.empty((_K_BATCH, size // 2 + 1), dtype=np.complex128), np.empty((_K_BATCH, size))
        _SCRATCH.fft = buffers
    return buffers


def _scratch(name: str, size: int) -> np.ndarray:
    """This thread's float64 buffer `name`, at least `size` long (the first `size` of it): a clip's working
    copies reuse the last clip's memory instead of faulting in fresh pages. Valid until the thread asks for
    `name` again."""
    buffer = getattr(_SCRATCH, name, None)
    if buffer is None or len(buffer) < size:
        buffer = np.empty(size)
        if size <= _SCRATCH_MOST:
            setattr(_SCRATCH, name, buffer)
    return buffer[:size]


@lru_cache(maxsize=8)
def _k_impulse(sample_rate: int) -> np.ndarray:
    """The K-weighting filters' impulse response, its first _K_TAIL_SECONDS (from their frequency response)."""
    tail = int(_K_TAIL_SECONDS * sample_rate)
    size = _fft_size(2 * tail)  # what the response aliases back into the first `tail` samples is below 1e-30
    impulse = np.fft.irfft(_k_response(size, sample_rate), size)[:tail]
    impulse.setflags(write=False)
    return impulse


@lru_cache(maxsize=8)
def _k_spectrum(sample_rate: int) -> tuple[int, np.ndarray]:
    """The overlap-save block size at `sample_rate` (a power of two, four times the impulse response: three
    quarters of each block are new outputs) and the impulse response's spectrum on its grid."""
    impulse = _k_impulse(sample_rate)
    size = 1 << (4 * len(impulse) - 1).bit_length()
    spectrum = np.fft.rfft(impulse, size)
    spectrum.setflags(write=False)
    return size, spectrum


@lru_cache(maxsize=64)
def _fft_size(least: int) -> int:
    """The smallest even number >= `least` with no prime factor above 5 (pocketfft is fastest on those).

    >>> _fft_size(97020), _fft_size(131072)
    (97200, 131072)
    """
    best = 1 << max(1, (least - 1).bit_length())
    fives = 1
    while fives < best:
        threes = fives
        while threes < best:
            size = threes
            while size < least or size % 2:
                size *= 2
            best = min(best, size)
            threes *= 3
        fives *= 5
    return best


def _k_response(size: int, sample_rate: int) -> np.ndarray:
    """The K-weighting filters' frequency response on the grid of an rfft of `size`."""
    z = np.exp(-1j * np.pi * np.arange(size // 2 + 1) / (size // 2))  # e^{-jw} on the rfft grid
    response = np.ones_like(z)
    for b, a in _biquads(sample_rate):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
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
    """x with a block of quiet either side, K-weighted (the filters ring on into the quiet after it; the quiet
    before it stays quiet: the filters start at rest)."""
    block = int(round(_BLOCK_SECONDS * sample_rate))
    return _k_weighted(x, sample_rate, len(x) + block, lead=block)


def _in_file(weighted: np.ndarray, sample_rate: int) -> float:
    """loudness_in_file of a clip already padded and K-weighted by _k_weighted_in_file."""
    return _BlockEnergies(weighted, sample_rate).loudness()


class _BlockEnergies:
    """The energy of a padded, K-weighted clip in each 400 ms block loudness_in_file looks at (one every 10 ms).

    Kept as sums over pieces as long as the largest common divisor of the block and the hop (20 samples at
    22050 Hz): every block is a run of whole pieces, so a gain on a few samples (the limiter's) changes the
    blocks' energies at the cost of those few samples, not of the whole clip.
    """

    def __init__(self, weighted: np.ndarray, sample_rate: int):
        squares = self._layout(len(weighted), sample_rate)
        np.multiply(weighted, weighted, out=squares[: len(weighted)])
        self._sum(squares, len(weighted))

    @classmethod
    def of_padded(cls, padded: np.ndarray, n: int, sample_rate: int, scratch: str | None = None) -> _BlockEnergies:
        """The energies of the clip that `padded` holds (n samples, laid out by _k_padded for the outputs
        _k_weighted_in_file asks for), squared straight from the filter's output, without keeping it; the
        squares in this thread's buffer `scratch` if given (see _scratch)."""
        energies = cls.__new__(cls)
        block = int(round(_BLOCK_SECONDS * sample_rate))
        length = n + 2 * block  # the weighted clip: a block of quiet before it, its ringing after it
        squares = energies._layout(max(length, block + len(padded) - _k_reach(sample_rate)), sample_rate, scratch)
        squares[:block] = 0.0
        for first, rows in _k_rows(padded, sample_rate):
            np.multiply(rows, rows, out=squares[block + first : block + first + rows.size].reshape(rows.shape))
        energies._sum(squares, length)
        return energies

    def _layout(self, length: int, sample_rate: int, scratch: str | None = None) -> np.ndarray:
        """Sets the block, the hop and the piece; room for `length` squares and the zeros to whole pieces."""
        self._block = int(round(_BLOCK_SECONDS * sample_rate))
        self._hop = max(1, int(round(_IN_FILE_HOP_SECONDS * sample_rate)))
        self._piece = math.gcd(self._block, self._hop)
        size = -(-length // self._piece) * self._piece
        return np.empty(size) if scratch is None else _scratch(scratch, size)

    def _sum(self, squares: np.ndarray, length: int) -> None:
        """Keeps the first `length` squares, zeros the rest, and sums them piece by piece."""
        whole = -(-length // self._piece) * self._piece
        squares[length:] = 0.0
        self._squares = squares[:length]
        self._pieces = squares[:whole].reshape(-1, self._piece).sum(axis=1)
        self._starts = np.arange(0, length - self._block + 1, self._hop) // self._piece
        self._span = self._block // self._piece

    def loudness(self, where: np.ndarray | None = None, gain: np.ndarray | None = None) -> float:
        """The gated loudness, with the samples at `where` (indices, sorted) times `gain` if given."""
        pieces = self._pieces
        if where is not None and len(where):
            change = self._squares[where] * (gain * gain - 1.0)
            pieces = pieces + np.bincount(where // self._piece, weights=change, minlength=len(pieces))
        energy = np.concatenate(([0.0], np.cumsum(pieces)))
        return _gated(np.maximum(energy[self._starts + self._span] - energy[self._starts], 0.0) / self._block)


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


# A sample's oversampled values mix the inputs within _REACH of it, so none exceeds this many times the largest
# of those inputs (the largest sum of one phase's absolute taps; 1 plus a little for the rounding of the sums).
_ENVELOPE_BOUND = max(float(np.sum(np.abs(_TAPS[phase::OVERSAMPLING]))) for phase in range(OVERSAMPLING)) * (1 + 1e-9)
_ENVELOPE_BLOCK = 16  # the envelope is worked out block by block (a power of two, at least _REACH: a block's inputs
# lie in it and its two neighbours)
# A tighter bound, for the blocks the first one lets through: each phase's _MIDDLE_TAPS taps either side of its
# middle summed exactly, the rest at most their absolute sum times the largest input near (plus a margin, far
# above the rounding of either sum, relative to that input).
_MIDDLE_TAPS = 4
_OUTER_BOUNDS = [
    float(np.sum(np.abs(taps[: _REACH - _MIDDLE_TAPS])) + np.sum(np.abs(taps[_REACH + _MIDDLE_TAPS :]))) + 1e-9
    for taps in (_TAPS[phase::OVERSAMPLING] for phase in range(1, OVERSAMPLING))
]


class _Envelope:
    """A clip's peak envelope (see peak_envelope), computed only as far as the gains asked for need it.

    `over(gain_db)` gives the samples whose true peak is over LIMITER_CEILING_DB at that gain, and by how many
    dB. The clip is cut into blocks of _ENVELOPE_BLOCK samples, and each block's samples are bounded twice: by
    the largest input in it and its neighbours (which hold every input within the interpolation filter's reach)
    times _ENVELOPE_BOUND, then, where that reaches the ceiling at some gain asked for so far, by the middle taps'
    sum plus a bound on the rest (_block_bounds); the oversampled values are computed only in the blocks whose
    second bound reaches the ceiling. Speech sits well under its peaks most of the time: the first bound lets a
    tenth of espeak-ng's samples through at the default target, the second about one in eighty.
    """

    def __init__(self, x: np.ndarray, padded: np.ndarray | None = None, start: int = 0):
        """The envelope of x; or, if x is padded[start : start + len(x)] with at least _REACH zeros before it and
        _ENVELOPE_BLOCK + _REACH after it, read from `padded` in place."""
        self._n = len(x)
        blocks = -(-len(x) // _ENVELOPE_BLOCK)
        if padded is None:
            padded, start = np.zeros(blocks * _ENVELOPE_BLOCK + 2 * _REACH), _REACH  # zeros, as the filter sees them
            padded[_REACH : _REACH + len(x)] = x
        self._padded = padded[start - _REACH : start + blocks * _ENVELOPE_BLOCK + _REACH]
        # each block's largest and smallest input, from pairs, pairs of pairs, ... (a reduction along rows this
        # short costs more per row than per value)
        high = low = self._padded[_REACH : _REACH + blocks * _ENVELOPE_BLOCK]
        for _ in range(_ENVELOPE_BLOCK.bit_length() - 1):
            high, low = np.maximum(high[0::2], high[1::2]), np.minimum(low[0::2], low[1::2])
        largest = np.maximum(high, -low)
        near = largest.copy()  # the largest input within _REACH of each block's samples
        np.maximum(near[1:], largest[:-1], out=near[1:])
        np.maximum(near[:-1], largest[1:], out=near[:-1])
        self._near = near
        self._bound = np.zeros(blocks)  # the second bound, where worked out (0 elsewhere: under every floor so far)
        self._bounded = np.zeros(blocks, dtype=bool)
        self._computed = np.zeros(blocks, dtype=bool)
        self.index = np.zeros(0, dtype=np.int64)  # the samples computed, in order
        self.values = np.zeros(0)  # their envelope (every other sample's is under the ceiling at every gain so far)
        self._db = np.zeros(0)  # their envelope in dB over the ceiling at unit gain
        self._most_db = -np.inf  # the largest gain asked for so far

    def over(self, gain_db: float) -> tuple[np.ndarray, np.ndarray]:
        """(samples, dB) of the samples over the ceiling at `gain_db`, in order."""
        if gain_db > self._most_db:
            self._extend(gain_db)
        above = self._db + gain_db > 0
        return self.index[above], self._db[above] + gain_db

    def highest_db(self) -> float:
        """The largest value computed so far, in dB over the ceiling at unit gain."""
        return float(np.max(self._db, initial=-np.inf))

    def _extend(self, gain_db: float) -> None:
        self._most_db = gain_db
        floor = 10 ** ((LIMITER_CEILING_DB - gain_db) / 20)
        new = np.flatnonzero((self._near * _ENVELOPE_BOUND > floor) & ~self._bounded)
        if len(new):
            self._bounded[new] = True
            self._bound[new] = _block_bounds(self._padded, new, self._near[new])
        todo = np.flatnonzero((self._bound > floor) & ~self._computed)
        if len(todo) == 0:
            return
        self._computed[todo] = True
        index = (todo[:, None] * _ENVELOPE_BLOCK + np.arange(_ENVELOPE_BLOCK)).ravel()
        values = _block_envelopes(self._padded, todo).ravel()
        inside = index < self._n  # the last block may run past the clip
        index, values = index[inside], values[inside]
        merged = np.concatenate((self.index, index))
        order = np.argsort(merged, kind="stable")
        self.index = merged[order]
        self.values = np.concatenate((self.values, values))[order]
        self._db = np.concatenate((self._db, _decibels(values) - LIMITER_CEILING_DB))[order]


def _block_rows(padded: np.ndarray, blocks: np.ndarray, first: int, count: int) -> np.ndarray:
    """rows[t, k] = padded[blocks[k] * _ENVELOPE_BLOCK + first + t] for t < count: the blocks' inputs side by
    side, so that every tap's inputs for all their samples are one contiguous slice."""
    return padded[(blocks * _ENVELOPE_BLOCK + first)[None, :] + np.arange(count)[:, None]]


def _block_bounds(padded: np.ndarray, blocks: np.ndarray, near: np.ndarray) -> np.ndarray:
    """For each block (its largest input near in `near`), a bound on its samples' envelope: each phase's middle
    taps summed exactly, plus the other taps' absolute sum times the largest input near (_OUTER_BOUNDS)."""
    # Sample b*B + i sits at padded[b*B + i + _REACH]; a phase's tap j takes padded[b*B + i + 2*_REACH - j].
    first = _REACH - _MIDDLE_TAPS + 1  # the lowest input the middle taps use, relative to the block
    rows = _block_rows(padded, blocks, first, _ENVELOPE_BLOCK + 2 * _MIDDLE_TAPS - 1)
    size = _ENVELOPE_BLOCK
    bound = np.abs(rows[_MIDDLE_TAPS - 1 : _MIDDLE_TAPS - 1 + size] * _TAPS[_REACH * OVERSAMPLING])
    term = np.empty_like(bound)
    for phase, outer in zip(range(1, OVERSAMPLING), _OUTER_BOUNDS):
        taps = _TAPS[phase::OVERSAMPLING]
        low = 2 * _REACH - first - (_REACH + _MIDDLE_TAPS - 1)  # the row of tap _REACH + _MIDDLE_TAPS - 1
        value = rows[low : low + size] * taps[_REACH + _MIDDLE_TAPS - 1]
        for j in range(_REACH + _MIDDLE_TAPS - 2, _REACH - _MIDDLE_TAPS - 1, -1):
            row = 2 * _REACH - first - j
            value += np.multiply(rows[row : row + size], taps[j], out=term)
        np.abs(value, out=value)
        value += near * outer
        np.maximum(bound, value, out=bound)
    return bound.max(axis=0)


def _block_envelopes(padded: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """peak_envelope of a signal in the blocks `blocks`, (blocks, _ENVELOPE_BLOCK), from the signal padded with
    _REACH zeros before it and zeros after it to whole blocks and _REACH more: each phase's value is its taps
    times the inputs around the sample, summed tap by tap over all the blocks' samples at once."""
    size = _ENVELOPE_BLOCK
    rows = _block_rows(padded, blocks, 0, size + 2 * _REACH)  # sample b*B + i's input padded[b*B + t] at row t
    envelope = np.abs(rows[_REACH : _REACH + size] * _TAPS[_REACH * OVERSAMPLING])
    term = np.empty_like(envelope)
    # Output sample OVERSAMPLING*m + phase mixes the inputs m + _REACH - j (j = 0.._REACH*2-1) with every
    # OVERSAMPLING-th tap, as _phases does: padded row i + 2 * _REACH - j for the block's sample i.
    for phase in range(1, OVERSAMPLING):
        taps = _TAPS[phase::OVERSAMPLING]
        value = rows[2 * _REACH : 2 * _REACH + size] * taps[0]
        for j in range(1, len(taps)):
            value += np.multiply(rows[2 * _REACH - j : 2 * _REACH - j + size], taps[j], out=term)
        np.maximum(envelope, np.abs(value), out=envelope)
    return envelope.T


def _runs(indices: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """(first, last) of each run of sorted `indices` no more than `gap` apart.

    >>> _runs(np.array([1, 2, 3, 7, 8, 20]), 1), _runs(np.array([1, 3, 9]), 2)
    ([(1, 3), (7, 8), (20, 20)], [(1, 3), (9, 9)])
    """
    if len(indices) == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) > gap)
    firsts = indices[np.concatenate(([0], breaks + 1))]
    lasts = indices[np.concatenate((breaks, [len(indices) - 1]))]
    return list(zip(firsts.tolist(), lasts.tolist()))


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
    """limiter_db for samples `over_db` above the ceiling (negative: under it); each row on its own if 2-D."""
    n = over_db.shape[-1]
    if n == 0:
        return np.zeros(over_db.shape)
    need = np.minimum(0.0, -over_db)
    if not np.any(need < 0):
        return np.zeros(over_db.shape)  # nothing to limit: the usual case at the default target
    return _limited_db(need, sample_rate)


def _limited_db(need: np.ndarray, sample_rate: int) -> np.ndarray:
    """_limiter_db from the samples' needs (dB <= 0, some below; each row on its own if 2-D)."""
    n = need.shape[-1]
    reach = max(1, int(_LIMITER_SMOOTHING_SECONDS * sample_rate))
    held = moving_minimum(need, reach)
    index = np.arange(n, dtype=np.float64)
    attack = ATTACK_DB_PER_SECOND / sample_rate
    release = RELEASE_DB_PER_SECOND / sample_rate
    # before a peak: min over later k of need[k] + attack * (k - n); after it: need[k] + release * (n - k)
    falling = np.minimum.accumulate((held + attack * index)[..., ::-1], axis=-1)[..., ::-1] - attack * index
    rising = np.minimum.accumulate(held - release * index, axis=-1) + release * index
    return np.minimum(0.0, moving_average(np.minimum(falling, rising), reach))


def _sparse_limiter_db(over: tuple[np.ndarray, np.ndarray], n: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """_limiter_db of `n` samples, of which those in `over` (indices in order, dB) are over the ceiling, computed
    only around those: (the samples it changes, in order; its gain there in dB). Everywhere else it is 0 dB.

    A need of D dB at sample k shapes the gain from D / attack samples before it to D / release after it, and the
    holding and smoothing reach a millisecond further each way: outside those spans the gain is exactly 0 dB.
    Each span (merged with those it overlaps) is limited on its own, with quiet margins either side: as one row
    of a 2-D array, all at once, the shorter rows going on in quiet (where the gain stays exactly 0 dB), but
    for a span the clip's end cuts off.
    """
    hot, depth = over
    if len(hot) == 0:
        return hot, depth  # nothing to limit: the usual case at the default target
    margin = 2 * max(1, int(_LIMITER_SMOOTHING_SECONDS * sample_rate)) + 2
    starts = np.maximum(0, hot - (np.ceil(depth * sample_rate / ATTACK_DB_PER_SECOND).astype(np.int64) + margin))
    ends = np.minimum(n, hot + (np.ceil(depth * sample_rate / RELEASE_DB_PER_SECOND).astype(np.int64) + margin + 1))
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], np.maximum.accumulate(ends[order])
    breaks = np.flatnonzero(starts[1:] > ends[:-1])
    lows = starts[np.concatenate(([0], breaks + 1))]
    highs = ends[np.concatenate((breaks, [len(hot) - 1]))]
    row = np.searchsorted(lows, hot, side="right") - 1  # each hot sample's span
    # A span cut off by the clip's end has no quiet after it: limited on its own, it ends where the clip does.
    cut = int(highs[-1] == n)
    width = int(np.max(highs - lows))
    need = np.zeros((len(lows), width))  # what _limiter_db makes of the spans' dB over (-inf where quiet)
    need[row, hot - lows[row]] = np.minimum(0.0, -depth)
    gain = _limited_db(need[: len(lows) - cut], sample_rate).ravel()
    where = np.flatnonzero(gain)  # in row order, then column order: in the samples' order
    touched, gains = [lows[where // width] + where % width], [gain[where]]
    if cut:
        last = _limited_db(need[-1, : n - lows[-1]], sample_rate)
        where = np.flatnonzero(last)
        touched.append(lows[-1] + where)
        gains.append(last[where])
    return np.concatenate(touched), np.concatenate(gains)


def moving_minimum(values: np.ndarray, reach: int) -> np.ndarray:
    """Each value's minimum over `reach` neighbours either side, the ends extended (along the last axis).

    Minima over runs of 1, 2, 4, ... values, each from two of the last (log2 of the window passes, each one C
    loop over the array); a window is then the minimum of the two longest runs that cover it.

    >>> moving_minimum(np.array([5.0, 3, 4, 9, 9, 1]), 1).tolist()
    [3.0, 3.0, 3.0, 4.0, 1.0, 1.0]
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.shape[-1]
    if n == 0:
        return x.copy()
    width = 2 * reach + 1
    runs = _edge_padded(x, reach)  # runs[i]: the minimum of `span` values from padded index i
    span = 1
    while 2 * span <= width:
        runs = np.minimum(runs[..., :-span], runs[..., span:])
        span *= 2
    return np.minimum(runs[..., :n], runs[..., width - span : width - span + n])


def moving_average(values: np.ndarray, reach: int) -> np.ndarray:
    """Each value's mean over `reach` neighbours either side, the ends extended (cumulative sums, O(n); along
    the last axis).

    >>> moving_average(np.array([0.0, 3, 0, 0]), 1).tolist()
    [1.0, 1.0, 1.0, 0.0]
    """
    x = np.asarray(values, dtype=np.float64)
    if x.shape[-1] == 0:
        return x.copy()
    width = 2 * reach + 1
    padded = _edge_padded(x, reach)
    sums = np.empty(padded.shape[:-1] + (padded.shape[-1] + 1,))
    sums[..., 0] = 0.0
    np.cumsum(padded, axis=-1, out=sums[..., 1:])
    return (sums[..., width:] - sums[..., :-width]) / width


def _edge_padded(x: np.ndarray, reach: int) -> np.ndarray:
    """x (float64, not empty) with its first and last values repeated `reach` times before and after it (along
    the last axis): what np.pad(x, reach, mode="edge") gives, without its cost per call."""
    n = x.shape[-1]
    out = np.empty(x.shape[:-1] + (n + 2 * reach,))
    out[..., :reach] = x[..., :1]
    out[..., reach : reach + n] = x
    out[..., reach + n :] = x[..., -1:]
    return out


def levelled(
    samples: np.ndarray, sample_rate: int, target_lufs: float, limit_db: float = TRANSPARENT_DB
) -> tuple[np.ndarray, np.ndarray]:
    """The clip faded in, gain to the target (as measured in a file), peaks limited, re-measured until it is
    there (or until the limiter would take more than `limit_db` off more than MAX_LIMITED_SHARE of it), with the
    limiter's gain in dB for each sample (0 where it left the sample alone).

    The clip is K-weighted once, and oversampled once where its peaks may reach the ceiling (_Envelope). A gain
    only scales both; the limiter's gain changes slowly next to the K-weighting filters' memory, so a limited
    clip is measured as the weighted clip times that gain (within 0.01 LU of measuring it afresh, on speech),
    and its true peak is computed afresh only where the limiter worked. Everything after the first measurement
    costs in proportion to the few samples near the ceiling, not to the clip's length.
    """
    out, touched, limited, trim_db = _levelled(samples, sample_rate, target_lufs, limit_db)
    reduction = np.zeros(len(out))
    reduction[touched] = limited
    return out, reduction + trim_db if trim_db else reduction


def _levelled(
    samples: np.ndarray, sample_rate: int, target_lufs: float, limit_db: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """levelled's clip, the samples the limiter changed (in order) with its gain there in dB, and the last trim
    in dB (0.0: none) that every sample also got: the reduction per sample is made only when it is asked for."""
    n = len(samples)
    block = int(round(_BLOCK_SECONDS * sample_rate))
    # A float64 copy of the clip with the K-weighting's quiet around it (_k_padded), faded in there: the filter,
    # the envelope and the gain all read it in place. It and the squares live in this thread's buffers: nothing
    # returned is a view of them.
    padded = _k_padded(samples, sample_rate, n + block, scratch="clip")
    start = _k_reach(sample_rate)
    x = _faded_in(padded[start : start + n], sample_rate)
    untouched = np.zeros(0, dtype=np.int64), np.zeros(0), 0.0
    if n == 0:
        return (x.astype(np.float32), *untouched)
    energies = _BlockEnergies.of_padded(padded, n, sample_rate, scratch="squares")
    loudness = energies.loudness()
    if not np.isfinite(loudness):
        return (x.astype(np.float32), *untouched)  # silent or too quiet to measure: nothing to aim for
    ceiling = 10 ** (LIMITER_CEILING_DB / 20)
    gain_db = first_gain_db = target_lufs - loudness
    tried: list[tuple[float, float]] = []  # (gain, loudness) pairs, for the secant step
    envelope = _Envelope(x, padded, start)  # a gain only scales it
    touched, limited = np.zeros(0, dtype=np.int64), np.zeros(0)  # the limiter's gain in dB where it works
    most_db = first_gain_db + MAX_PUSH_DB
    for _ in range(_ROUNDS):
        touched, limited = _sparse_limiter_db(envelope.over(gain_db), n, sample_rate)
        if _squashed(limited, n, limit_db):
            gain_db = _transparent_gain_db(envelope, n, gain_db, sample_rate, limit_db)
            touched, limited = _sparse_limiter_db(envelope.over(gain_db), n, sample_rate)
            most_db = gain_db  # louder would only squash the word
        if len(touched) == 0:
            break  # plain gain: the loudness is exactly the target
        measured = energies.loudness(block + touched, 10 ** (limited / 20)) + gain_db
        if abs(target_lufs - measured) < _TOLERANCE_LU:
            break
        tried.append((gain_db, measured))
        pushed = min(gain_db + (target_lufs - measured) / _slope(tried), most_db)
        if pushed == gain_db:
            break  # as loud as it gets without squashing the word
        gain_db = pushed
    # x * 10 ** ((gain_db + limited) / 20) in float64, the power taken only where the limiter works, rounded to
    # float32 as it is made; in float64 only where the true peak is measured afresh, or everywhere for a trim
    factors = 10 ** (np.concatenate(([gain_db], gain_db + limited)) / 20)
    out = np.multiply(x, factors[0], out=np.empty(n, dtype=np.float32))
    out[touched] = x[touched] * factors[1:]
    trim_db = 0.0

    def gained(lo: int, hi: int, into: np.ndarray | None = None) -> np.ndarray:
        first, last = np.searchsorted(touched, (lo, hi)).tolist()
        limited_part = x[touched[first:last]] * factors[1 + first : 1 + last]
        part = np.multiply(x[lo:hi], factors[0], out=into)
        part[touched[first:last] - lo] = limited_part
        return part

    peak = _limited_true_peak(gained, n, envelope.values, touched, 10 ** (gain_db / 20), envelope.index)
    if peak > ceiling:  # the gain is computed per sample; a last trim makes the ceiling certain
        np.multiply(gained(0, n, x), ceiling / peak, out=out)  # x is not needed after this
        trim_db = float(20 * np.log10(ceiling / peak))
    return out, touched, limited, trim_db


def _squashed(limited: np.ndarray, n: int, limit_db: float) -> bool:
    """The limiter takes more than `limit_db` off more than MAX_LIMITED_SHARE of `n` samples (`limited`: its
    gain in dB where it works)."""
    return np.count_nonzero(limited < -limit_db) > MAX_LIMITED_SHARE * n


def _transparent_gain_db(envelope: _Envelope, n: int, squashing_db: float, sample_rate: int, limit_db: float) -> float:
    """The largest gain under `squashing_db` (which squashes) that does not squash, within 0.02 dB.

    At `limit_db - max(envelope)` no sample needs more than `limit_db` off (the limiter never takes off more
    than the deepest need), so the answer lies between the two: bisected. (The envelope is known up to
    `squashing_db`, and its largest value is over the ceiling there: it has been computed.)
    """
    low, high = limit_db - envelope.highest_db(), squashing_db
    while high - low > 0.02:
        middle = (low + high) / 2
        if _squashed(_sparse_limiter_db(envelope.over(middle), n, sample_rate)[1], n, limit_db):
            high = middle
        else:
            low = middle
    return low


def _limited_true_peak(
    out: Callable[[int, int], np.ndarray],
    n: int,
    envelope: np.ndarray,
    touched: np.ndarray,
    scale: float = 1.0,
    at: np.ndarray | None = None,
) -> float:
    """The true peak of the `n` samples `out(lo, hi)` gives (from lo to hi), which are the signal of `envelope`
    times `scale` times the limiter's gain (1 but at the samples `touched`), as far as it reaches the ceiling
    (see _Envelope): where that gain is 1 over the interpolation filter's whole reach, the envelope (times
    `scale`) is exact; only around limited samples is it measured. `envelope` holds every sample's value, or
    only those of the samples `at` (in order), the others being under the ceiling. (Scaling the largest value
    is scaling each: rounding keeps their order, for a positive scale.)"""
    if len(touched) == 0:
        return float(np.max(envelope, initial=0.0)) * scale
    near = np.ones(len(envelope), dtype=bool)
    peak = 0.0
    for first, last in _runs(touched, 2 * _REACH + 3):
        start, end = max(0, first - _REACH - 1), min(n, last + _REACH + 2)
        if at is None:
            near[start:end] = False
        else:
            near[slice(*np.searchsorted(at, (start, end)).tolist())] = False
        lo, hi = max(0, start - _REACH), min(n, end + _REACH)  # the run with the filter's context
        values = oversampled(out(lo, hi))[(start - lo) * OVERSAMPLING : (end - lo) * OVERSAMPLING]
        peak = max(peak, float(np.max(np.abs(values))))
    return max(peak, float(np.max(envelope, where=near, initial=0.0)) * scale)


def fade_in(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The samples with their first FADE_IN_SECONDS faded in (raised cosine), so no clip starts with a tick.

    >>> fade_in(np.ones(6), 1000).round(2).tolist()
    [0.0, 0.1, 0.35, 0.65, 0.9, 1.0]
    """
    return _faded_in(np.array(samples, dtype=np.float64), sample_rate)


def _faded_in(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """fade_in in place, on float64 samples."""
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
    return _levelled(samples, sample_rate, target_lufs, limit_db)[0]


# --- a file of its own: the parts of a split export ------------------------------------------------------------

_FILE_HOP_SECONDS = 0.1  # ffmpeg's ebur128 filter: a 400 ms block ending every 100 ms of the file, whole blocks only


def file_loudness(sounds: Sequence[tuple[int, np.ndarray]], length: int, sample_rate: int) -> float:
    """The integrated loudness of a file `length` samples long that is silent but for `sounds` ((offset, samples)
    pairs, in order, not overlapping), as ffmpeg's EBU R128 meter reads it: 400 ms blocks every 100 ms from the
    file's first sample, only the whole ones (the last partial 100 ms counts for nothing; a file shorter than
    one block measures -inf), then BS.1770's gates. Only the sound and the K-weighting filters' ringing after
    it are filtered and summed, so a part holding a long hold costs no more than its words.

    >>> t = np.arange(22050) / 22050
    >>> tone = 0.1 * np.sin(2 * np.pi * 1000 * t)  # -23 LUFS on its own; ffmpeg reads -24.1 in 3 s with its edges
    >>> round(file_loudness([(0, tone)], 22050, 22050), 1), round(file_loudness([(22050, tone)], 3 * 22050, 22050), 1)
    (-23.1, -24.2)
    """
    block = int(round(_BLOCK_SECONDS * sample_rate))
    hop = int(round(_FILE_HOP_SECONDS * sample_rate))
    blocks = (length - block) // hop + 1 if length >= block else 0
    energy = np.zeros(max(blocks, 0))
    for start, end, weighted in _islands(sounds, length, sample_rate):
        sums = np.concatenate(([0.0], np.cumsum(weighted * weighted)))
        first, last = max(0, (start - block) // hop), min(blocks - 1, (end - 1) // hop)
        lower = np.arange(first, last + 1) * hop
        lo, hi = np.clip(lower - start, 0, end - start), np.clip(lower + block - start, 0, end - start)
        energy[first : last + 1] += sums[hi] - sums[lo]
    return _gated(energy / block) if blocks else float("-inf")


def _islands(
    sounds: Sequence[tuple[int, np.ndarray]], length: int, sample_rate: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(start, end, K-weighted samples) of each run of sounds closer together than the filters' ringing, cut at
    the file's end; everything between runs is silence and stays exactly zero after the filters (see
    _K_TAIL_SECONDS)."""
    tail = int(_K_TAIL_SECONDS * sample_rate)
    runs: list[list[tuple[int, np.ndarray]]] = []
    for offset, samples in sounds:
        if len(samples) == 0 or offset >= length:
            continue
        if runs and offset < runs[-1][-1][0] + len(runs[-1][-1][1]) + tail:
            runs[-1].append((offset, samples))
        else:
            runs.append([(offset, samples)])
    for run in runs:
        start = run[0][0]
        end = min(length, run[-1][0] + len(run[-1][1]) + tail)
        x = np.zeros(end - start)
        for offset, samples in run:
            piece = np.asarray(samples, dtype=np.float64)[: end - offset]
            x[offset - start : offset - start + len(piece)] = piece
        yield start, end, _k_weighted(x, sample_rate)


def regained(samples: np.ndarray, gain_db: float, sample_rate: int) -> np.ndarray:
    """A levelled clip `gain_db` louder or quieter, its true peak kept under LIMITER_CEILING_DB by the same
    look-ahead limiter (a clip made quieter is only scaled).

    >>> clip = level_speech(0.01 * np.sin(2 * np.pi * 300 * np.arange(22050) / 22050), 22050)
    >>> bool(true_peak(regained(clip, 6.0, 22050)) <= 10 ** (LIMITER_CEILING_DB / 20))
    True
    """
    x = np.asarray(samples, dtype=np.float64) * 10 ** (gain_db / 20)
    if gain_db <= 0 or len(x) == 0:
        return x.astype(np.float32)
    envelope = peak_envelope(x)
    limited = _limiter_db(_decibels(envelope) - LIMITER_CEILING_DB, sample_rate)
    if not np.any(limited):
        return x.astype(np.float32)
    out = x * 10 ** (limited / 20)
    ceiling = 10 ** (LIMITER_CEILING_DB / 20)
    peak = _limited_true_peak(lambda lo, hi: out[lo:hi], len(out), envelope, np.flatnonzero(limited))
    if peak > ceiling:
        out = out * (ceiling / peak)
    return out.astype(np.float32)


def part_gain_db(sounds: Sequence[tuple[int, np.ndarray]], length: int, sample_rate: int, target_lufs: float) -> float:
    """The gain that brings a file of these levelled sounds (see file_loudness) to `target_lufs` as ffmpeg reads
    it, the raised clips' peaks limited (regained): within _TOLERANCE_LU, or as close as MAX_PUSH_DB more gain
    gets it. 0.0 for a file too short or too quiet to measure.

    >>> t = np.arange(22050) / 22050
    >>> round(part_gain_db([(0, 0.1 * np.sin(2 * np.pi * 1000 * t))], 22050, 22050, -19.0), 2)
    4.06
    """
    measured = file_loudness(sounds, length, sample_rate)
    if not np.isfinite(measured):
        return 0.0
    gain_db = first_db = target_lufs - measured
    if gain_db <= 0:
        return gain_db  # only scaled: every block and both gates move with the gain
    tried: list[tuple[float, float]] = []
    for _ in range(_ROUNDS):
        made: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # a line said twice in a part is regained once
        for _, samples in sounds:
            made.setdefault(id(samples), (samples, regained(samples, gain_db, sample_rate)))
        measured = file_loudness([(at, made[id(s)][1]) for at, s in sounds], length, sample_rate)
        if abs(target_lufs - measured) < _TOLERANCE_LU:
            break
        tried.append((gain_db, measured))
        pushed = min(gain_db + (target_lufs - measured) / _slope(tried), first_db + MAX_PUSH_DB)
        if pushed == gain_db:
            break
        gain_db = pushed
    return gain_db

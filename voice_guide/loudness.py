"""Loudness: each clip is levelled on its own (BS.1770 via pyloudnorm), so a whole routine sits at the target.

Levelling per clip, not per file, lets the player start before the routine is fully synthesized and still play
exactly the samples the exporter writes.
"""

from __future__ import annotations

import numpy as np

DEFAULT_TARGET_LUFS = -16.0  # the podcast norm: comfortable on a phone
PEAK_CEILING_DB = -1.0
CHIME_BELOW_VOICE_LU = 8.0  # the chime marks a step; it must not be louder than the words
_MIN_MEASURE_SECONDS = 1.2  # BS.1770 gates in 400 ms blocks; shorter clips are measured tiled


def _integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    import pyloudnorm

    need = int(_MIN_MEASURE_SECONDS * sample_rate)
    measured = samples.astype(np.float64)
    if len(measured) < need:
        measured = np.tile(measured, need // max(1, len(measured)) + 1)
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(measured))


def _true_peak(samples: np.ndarray) -> float:
    from scipy.signal import resample_poly

    if len(samples) == 0:
        return 0.0
    return float(np.max(np.abs(resample_poly(samples.astype(np.float64), 4, 1))))


def _level(samples: np.ndarray, sample_rate: int, target_lufs: float) -> np.ndarray:
    if not np.any(samples):
        return samples.astype(np.float32)
    loudness = _integrated_loudness(samples, sample_rate)
    if not np.isfinite(loudness):
        return samples.astype(np.float32)
    gain = 10 ** ((target_lufs - loudness) / 20)
    ceiling = 10 ** (PEAK_CEILING_DB / 20)
    peak = _true_peak(samples) * gain
    if peak > ceiling:
        gain *= ceiling / peak
    return (samples.astype(np.float64) * gain).astype(np.float32)


def level_speech(samples: np.ndarray, sample_rate: int, target_lufs: float = DEFAULT_TARGET_LUFS) -> np.ndarray:
    """One speech clip brought to `target_lufs`, its true peak kept under -1 dBFS."""
    return _level(samples, sample_rate, target_lufs)


def level_chime(samples: np.ndarray, sample_rate: int, target_lufs: float = DEFAULT_TARGET_LUFS) -> np.ndarray:
    """The chime, a few LU under the voice."""
    return _level(samples, sample_rate, target_lufs - CHIME_BELOW_VOICE_LU)

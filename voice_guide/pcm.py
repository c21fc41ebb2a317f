"""Float samples as 16-bit PCM: the one conversion every output uses (the player, WAV and FLAC), so what is
heard live is bit-for-bit what a lossless export holds; and the engines' 16-bit clips as float samples."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy


def to_pcm16(samples: "numpy.ndarray") -> bytes:
    """Float samples in [-1, 1] as little-endian signed 16-bit PCM: the one conversion every output uses."""
    return pcm16(samples).tobytes()


def pcm16(samples: "numpy.ndarray") -> "numpy.ndarray":
    """Float samples in [-1, 1] as an int16 array (rounded, clipped)."""
    import numpy as np

    # In place after the one multiplication: an export converts every sample of the routine, silence included.
    scaled = np.multiply(samples, 32767.0)
    np.rint(scaled, out=scaled)  # what np.round does for floats: halves to even
    np.clip(scaled, -32768, 32767, out=scaled)
    return scaled.astype("<i2")


def float_samples(pcm: bytes) -> "numpy.ndarray":
    """Little-endian 16-bit PCM as read-only float32 in [-1, 1): x / 32768, what libsndfile reads too.

    >>> float_samples(b"\\x00\\x80\\x00\\x40").tolist()
    [-1.0, 0.5]
    """
    import numpy as np

    data = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * np.float32(1 / 32768)
    data.setflags(write=False)  # shared between callers; nobody may scale it in place
    return data

"""Independent readers for exported files: ffprobe, ffmpeg's decoder and its EBU R128 meter, espeak-ng clips.

They share no code with voice_guide, so a test that passes through them checks what a user's tools will see.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

HAVE_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def ffprobe(path: Path) -> dict:
    """ffprobe's view of a file: format (duration, tags), streams and chapters."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout)


def tags_of(probe: dict) -> dict[str, str]:
    """Format and stream tags merged, keys lower-cased (Ogg keeps its tags on the stream)."""
    tags: dict[str, str] = {}
    for stream in probe.get("streams", []):
        tags.update({k.lower(): v for k, v in stream.get("tags", {}).items()})
    tags.update({k.lower(): v for k, v in probe["format"].get("tags", {}).items()})
    return tags


def decoded_samples(path: Path) -> np.ndarray:
    """The file decoded by ffmpeg (gapless: encoder delay and padding removed) as int16."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-"], capture_output=True, check=True
    )
    return np.frombuffer(done.stdout, dtype="<i2")


@dataclass(frozen=True)
class R128:
    """ffmpeg's EBU R128 summary: integrated loudness (LUFS) and true peak (dBFS)."""

    integrated: float
    true_peak: float


def ebur128(path: Path) -> R128:
    """Measure a file with ffmpeg's ebur128 filter, as `ffmpeg -af ebur128=peak=true` reports it."""
    done = subprocess.run(
        ["ffmpeg", "-nostats", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    summary = done.stderr[done.stderr.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return R128(integrated, peak)


def espeak_clip(text: str, rate: int = 150) -> np.ndarray:
    """A line spoken by espeak-ng itself (22050 Hz float32), independent of voice_guide's speech module."""
    import soundfile

    wav = subprocess.run(["espeak-ng", "--stdout", "-s", str(rate), text], capture_output=True, check=True).stdout
    samples, _ = soundfile.read(io.BytesIO(wav), dtype="float32")
    return samples

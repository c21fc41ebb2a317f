"""The speech cache on disk: one 16-bit mono WAV per clip, named by a hash of what made it.

Several processes may share the folder (a `check` and a `play` at once): every file is written to a
temporary name in the same folder and moved into place with os.replace, so a reader sees either the
whole file or none. A damaged entry (undecodable, wrong format, empty, header disagreeing with the
file size, samples disagreeing with the checksum stored after them) counts as missing and is made again.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import time
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

# Bump when the stored audio changes meaning (trimming, sample format): old entries are then ignored.
FORMAT_VERSION = 1
_SAMPLE_WIDTH = 2
CHECKSUM_CHUNK = b"vgck"  # written by _speech_worker.write_wav after the data: CRC-32 of the data bytes
_CHECKSUM_SIZE = 12  # chunk id, size (4), the CRC (4)
STALE_SECONDS = 3600.0  # a temporary this old was left by a process that died; no utterance takes an hour


@dataclass(frozen=True)
class ClipKey:
    """What makes a clip: the engine, the resolved voice id, the rate and the text.

    Not the volume: the engine always speaks at full scale and the mixer applies the volume as a
    gain, so one clip serves every volume.
    """

    engine: str
    voice: str
    rate: int
    text: str

    def digest(self) -> str:
        """A stable file name for this key.

        >>> len(ClipKey("espeak", "gmw/en-us", 150, "Hello.").digest())
        64
        """
        return _digest([FORMAT_VERSION, self.engine, self.voice, self.rate, self.text])


def _digest(parts: list[Any]) -> str:
    blob = json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def wav_length(path: Path) -> int | None:
    """Frames in a cached clip, reading only its header; None when it is missing or not sound.

    >>> wav_length(Path("/nonexistent.wav")) is None
    True
    """
    layout = _layout(path)
    return layout[1] if layout is not None else None


def _layout(path: Path) -> tuple[int, int] | None:
    """(where the samples start, how many) from the header, if the file is as long as they say."""
    try:
        with open(path, "rb") as raw:
            with wave.open(raw, "rb") as clip:
                frames = clip.getnframes()
                shape = (clip.getnchannels(), clip.getsampwidth(), clip.getframerate())
                data_start = raw.tell()  # wave stops right after the data chunk's header
            size = os.fstat(raw.fileno()).st_size
    except (OSError, EOFError, wave.Error):
        return None
    if shape != (1, _SAMPLE_WIDTH, SAMPLE_RATE) or frames <= 0:
        return None
    if size != data_start + frames * _SAMPLE_WIDTH + _CHECKSUM_SIZE:  # truncated, or garbage appended
        return None
    return data_start, frames


def read_checked(path: Path) -> bytes | None:
    """The clip's sample bytes (16-bit little-endian), or None unless the header and checksum agree."""
    layout = _layout(path)
    if layout is None:
        return None
    start, frames = layout
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    end = start + frames * _SAMPLE_WIDTH
    data = blob[start:end]
    if blob[end:] != CHECKSUM_CHUNK + struct.pack("<II", 4, zlib.crc32(data)):
        return None
    return data


class ClipCache:
    """Clips and voice resolutions under one folder."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, key: ClipKey) -> Path:
        return self.root / f"{key.digest()}.wav"

    def length(self, key: ClipKey) -> int | None:
        """The clip's length in samples if a sound entry exists; a damaged one is removed."""
        path = self.path(key)
        frames = wav_length(path)
        if frames is None and path.exists():
            self.discard(path)
        return frames

    def samples(self, key: ClipKey) -> "numpy.ndarray | None":
        """The clip as float32 in [-1, 1), or None when it is missing or damaged (then it is removed).

        Decoded with the stdlib and numpy, not soundfile: every entry is 16-bit mono PCM written by us,
        and the player should not pay for importing libsndfile. x / 32768 is what libsndfile gives too.
        """
        import numpy as np

        path = self.path(key)
        raw = read_checked(path)
        if raw is None:
            self.discard(path)
            return None
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) * np.float32(1 / 32768)
        data.setflags(write=False)  # shared between callers; nobody may scale it in place
        return data

    def temporary(self, key: ClipKey) -> Path:
        """A fresh name next to the entry, for a worker to write into before commit()."""
        fd, name = tempfile.mkstemp(prefix=f".{key.digest()[:16]}.", suffix=".tmp", dir=self.root)
        os.close(fd)
        return Path(name)

    def sweep(self, older_than: float = STALE_SECONDS) -> int:
        """Remove temporaries left by processes that were killed mid-write; how many were removed.

        Only old ones: a young temporary may belong to another process writing right now.
        """
        removed = 0
        limit = time.time() - older_than
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return 0
        for entry in entries:
            if entry.name.startswith(".") and (entry.name.endswith(".tmp") or entry.name.endswith(".tmp.raw")):
                try:
                    if entry.stat().st_mtime < limit:
                        os.unlink(entry.path)
                        removed += 1
                except OSError:
                    pass  # gone already, or not ours to remove
        return removed

    def commit(self, temporary: Path, key: ClipKey) -> int | None:
        """Move a written clip into place; its length, or None (and it is removed) if it is not sound."""
        frames = wav_length(temporary)
        if frames is None:
            self.discard(temporary)
            return None
        os.replace(temporary, self.path(key))
        return frames

    def discard(self, path: Path) -> None:
        """Remove an entry or a temporary, with the raw engine output a killed worker may have left."""
        for leftover in (path, path.with_name(path.name + ".raw")):
            try:
                leftover.unlink()
            except FileNotFoundError:
                pass

    def load_record(self, name: list[Any]) -> dict[str, Any] | None:
        """A small JSON record stored under `name` (voice resolutions), or None."""
        try:
            record = json.loads(self._record_path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def store_record(self, name: list[Any], record: dict[str, Any]) -> None:
        """Keep a record for load_record(); best effort: a record that cannot be written (a full disk) is
        simply not kept, and leaves no temporary file behind."""
        target = self._record_path(name)
        try:
            fd, temporary = tempfile.mkstemp(prefix=".record.", suffix=".tmp", dir=self.root)
        except OSError:
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out, ensure_ascii=False)
            os.replace(temporary, target)
        except OSError:
            self.discard(Path(temporary))

    def _record_path(self, name: list[Any]) -> Path:
        return self.root / f"voice-{_digest([FORMAT_VERSION, *name])[:32]}.json"

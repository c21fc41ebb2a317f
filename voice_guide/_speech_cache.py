"""The speech cache on disk: one 16-bit mono WAV per clip, named by a hash of what made it.

Several processes may share the folder (a `check` and a `play` at once): every file is written to a fresh
temporary name in the same folder and moved into place with os.replace, so a reader sees either the whole file
or none. Each entry says what it holds: a `vgky` chunk before the samples carries its full key (format version,
engine, voice, rate and text), checked on every read, so an entry moved or copied under another entry's name
is caught. A damaged entry (undecodable, wrong format, empty, header disagreeing with the file size, samples
disagreeing with the checksum stored after them, another key, not a regular file, too big) counts as missing,
is removed and made again. Files are read and written through cachefiles, which also bounds the folder's size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cachefiles
from .timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

# Bump when the stored audio changes meaning (trimming, sample format, layout): old entries are then ignored.
FORMAT_VERSION = 2
_SAMPLE_WIDTH = 2
KEY_CHUNK = b"vgky"  # written by _speech_worker.write_wav before the data: the entry's key (JSON, UTF-8)
CHECKSUM_CHUNK = b"vgck"  # written by _speech_worker.write_wav after the data: CRC-32 of the key and the data
_CHECKSUM_SIZE = 12  # chunk id, size (4), the CRC (4)
_HEAD = 1 << 14  # bytes read to find the samples: the header and the key chunk (a key is a few KB at most)
ENTRY_LIMIT = 16 << 20  # bytes: six minutes of speech; no line to say is that long (600 characters at most)
CACHE_LIMIT = 256 << 20  # bytes of clips kept; the least recently used go first (about 40 routines like arch)
STALE_SECONDS = 3600.0  # a temporary this old was left by a process that died; no utterance takes an hour
WORK_SUFFIX = ".d"  # `<temporary>.d`: the private folder a worker gives the engine (see _speech_worker)


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

    def blob(self) -> bytes:
        """The key as stored inside the entry.

        >>> ClipKey("espeak", "gmw/en-us", 150, "Hi.").blob()
        b'[2,"espeak","gmw/en-us",150,"Hi."]'
        """
        return _blob([FORMAT_VERSION, self.engine, self.voice, self.rate, self.text])

    def digest(self) -> str:
        """A stable file name for this key.

        >>> len(ClipKey("espeak", "gmw/en-us", 150, "Hello.").digest())
        64
        """
        return hashlib.sha256(self.blob()).hexdigest()


def _blob(parts: list[Any]) -> bytes:
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _layout(head: bytes, size: int, key: bytes | None) -> tuple[int, int] | None:
    """(where the samples start, how many) from an entry's first bytes, if it is 16-bit mono at SAMPLE_RATE,
    holds `key` (None: any) and is exactly as long as its chunks say."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset, shape, stored = 12, None, None
    while offset + 8 <= len(head):
        chunk, length = head[offset:offset + 4], struct.unpack("<I", head[offset + 4:offset + 8])[0]
        body = offset + 8
        if chunk == b"data":
            frames = length // _SAMPLE_WIDTH
            if (shape != (1, 1, SAMPLE_RATE, 16) or frames <= 0 or length % _SAMPLE_WIDTH
                    or stored is None or (key is not None and stored != key)
                    or size != body + length + _CHECKSUM_SIZE):
                return None
            return body, frames
        if chunk == b"fmt " and length >= 16 and body + 16 <= len(head):
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", head[body:body + 16])
            shape = (tag, channels, rate, bits)
        elif chunk == KEY_CHUNK and body + length <= len(head):
            stored = head[body:body + length]
        offset = body + length + (length & 1)
    return None


def wav_length(path: Path, key: ClipKey | None = None) -> int | None:
    """Frames in a cached clip, reading only its head; None when it is missing, not sound or (given `key`)
    holds another clip.

    >>> wav_length(Path("/nonexistent.wav")) is None
    True
    """
    read = cachefiles.read_head(path, _HEAD, ENTRY_LIMIT)
    if read is None:
        return None
    layout = _layout(read[0], read[1], None if key is None else key.blob())
    return layout[1] if layout is not None else None


def read_checked(path: Path, key: ClipKey) -> bytes | None:
    """The clip's sample bytes (16-bit little-endian), or None unless its layout, key and checksum agree."""
    blob = cachefiles.read_entry(path, ENTRY_LIMIT)
    if blob is None:
        return None
    layout = _layout(blob[:_HEAD], len(blob), key.blob())
    if layout is None:
        return None
    start, frames = layout
    end = start + frames * _SAMPLE_WIDTH
    data = blob[start:end]
    if blob[end:] != CHECKSUM_CHUNK + struct.pack("<II", 4, zlib.crc32(data, zlib.crc32(key.blob()))):
        return None
    return data


def clip_identity(key: ClipKey, data: bytes) -> bytes:
    """What names the clip `data` (its 16-bit samples) as made for `key`, for the caches of what is made from it
    (the mixer's final clips): the key, the length and the CRC-32 its entry carries after the samples, which
    changes whenever they do. ClipCache.identity reads the same from an entry without reading its samples."""
    return _identity(key, len(data) // _SAMPLE_WIDTH, zlib.crc32(data, zlib.crc32(key.blob())))


def _identity(key: ClipKey, frames: int, checksum: int) -> bytes:
    return key.blob() + struct.pack("<II", frames, checksum)


class ClipCache:
    """Clips and voice resolutions under one folder (made private), at most `max_bytes` of clips."""

    def __init__(self, root: Path, max_bytes: int = CACHE_LIMIT):
        self.root = root
        self.max_bytes = max_bytes

    def path(self, key: ClipKey) -> Path:
        return self.root / f"{key.digest()}.wav"

    def length(self, key: ClipKey) -> int | None:
        """The clip's length in samples if a sound entry for `key` exists; a damaged one is removed."""
        path = self.path(key)
        frames = wav_length(path, key)
        if frames is None:
            self.discard(path)
        return frames

    def identity(self, key: ClipKey) -> tuple[int, bytes] | None:
        """The length and clip_identity of a sound entry for `key`, from its head and its last bytes alone (its
        samples are checked against that checksum whenever they are read: pcm16); a damaged one is removed."""
        path = self.path(key)
        read = cachefiles.read_ends(path, _HEAD, _CHECKSUM_SIZE, ENTRY_LIMIT)
        layout = _layout(read[0], read[2], key.blob()) if read is not None else None
        if layout is None or read[1][:8] != CHECKSUM_CHUNK + struct.pack("<I", 4):
            self.discard(path)
            return None
        frames = layout[1]
        return frames, _identity(key, frames, struct.unpack("<I", read[1][8:])[0])

    def pcm16(self, key: ClipKey) -> bytes | None:
        """The clip's samples as 16-bit little-endian PCM (pcm.float_samples makes float32 of them: x / 32768, what
        libsndfile gives too), or None when it is missing or damaged (then it is removed). Every entry is 16-bit
        mono PCM written by us: read with the stdlib alone."""
        path = self.path(key)
        raw = read_checked(path, key)
        if raw is None:
            self.discard(path)
        return raw

    def temporary(self, key: ClipKey) -> Path:
        """A fresh name next to the entry, made exclusively, for a worker to write into before commit()."""
        import tempfile  # here: a run whose clips are all cached makes none

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
            if not entry.name.startswith("."):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime >= limit:
                    continue
                if entry.name.endswith(".tmp" + WORK_SUFFIX) and entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed += 1
                elif entry.name.endswith((".tmp", ".tmp.raw")):  # .tmp.raw: left by versions before 2
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                pass  # gone already, or not ours to remove
        return removed

    def commit(self, temporary: Path, key: ClipKey) -> int | None:
        """Move a written clip into place; its length, or None (and it is removed) if it is not sound."""
        frames = wav_length(temporary, key)
        if frames is None:
            self.discard(temporary)
            return None
        os.replace(temporary, self.path(key))
        return frames

    def discard(self, path: Path) -> None:
        """Remove an entry or a temporary (whatever it is: a link or a FIFO at its name goes too), with the
        folder a worker killed mid-utterance may have left beside a temporary."""
        cachefiles.remove(path)
        work = path.with_name(path.name + WORK_SUFFIX)
        if os.path.isdir(work) and not os.path.islink(work):
            shutil.rmtree(work, ignore_errors=True)

    def evict(self) -> list[Path]:
        """Keep the clips within `max_bytes` (least recently used out first); see cachefiles.evict."""
        return cachefiles.evict(self.root, (".wav",), self.max_bytes)

    def load_record(self, name: list[Any]) -> dict[str, Any] | None:
        """A small JSON record stored under `name` (voice resolutions), or None (also when it was stored under
        another name: each record carries its own)."""
        blob = cachefiles.read_entry(self._record_path(name), 1 << 16)
        try:
            record = json.loads(blob) if blob is not None else None
        except ValueError:
            return None
        if not isinstance(record, dict) or record.get("key") != [FORMAT_VERSION, *name]:
            return None
        return record

    def store_record(self, name: list[Any], record: dict[str, Any]) -> None:
        """Keep a record for load_record(); best effort: a record that cannot be written (a full disk) is
        simply not kept, and leaves no temporary file behind."""
        blob = json.dumps({**record, "key": [FORMAT_VERSION, *name]}, ensure_ascii=False).encode("utf-8")
        try:
            cachefiles.write_entry(self._record_path(name), blob)
        except OSError:
            pass

    def _record_path(self, name: list[Any]) -> Path:
        return self.root / f"voice-{hashlib.sha256(_blob([FORMAT_VERSION, *name])).hexdigest()[:32]}.json"

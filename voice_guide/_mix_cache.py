"""The mixer's disk cache: final (levelled) samples of each clip, so a warm export skips levelling.

Levelling a clip to the loudness target is the costliest step of an export with a warm speech cache (several
meter passes per clip). Its result depends only on the raw samples, the target
and the code that levels them, so it is stored under a hash of those: the raw clip named by what made it and its
checksum (speech.Synthesizer.clip_id: read from the speech entry's head and end, its samples not read), the
target and this code's version. A new espeak-ng, another voice, a clip made again with other samples, a
changed loudness.py or another numpy gives new keys, never stale samples. Each entry also carries its own key,
checked on read, so an entry moved under another's name is a miss, not another clip's samples. Entries are
read, written and kept within a size bound through cachefiles; an unreadable entry is a miss (and removed).

A clip is kept twice: as float32 (`.clip`: what Vorbis encodes, and what the player scales by its volume) and
as the 16-bit PCM every other output uses (`.pcm`: pcm.pcm16 of the former). A warm WAV or MP3 export and the
player at full volume read only the second, and need no numpy at all: neither the key nor the 16-bit entry
does.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from . import cachefiles
from .pcm import to_pcm16
from .targets import TRANSPARENT_DB

if TYPE_CHECKING:
    import numpy

FORMAT_VERSION = 5  # 5: a speech clip's key names its raw clip by clip_id, no longer by a hash of its samples
# Then the entry's key (64 hex digits), the SHA-256 of the samples, then the samples (float32 or int16,
# little-endian, by the entry's kind).
_MAGIC = {".clip": b"voice-guide mixed clip 4\n", ".pcm": b"voice-guide mixed pcm16 4\n"}
_KEY_SIZE = 64
_DIGEST_SIZE = 32
ENTRY_LIMIT = 32 << 20  # bytes: six minutes of float32 samples; no clip is that long
CACHE_LIMIT = 512 << 20  # bytes of final clips kept (both forms); the least recently used go first
# Whatever can change the final samples: these modules' source and these packages' versions.
_CODE = ("loudness.py", "chime.py", "mixer.py", "pcm.py")
_PACKAGES = ("numpy",)


class MixCache:
    """Final clips under one folder, as checksummed float32 and 16-bit files named by a hash of what made them.

    >>> import numpy as np, tempfile
    >>> cache = MixCache(Path(tempfile.mkdtemp()))
    >>> key = cache.key("speech", b"what made the clip", loudness=-19.0)
    >>> cache.get(key) is None
    True
    >>> cache.put(key, np.full(4, 0.5, dtype=np.float32))
    >>> cache.get(key).tolist(), cache.get_pcm16(key)
    ([0.5, 0.5, 0.5, 0.5], b'\\x00@\\x00@\\x00@\\x00@')
    """

    def __init__(self, root: Path, max_bytes: int = CACHE_LIMIT):
        self.root = root
        self.max_bytes = max_bytes
        self._code: str | None = None
        self._added = False

    def key(self, kind: str, made: bytes, *, loudness: float, limit_db: float = TRANSPARENT_DB) -> str:
        """The name of the final clip made from the raw clip that `made` names (its clip_id: different whenever its
        samples are) with these settings by this version of the code."""
        parts = [FORMAT_VERSION, self._code_version(), kind, float(loudness), float(limit_db),
                 hashlib.sha256(made).hexdigest()]
        return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()

    def get(self, key: str) -> "numpy.ndarray | None":
        """The stored clip (read-only float32), or None when missing or damaged (its key and checksum are
        verified, so an entry of another clip or samples changed in place are caught, not played)."""
        body = self._read(key, ".clip", 4)
        if body is None:
            return None
        import numpy as np

        samples = np.frombuffer(body, dtype="<f4")
        samples.setflags(write=False)
        return samples

    def get_pcm16(self, key: str) -> bytes | None:
        """The stored clip as 16-bit little-endian PCM (what pcm.to_pcm16 makes of get()), or None (as get)."""
        return self._read(key, ".pcm", 2)

    def has(self, key: str) -> bool:
        """Whether both forms of the clip are stored, as regular files of a sound size (their contents are checked
        when read: get and get_pcm16). Anything else at their names (a link, a FIFO) is made again."""
        return all(self._is_entry(key, suffix) for suffix in _MAGIC)

    def has_pcm16(self, key: str) -> bool:
        """Whether the clip's 16-bit form is stored (as has())."""
        return self._is_entry(key, ".pcm")

    def _is_entry(self, key: str, suffix: str) -> bool:
        try:
            status = os.lstat(self._path(key, suffix))
        except OSError:
            return False
        return stat.S_ISREG(status.st_mode) and status.st_size <= ENTRY_LIMIT

    def put(self, key: str, samples: "numpy.ndarray") -> None:
        """Store a clip in both forms; a cache that cannot be written is only slower, never an error."""
        import numpy as np

        self._write(key, ".clip", np.ascontiguousarray(samples, dtype="<f4").tobytes())
        self._write(key, ".pcm", to_pcm16(samples))

    def put_pcm16(self, key: str, pcm: bytes) -> None:
        """Store only the 16-bit form of a clip (one made without numpy: the chime), as put() does."""
        self._write(key, ".pcm", pcm)

    def _write(self, key: str, suffix: str, body: bytes) -> None:
        try:
            if not self._added:
                cachefiles.private_folder(self.root)
            cachefiles.write_entry(self._path(key, suffix),
                                   _MAGIC[suffix] + key.encode("ascii") + hashlib.sha256(body).digest() + body)
        except OSError:
            return
        self._added = True

    def evict(self) -> None:
        """Keep the folder within its bound, if this cache added anything (see cachefiles.evict)."""
        if self._added:
            cachefiles.evict(self.root, tuple(_MAGIC), self.max_bytes)

    def _read(self, key: str, suffix: str, width: int) -> bytes | None:
        """An entry's samples, checked against its key and checksum; a damaged entry is removed."""
        path = self._path(key, suffix)
        data = cachefiles.read_entry(path, ENTRY_LIMIT)
        if data is None:
            return None
        magic = _MAGIC[suffix]
        head = len(magic) + _KEY_SIZE + _DIGEST_SIZE
        body = data[head:]
        if (
            not data.startswith(magic)
            or data[len(magic):len(magic) + _KEY_SIZE] != key.encode("ascii")
            or len(body) % width
            or hashlib.sha256(body).digest() != data[len(magic) + _KEY_SIZE:head]
        ):
            cachefiles.remove(path)
            return None
        return body

    def _path(self, key: str, suffix: str = ".clip") -> Path:
        return self.root / f"{key}{suffix}"

    def _code_version(self) -> str:
        if self._code is None:
            here = Path(__file__).parent
            digest = hashlib.sha256()
            for name in _CODE:
                digest.update((here / name).read_bytes())
            for package in _PACKAGES:
                digest.update(cachefiles.package_stamp(package))
            self._code = digest.hexdigest()
        return self._code


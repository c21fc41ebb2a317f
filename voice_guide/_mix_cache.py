"""The mixer's disk cache: final (levelled) samples of each clip, so a warm export skips levelling.

Levelling a clip to the loudness target is the costliest step of an export with a warm speech cache (several
meter passes per clip). Its result depends only on the raw samples, the target
and the code that levels them, so it is stored under a hash of exactly those: a new espeak-ng, a
changed loudness.py or another numpy gives new keys, never stale samples. Each entry also carries its own key,
checked on read, so an entry moved under another's name is a miss, not another clip's samples. Entries are
read, written and kept within a size bound through cachefiles; an unreadable entry is a miss (and removed).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from . import cachefiles
from .targets import TRANSPARENT_DB

if TYPE_CHECKING:
    import numpy

FORMAT_VERSION = 3
# Then the entry's key (64 hex digits), the SHA-256 of the samples, then the samples (float32, little-endian).
_MAGIC = b"voice-guide mixed clip 3\n"
_KEY_SIZE = 64
_DIGEST_SIZE = 32
ENTRY_LIMIT = 32 << 20  # bytes: six minutes of float32 samples; no clip is that long
CACHE_LIMIT = 512 << 20  # bytes of final clips kept; the least recently used go first
# Whatever can change the final samples: these modules' source and these packages' versions.
_CODE = ("loudness.py", "chime.py", "mixer.py")
_PACKAGES = ("numpy",)


class MixCache:
    """Final clips under one folder, as checksummed float32 files named by a hash of what made them.

    >>> import numpy as np, tempfile
    >>> cache = MixCache(Path(tempfile.mkdtemp()))
    >>> raw = np.ones(4, dtype=np.float32)
    >>> key = cache.key("speech", raw, loudness=-19.0)
    >>> cache.get(key) is None
    True
    >>> cache.put(key, raw * 0.5)
    >>> cache.get(key).tolist()
    [0.5, 0.5, 0.5, 0.5]
    """

    def __init__(self, root: Path, max_bytes: int = CACHE_LIMIT):
        self.root = root
        self.max_bytes = max_bytes
        self._code: str | None = None
        self._added = False

    def key(self, kind: str, raw: "numpy.ndarray", *, loudness: float, limit_db: float = TRANSPARENT_DB) -> str:
        """The name of the final clip made from `raw` with these settings by this version of the code."""
        import numpy as np

        content = hashlib.sha256(np.ascontiguousarray(raw, dtype="<f4").tobytes()).hexdigest()
        parts = [FORMAT_VERSION, self._code_version(), kind, float(loudness), float(limit_db), content]
        return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()

    def get(self, key: str) -> "numpy.ndarray | None":
        """The stored clip (read-only float32), or None when missing or damaged (its key and checksum are
        verified, so an entry of another clip or samples changed in place are caught, not played)."""
        import numpy as np

        data = cachefiles.read_entry(self._path(key), ENTRY_LIMIT)
        if data is None:
            return None
        head = len(_MAGIC) + _KEY_SIZE + _DIGEST_SIZE
        body = data[head:]
        if (
            not data.startswith(_MAGIC)
            or data[len(_MAGIC):len(_MAGIC) + _KEY_SIZE] != key.encode("ascii")
            or len(body) % 4
            or hashlib.sha256(body).digest() != data[len(_MAGIC) + _KEY_SIZE:head]
        ):
            cachefiles.remove(self._path(key))
            return None
        samples = np.frombuffer(body, dtype="<f4")
        samples.setflags(write=False)
        return samples

    def put(self, key: str, samples: "numpy.ndarray") -> None:
        """Store a clip; a cache that cannot be written is only slower, never an error."""
        import numpy as np

        body = np.ascontiguousarray(samples, dtype="<f4").tobytes()
        try:
            if not self._added:
                cachefiles.private_folder(self.root)
            cachefiles.write_entry(self._path(key), _MAGIC + key.encode("ascii") + hashlib.sha256(body).digest() + body)
        except OSError:
            return
        self._added = True

    def evict(self) -> None:
        """Keep the folder within its bound, if this cache added anything (see cachefiles.evict)."""
        if self._added:
            cachefiles.evict(self.root, (".clip",), self.max_bytes)

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.clip"

    def _code_version(self) -> str:
        if self._code is None:
            here = Path(__file__).parent
            digest = hashlib.sha256()
            for name in _CODE:
                digest.update((here / name).read_bytes())
            for package in _PACKAGES:
                digest.update(_package_stamp(package))
            self._code = digest.hexdigest()
        return self._code


def _package_stamp(name: str) -> bytes:
    """What identifies an installed package's version, found without importing it.

    Its version.py where it has one (numpy), else its top-level sources.
    importlib.metadata would do, but costs more than the rest of a warm export's cache lookups together.
    """
    from importlib.util import find_spec

    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return f"{name}: not installed;".encode()
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = [folder / "version.py"] if (folder / "version.py").is_file() else sorted(folder.glob("*.py"))
    digest = hashlib.sha256(name.encode())
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()

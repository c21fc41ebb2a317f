"""What `play`'s opening found, kept so that starting the same routine again sounds its chime at once.

Before its chime, opening.start loads the routine (PyYAML), checks its length and works out the chime's level
(the compiler, num2words) and computes its samples: most of the time to the first sound. Started again on the
same files with the same options it finds the same. So once an opening has passed all of that, its outcome is
kept (the chime's 16-bit PCM, what the settings file says) under a key made of everything else it depends on;
the next start with the same key plays the chime from here, importing none of those, and cli then loads the
routine from the very bytes checked here (Opening.text) while the chime sounds. As checkmemo, whose entries
and checks this shares, it trusts only what it can see:

- the key: the options that decide the chime and the checks (the routine argument, --voice, --rate, --volume,
  --engine, --no-chime; not --timing-log, --force or --no-keys), the working folder (a relative routine path),
  where the settings file is, the interpreter, voice-guide's own files and the installed packages
  (checkmemo.code);
- what it read, checked again before the chime: the routine file's contents (sha256: mtimes are not enough)
  and the settings file's, or that there is none.

An entry lives in the cache folder (`openings/`), read and written as every cache entry is (cachefiles: no
links, bounded sizes, whole or absent), its PCM checked against its own hash; the entries are bounded to
OPENINGS_MAX_BYTES in all. One that is damaged, of another format or for other files is not used (and the
opening that runs instead replaces it). Stdlib, cachefiles and checkmemo only: this is the quick path.
"""

from __future__ import annotations

import os
import stat
import sys
from collections import namedtuple
from pathlib import Path

from . import checkmemo
from .checkmemo import sha256  # hashlib's built-in one, without OpenSSL

TYPE_CHECKING = False  # `typing` costs ~6 ms on the path to the first sound (see checkmemo)
if TYPE_CHECKING:
    from typing import Any, Mapping

FORMAT = 3  # changes whenever an entry's layout or the key's contents change
ENTRY_LIMIT = 256 * 1024  # bytes: the chime is 35 kB of PCM, kept as bytes (marshal writes them as they are)
OPENINGS_MAX_BYTES = 4 * 1024 * 1024  # all entries together (about 55 routine and option sets); LRU first
FOLDER = "openings"
# The options of `play` that decide the chime or the checks before it (the others only change what follows).
DECIDING = ("routine", "--voice", "--rate", "--volume", "--engine", "--no-chime")


class Recalled(namedtuple("Recalled", ("pcm", "routine", "text", "listen", "sensitivity"))):
    """A kept opening whose files are unchanged: the chime's PCM (bytes), the routine file (as loader names it)
    and its bytes as they were checked just now, and the settings file's `listen` (bool | None) and
    `sensitivity` (float | None)."""

    __slots__ = ()


def recall(options: Mapping[str, Any], settings_path: Path, cache_root: Path, found: str | None = None
           ) -> Recalled | None:
    """The opening kept for these `play` options (opening._parse's) if nothing it read has changed; else None.
    `found`: their key(), when it is known already."""
    found = key(options, settings_path) if found is None else found
    return _recalled(checkmemo.read_memo(cache_root / FOLDER, found, FORMAT, ENTRY_LIMIT))


def answer(data: bytes, found: str) -> Recalled | None:
    """The opening in `data`, record()'s bytes for the key `found` made by another process (opening's forked
    check), checked as a kept one is: None when it is not whole, or anything it read has changed since."""
    return _recalled(checkmemo.memo_entry(data, found, FORMAT))


def _recalled(entry: dict[str, Any] | None) -> Recalled | None:
    if entry is None:
        return None
    try:
        pcm = entry["pcm"]
        if type(pcm) is not bytes or not pcm or len(pcm) % 2 or sha256(pcm).hexdigest() != entry["pcm_sha256"]:
            return None
        routine, size = str(entry["routine"]), int(entry["size"])
        text = contents(routine, size=size)
        # Read once here: the bytes that are hashed are the bytes cli parses (a change since is not seen).
        if text is None or sha256(text).hexdigest() != entry["sha256"]:
            return None
        listen, sensitivity = entry["listen"], entry["sensitivity"]
        if listen not in (None, False) or not (sensitivity is None or isinstance(sensitivity, (int, float))):
            return None
        return Recalled(pcm, routine, text, listen, None if sensitivity is None else float(sensitivity))
    except (ValueError, KeyError, TypeError):
        return None  # damaged or foreign


def settings_read(settings_path: Path) -> dict[str, Any] | None:
    """What an entry keeps of the settings file (checked again before the entry is used: checkmemo.unchanged):
    its contents' hash, or that there is none; None when it is not a regular file (nothing to keep)."""
    if not os.path.lexists(settings_path):
        return {"exists": os.fspath(settings_path), "is": False}
    found = checkmemo.digest(settings_path)
    return None if found is None else {"file": os.fspath(settings_path), "sha256": found}


def record(found: str, settings: dict[str, Any], *, routine: str, text: bytes, pcm: bytes, listen: bool | None,
           sensitivity: float | None) -> bytes:
    """The entry that keeps an opening that passed, for the key `found` (key()), as its file holds it:
    `settings` is settings_read() of the settings file, `routine` the file it loaded (loader.inputs) and `text`
    the bytes it loaded from it (so what is kept is what was checked), `pcm` the chime it played, `listen` and
    `sensitivity` what the settings file said."""
    return checkmemo.memo_bytes({
        "format": FORMAT, "key": found, "reads": [settings],
        "routine": routine, "size": len(text), "sha256": sha256(text).hexdigest(),
        "pcm": bytes(pcm), "pcm_sha256": sha256(pcm).hexdigest(),
        "listen": listen, "sensitivity": sensitivity,
    })


def keep(cache_root: Path, found: str, data: bytes) -> None:
    """Keep record()'s `data` of the key `found`; a cache folder that cannot be used just means nothing is
    kept."""
    checkmemo.keep_memo(cache_root / FOLDER, found, data, ENTRY_LIMIT, OPENINGS_MAX_BYTES)


def key(options: Mapping[str, Any], settings_path: Path) -> str:
    """The hash of everything besides the files read that the opening of `play` with `options` depends on."""
    try:
        here = os.getcwd()
    except OSError:
        here = None  # a relative routine path then fails to load anyway
    interpreter = [sys.executable, sys.version, sys.flags.utf8_mode]
    material = [FORMAT, [[name, options.get(name)] for name in DECIDING], here, os.fspath(settings_path),
                interpreter, checkmemo.code()]
    return sha256(repr(material).encode("utf-8", "surrogateescape")).hexdigest()  # as checkmemo.key: no json


def contents(path: str | os.PathLike, *, size: int | None = None, limit: int | None = None) -> bytes | None:
    """The bytes of the regular file at `path` (never through a link, never waiting on a FIFO), at most `limit`;
    with `size`, only if it holds exactly that many. None for anything else."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(size + 1 if size is not None else -1 if limit is None else limit)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return data if size is None or len(data) == size else None

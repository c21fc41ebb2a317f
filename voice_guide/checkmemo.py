"""What `check` printed, kept so that checking an unchanged routine again costs a look, not a compile.

`voice-guide check` reads YAML, compiles the routine and asks the speech cache how long each line is; run again
on the same files it would print exactly the same thing. So each run's output (both streams, in order, and the
exit status) is kept under a key made of everything the output can depend on, and the next run with the same
key prints it again without importing YAML, the compiler or the engine (`launch.py` looks before anything else
is imported). Like make or mypy, it trusts only what it can see:

- the key: the command line, the working folder, the environment variables (all but `_` and `OLDPWD`), the
  interpreter and its flags, the output streams' encodings, voice-guide's own files (names, sizes, modification
  times) and the installed packages (the names in site-packages: a package's folder carries its version);
- what the run read, each checked again before the output is reused: every routine file's contents, every
  folder's list of routine files, whether a bundled name is also a file in the working folder (a warning says
  so), and espeak-ng's data files (its voices decide which voice a request gets).

Only runs that ended normally (good or bad routines, exit 0 or 2) with the default engine are kept; a run that
needed a temporary speech cache (a full disk), that read a routine from something other than a regular file,
or that used Piper is not. Entries live in the cache folder (`checks/`), are read and written as every cache
entry is (cachefiles: no links, bounded sizes, whole or absent) and are bounded to CHECKS_MAX_BYTES in all.

Builtin modules and cachefiles only: this module is on the path that must stay quick, where `re` (imported by
json, glob and pathlib) would cost a third of a reprinted check, and hashlib's load of OpenSSL a sixth. So an
entry is marshal's form of its dict (the format of Python's own .pyc caches; the key holds the interpreter's
version), after a magic line and the sha256 of that body, which is checked before the body is read; the key is
the sha256 of the repr of what it is made of; and the SHA-256 is the one hashlib itself falls back to.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys

from . import cachefiles

try:  # hashlib's own built-in SHA-256, without hashlib: it loads OpenSSL first (~11 M instructions)
    if sys.version_info >= (3, 12):
        from _sha2 import sha256
    else:
        from _sha256 import sha256
except ImportError:  # a Python built without them: hashlib's, the same function
    from hashlib import sha256

TYPE_CHECKING = False  # `typing` costs ~8 ms on the path that must stay quick: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any, TextIO

FORMAT = 2  # changes whenever an entry's layout or the key's contents change
ENTRY_LIMIT = 4 * 1024 * 1024  # bytes: a larger output (a thousand-step routine) is simply not kept
CHECKS_MAX_BYTES = 16 * 1024 * 1024  # all entries together; the least recently used go first
SUFFIX = ".memo"
_OLD_SUFFIXES = (".json",)  # entries of earlier formats, evicted like the rest
_MAGIC = b"voice-guide memo\n"  # then the sha256 of the body, then the body (marshal)
_DIGEST_SIZE = 32
# The whole environment is part of the key (a variable may steer voice-guide, Python or a library), except what
# a shell changes between two identical commands.
_VOLATILE = {"_", "OLDPWD"}
_PACKAGE = os.path.dirname(os.path.realpath(__file__))


class Recorder:
    """Collects one `check` run's output and what it read, and keeps them if the run may be repeated.

    `streams` are wrapped by `watch`; `file`, `folder`, `exists` and `data_files` name what was read;
    `forget` says this run must not be kept."""

    def __init__(self, argv: list[str]):
        self._key = key(argv)
        self._chunks: list[list[Any]] = []  # [stream number, text], in the order written
        self._reads: list[dict[str, Any]] = []
        self._keep = self._key is not None

    def watch(self, stream: TextIO, number: int) -> TextIO:
        """`stream`, with everything written to it also recorded."""
        return _Copying(stream, number, self._chunks)

    def file(self, path: str | os.PathLike) -> None:
        if not is_regular(path):
            self.forget()  # a FIFO or a device is read once; a link may change under it
        self._reads.append({"file": os.fspath(path), "sha256": digest(path)})

    def folder(self, path: str | os.PathLike) -> None:
        """A folder of routines: any change to the names in it (which files are routines is the api's rule, not
        restated here) means the check is run again."""
        self._reads.append({"folder": os.fspath(path), "names": _names(os.fspath(path))})

    def exists(self, path: str) -> None:
        self._reads.append({"exists": path, "is": os.path.lexists(path)})

    def data_files(self, patterns: tuple[str, ...]) -> None:
        self._reads += [{"glob": pattern, "found": _stats(pattern)} for pattern in patterns]

    def forget(self) -> None:
        self._keep = False

    def save(self, status: int, cache_root: str | os.PathLike) -> None:
        """Keep the run (exit 0 or 2 only); a cache folder that cannot be used just means nothing is kept."""
        if not self._keep or status not in (0, 2) or not all(unchanged(read) for read in self._reads):
            return  # (a file that changed while it was checked: the output may be of either version)
        write_memo(os.path.join(cache_root, "checks"), {"format": FORMAT, "key": self._key, "reads": self._reads,
                                           "status": status, "output": self._chunks}, ENTRY_LIMIT, CHECKS_MAX_BYTES)


def recall(argv: list[str], cache_root: str | os.PathLike) -> tuple[int, list[tuple[int, str]]] | None:
    """(exit status, [(stream number, text), ...]) that `check argv` printed when nothing it depends on differs
    from now; None when it has to run."""
    found = key(argv)
    if found is None:
        return None
    entry = read_memo(os.path.join(cache_root, "checks"), found, FORMAT, ENTRY_LIMIT)
    try:
        if entry is None or entry["status"] not in (0, 2):
            return None
        output = [(int(number), str(text)) for number, text in entry["output"] if number in (1, 2)]
        return entry["status"], output
    except (ValueError, KeyError, TypeError):
        return None  # damaged or foreign: the run simply happens (and replaces it)


def read_memo(folder: str | os.PathLike, found: str, layout: int, limit: int) -> dict[str, Any] | None:
    """The entry `found` of a memo kept in `folder` (checks/, openings/) when it is whole, of this `layout`, for
    this key, and everything it read is unchanged; None otherwise (then it is simply made again)."""
    try:
        status = os.lstat(folder)
    except OSError:
        return None
    if not (stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid() and not status.st_mode & 0o077):
        return None  # not a private folder of ours: nothing in it is trusted
    return memo_entry(cachefiles.read_entry(os.path.join(folder, f"{found}{SUFFIX}"), limit), found, layout)


def memo_entry(data: bytes | None, found: str, layout: int) -> dict[str, Any] | None:
    """The entry in `data` (memo_bytes' form, as read from a memo's file or sent by another process) when it is
    whole, of this `layout`, for the key `found`, and everything it read is unchanged; None otherwise."""
    start = len(_MAGIC) + _DIGEST_SIZE
    if data is None or not data.startswith(_MAGIC) or sha256(data[start:]).digest() != data[len(_MAGIC):start]:
        return None  # damaged (or of another layout): marshal is never given bytes that are not whole
    try:
        entry = marshal.loads(data[start:])
        if entry["format"] == layout and entry["key"] == found and all(unchanged(read) for read in entry["reads"]):
            return entry
    except (ValueError, EOFError, KeyError, TypeError, AttributeError):
        pass  # foreign
    return None


def write_memo(folder: str | os.PathLike, entry: dict[str, Any], limit: int, max_bytes: int) -> None:
    """Keep `entry` (with its "key"; str, bytes, int, float, None, list and dict values) in `folder`, within
    `max_bytes` in all; a cache folder that cannot be used just means nothing is kept."""
    keep_memo(folder, entry["key"], memo_bytes(entry), limit, max_bytes)


def memo_bytes(entry: dict[str, Any]) -> bytes:
    """`entry` as a memo's file holds it (read back by memo_entry)."""
    body = marshal.dumps(entry)
    return _MAGIC + sha256(body).digest() + body


def keep_memo(folder: str | os.PathLike, found: str, data: bytes, limit: int, max_bytes: int) -> None:
    """Keep the entry `data` (memo_bytes' form) of the key `found` in `folder`, as write_memo does."""
    if len(data) > limit:
        return
    try:
        cachefiles.write_entry(os.path.join(cachefiles.private_folder(folder), f"{found}{SUFFIX}"), data)
        cachefiles.evict(folder, (SUFFIX, *_OLD_SUFFIXES), max_bytes)
    except (OSError, cachefiles.UnsafeFolder):
        pass


def key(argv: list[str]) -> str | None:
    """The hash of everything outside the files read that `check argv` prints from; None when there is no
    working folder (it was removed) or a standard stream is closed."""
    try:
        here = os.getcwd()
        for descriptor in (0, 1, 2):
            os.fstat(descriptor)
    except OSError:
        return None
    streams = [(getattr(s, "encoding", None), _isatty(s)) for s in (sys.stdout, sys.stderr)]
    environment = sorted((name, value) for name, value in os.environ.items() if name not in _VOLATILE)
    interpreter = [sys.executable, sys.version, repr(sys.flags), sys.warnoptions, sorted(sys._xoptions.items())]
    material = [FORMAT, argv, here, environment, streams, interpreter, code()]
    return sha256(repr(material).encode("utf-8", "surrogateescape")).hexdigest()


def code() -> list[Any]:
    """voice-guide's own files (name, size, time) and the names in each site-packages folder."""
    own = []
    package = os.fspath(_PACKAGE)
    for folder, subfolders, names in os.walk(package):
        subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
        inside = folder[len(package) + 1:]  # os.walk joins each folder to the package's: relpath's answer, not its cost
        for name in sorted(names):
            try:
                status = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            own.append([os.path.join(inside, name), status.st_size, status.st_mtime_ns])
    installed = []
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            try:
                installed.append([entry, sorted(os.listdir(entry))])
            except OSError:
                continue
    return [own, installed]


def unchanged(read: dict[str, Any]) -> bool:
    """Whether what a memo saw (one of Recorder's reads) is still so."""
    if "file" in read:
        return digest(read["file"]) == read["sha256"]
    if "folder" in read:
        return _names(read["folder"]) == read["names"]
    if "exists" in read:
        return os.path.lexists(read["exists"]) == read["is"]
    if "glob" in read:
        return _stats(read["glob"]) == read["found"]
    return False


def _names(folder: str) -> list[str] | None:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return None


def digest(path: str | os.PathLike) -> str | None:
    """sha256 of a regular file's contents; None for anything else (absent, a FIFO, unreadable)."""
    if not is_regular(path):
        return None
    try:
        digest = sha256()
        with open(path, "rb") as file:
            while chunk := file.read(1 << 16):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return None


def _stats(pattern: str) -> list[list[Any]]:
    found = []
    for path in matches(pattern):
        try:
            status = os.stat(path)
        except OSError:
            continue
        found.append([path, status.st_size, status.st_mtime_ns])
    return found


def matches(pattern: str) -> list[str]:
    """What sorted(glob.glob(pattern)) finds, for an absolute `pattern` whose only wildcards are whole `*`
    components (as espeak-ng's data folders are named), without glob's import of `re`.

    >>> import tempfile
    >>> top = tempfile.mkdtemp()
    >>> for name in ("b", "a", ".hidden"):
    ...     os.makedirs(os.path.join(top, name, "data"))
    >>> matches(os.path.join(top, "*", "data")) == [os.path.join(top, "a", "data"), os.path.join(top, "b", "data")]
    True
    """
    if not os.path.isabs(pattern) or any(c in part for part in pattern.split(os.sep) if part != "*" for c in "*?["):
        raise ValueError(f"not an absolute pattern of whole '*' components: {pattern!r}")
    found = [os.sep]
    for part in pattern.split(os.sep)[1:]:
        if part == "*":  # as glob: every name in the folder but hidden ones
            found = [os.path.join(folder, name) for folder in found for name in _names(folder) or ()
                     if not name.startswith(".")]
        elif part:
            found = [os.path.join(folder, part) for folder in found]
    return sorted(path for path in found if os.path.lexists(path))


def is_regular(path: str | os.PathLike) -> bool:
    try:
        return os.path.isfile(path) and not os.path.islink(path)
    except (OSError, ValueError):
        return False


def _isatty(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Copying:
    """A text stream that also records what is written to it."""

    def __init__(self, stream: TextIO, number: int, chunks: list[list[Any]]):
        self._stream, self._number, self._chunks = stream, number, chunks

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if self._chunks and self._chunks[-1][0] == self._number:
            self._chunks[-1][1] += text
        else:
            self._chunks.append([self._number, text])
        return written

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

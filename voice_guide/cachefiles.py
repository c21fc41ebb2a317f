"""Files of the disk caches, handled as a shared or hostile folder deserves: the one place that makes cache
folders, reads and writes entries, and keeps the caches' size bounded.

- Folders are made 0700 whatever the umask (as XDG asks); a folder of ours found open to others is closed again,
  and one that is not a plain folder owned by us (a link, another user's) is refused, so nobody can plant files.
- An entry is read only if it is a regular file (never through a link, never a FIFO or a device) of a bounded
  size; anything else at an entry's name is removed and counts as missing.
- Entries are written to a fresh exclusive temporary name (mkstemp) and moved into place, so a reader sees a
  whole entry or none, and no name is ever opened that someone could have prepared.
- Each read marks its entry as used (its modification time), and `evict` removes the least recently used
  entries once a folder holds more than its bound, and every entry unused for a long time.
"""

from __future__ import annotations

import _thread
import atexit
import errno
import os
import stat
import time

TYPE_CHECKING = False  # pathlib and hashlib cost a reprinted `check` (see checkmemo) ~14 ms: os.path does here
if TYPE_CHECKING:
    from pathlib import Path

PRIVATE = 0o700
UNUSED_SECONDS = 90 * 24 * 3600.0  # an entry unused this long is removed by the next eviction


def default_root() -> Path:
    """The caches' folder (default_folder) as a Path."""
    from pathlib import Path  # not at the top: a reprinted `check` names the folder with default_folder alone

    return Path(default_folder())


def default_folder() -> str:
    """The caches' folder: $XDG_CACHE_HOME/voice-guide, else ~/.cache/voice-guide.

    XDG says a relative XDG_CACHE_HOME is to be ignored. An empty or relative HOME is no home (the account's own
    is asked for instead), and neither is "/": then a folder of this user's in the temporary folder (refused,
    like any cache folder, if someone else made it first).
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):
        return os.path.join(base, "voice-guide")
    home = os.environ.get("HOME", "")
    if not os.path.isabs(home):
        try:
            import pwd

            home = pwd.getpwuid(os.getuid()).pw_dir
        except (ImportError, KeyError):
            home = ""
    if os.path.isabs(home) and os.path.normpath(home) != os.sep:
        return os.path.join(home, ".cache", "voice-guide")
    import tempfile  # only here and in write_entry: it costs a `check` that is reprinted (see checkmemo) ~10 ms

    return os.path.join(tempfile.gettempdir(), f"voice-guide-cache-{os.getuid()}")


class UnsafeFolder(OSError):
    """A cache folder that is not a plain folder of ours: a link, someone else's, or not a folder at all."""


def private_folder(path: str | os.PathLike) -> str | os.PathLike:
    """Make `path` and its missing parents with mode 0700 (whatever the umask); an existing `path` must be a
    plain folder owned by us, and is made 0700 if it is open to others. Returns `path`.

    >>> import tempfile
    >>> folder = private_folder(os.path.join(tempfile.mkdtemp(), "a", "b"))
    >>> oct(os.stat(folder).st_mode & 0o777), oct(os.stat(os.path.dirname(folder)).st_mode & 0o777)
    ('0o700', '0o700')
    """
    missing = []
    probe = os.fspath(path)
    while not os.path.lexists(probe) and probe != os.path.dirname(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE)
        except FileExistsError:
            pass  # made by a run beside us; checked below like any other
        else:
            os.chmod(folder, PRIVATE)  # a umask may have taken bits off, even the owner's
    status = os.lstat(path)
    if not stat.S_ISDIR(status.st_mode):
        raise UnsafeFolder(errno.ENOTDIR, "not a folder (it may be a link)", str(path))
    if status.st_uid != os.geteuid():
        raise UnsafeFolder(errno.EPERM, "it belongs to another user", str(path))
    if stat.S_IMODE(status.st_mode) != PRIVATE:
        os.chmod(path, PRIVATE)
    return path


def read_entry(path: str | os.PathLike, limit: int) -> bytes | None:
    """The bytes of a cache entry, or None when it is missing or not a regular file of at most `limit` bytes
    (then whatever is at its name is removed). A read marks the entry as just used.

    >>> read_entry("/no/such/entry", 100) is None
    True
    """
    opened = _open_entry(path, limit)
    if opened is None:
        return None
    fd, size = opened
    try:
        chunks, left = [], size
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        try:
            os.utime(fd)  # used now: the least recently used entries are the first to go
        except OSError:
            pass  # a read-only cache is still a cache
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_head(path: str | os.PathLike, size: int, limit: int) -> tuple[bytes, int] | None:
    """The first `size` bytes of an entry and its whole size, under read_entry's rules (without marking it used).

    >>> read_head("/no/such/entry", 10, 100) is None
    True
    """
    return _reading(path, limit, lambda fd, whole: (os.read(fd, size), whole))


def read_ends(path: str | os.PathLike, size: int, tail: int, limit: int) -> tuple[bytes, bytes, int] | None:
    """The first `size` and the last `tail` bytes of an entry, and its whole size, under read_head's rules: what
    a header and a trailer say, without reading what lies between.

    >>> read_ends("/no/such/entry", 10, 4, 100) is None
    True
    """
    return _reading(path, limit, lambda fd, whole: (os.read(fd, size), os.pread(fd, tail, max(0, whole - tail)), whole))


def _reading(path: str | os.PathLike, limit: int, read):
    """read(descriptor, size) on the entry opened as _open_entry opens it; None when it cannot be read."""
    opened = _open_entry(path, limit)
    if opened is None:
        return None
    fd, whole = opened
    try:
        return read(fd, whole)
    except OSError:
        return None
    finally:
        os.close(fd)


def _open_entry(path: str | os.PathLike, limit: int) -> tuple[int, int] | None:
    """An open descriptor on the entry and its size, only if it is a regular file (never through a symbolic
    link) of at most `limit` bytes; anything else at its name is removed. The caller closes the descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:  # a symbolic link: never followed
            remove(path)
        return None
    try:
        status = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
        os.close(fd)
        remove(path)
        return None
    return fd, status.st_size


def write_entry(path: str | os.PathLike, data: bytes) -> None:
    """Put `data` at `path` atomically, through a fresh exclusive temporary file next to it (OSError if the
    folder refuses, e.g. a full disk, or once end_writes has run; the temporary is never left behind).

    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "entry")
    >>> write_entry(target, b"abc"); open(target, "rb").read()
    b'abc'
    """
    import tempfile

    folder, name = os.path.split(os.fspath(path))
    with _WRITING:
        if _ENDED[0]:
            raise OSError(errno.ECANCELED, "this process is ending: no cache entry is written now", os.fspath(path))
        fd, temporary = tempfile.mkstemp(prefix=f".{name[:16]}.", suffix=".tmp", dir=folder or os.curdir)
        _LIVE.add(temporary)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)  # fails (OSError) if end_writes removed the temporary first: nothing is lost
    except BaseException:
        remove(temporary)
        raise
    finally:
        with _WRITING:
            _LIVE.discard(temporary)


# Entries are written by background threads too (the mixer's levelling, speech), which are daemons: when the
# process ends they are stopped wherever they are, possibly between making a temporary file and renaming it. So
# every temporary being written is known here, and the way out (atexit; a forced exit or an export worker's end
# call end_writes themselves) removes them and refuses new ones.
_WRITING = _thread.allocate_lock()
_LIVE: set[str] = set()  # temporaries being written now
_ENDED = [False]  # end_writes has run: nothing more is written


def end_writes() -> None:
    """Remove the temporary files of the entries being written now, and refuse to write any more: the last
    thing done before this process ends (an entry that was being written is simply missing next time)."""
    locked = _WRITING.acquire(timeout=1.0)  # a writer stuck inside mkstemp does not hold the exit back
    try:
        _ENDED[0] = True
        for temporary in list(_LIVE):
            remove(temporary)
        _LIVE.clear()
    finally:
        if locked:
            _WRITING.release()


atexit.register(end_writes)


def remove(path: str | os.PathLike) -> None:
    """Remove a file (or a link, or a FIFO) if it is there; a failure leaves it for the next run."""
    try:
        os.unlink(path)
    except OSError:
        pass


def evict(folder: str | os.PathLike, suffixes: tuple[str, ...], max_bytes: int, *,
          unused: float = UNUSED_SECONDS) -> list[Path]:
    """Remove the entries of `folder` (files ending in one of `suffixes`) unused for `unused` seconds, then the
    least recently used until the rest hold at most `max_bytes`; return what was removed.

    >>> evict("/no/such/folder", (".wav",), 1)
    []
    """
    from pathlib import Path  # here, not at the top: see TYPE_CHECKING above (an eviction follows a write)

    try:
        entries = []
        with os.scandir(folder) as scan:
            for entry in scan:
                if entry.name.endswith(suffixes) and entry.is_file(follow_symlinks=False):
                    status = entry.stat(follow_symlinks=False)
                    entries.append((status.st_mtime, status.st_size, Path(entry.path)))
    except OSError:
        return []
    entries.sort()  # oldest use first
    total = sum(size for _, size, _ in entries)
    too_old = time.time() - unused
    removed = []
    for used, size, path in entries:
        if used >= too_old and total <= max_bytes:
            break
        remove(path)
        removed.append(path)
        total -= size
    return removed


def package_stamp(name: str, version_file: str = "version.py") -> bytes:
    """What identifies an installed package's version, found without importing it (part of cache keys).

    Its `version_file` where it has one (numpy's version.py, mutagen's __init__.py), else its top-level sources.
    importlib.metadata would do, but costs more than the rest of a warm export's cache lookups together.

    >>> package_stamp("no_such_package")
    b'no_such_package: not installed;'
    """
    import hashlib  # here, not at the top: see TYPE_CHECKING above (no reprinted check needs a package's stamp)
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return f"{name}: not installed;".encode()
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = [folder / version_file] if (folder / version_file).is_file() else sorted(folder.glob("*.py"))
    digest = hashlib.sha256(name.encode())
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()

"""Publishing output files atomically: written next to the destination under a temporary name, then moved in.

Nobody ever sees a half-written file at the destination: not after a crash, not after Ctrl+C, not when the
disk fills up. Without `force` an existing file is never replaced, also when it appears while we write; with
`force` only a regular file is, never a device, a FIFO, a socket, a folder or a symbolic link.

A temporary file is locked (`flock`) by the process writing it for as long as it lives, so a later run can tell
a leftover of a killed export from one still being written, whatever process namespace or machine it runs in.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, Iterable, Mapping

from .errors import OutputError, VoiceGuideError
from .printable import printable

PARTIAL_MARK = ".voice-guide-partial-"
NAME_MAX = 255  # bytes in one file name on every common file system
# An unlocked partial file this young may be one that its writer has just created and not yet locked.
_UNLOCKED_GRACE_SECONDS = 2.0
_LIVE: set[Path] = set()  # temporary files this process is writing (removed by remove_live_partials)


def partial_path(destination: Path, pid: int | None = None) -> Path:
    """The temporary name a destination is written under: hidden, recognisable, owned by one process.

    A name too long to carry the mark is shortened, with a hash of the whole name so two never share one.

    >>> partial_path(Path("out/arch.mp3"), 42)
    PosixPath('out/.arch.mp3.voice-guide-partial-42')
    >>> len(partial_path(Path("x" * 250 + ".mp3"), 42).name.encode())
    255
    """
    tail = f"{PARTIAL_MARK}{os.getpid() if pid is None else pid}"
    name = destination.name
    if len(os.fsencode(f".{name}{tail}")) <= NAME_MAX:
        return destination.with_name(f".{name}{tail}")
    import hashlib  # only here: loading OpenSSL costs `play` ~11 M instructions before its chime (timing log)

    marker = "~" + hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
    while len(os.fsencode(f".{name}{marker}{tail}")) > NAME_MAX:
        name = name[:-1]
    return destination.with_name(f".{name}{marker}{tail}")


_KINDS = {
    stat.S_IFLNK: "a symbolic link", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device",
    stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket",
}


def check_destination(destination: Path, *, force: bool) -> None:
    """Raise OutputError unless `destination` can be written: its folder exists, and it does not (or `force`,
    and it is a regular file).

    >>> check_destination(Path("/no/such/folder/a.wav"), force=False)
    Traceback (most recent call last):
    ...
    voice_guide.errors.OutputError: folder /no/such/folder does not exist; create it or choose another output path
    >>> check_destination(Path("/dev/null"), force=True)
    Traceback (most recent call last):
    ...
    voice_guide.errors.OutputError: /dev/null is a device, not a regular file: voice-guide never replaces one, even with --force
    """
    folder = destination.parent
    if len(os.fsencode(destination.name)) > NAME_MAX:
        raise OutputError(f"{printable(str(destination))}: the file name is longer than {NAME_MAX} bytes; "
                          "choose a shorter one")
    if not folder.is_dir():
        raise OutputError(f"folder {printable(str(folder))} does not exist; create it or choose another output path")
    try:
        status = os.lstat(destination)
    except FileNotFoundError:
        return
    except OSError as error:
        raise OutputError(f"cannot write {printable(str(destination))}: {error.strerror}") from error
    if stat.S_ISDIR(status.st_mode):
        raise OutputError(f"{printable(str(destination))} is a folder; give a file name to write")
    if not stat.S_ISREG(status.st_mode):
        kind = _KINDS.get(stat.S_IFMT(status.st_mode), "not a regular file")
        raise OutputError(f"{printable(str(destination))} is {kind}, not a regular file: voice-guide never "
                          "replaces one, even with --force")
    if not force:
        raise OutputError(f"{printable(str(destination))} exists; use --force to overwrite")


def check_destinations(
    destinations: Mapping[str, Path], *, force: bool, inputs: Iterable[Path] = (), new_folders: Iterable[Path] = ()
) -> None:
    """check_destination() for each, and no two the same file, and none of them a file being read (`inputs`).

    `destinations` maps how the user named each (e.g. "-o", "--transcript") to its path; files inside one of
    `new_folders` that does not exist yet (it will be made) are checked against the others only.

    >>> check_destinations({"-o": Path("/tmp/a.vtt"), "--transcript": Path("/tmp/./a.vtt")}, force=True)
    Traceback (most recent call last):
    ...
    voice_guide.errors.OutputError: -o and --transcript both name /tmp/a.vtt; give each output its own name
    """
    seen: dict[tuple, str] = {}
    for label, path in destinations.items():
        key = _identity(path)
        if key in seen:
            raise OutputError(f"{seen[key]} and {label} both name {printable(str(path))}; "
                              "give each output its own name")
        seen[key] = label
    read = {_identity(path) for path in inputs}
    made = set(new_folders)
    for label, path in destinations.items():
        if _identity(path) in read:
            raise OutputError(f"{label} {printable(str(path))} is the routine being read; choose another output name")
        if path.parent in made and not path.parent.exists():
            continue
        check_destination(path, force=force)


def _identity(path: Path) -> tuple:
    """What makes two paths the same file: the real folder and the name, or the inode of an existing file."""
    try:
        status = os.stat(path)
        return ("inode", status.st_dev, status.st_ino)
    except OSError:
        return ("name", os.path.realpath(path.parent), path.name)


def _lock(fd: int) -> None:
    """Hold an exclusive lock on an open temporary file; file systems without locks get none."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
            raise


def _is_abandoned(path: Path) -> bool:
    """Whether a partial file is a leftover: a regular file nobody holds the lock of (and not one just made)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            return False  # not ours: leave it alone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its writer is alive, wherever it runs
        except OSError:
            return False  # no locks here: nothing can be told apart, so nothing is removed
        # A writer creates its file empty and locks it at once, before writing anything: an empty young file
        # may be in that instant, unless the process named in it is gone (as far as this namespace can tell).
        if status.st_size > 0 or time.time() - status.st_mtime > _UNLOCKED_GRACE_SECONDS:
            return True
        pid = path.name.rsplit(PARTIAL_MARK, 1)[-1]
        return pid.isdigit() and not _pid_alive(int(pid))
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists here (signal 0 only checks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process: alive
    return True


def clean_stale_partials(folder: Path) -> list[Path]:
    """Remove temporary files in `folder` left by voice-guide runs that no longer write them; return them.

    >>> clean_stale_partials(Path("/no/such/folder"))
    []
    """
    removed = []
    try:
        candidates = list(folder.glob(f".*{PARTIAL_MARK}*"))
    except OSError:
        return removed
    for path in candidates:
        if path in _LIVE or not _is_abandoned(path):
            continue
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass  # another run cleaned it first
        except OSError:
            pass  # not ours to remove
    return removed


def remove_live_partials() -> None:
    """Remove every temporary file this process is writing: the last thing done before a forced exit."""
    for path in list(_LIVE):
        try:
            path.unlink()
        except OSError:
            pass


def no_space_error(destination: Path) -> VoiceGuideError:
    """The one message for a full disk, whatever layer noticed it."""
    return VoiceGuideError(
        f"no space left on the device holding {printable(str(destination.parent))} while writing "
        f"{printable(destination.name)}; "
        "nothing was written. Free some space or choose another folder."
    )


_NEARLY_FULL = 1 << 20  # bytes: a write that fails with this little room left failed for want of room


def is_no_space(error: BaseException, folder: Path | None = None) -> bool:
    """Whether an exception means the disk is full.

    An OSError says so by its errno; libsndfile only says "System error.", so for anything else the folder's
    free space decides.
    """
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "no space left" in str(error).lower():
        return True
    if folder is None:
        return False
    import shutil  # only where used: with tempfile, ~15 M instructions before `play`'s chime (its timing log)

    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL
    except OSError:
        return False


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry lives in the folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported here (e.g. Windows): the data itself is synced already
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a closed file's data to the disk before it is published."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(temporary: Path, destination: Path, *, force: bool) -> None:
    """Move a finished temporary file to `destination` in one step; without `force`, never replace a file, and
    even with it, only a regular file (checked again now: something else may have appeared meanwhile).

    >>> publish(Path("/no/such/.a.wav.voice-guide-partial-1"), Path("/no/such/a.wav"), force=False)
    Traceback (most recent call last):
    ...
    FileNotFoundError: [Errno 2] No such file or directory: ...
    """
    if force:
        check_destination(destination, force=True)
        os.replace(temporary, destination)
    else:
        _publish_no_clobber(temporary, destination)
    _fsync_folder(destination.parent)


def _publish_no_clobber(temporary: Path, destination: Path) -> None:
    """A hard link fails if the destination exists, so a file that appeared meanwhile is never replaced."""
    try:
        os.link(temporary, destination)
    except FileExistsError:
        raise OutputError(f"{printable(str(destination))} exists; use --force to overwrite") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        _publish_by_reservation(temporary, destination)  # a file system without hard links (FAT, some mounts)
        return
    temporary.unlink()


def _publish_by_reservation(temporary: Path, destination: Path) -> None:
    """Claim the name with an exclusive create, then rename over our own empty placeholder."""
    try:
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise OutputError(f"{printable(str(destination))} exists; use --force to overwrite") from None
    os.close(fd)
    try:
        os.replace(temporary, destination)
    except BaseException:
        destination.unlink(missing_ok=True)  # our placeholder: never leave an empty file behind
        raise


class AtomicDestination:
    """Context manager: `temporary` to write to; published on success, removed on any exception.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with AtomicDestination(folder / "note.txt") as temp:
    ...     _ = temp.write_text("hello")
    >>> (folder / "note.txt").read_text()
    'hello'
    """

    def __init__(self, destination: str | os.PathLike[str], *, force: bool = False):
        self.destination = Path(destination)
        self.force = force
        self.temporary = partial_path(self.destination)
        self._later: ExitStack | None = None
        self._fd: int | None = None  # the temporary, open and locked while it lives

    def __enter__(self) -> Path:
        self._prepare()
        try:
            _LIVE.add(self.temporary)
            # Created here, not by the encoder, so a folder we may not write to gets a real reason, not
            # libsndfile's bare "System error"; exclusively, never through a link someone put there.
            self._fd = os.open(
                self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666
            )
            _lock(self._fd)
            return self.temporary  # inside the try: an interrupt before the `with` block starts is caught below
        except BaseException as error:
            # __exit__ never runs when __enter__ raises, so a Ctrl+C or SIGTERM landing right after the file
            # was created must remove it here.
            self.discard()
            if not isinstance(error, OSError):
                raise
            if is_no_space(error):
                raise no_space_error(self.destination) from error
            raise OutputError(
                f"cannot write {printable(self.destination.name)} in {printable(str(self.destination.parent))}: "
                f"{error.strerror}"
            ) from error

    def open(self, mode: str = "w", **kw) -> IO:
        """The temporary file as a Python file object on the descriptor made in __enter__ (never reopened by
        name, so nobody can swap it meanwhile); closing it leaves the lock held."""
        if self._fd is None:
            raise RuntimeError("AtomicDestination.open() called outside its `with` block")
        return open(self._fd, mode, closefd=False, **kw)  # noqa: SIM115 - the caller closes it

    def _prepare(self) -> None:
        """Before the temporary is made: the destination is checked, and leftovers of killed runs removed."""
        check_destination(self.destination, force=self.force)
        clean_stale_partials(self.destination.parent)
        try:
            if stat.S_ISREG(os.lstat(self.temporary).st_mode):
                self.temporary.unlink()  # our own leftover (same pid: an earlier attempt of this process)
        except OSError:
            pass

    def publish_later(self, stack: ExitStack) -> None:
        """Finish into the temporary file only; publish when `stack` closes without an error (else discard).

        Several files can so appear together, or none of them: `split.export_split` uses it.
        """
        self._later = stack

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.discard()
            if exc is not None and is_no_space(exc) and not isinstance(exc, VoiceGuideError):
                raise no_space_error(self.destination) from exc
            return
        try:
            fsync_file(self.temporary)
        except BaseException:
            self.discard()
            raise
        if self._later is not None:
            self._later.push(self._exit_later)
            return
        self._publish()

    def _exit_later(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self._publish()
        else:
            self.discard()
        return False  # never swallow the error that stopped the group

    def _publish(self) -> None:
        try:
            self._move_into_place()
        except BaseException as error:
            self.discard()
            if is_no_space(error):
                raise no_space_error(self.destination) from error
            raise
        self._release()

    def _move_into_place(self) -> None:
        publish(self.temporary, self.destination, force=self.force)

    def discard(self) -> None:
        """Remove the temporary file, if any."""
        try:
            self.temporary.unlink()
        except OSError:
            pass  # gone already, or the folder refused it in the first place
        self._release()

    def _release(self) -> None:
        """Let go of the temporary's lock, once it is published or removed."""
        _LIVE.discard(self.temporary)
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class StreamDestination(AtomicDestination):
    """Like AtomicDestination, for a stream (standard output): the file is finished in a private temporary
    folder and copied to `stream` only when complete, so a failure or a stop writes nothing to it.

    >>> import io
    >>> out = io.BytesIO()
    >>> with StreamDestination(out) as temp:
    ...     _ = temp.write_bytes(b"RIFF")
    >>> out.getvalue()
    b'RIFF'
    """

    def __init__(self, stream: BinaryIO, name: str = "standard output"):
        import tempfile  # here: only a file for standard output needs a folder of its own

        self._stream = stream
        self._folder = Path(tempfile.mkdtemp(prefix="voice-guide-"))  # 0700: nobody else can look or swap
        super().__init__(self._folder / name.replace(os.sep, "_"), force=False)
        self.destination = Path(name)

    def _prepare(self) -> None:
        pass

    def _move_into_place(self) -> None:
        import shutil

        with open(self.temporary, "rb") as finished:
            shutil.copyfileobj(finished, self._stream, 1 << 20)
        self._stream.flush()
        self.discard()

    def discard(self) -> None:
        super().discard()
        try:
            self._folder.rmdir()
        except OSError:
            pass


def write_text_atomic(
    path: str | os.PathLike[str], text: str, *, force: bool = False, group: ExitStack | None = None
) -> None:
    """Write a text file (UTF-8, "\\n" line ends) atomically, refusing to overwrite without `force`.

    With `group`, the file is only published when the group closes without an error (see publish_later).

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.vtt"
    >>> write_text_atomic(target, "WEBVTT\\n")
    >>> target.read_text()
    'WEBVTT\\n'
    """
    destination = AtomicDestination(path, force=force)
    if group is not None:
        destination.publish_later(group)
    with destination:
        with destination.open("w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

"""Publishing output files atomically: written next to the destination under a temporary name, then moved in.

Nobody ever sees a half-written file at the destination: not after a crash, not after Ctrl+C, not when the
disk fills up. Without `force` an existing file is never replaced, also when it appears while we write.
"""

from __future__ import annotations

import errno
import os
import shutil
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Callable

from .errors import OutputError, VoiceGuideError

PARTIAL_MARK = ".voice-guide-partial-"


def partial_path(destination: Path, pid: int | None = None) -> Path:
    """The temporary name a destination is written under: hidden, recognisable, owned by one process.

    >>> partial_path(Path("out/arch.mp3"), 42)
    PosixPath('out/.arch.mp3.voice-guide-partial-42')
    """
    return destination.with_name(f".{destination.name}{PARTIAL_MARK}{os.getpid() if pid is None else pid}")


def check_destination(destination: Path, *, force: bool) -> None:
    """Raise OutputError unless `destination` can be written: its folder exists, and it does not (or `force`).

    >>> check_destination(Path("/no/such/folder/a.wav"), force=False)
    Traceback (most recent call last):
    ...
    voice_guide.errors.OutputError: folder /no/such/folder does not exist; create it or choose another output path
    """
    folder = destination.parent
    if not folder.is_dir():
        raise OutputError(f"folder {folder} does not exist; create it or choose another output path")
    if destination.is_dir():
        raise OutputError(f"{destination} is a folder; give a file name to write")
    if not force and (destination.exists() or destination.is_symlink()):
        raise OutputError(f"{destination} exists; use --force to overwrite")


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 only checks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def clean_stale_partials(folder: Path, *, alive: Callable[[int], bool] = _pid_alive) -> list[Path]:
    """Remove temporary files in `folder` left by voice-guide processes that no longer run; return them.

    >>> clean_stale_partials(Path("/no/such/folder"))
    []
    """
    removed = []
    try:
        candidates = list(folder.glob(f".*{PARTIAL_MARK}*"))
    except OSError:
        return removed
    for path in candidates:
        pid_text = path.name.rsplit(PARTIAL_MARK, 1)[-1]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or alive(int(pid_text)):
            continue
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass  # another run cleaned it first
    return removed


def no_space_error(destination: Path) -> VoiceGuideError:
    """The one message for a full disk, whatever layer noticed it."""
    return VoiceGuideError(
        f"no space left on the device holding {destination.parent} while writing {destination.name}; "
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
    """Move a finished temporary file to `destination` in one step; without `force`, never replace a file.

    >>> publish(Path("/no/such/.a.wav.voice-guide-partial-1"), Path("/no/such/a.wav"), force=True)
    Traceback (most recent call last):
    ...
    FileNotFoundError: [Errno 2] No such file or directory: ...
    """
    if force:
        os.replace(temporary, destination)
    else:
        _publish_no_clobber(temporary, destination)
    _fsync_folder(destination.parent)


def _publish_no_clobber(temporary: Path, destination: Path) -> None:
    """A hard link fails if the destination exists, so a file that appeared meanwhile is never replaced."""
    try:
        os.link(temporary, destination)
    except FileExistsError:
        raise OutputError(f"{destination} exists; use --force to overwrite") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        _publish_by_reservation(temporary, destination)  # a file system without hard links (FAT, some mounts)
        return
    temporary.unlink()


def _publish_by_reservation(temporary: Path, destination: Path) -> None:
    """Claim the name with an exclusive create, then rename over our own empty placeholder."""
    try:
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise OutputError(f"{destination} exists; use --force to overwrite") from None
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

    def __enter__(self) -> Path:
        check_destination(self.destination, force=self.force)
        clean_stale_partials(self.destination.parent)
        try:
            self.temporary.unlink(missing_ok=True)  # our own leftover from an earlier failed attempt
            # Created here, not by the encoder, so a folder we may not write to gets a real reason, not
            # libsndfile's bare "System error".
            os.close(os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return self.temporary  # inside the try: an interrupt before the `with` block starts is caught below
        except BaseException as error:
            # __exit__ never runs when __enter__ raises, so a Ctrl+C or SIGTERM landing right after the file
            # was created must remove it here.
            try:
                self.temporary.unlink(missing_ok=True)
            except OSError:
                pass  # the folder refused the file in the first place
            if not isinstance(error, OSError):
                raise
            if is_no_space(error):
                raise no_space_error(self.destination) from error
            raise OutputError(
                f"cannot write {self.destination.name} in {self.destination.parent}: {error.strerror}"
            ) from error

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
            publish(self.temporary, self.destination, force=self.force)
        except BaseException as error:
            self.discard()
            if is_no_space(error):
                raise no_space_error(self.destination) from error
            raise

    def discard(self) -> None:
        """Remove the temporary file, if any."""
        try:
            self.temporary.unlink()
        except FileNotFoundError:
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
    with destination as temporary:
        with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

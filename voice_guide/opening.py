"""`play`'s opening chime, sounded before the pipeline is imported.

The chime that opens a routine needs no speech: its samples are computed, and its level follows from the
script alone (compiler.routine_targets). So `voice-guide play` loads and checks the routine, opens the sound
device and starts the chime from here, with only the light modules that needs (no numpy, no speech engine, not
the CLI); the rest is imported, the voice resolved and the first lines made while the chime sounds. The
scheduler then takes the chime as the timeline's first sound, at the time it really started (Scheduler.run's
`started`), so everything after it keeps its place, and the timing log shows it as played.

Only a plain `play` starts here: a command line this module does not fully understand, a routine or option
that is wrong, `--listen` (here or in the settings file), `--start-at`, another engine or no chime, and nothing
is started; cli does all of it as before, errors included (exit 2, nothing played). The timing log is opened
here, before the chime, as api.play would open it.

Once an opening has passed, openingmemo keeps what it found: started again with the same options on the same
files (the routine's and the settings file's contents), the chime is played from the memo before PyYAML, the
loader, the compiler or num2words are imported (openingcheck, which imports them, is imported only when the
memo has nothing), and cli loads the routine from the bytes the memo checked (`Opening.text`) while the chime
sounds.
"""

from __future__ import annotations

import _thread
import os
import signal
import time
from collections import namedtuple
from pathlib import Path

from . import cachefiles, openingmemo, user_settings
from .errors import AudioDeviceError
from .routine import DEFAULT_ENGINE, RATE_RANGE, VOLUME_RANGE
from .user_settings import UserSettings

TYPE_CHECKING = False  # `typing` is not imported before the fork: the check's child needs none of it
if TYPE_CHECKING:  # the sink is imported in start, after a forked check has begun
    from typing import Callable, NoReturn, Sequence

    from .audio_sink import Sink

# The signals that stop voice-guide (cli._STOPPED says how each is reported). From the chime until cli has put
# its handlers in place they are held back (blocked), then delivered: a Ctrl+C while the pipeline is imported
# stops the run as one at any other moment does, with the timing log closed and no traceback.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_FLAGS = ("--no-keys", "--force", "--no-chime")
_VALUED = ("--timing-log", "--voice", "--rate", "--volume", "--engine")


class Opening(namedtuple("Opening", ("routine", "text", "settings", "log", "sink", "started", "held"),
                         defaults=(False,))):
    """What the opening did for cli and api.play: the routine it loaded (Routine | None; None: started from the
    memo, then `text` holds the routine file's bytes as checked, for cli to load), what the settings file says
    (UserSettings), the timing log it opened (None: not asked for), the sink, the chime started on it (Started;
    None: the device refused it; the scheduler plays it again, and reports the failure as it always does), and
    `held`: the stop signals are blocked until let_stops_in. A named tuple, not a frozen dataclass: its class is
    made before the fork, on the forked check's path, where a dataclass's generated methods cost ~4 M
    instructions to compile (as compiler's Sound)."""

    __slots__ = ()

    def let_stops_in(self) -> None:
        """Deliver the stop signals held back since the chime (cli calls this once its handlers are in place)."""
        if self.held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def start(argv: Sequence[str], open_sink: Callable[[], Sink] | None = None, clock=time.perf_counter,
          cache_root: Path | None = None, *, fork: bool = False) -> Opening | None:
    """Start the opening chime of `voice-guide play ...` (`argv` without the program's name); None when this
    command line is not one to start here (see the module's docstring), and then nothing was started.
    `open_sink`: the sound device (default: SimpleaudioSink); `cache_root`: where the memo is kept (default: the
    caches' folder); `fork`: a check the memo cannot answer runs in a forked process (_Check) while this one
    imports the sink and opens it."""
    options = _parse(argv)
    if options is None:
        return None
    check = None
    try:
        try:
            root = cache_root or cachefiles.default_root()
            where = user_settings.path()
            found = openingmemo.key(options, where)
            recalled = openingmemo.recall(options, where, root, found)
            checked = None
            if recalled is None:
                check = _Check.fork(options, where, found) if fork else None
                if check is None and (checked := _checked_here(options, where)) is None:
                    return None
            # Not at the top: a forked check runs meanwhile, and needs neither (nor the timing log's modules).
            from .audio_sink import SimpleaudioSink
            from .scheduler import Started
            from .timing_log import open_log

            sink = (open_sink or SimpleaudioSink)()
            if check is not None:
                recalled = openingmemo.answer(check.answer(), found)
                if recalled is None and (not check.left_here() or (checked := _checked_here(options, where)) is None):
                    return None
            if recalled is not None:
                routine, text, pcm, inputs = None, recalled.text, recalled.pcm, [Path(recalled.routine)]
                settings, loaded = UserSettings(recalled.listen, recalled.sensitivity), None
            else:
                routine, settings, pcm, inputs, loaded = checked
                text = None
            log = None
            if "--timing-log" in options:
                log = open_log(Path(options["--timing-log"]), force="--force" in options, inputs=inputs)
        except Exception:  # noqa: BLE001 - a bad input or anything else: cli meets the same and reports it
            return None
        held = _hold_stops()
        actual = clock()
        try:
            sink.play(pcm)
            started = Started(pcm, actual, clock())
        except AudioDeviceError:
            started = None
        # After the chime has started, off its path: the memo keeps what the check found (as the child sent it).
        if check is not None:
            check.end()
        if check is not None and check.answered:
            openingmemo.keep(root, found, check.answered)
        elif routine is not None and inputs and loaded is not None and (read := openingmemo.settings_read(where)):
            openingmemo.keep(root, found, openingmemo.record(found, read, routine=str(inputs[0]), text=loaded,
                                                             pcm=pcm, listen=settings.listen,
                                                             sensitivity=settings.sensitivity))
        return Opening(routine, text, settings, log, sink, started, held)
    finally:
        if check is not None:
            check.end()  # however this ends: the child is never left running, nor unreaped


def _checked_here(options: dict, where: Path):
    """openingcheck.checked, in this process."""
    from . import openingcheck  # only on a miss: it imports PyYAML, the compiler and num2words

    return openingcheck.checked(options, where)


class _Check:
    """The opening's check run in a child process (os.fork, on the other core) while the parent imports and
    opens the sound device; the child sends what a memo entry holds (openingmemo.record's bytes) on a pipe, or
    nothing (not one to start here, or wrong: cli says why), and ends with os._exit: no atexit handler
    (cachefiles.end_writes would remove the parent's temporaries), no inherited stdio buffer flushed, no file
    written. The parent always reaps it: after the chime, when anything fails, and when a stop signal ends the
    parent during the check (SIGTERM and SIGHUP end it as before, once the child is gone; a Ctrl+C raises as
    before, and the child, in the same process group, ends with it)."""

    LEFT_HERE = 3  # the child's exit status: the settings file is not a regular file (not read there)

    def __init__(self, pid: int, reader: int):
        self._pid, self._reader = pid, reader
        self._reaped: int | None = None  # the child's exit status once reaped (-1: killed by a signal)
        self._handlers: dict[int, object] = {}
        self.answered = b""

    @classmethod
    def fork(cls, options: dict, where: Path, found: str) -> _Check | None:
        """The check forked; None where that cannot be done (no fork, a thread already running, no pipe or no
        process to be had): then it is done in this process."""
        if not hasattr(os, "fork") or _threads():
            return None
        try:
            reader, writer = os.pipe()
        except OSError:
            return None
        held = _hold_stops()  # no stop between the fork and each side's handlers
        try:
            pid = os.fork()
        except OSError:
            os.close(reader)
            os.close(writer)
            pid = None
        if pid == 0:
            _child(options, where, found, reader, writer)
        check = None
        if pid is not None:
            os.close(writer)
            check = cls(pid, reader)
            for signum in STOP_SIGNALS:  # a Ctrl+C raises KeyboardInterrupt, and start's caller reaps
                if signum != signal.SIGINT and signal.getsignal(signum) == signal.SIG_DFL:
                    check._handlers[signum] = signal.signal(signum, check._stopped)
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return check

    def answer(self) -> bytes:
        """What the child sent, once it has ended (an empty answer: nothing to start, or it failed)."""
        chunks = []
        while chunk := os.read(self._reader, 1 << 17):
            chunks.append(chunk)
        self.answered = b"".join(chunks)
        self._let_stops_be()
        return self.answered

    def left_here(self) -> bool:
        """Whether the child left the check to this process (it reads no settings file that is not a regular one)."""
        return self._reap() == self.LEFT_HERE

    def end(self) -> None:
        """The child killed if it still runs, and reaped; the stop signals as they were."""
        self._let_stops_be()
        if self._reader is not None:
            os.close(self._reader)
            self._reader = None
        if self._reaped is None:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    def _reap(self) -> int:
        if self._reaped is None:
            try:
                _, status = os.waitpid(self._pid, 0)
                self._reaped = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self._reaped = -1
        return self._reaped

    def _let_stops_be(self) -> None:
        while self._handlers:
            signum, handler = self._handlers.popitem()
            signal.signal(signum, handler)

    def _stopped(self, signum: int, _frame) -> None:
        """A stop signal's default action (this process ends), once the child has gone."""
        self.end()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _threads() -> int:
    """How many threads besides this one run (a fork copies only the calling thread: none may hold a lock)."""
    return _thread._count()


def _child(options: dict, where: Path, found: str, reader: int, writer: int) -> NoReturn:
    """The forked check: its answer written to `writer`; never returns (os._exit)."""
    status = 1
    try:
        os.close(reader)
        for signum in STOP_SIGNALS:  # ended by a stop at once, with no traceback (none is ignored that was not)
            if signal.getsignal(signum) != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        status = _answer(options, where, found, writer)
    finally:
        os._exit(status)


def _answer(options: dict, where: Path, found: str, writer: int) -> int:
    """The child's work: check, and write the entry that keeps what it found; its exit status."""
    from . import openingcheck  # in the child only: the parent imports the sink meanwhile

    read = openingmemo.settings_read(where)  # before the settings are loaded: a change since is seen
    if read is None:
        return _Check.LEFT_HERE  # not a regular file: read once, by the parent
    checked = openingcheck.checked(options, where)
    if checked is None or checked[4] is None:  # nothing to start, or a routine the memo cannot keep
        return 0
    routine, settings, pcm, inputs, loaded = checked
    data = memoryview(openingmemo.record(found, read, routine=str(inputs[0]), text=loaded, pcm=pcm,
                                         listen=settings.listen, sensitivity=settings.sensitivity))
    while data:
        data = data[os.write(writer, data):]
    os.close(writer)  # the end of the answer now, not once this process's memory is released
    return 0


def _hold_stops() -> bool:
    """Block the stop signals in this thread (and the threads it starts); False where that cannot be done."""
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _parse(argv: Sequence[str]) -> dict | None:
    """The options of a `play` command line in the plain forms argparse reads the same way, checked as cli
    checks them; None for anything else (cli then reads it, and says what is wrong)."""
    if not argv or argv[0] != "play":
        return None
    found: dict = {}
    words = list(argv[1:])
    while words:
        word = words.pop(0)
        name, equals, value = word.partition("=")
        if word in _FLAGS and word not in found:
            found[word] = True
        elif name in _VALUED and name not in found:
            if not equals:
                if not words or words[0].startswith("-"):
                    return None
                value = words.pop(0)
            checked = _value(name, value)
            if checked is None:
                return None
            found[name] = checked
        elif not word.startswith("-") and "routine" not in found:
            found["routine"] = word
        else:
            return None
    return found


def _value(name: str, text: str):
    """The option's value as cli's parser gives it, or None when that parser would refuse it."""
    try:
        if name == "--rate":
            rate = int(text)
            return rate if RATE_RANGE[0] <= rate <= RATE_RANGE[1] else None
        if name == "--volume":
            volume = float(text)
            return volume if VOLUME_RANGE[0] < volume <= VOLUME_RANGE[1] else None
    except ValueError:
        return None
    if name == "--engine":
        return text if text == DEFAULT_ENGINE else None
    return text

"""The command line: parses arguments into options, runs one command, turns errors into exit codes.

This is the only place that prints errors and picks exit codes; everything below raises.
"""

from __future__ import annotations

import _thread
import argparse
import dataclasses
import io
import json
import math
import os
import queue
import shlex
import signal
import sys
import threading
import time
import traceback
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import __version__, api, bundled, cachefiles, checkmemo, compiler, formats
from .api import Settings
from ._espeak_engine import DATA_GLOBS as ESPEAK_DATA_GLOBS
from ._speech_process import kill_all_workers
from .atomicfile import check_destinations, partial_path, remove_live_partials
from .cpus import usable_cpus
from .env import Environment
from .errors import BadInputError, NoAudioDeviceError, OutputStreamError, VoiceGuideError
from .printable import printable
from .phrases import phrases_for
from .routine import DEFAULT_ENGINE, DEFAULT_LOUDNESS, ENGINE_NAMES, LOUDNESS_RANGE, RATE_RANGE, VOLUME_RANGE, Routine, Voice
from .speech import voice_lists
from .voices import VoiceList
from .timefmt import clock

if TYPE_CHECKING:
    from .opening import Opening

# Only `play`, `check --listen` and `listen-test` import listening, hearing, the microphone and the user's
# settings (in their functions below): an export or a check loads none of the player's modules.


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    BAD_INPUT = 2
    HANGUP = 129
    CTRL_C = 130
    BROKEN_PIPE = 141  # the reader of our output went away (`check arch | head -1`): as a SIGPIPE death says
    TERMINATED = 143


# Commands whose whole result goes to standard output: with it closed they cannot do their job.
_PRINTING_COMMANDS = ("check", "list", "voices", "schema")


class Terminated(BaseException):
    """SIGTERM (or SIGHUP: the terminal was closed) arrived: unwind like Ctrl+C so temporary files are removed."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum


class _CtrlC(KeyboardInterrupt):
    """Ctrl+C, as _Stops raises it: a KeyboardInterrupt of its own class, because CPython (3.11) remembers one of
    its own class that leaves code run by exec() or eval() of a string (a dataclass's generated methods, a
    namedtuple) and, at exit, makes the process die of SIGINT instead of exiting with the status it was given."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so misuse is one plain line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInputError(f"{message} (see `{self.prog} --help`)")


def main(argv: Sequence[str] | None = None, env: Environment | None = None, opening: Opening | None = None) -> int:
    """Run voice-guide with `argv`; returns the exit status (the console script passes it to sys.exit).
    `opening`: what opening.start did for this `play` command line before this module was imported."""
    process = env is None
    env = env or _process_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    stops = _Stops(env)
    stops.install()
    try:
        if opening is not None:
            opening.let_stops_in()  # a stop since the chime began is raised here, inside this try
        args = build_parser().parse_args(_negative_values_attached(argv))
        if isinstance(env.stdout, _Closed) and args.command in _PRINTING_COMMANDS:
            raise VoiceGuideError(f"standard output is closed, so {args.command} has nowhere to print; "
                                  "give it a file or a pipe (`> out.txt`)")
        if hasattr(args, "voice"):
            args.settings = _settings(args)  # built once; every command that runs the pipeline takes it whole
        args.memo = None
        args.opening = opening
        if process and args.command == "check" and not debug:  # kept for launch.py to print next time
            args.memo = checkmemo.Recorder(argv)
            env.stdout, env.stderr = args.memo.watch(env.stdout, 1), args.memo.watch(env.stderr, 2)
        status = int(args.run(args, env) or ExitStatus.OK)
        _flush(env.stdout)
        if args.memo is not None and env.repeatable:
            args.memo.save(status, env.cache_dir)
        return status
    except BrokenPipeError:
        if process:
            _detach_stdout()
        return ExitStatus.BROKEN_PIPE
    except VoiceGuideError as error:
        if stops.first is not None or _terminal_gone(error.__context__):  # a stop's doing, or a hang-up's
            return stops.report(debug, signum=stops.first or getattr(signal, "SIGHUP", signal.SIGTERM))
        _report(env, error, debug)
        return error.exit_code
    except (KeyboardInterrupt, Terminated):
        return stops.report(debug, error=None)
    except Exception as error:  # a bug: say so plainly, the traceback is one flag away
        if stops.first is not None or _terminal_gone(error):
            # The terminal closed: writing to it fails (EIO), often before the SIGHUP itself is handled.
            return stops.report(debug, signum=stops.first or getattr(signal, "SIGHUP", signal.SIGTERM))
        if isinstance(error, MemoryError) or "can't start new thread" in str(error) or _library_without_memory(error):
            detail = (str(error).strip().splitlines() or [""])[-1].strip()  # numpy's ImportError is a page long
            _report(env, error, debug, f"not enough memory to go on ({type(error).__name__}: {detail}); is a memory "
                                       "limit set (ulimit -v)? Run with more memory")
            return ExitStatus.ERROR
        _report(env, error, debug, f"internal error: {type(error).__name__}: {error} (rerun with --debug for details)")
        return ExitStatus.ERROR
    finally:
        stops.restore()


def _library_without_memory(error: BaseException) -> bool:
    """An import that failed because its shared library could not be mapped into memory (a memory limit)."""
    text = str(error)
    return isinstance(error, ImportError) and ("failed to map segment" in text or "Cannot allocate memory" in text)


def _report(env: Environment, error: BaseException | None, debug: bool, text: str | None = None) -> None:
    try:
        if debug and error is not None:
            traceback.print_exception(type(error), error, error.__traceback__, file=env.stderr)
        message = text if text is not None else str(error)
        for line in map(printable, message.split("\n")):
            print(f"voice-guide: {line}" if not line.startswith(" ") else line, file=env.stderr)
        env.stderr.flush()
    except (OSError, ValueError, VoiceGuideError):
        pass  # stderr is gone (the terminal closed): the exit status still tells


class _Closed(io.TextIOBase):
    """Stands for a standard stream that was closed when the program started: what is written is dropped."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


class _Checked:
    """A standard stream whose failed writes (a full disk, an I/O error) are our error with a plain message;
    a closed pipe stays BrokenPipeError, which means "stop quietly"."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._checked(self._stream.write, text)

    def flush(self) -> None:
        self._checked(self._stream.flush)

    def _checked(self, operation, *args):
        try:
            return operation(*args)
        except BrokenPipeError:
            raise
        except OSError as error:
            raise OutputStreamError(f"cannot write the output: {error.strerror or error}") from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _process_environment() -> Environment:
    """The real process's streams, made safe to use. A standard stream closed at start (`2>&-`) gets
    /dev/null under its number, so no file opened later takes that number (and output meant for the terminal
    never lands in it), and it is replaced by `_Closed` (Python leaves None, and print(file=None) writes to
    stdout: warnings would end up in `check --json`). Text the terminal's encoding cannot show becomes '?'
    rather than a crash (an ISO-8859-1 locale)."""
    closed = []
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            closed.append(descriptor)
            null = os.open(os.devnull, os.O_RDWR)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)
    streams = {1: sys.stdout, 2: sys.stderr}
    for descriptor, stream in streams.items():
        if descriptor in closed or stream is None:
            streams[descriptor] = _Closed()
        else:
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="replace")
            streams[descriptor] = _Checked(stream)
    stdin = sys.stdin if 0 not in closed and sys.stdin is not None else io.StringIO()
    return Environment(stdin=stdin, stdout=streams[1], stderr=streams[2])


def _flush(stream) -> None:
    """Flushes what was printed, so a failed write (a full disk) is an error here, not lost at exit."""
    _Checked(stream).flush()


def _detach_stdout() -> None:
    """After the reader of stdout went away, points fd 1 at /dev/null so Python's flush at exit is quiet."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno() if sys.stdout is not None else 1)
        os.close(null)
    except (OSError, ValueError):
        pass


def _terminal_gone(error: BaseException | None) -> bool:
    """An error that means the terminal we read or write has gone (a hang-up)."""
    if isinstance(error, MemoryError):  # not the terminal; and importing termios may fail then for want of memory
        return False
    import errno

    try:
        import termios
    except ImportError:  # its library could not be mapped (a memory limit set): then the error is not termios's
        termios = None
    if termios is not None and isinstance(error, termios.error):
        return bool(error.args) and error.args[0] in (errno.EIO, errno.ENXIO, errno.ENOTTY)
    return isinstance(error, OSError) and error.errno in (errno.EIO, errno.ENXIO)


_STOPPED = {
    signal.SIGINT: ("stopped (Ctrl+C)", ExitStatus.CTRL_C),
    signal.SIGTERM: ("stopped (terminated)", ExitStatus.TERMINATED),
}
if hasattr(signal, "SIGHUP"):
    _STOPPED[signal.SIGHUP] = ("stopped (terminal closed)", ExitStatus.HANGUP)


class _Stops:
    """Ctrl+C (SIGINT), SIGTERM and SIGHUP stop the program by raising, so temporary files are removed on the way
    out. More of them in the next GRACE seconds are ignored, so an impatient second Ctrl+C does not cut that
    clean-up short; one after that (or a clean-up still running WATCHDOG seconds after the first) ends the
    process at once, removing this run's temporary files and speech workers first: never a hang."""

    GRACE = 2.0
    WATCHDOG = 8.0

    def __init__(self, env: Environment):
        self._env = env
        self._previous: dict = {}
        self.first: int | None = None
        self._at = 0.0
        self._reported = False
        self._watchdog: threading.Timer | None = None
        self._again = False  # the stop's exception was swallowed: raise it once more
        self._unraisable = sys.unraisablehook

    def install(self) -> None:
        self._unraisable = sys.unraisablehook
        sys.unraisablehook = self._lost
        for signum in _STOPPED:
            if signal.getsignal(signum) == signal.SIG_IGN:  # under nohup: the terminal closing is not a stop
                continue
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread (tests may call main from a thread)
                break

    def restore(self) -> None:
        sys.unraisablehook = self._unraisable
        if self._watchdog is not None:
            self._watchdog.cancel()  # main is done: what is left is the interpreter's own exit
        for signum, handler in self._previous.items():
            # After a stop, deaf to more: this process is on its way out (and a Python handler would be reset to
            # the default, dying of the signal, while the interpreter ends).
            signal.signal(signum, signal.SIG_IGN if self.first is not None else handler)

    def _handle(self, signum, frame) -> None:
        if self.first is None or self._again:
            if self.first is None:
                self.first, self._at = signum, time.monotonic()
                self._watchdog = threading.Timer(self.WATCHDOG, self._force, (signum,))
                self._watchdog.daemon = True
                self._watchdog.start()
            self._again = False
            if self.first == signal.SIGINT:
                raise _CtrlC
            raise Terminated(self.first)
        if time.monotonic() - self._at > self.GRACE:
            self._force(self.first)

    def _lost(self, unraisable) -> None:
        """sys.unraisablehook: a stop raised inside a callback Python cannot raise from (a weakref's, run by an
        import) is printed as "Exception ignored" and lost; it is raised again in the main thread instead."""
        if isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)) and self.first is not None:
            self._again = True
            # From another thread, so the main thread raises it when it next runs its own code, outside the hook
            # (interrupt_main from the main thread would run the handler here and now, and lose it again).
            _thread.start_new_thread(_interrupt_main_soon, (self.first,))  # (threading's start would wait)
            return
        self._unraisable(unraisable)

    def report(self, debug: bool, error: BaseException | None = None, signum: int | None = None) -> int:
        """Say how the run was stopped (once) and give its exit status."""
        text, status = _STOPPED.get(signum or self.first or signal.SIGTERM, _STOPPED[signal.SIGTERM])
        if not self._reported:
            self._reported = True
            _report(self._env, error, debug, text)
        return status

    def _force(self, signum: int) -> None:
        """End the process now: nothing half-written is left at any destination, no speech worker outlives it."""
        remove_live_partials()
        cachefiles.end_writes()
        kill_all_workers()
        status = self.report(False, signum=signum)
        os._exit(status)


def _interrupt_main_soon(signum: int) -> None:
    time.sleep(0.001)  # the hook that started this thread has returned by then
    _thread.interrupt_main(signum)


# --- the parser ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="voice-guide",
        description="Reads a timed routine aloud with offline speech, live or into an audio file.",
    )
    parser.add_argument("--version", action="version", version=f"voice-guide {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    play = commands.add_parser("play", help="play a routine live, hands-free")
    play.add_argument("routine", nargs="?", help="routine file or bundled name (default: arch)")
    _voice_options(play)
    play.add_argument("--start-at", type=_positive_int, metavar="STEP", help="start at step number STEP")
    play.add_argument("--timing-log", type=Path, metavar="FILE", help="write one JSON line per event played")
    play.add_argument("--no-keys", action="store_true", help="ignore the keyboard even on a terminal")
    play.add_argument("--force", action="store_true", help="let --timing-log replace an existing file")
    play.add_argument("--listen", action="store_true",
                      help="also take spoken commands from the microphone (pause, continue, next step, ...)")
    play.add_argument("--sensitivity", type=_sensitivity, metavar="0-1",
                      help="how eagerly spoken commands are taken (default 0.5)")
    play.set_defaults(run=run_play)

    export = commands.add_parser("export", help="write a routine to an audio file")
    export.add_argument("routines", nargs="*", metavar="ROUTINE", help="routine files or bundled names (default: arch)")
    export.add_argument("-o", "--output", type=str, metavar="FILE",
                        help="audio file to write (- for standard output), or a folder for several")
    export.add_argument("--format", choices=formats.AUDIO.names, help="format (default: from the extension)")
    export.add_argument("--force", action="store_true", help="overwrite existing files")
    export.add_argument("--transcript", type=Path, metavar="FILE",
                        help=f"also write a transcript ({' '.join(formats.TRANSCRIPT.extensions)})")
    export.add_argument("--split", type=Path, metavar="DIR", help="also write one file per step and a playlist")
    export.add_argument("--loudness", type=_loudness, metavar="LUFS",
                        help="target loudness of the file, {:g} to {:g} (default {:g}, the norm for mono speech)".format(
                            *LOUDNESS_RANGE, DEFAULT_LOUDNESS))
    export.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _voice_options(export)
    export.set_defaults(run=run_export)

    check = commands.add_parser("check", help="validate routines and print their timelines")
    check.add_argument("routines", nargs="*", metavar="ROUTINE", help="routine files or bundled names")
    check.add_argument("--json", action="store_true", help="print the timeline as JSON")
    check.add_argument("--listen", action="store_true", help="also warn about lines containing a spoken command")
    _voice_options(check)
    check.set_defaults(run=run_check)

    listen_test = commands.add_parser("listen-test", help="check the microphone for spoken commands; suggest a sensitivity")
    listen_test.add_argument("--seconds", type=_positive_int, default=8, help="how long to listen (default 8)")
    listen_test.add_argument("--no-save", action="store_true", help="do not save the suggested sensitivity")
    listen_test.set_defaults(run=run_listen_test)

    listing = commands.add_parser("list", help="list the bundled routines")
    listing.set_defaults(run=run_list)

    voices = commands.add_parser("voices", help="list the speech voices available")
    voices.add_argument("--json", action="store_true", help="print as JSON")
    voices.set_defaults(run=run_voices)

    schema = commands.add_parser("schema", help="print the JSON Schema of the routine format")
    schema.set_defaults(run=run_schema)
    return parser


def _voice_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=ENGINE_NAMES, help="speech engine (default: espeak-ng)")
    parser.add_argument("--voice", metavar="VOICE",
                        help="voice id, name or language tag (see `voice-guide voices`); for piper also a .onnx path")
    parser.add_argument("--rate", type=_rate, metavar="WPM", help="words per minute ({}-{})".format(*RATE_RANGE))
    parser.add_argument("--volume", type=_volume, metavar="0-1",
                        help="the live player's volume, {} to {} (exports keep their loudness)".format(*VOLUME_RANGE))
    parser.add_argument("--no-chime", action="store_true", help="no chime before each step")


_NEGATIVE_VALUED = ("--loudness",)  # options whose values are negative: '-19LUFS' must not read as an option


def _negative_values_attached(argv: list[str]) -> list[str]:
    """`--loudness -19LUFS` as `--loudness=-19LUFS`: argparse takes a value beginning with '-' for an option
    unless it is a bare number, and would say "expected one argument" instead of what is wrong with it.

    >>> _negative_values_attached(["export", "--loudness", "-19LUFS"])
    ['export', '--loudness=-19LUFS']
    """
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in _NEGATIVE_VALUED and arg.startswith("-") and arg != "--":
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _lufs(text: str) -> float:
    """A loudness as written, with or without its unit: '-20', '-20 LUFS', '-20LUFS'."""
    number = text.strip()
    if number.lower().endswith("lufs"):
        number = number[:-4].strip()
    return float(number)


def _number(convert, low: float, high: float, expected: str, outside: str):
    """An argparse type: `convert(text)` within [low, high]; the messages say what was expected."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {expected}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(outside.format(text=text, value=value))
        return value

    return parse


_positive_int = _number(int, 1, float("inf"), "a whole number", "'{text}' must be 1 or more")
_rate = _number(int, *RATE_RANGE, "a whole number of words per minute",
                "{value} is outside %d-%d words per minute" % RATE_RANGE)
_loudness = _number(_lufs, -math.inf, math.inf, "a loudness: a number of LUFS, like -20", "'{text}' is not a loudness")
_volume_in_range = _number(float, *VOLUME_RANGE, "a number from %s to %s" % VOLUME_RANGE,
                           "{value} is outside %s-%s" % VOLUME_RANGE)
_sensitivity = _number(float, 0.0, 1.0, "a number from 0.0 (strict) to 1.0 (eager)", "{value} is outside 0.0-1.0")


def _volume(text: str) -> float:
    value = _volume_in_range(text)
    if value == 0.0:
        raise argparse.ArgumentTypeError("0 is silence; give a volume above 0, up to 1.0 (full volume)")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    """The one Settings of this run, for whichever command it is."""
    return Settings(
        voice=Voice(voice=args.voice, rate=args.rate, volume=args.volume, engine=args.engine),
        chime=False if args.no_chime else None,
        loudness=getattr(args, "loudness", None),
        start_at=getattr(args, "start_at", None),
        timing_log=getattr(args, "timing_log", None),
        timing_log_force=getattr(args, "command", None) == "play" and args.force,
        keys=not getattr(args, "no_keys", False),
        listen=getattr(args, "listen", False),
    )


# --- the commands --------------------------------------------------------------------------------------------


def run_play(args: argparse.Namespace, env: Environment) -> int:
    from . import listening, user_settings

    opening = args.opening
    if opening is not None and opening.routine is not None:
        routine = opening.routine
    else:  # no opening (loaded here), or one recalled from its memo (the very bytes it checked)
        routine = api.load(args.routine, text=opening.text if opening is not None else None)
    # listen: true, sensitivity: ... (the command line wins); read once, by the opening when there was one
    saved = opening.settings if opening is not None else user_settings.load()
    settings = dataclasses.replace(
        args.settings,
        listen=args.settings.listen or bool(saved.listen),
        sensitivity=args.sensitivity if args.sensitivity is not None else (
            saved.sensitivity if saved.sensitivity is not None else listening.DEFAULT_SENSITIVITY),
    )
    try:
        api.play(routine, settings, env, opening=args.opening)
    except NoAudioDeviceError as error:
        raise NoAudioDeviceError(f"{error}; export the routine instead: {_export_instead(args, routine)}") from (
            error.__cause__
        )
    return ExitStatus.OK


def _export_instead(args: argparse.Namespace, routine: Routine) -> str:
    """The export command that gives what this play would have: the same routine and voice options, into a file
    named after the routine."""
    stem = Path(routine.source).stem if routine.source and not routine.source.startswith("<") else "routine"
    words = ["voice-guide", "export", _routine_argument(routine), "-o", shlex.quote(f"{stem}.mp3")]
    for flag, value in (("--voice", args.voice), ("--rate", args.rate), ("--volume", args.volume)):
        if value is not None:
            words += [flag, shlex.quote(str(value))]
    if args.no_chime:
        words.append("--no-chime")
    return " ".join(words)


def _routine_argument(routine: Routine) -> str:
    """How the user would name this routine on the command line (a bundled one by its name)."""
    for name in bundled.names():
        if Path(routine.source) == bundled.path(name):
            return name
    return shlex.quote(routine.source) if routine.source and not routine.source.startswith("<") else "ROUTINE"


def run_export(args: argparse.Namespace, env: Environment) -> int:
    if args.loudness is not None:
        _check_loudness(args.loudness)
    written = args.output
    args.output = Path(written) if written is not None else None
    if args.output is None and args.split is None:
        raise BadInputError("export needs -o FILE (or -o FOLDER for several routines), or --split DIR")
    routines = [api.load(name) for name in api.routine_files(args.routines)]  # all validated before any work
    to_stdout = written == "-"
    if len(routines) > 1 and args.output is not None and (to_stdout or not _names_a_folder(args.output, written)):
        raise BadInputError(f"{len(routines)} routines make {len(routines)} files: give a folder with a trailing "
                            f"slash, like -o {printable(str(args.output.with_suffix('')))}/, not the file name "
                            f"{printable(str(args.output))}")
    into_folder = args.output is not None and not to_stdout and _names_a_folder(args.output, written)
    if len(routines) > 1 or (into_folder and args.transcript is None and args.split is None):
        return _export_several(args, routines, env)
    if into_folder:  # one routine, with a transcript or parts: its file named as -o DIR/ names it
        args.output = _made_folder(args.output) / f"{Path(routines[0].source).stem}.{args.format or 'mp3'}"
    output = _standard_output(env) if to_stdout else args.output
    label = f"Exporting {'to standard output' if to_stdout else (args.output or args.split).name}"
    progress, finish = _progress_bar(env, quiet=args.quiet, label=label)
    try:
        timeline = api.export(
            routines[0],
            output,
            settings=args.settings,
            format=args.format,
            force=args.force,
            transcript=args.transcript,
            split=args.split,
            progress=progress,
            env=env,
        )
    finally:
        finish()
    for warning in timeline.warnings:
        env.warn(warning)
    if not args.quiet:
        for written in filter(None, ("standard output" if to_stdout else args.output, args.transcript, args.split)):
            print(f"wrote {written} ({clock(timeline.total_seconds)})", file=env.stderr)
    return ExitStatus.OK


def _check_loudness(target: float) -> None:
    low, high = LOUDNESS_RANGE
    if not (math.isfinite(target) and low <= target <= high):
        raise BadInputError(
            f"loudness {target:g} LUFS is out of range; choose from {low:g} to {high:g} LUFS (default {DEFAULT_LOUDNESS:g})"
        )


def _standard_output(env: Environment):
    """`-o -`: the binary side of standard output, never a terminal (audio bytes would garble it)."""
    if env.stdout_isatty:
        raise BadInputError("-o - writes audio to standard output, which is a terminal; "
                            "redirect it (-o - > routine.wav) or give a file name")
    env.stdout.flush()
    return getattr(env.stdout, "buffer", env.stdout)


def _names_a_folder(path: Path, written: str) -> bool:
    """Whether `-o` names a folder: an existing one, or one written with a trailing slash (made if missing;
    Path drops the slash, so the text as written is asked)."""
    return path.is_dir() or written.endswith(("/", os.sep))


def _usable_folder(folder: Path) -> None:
    """Refuses an -o DIR/ that is a file, or whose parent does not exist (the folder itself is made)."""
    if folder.exists() and not folder.is_dir():
        raise BadInputError(f"{printable(str(folder))} is not a folder; give a folder for several routines")
    if not folder.exists() and not folder.parent.is_dir():
        raise BadInputError(f"folder {printable(str(folder.parent))} does not exist; create it or choose another "
                            "output folder")


def _made_folder(folder: Path) -> Path:
    _usable_folder(folder)
    folder.mkdir(exist_ok=True)
    return folder


def _export_several(args: argparse.Namespace, routines: list, env: Environment) -> int:
    """Several routines into one folder, named after their files, in parallel on the machine's cores."""
    from concurrent.futures import ProcessPoolExecutor  # multiprocessing: a sixth of the CLI's start-up; only here
    from concurrent.futures.process import BrokenProcessPool

    if args.output is None or args.transcript is not None or args.split is not None:
        raise BadInputError("with several routines, give a folder with -o DIR/ (no --transcript or --split)")
    folder = args.output
    _usable_folder(folder)
    extension = args.format or "mp3"
    targets = [folder / f"{Path(routine.source).stem}.{extension}" for routine in routines]
    for index, target in enumerate(targets):
        if target in targets[:index]:
            first = routines[targets.index(target)].source
            if Path(first).resolve() == Path(routines[index].source).resolve():
                raise BadInputError(f"{printable(first)} is given twice; give each routine once")
            raise BadInputError(f"{printable(first)} and {printable(routines[index].source)} would both be written "
                                f"to {printable(str(target))}; export them into different folders, or rename one")
    # Before any work: an existing file without --force, anything but a regular file, a routine itself.
    check_destinations({f"-o for {routine.source}": target for routine, target in zip(routines, targets)},
                       force=args.force, inputs=[Path(routine.source) for routine in routines], new_folders=[folder])
    folder.mkdir(exist_ok=True)  # as --split does: the folder is made, but not its parents
    jobs = [(routine, target, args.settings, args.force, env.cache_dir, env.speech_timeout)
            for routine, target in zip(routines, targets)]
    workers = min(len(jobs), usable_cpus())
    status = ExitStatus.OK
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_started, initargs=(os.getpid(),))
    try:
        for (routine, target, *_), outcome in zip(jobs, pool.map(_export_one, jobs)):
            error, seconds, warnings = outcome
            for warning in warnings:
                env.warn(warning)
            if error is not None:
                _report(env, None, False, f"{routine.source}: {error[1]}")
                status = max(status, error[0])
            elif not args.quiet:
                print(f"wrote {target} ({clock(seconds)})", file=env.stderr)
    except BrokenProcessPool:
        _stop_workers(pool, targets)
        raise VoiceGuideError("an export worker was stopped or died; the exports still running were stopped, "
                              "and published nothing") from None
    except BaseException:
        _stop_workers(pool, targets)  # a stop or a failure here: the exports still running publish nothing
        raise
    pool.shutdown()
    return status


WORKER_STOP_WAIT = 5.0  # seconds for a stopped export worker to remove its temporary files, before it is killed


_EXPORTING: list[bool] = [False]  # in an export worker: whether a job is running


def _worker_started(parent: int) -> None:
    """In each export worker: die with the parent (Linux: PR_SET_PDEATHSIG), and stop like the parent does on
    SIGTERM, SIGINT or SIGHUP: a running export unwinds (its temporary files are removed, nothing is published),
    then the worker ends; a clean-up that hangs is cut short."""
    _die_with_parent(parent)
    # A worker leaves by os._exit, without atexit: multiprocessing's own exit runs this instead (see end_writes).
    from multiprocessing.util import Finalize

    Finalize(None, cachefiles.end_writes, exitpriority=0)

    def stop(signum, frame):
        for other in _STOPPED:
            signal.signal(other, signal.SIG_IGN)
        if not _EXPORTING[0]:
            os._exit(128 + signum)
        watchdog = threading.Timer(WORKER_STOP_WAIT, _end_worker, (signum,))
        watchdog.daemon = True
        watchdog.start()
        raise Terminated(signum)

    for signum in _STOPPED:
        signal.signal(signum, stop)


def _end_worker(signum: int) -> None:
    remove_live_partials()
    cachefiles.end_writes()
    kill_all_workers()
    os._exit(128 + signum)


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _stop_workers(pool: "ProcessPoolExecutor", targets: list[Path]) -> None:
    """Stop every export worker: no new job starts, each running one unwinds (SIGTERM), a stuck one is killed,
    and whatever temporary file a killed one leaves (or one that died by itself) is removed here."""
    import multiprocessing

    pool.shutdown(wait=False, cancel_futures=True)
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    # A worker's own watchdog ends it WORKER_STOP_WAIT after the signal, removing its files: the kill comes later.
    deadline = time.monotonic() + WORKER_STOP_WAIT + 1.0
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join(1.0)
    for child in children:
        for target in targets:
            try:
                partial_path(target, child.pid).unlink()
            except OSError:
                pass  # none (it removed its own), or not ours to remove


def _export_one(job) -> tuple:
    """One export of several, in a worker process: (error or None, seconds, warnings); errors as values."""
    routine, target, settings, force, cache_dir, speech_timeout = job
    env = Environment(cache_dir=cache_dir, speech_timeout=speech_timeout)
    _EXPORTING[0] = True
    try:
        timeline = api.export(routine, target, settings=settings, force=force, env=env)
    except VoiceGuideError as error:
        return (error.exit_code, str(error)), 0.0, ()
    except Terminated as stop:  # unwound: nothing of this export is left; the parent knows, or is gone
        _end_worker(stop.signum)
    finally:
        _EXPORTING[0] = False
    return None, timeline.total_seconds, timeline.warnings


def run_check(args: argparse.Namespace, env: Environment) -> int:
    """Checks every routine named, good or bad, and prints each one's result; exit 2 if any is bad.

    With one routine `--json` prints its timeline; with several, one list with an entry per routine."""
    names: list = []
    refused: dict[int, BadInputError] = {}  # a folder without routines is one bad entry; the others are checked
    for argument in args.routines or [None]:
        try:
            names += api.routine_files([argument])
        except BadInputError as error:
            refused[len(names)] = error
            names.append(argument)
    if args.memo is not None:
        _note_reads(args.memo, args, names)
    loaded: list = []
    for index, name in enumerate(names):  # every file validated before any is synthesized
        try:
            if index in refused:
                raise refused[index]
            loaded.append(api.load(name))
        except BadInputError as error:
            loaded.append(error)
    status = ExitStatus.OK
    entries = []
    for index, (name, routine) in enumerate(zip(names, loaded)):
        if isinstance(routine, BadInputError):
            _report(env, routine, args.debug)
            status = max(status, routine.exit_code)
            entries.append({"file": _shown_name(name), "ok": False, "problems": str(routine).split("\n")})
            continue
        if args.memo is not None and routine.voice.engine not in (None, DEFAULT_ENGINE):
            args.memo.forget()
        timeline = api.check(routine, args.settings, env)
        if args.listen:
            from . import listening

            spoken = [event.text for event in timeline.events if event.text]
            timeline = timeline._replace(warnings=timeline.warnings + listening.phrase_warnings(spoken))
        if args.json:
            for warning in timeline.warnings:
                env.warn(warning)
            entries.append({"file": routine.source, "ok": True, **timeline_json(timeline),
                            "warnings": list(timeline.warnings)})
        else:
            entries.append({"file": routine.source, "ok": True})
            if index:
                print(file=env.stdout)
            print_timeline(env, routine.source, timeline, about=routine.about)
    bad = [entry["file"] for entry in entries if not entry["ok"]]
    if args.json and len(names) == 1 and status == ExitStatus.OK:
        entries[0] = {key: value for key, value in entries[0].items() if key not in ("file", "ok", "warnings")}
        print(json.dumps(entries[0]), file=env.stdout)
    elif args.json and len(names) > 1:
        print(json.dumps(entries), file=env.stdout)
    if len(names) > 1:
        have = "has" if len(bad) == 1 else "have"
        verdict = f"{len(bad)} of {len(names)} routines {have} problems: {', '.join(bad)}" if bad else (
            f"all {len(names)} routines are good")
        print(f"voice-guide: {printable(verdict)}", file=env.stderr)
    return status


def _note_reads(memo: checkmemo.Recorder, args: argparse.Namespace, names: list) -> None:
    """Tell `memo` what this check reads besides the code: the routine files, each folder's list, whether a
    bundled name is also a file here (load warns), and espeak-ng's data (which voice a request gets). Piper's
    voices are files of their own anywhere: a check with Piper is not kept."""
    shipped = bundled.names()
    for given in args.routines or []:
        if given not in shipped and os.path.isdir(given):
            memo.folder(given)
    for name in names:
        if name is None or name in shipped:
            memo.exists(name or bundled.DEFAULT)
        else:
            memo.file(name)
    memo.data_files(ESPEAK_DATA_GLOBS)
    if args.settings.voice.engine not in (None, DEFAULT_ENGINE):
        memo.forget()


def run_listen_test(args: argparse.Namespace, env: Environment) -> int:
    """A few seconds of listening: the input level, what was heard, a sensitivity suggested and saved."""
    from . import listening, user_settings
    from .hearing import Hearing
    from .microphone import MicrophoneError

    eager = 1.0  # hear everything that might be a phrase, to see how far each is from its threshold
    heard: list[dict] = []
    levels: list[float] = []
    problems: list[str] = []

    def report(message: dict) -> None:
        if "level" in message:
            levels.append(message["level"])
            if len(levels) % 4 == 0:
                print(f"  input level {max(levels[-4:]):6.1f} dBFS", file=env.stdout, flush=True)
        else:
            heard.append(message)
            print(f"  heard: {message['heard']}", file=env.stdout, flush=True)

    print(f"Listening for {args.seconds} seconds: say \"next step\", then \"pause\", a second or two apart.",
          file=env.stdout, flush=True)
    with Hearing(queue.Queue(), sensitivity=eager, on_heard=report, on_problem=problems.append, levels=True) as hearing:
        hearing.ready.wait(30)
        if problems or not hearing.working:
            raise MicrophoneError(problems[0] if problems else "no microphone found")
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and not problems:
            time.sleep(0.1)
    if problems:
        raise MicrophoneError(problems[0])
    margins = [listening.margin_at_default(message["score"], eager) for message in heard]
    suggestion = listening.suggested_sensitivity(margins, [])
    loudest = max(levels, default=float("-inf"))
    print(f"Loudest input: {loudest:.1f} dBFS" + ("  (very quiet: move the microphone closer or raise its gain)"
                                                  if loudest < -45 else ""), file=env.stdout)
    if not heard:
        print("Heard no command; the suggestion is the eagerest safe setting.", file=env.stdout)
    if args.no_save:
        print(f"Suggested sensitivity: {suggestion:g}", file=env.stdout)
    else:
        where = user_settings.save_sensitivity(suggestion)
        print(f"Suggested sensitivity: {suggestion:g} (saved to {where})", file=env.stdout)
    return ExitStatus.OK


def _shown_name(name) -> str:
    return str(api.resolve(name)) if name is None else os.fsdecode(os.fspath(name))


def run_list(args: argparse.Namespace, env: Environment) -> int:
    for name in bundled.names():
        routine = api.load(name)
        seconds = compiler.estimate_seconds(routine)
        print(f"{name:<8} {routine.title}  ({phrases_for('en').about_length(seconds)})", file=env.stdout)
        if routine.about:
            print(_indented(routine.about, 9), file=env.stdout)
    return ExitStatus.OK


def run_voices(args: argparse.Namespace, env: Environment) -> int:
    lists = voice_lists(cache_dir=env.speech_cache_dir, voices_dir=env.voices_dir, timeout=env.speech_timeout)
    if args.json:
        rows = []
        for engine, listed in lists.items():
            default = listed.default
            rows += [{"engine": engine, "id": v.id, "name": v.name, "languages": list(v.languages),
                      "gender": v.gender, "default": v == default, "variant": False} for v in listed.voices]
            rows += [{"engine": engine, "id": v.id, "name": v.name, "languages": list(v.languages),
                      "gender": v.gender, "default": False, "variant": True} for v in listed.variants]
        print(json.dumps(rows, indent=2), file=env.stdout)
        return ExitStatus.OK
    for index, (engine, listed) in enumerate(lists.items()):
        if index:
            print(file=env.stdout)
        default = listed.default
        for voice in listed.voices:
            mark = "  (default)" if voice == default else ""
            line = f"{engine:<10} {voice.id:<28} {voice.name:<32} {', '.join(voice.languages)}{mark}"
            print(printable(line), file=env.stdout)
        if listed.variants:
            print(file=env.stdout)
            print("Variants change any voice's sound: write VOICE+VARIANT, like en-us+klatt or en+f3.", file=env.stdout)
            for line in _indented(", ".join(printable(v.id) for v in listed.variants), 2).splitlines():
                print(line, file=env.stdout)
    if not lists.get("piper", VoiceList((), "")).voices:
        print("voice-guide: no Piper voice found (the neural voice: `bash scripts/setup.sh --neural`)", file=env.stderr)
    return ExitStatus.OK


def run_schema(args: argparse.Namespace, env: Environment) -> int:
    # Read beside this module, as bundled.py reads its routines: importlib.resources is not imported by every command.
    env.stdout.write(Path(__file__).with_name("routine.schema.json").read_text(encoding="utf-8"))
    return ExitStatus.OK


# --- output --------------------------------------------------------------------------------------------------


def timeline_json(timeline) -> dict:
    """The `check --json` shape: times in seconds, every second of the routine covered by an event."""
    rate = timeline.sample_rate
    return {
        "title": timeline.title,
        "language": timeline.language,
        "total_seconds": timeline.total / rate,
        "sample_rate": rate,
        "events": [
            {"kind": e.kind, "start": e.start / rate, "end": e.end / rate, "text": e.text, "step": e.step}
            for e in timeline.events
        ],
    }


def print_timeline(env: Environment, source: str, timeline, about: str | None = None) -> None:
    rate = timeline.sample_rate
    steps = timeline.steps()
    out = env.stdout
    count = f"{len(steps)} step" + ("" if len(steps) == 1 else "s")
    print(f"{printable(source)}: {timeline.title} — {clock(timeline.total_seconds)} in all, {count}, "
          f"in {_language_name(timeline.language)} ({timeline.language})", file=out)
    if about:
        print(_indented(about, 2), file=out)
    current = object()
    for event in timeline.events:
        if event.step != current and event.step is not None:
            print(f"  step {event.step}", file=out)
        current = event.step
        start = clock(event.start / rate, decimals=2)
        if event.kind == "silence":
            print(f"    {start}  ·  quiet {event.length / rate:.1f} s", file=out)
        elif event.kind == "chime":
            print(f"    {start}  ♪  chime", file=out)
        else:
            print(f"    {start}  »  {event.text}", file=out)
    print(f"  end {clock(timeline.total_seconds, decimals=2)}", file=out)
    for warning in timeline.warnings:
        print(f"warning: {printable(warning)}", file=out)


def _indented(text: str, indent: int, width: int = 100) -> str:
    import textwrap

    return textwrap.fill(text, width=width, initial_indent=" " * indent, subsequent_indent=" " * indent)


def _language_name(tag: str) -> str:
    """'de' -> 'German', in English like the rest of the output."""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(tag, sep="-").get_display_name("en") or tag
    except (ValueError, UnknownLocaleError):
        return tag


def _progress_bar(env: Environment, *, quiet: bool, label: str):
    """A rich progress bar on a terminal; nothing otherwise. Returns (update(done, total), finish())."""
    if quiet or not env.stderr_isatty:
        return None, lambda: None
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}", BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
        console=Console(file=env.stderr), transient=True,
    )
    task = bar.add_task(escape(printable(label)), total=None)  # a file name is text, not markup ("[/x].mp3")
    bar.start()
    last = [0.0]

    def update(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 0.05 or done >= total:
            last[0] = now
            bar.update(task, completed=done, total=total)

    return update, bar.stop


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

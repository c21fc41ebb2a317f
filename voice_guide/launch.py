"""The `voice-guide` command's entry point: a `check` whose result is already known is printed from here, before
anything heavy is imported (see checkmemo), and a `play` starts its opening chime from here (see opening);
everything else goes to cli.main. `end` is how the command leaves (scripts/voice-guide, __main__)."""

from __future__ import annotations

import atexit
import gc
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a reprinted `check` loads none (checkmemo)
if TYPE_CHECKING:
    from typing import NoReturn

BROKEN_PIPE = 141  # cli.ExitStatus.BROKEN_PIPE; cli is not imported on this path


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["check"] and "--debug" not in argv:
        from . import cachefiles, checkmemo  # only here: `play` starts its chime without them

        recalled = checkmemo.recall(argv, cachefiles.default_folder())
        if recalled is not None:
            return _replay(*recalled)
    # No collection while the modules, classes and functions that live to the end load (the chime's path too:
    # what it loads and the routine it checks are kept for the run), nor after: see gc.freeze below.
    gc.disable()
    try:
        opened = None
        if argv[:1] == ["play"]:
            from . import opening  # only here: `check` does not load routines or the sound device on this path

            opened = opening.start(argv, fork=True)
        if argv[:1] == ["export"]:
            _start_speech_early(argv)
        from .cli import main as run  # only here: importing cli imports the whole pipeline
    finally:
        gc.enable()
    gc.freeze()  # nor after: they are kept out of every later one, the one at exit too (a sixth of a warm export's CPU)
    return run(argv, opening=opened)


def _start_speech_early(argv: list[str]) -> None:
    """An export with no speech cache yet will start an espeak-ng worker and ask it for the voices: start it now,
    so it starts and lists them on another core while this process imports the pipeline (the synthesizer takes
    it over; see _speech_process.start_early). Not for help, nor when Piper may be asked for; a warm cache
    starts none."""
    if {"-h", "--help"} & set(argv) or any("piper" in word for word in argv):
        return
    from . import cachefiles
    from ._speech_process import default_command, start_early

    if not (cachefiles.default_root() / "speech").exists():  # nor the voice chosen: it lists the voices at once
        start_early(default_command(), ("--voices-ahead",))


_ENDING: list[int] = []  # the status an export ends the process with (see end)


def end(status: int) -> NoReturn:
    """Leave the process with `status`, the command's last act. After an export, once everything registered to
    run at exit has run (cache temporaries removed, workers gone, pools joined) and the output streams are
    flushed, the process ends at once: the interpreter's own teardown, which frees every module and object of
    the pipeline one by one, is skipped (30-70 ms after a cold export, with nothing left to do)."""
    if sys.argv[1:2] == ["export"]:
        _ENDING.append(status)
    sys.exit(status)


def _end_at_once() -> None:
    """The last thing run at exit (registered first; exit functions run last first): see end."""
    if not _ENDING:
        return  # not the command's own end (main called from Python), or not an export: the usual exit
    try:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return  # the interpreter reports the stream it cannot flush, and its own exit status, as always
    os._exit(_ENDING[-1])


atexit.register(_end_at_once)


def _replay(status: int, output: list[tuple[int, str]]) -> int:
    """Print what the earlier run printed, stream by stream in its order; a closed pipe ends quietly, as in cli."""
    streams = {1: sys.stdout, 2: sys.stderr}
    for stream in streams.values():
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")  # as cli's streams: what the terminal cannot show becomes '?'
    try:
        for number, text in output:
            streams[number].write(text)
            streams[number].flush()
    except BrokenPipeError:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
        return BROKEN_PIPE
    except OSError as error:
        print(f"voice-guide: cannot write the output: {error.strerror or error}", file=sys.stderr)
        return 1
    return status

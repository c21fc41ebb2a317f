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

import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TextIO

from . import cachefiles, openingmemo, user_settings
from .audio_sink import SimpleaudioSink, Sink
from .errors import AudioDeviceError
from .routine import DEFAULT_ENGINE, RATE_RANGE, VOLUME_RANGE, Routine
from .scheduler import Started
from .timing_log import open_log
from .user_settings import UserSettings

# The signals that stop voice-guide (cli._STOPPED says how each is reported). From the chime until cli has put
# its handlers in place they are held back (blocked), then delivered: a Ctrl+C while the pipeline is imported
# stops the run as one at any other moment does, with the timing log closed and no traceback.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_FLAGS = ("--no-keys", "--force", "--no-chime")
_VALUED = ("--timing-log", "--voice", "--rate", "--volume", "--engine")


@dataclass(frozen=True)
class Opening:
    """What the opening did for cli and api.play: the routine it loaded (None: started from the memo, then `text`
    holds the routine file's bytes as checked, for cli to load), what the settings file says, the timing log it
    opened (None: not asked for), the sink, and the chime started on it (None: the device refused it; the
    scheduler plays it again, and reports the failure as it always does)."""

    routine: Routine | None
    text: bytes | None
    settings: UserSettings
    log: TextIO | None
    sink: Sink
    started: Started | None
    held: bool = False  # the stop signals are blocked until let_stops_in

    def let_stops_in(self) -> None:
        """Deliver the stop signals held back since the chime (cli calls this once its handlers are in place)."""
        if self.held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def start(argv: Sequence[str], open_sink=SimpleaudioSink, clock=time.perf_counter,
          cache_root: Path | None = None) -> Opening | None:
    """Start the opening chime of `voice-guide play ...` (`argv` without the program's name); None when this
    command line is not one to start here (see the module's docstring), and then nothing was started.
    `cache_root`: where the memo is kept (default: the caches' folder)."""
    options = _parse(argv)
    if options is None:
        return None
    try:
        root = cache_root or cachefiles.default_root()
        where = user_settings.path()
        recalled = openingmemo.recall(options, where, root)
        if recalled is not None:
            routine, text, pcm, inputs, loaded = None, recalled.text, recalled.pcm, [Path(recalled.routine)], None
            settings = UserSettings(recalled.listen, recalled.sensitivity)
        else:
            from . import openingcheck  # only on a miss: it imports PyYAML, the compiler and num2words

            checked = openingcheck.checked(options, where)
            if checked is None:
                return None
            routine, settings, pcm, inputs, loaded = checked
            text = None
        sink = open_sink()
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
    if routine is not None and inputs and loaded is not None:  # after the chime has started: off its path
        openingmemo.save(options, where, root, routine=str(inputs[0]), text=loaded, pcm=pcm, listen=settings.listen,
                         sensitivity=settings.sensitivity)
    return Opening(routine, text, settings, log, sink, started, held)


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

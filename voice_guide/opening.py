"""`play`'s opening chime, sounded before the pipeline is imported.

The chime that opens a routine needs no speech: its samples are computed, and its level follows from the
script alone (mixer.routine_targets). So `voice-guide play` loads and checks the routine, opens the sound
device and starts the chime from here, with only the light modules that needs (no numpy, no speech engine, not
the CLI); the rest is imported, the voice resolved and the first lines made while the chime sounds. The
scheduler then takes the chime as the timeline's first sound, at the time it really started (Scheduler.run's
`started`), so everything after it keeps its place, and the timing log shows it as played.

Only a plain `play` starts here: a command line this module does not fully understand, a routine or option
that is wrong, `--listen` (here or in the settings file), `--start-at`, another engine or no chime, and nothing
is started; cli does all of it as before, errors included (exit 2, nothing played). The timing log is opened
here, before the chime, as api.play would open it.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TextIO

from . import compiler, loader, user_settings
from .audio_sink import SimpleaudioSink, Sink
from .chime import CHIME_LENGTH
from .engine import DEFAULT_RATE
from .errors import AudioDeviceError
from .mixer import Mixer, routine_targets
from .routine import DEFAULT_ENGINE, DEFAULT_VOLUME, RATE_RANGE, VOLUME_RANGE, Routine, Voice
from .scheduler import Started
from .timeline import CHIME, Event
from .timing_log import open_log

# The signals that stop voice-guide (cli._STOPPED says how each is reported). From the chime until cli has put
# its handlers in place they are held back (blocked), then delivered: a Ctrl+C while the pipeline is imported
# stops the run as one at any other moment does, with the timing log closed and no traceback.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_FLAGS = ("--no-keys", "--force", "--no-chime")
_VALUED = ("--timing-log", "--voice", "--rate", "--volume", "--engine")


@dataclass(frozen=True)
class Opening:
    """What the opening did for api.play: the routine it loaded, the timing log it opened (None: not asked for),
    the sink, and the chime started on it (None: the device refused it; the scheduler plays it again, and
    reports the failure as it always does)."""

    routine: Routine
    log: TextIO | None
    sink: Sink
    started: Started | None
    held: bool = False  # the stop signals are blocked until let_stops_in

    def let_stops_in(self) -> None:
        """Deliver the stop signals held back since the chime (cli calls this once its handlers are in place)."""
        if self.held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def start(argv: Sequence[str], open_sink=SimpleaudioSink, clock=time.perf_counter) -> Opening | None:
    """Start the opening chime of `voice-guide play ...` (`argv` without the program's name); None when this
    command line is not one to start here (see the module's docstring), and then nothing was started."""
    options = _parse(argv)
    if options is None:
        return None
    try:
        if user_settings.load().listen:
            return None
        routine = loader.load_argument(options.get("routine"))
        asked = Voice(voice=options.get("--voice"), rate=options.get("--rate"), volume=options.get("--volume"),
                      engine=options.get("--engine"))
        chime = False if "--no-chime" in options else None
        voice = routine.voice.overridden(asked)
        if (voice.engine or DEFAULT_ENGINE) != DEFAULT_ENGINE or not (routine.chime if chime is None else chime):
            return None
        compiler.check_length(routine, voice=voice, chime=chime)
        # As Synthesizer.requested fills it in for the default engine, and as api.play levels and scales it.
        voice = Voice(voice=voice.voice, rate=voice.rate or DEFAULT_RATE,
                      volume=voice.volume if voice.volume is not None else DEFAULT_VOLUME, engine=DEFAULT_ENGINE)
        targets = routine_targets(routine, voice, chime=chime)
        pcm = Mixer(None, targets=targets).pcm(Event(CHIME, 0, CHIME_LENGTH), voice.volume)
        sink = open_sink()
        log = None
        if "--timing-log" in options:
            log = open_log(Path(options["--timing-log"]), force="--force" in options, inputs=loader.inputs(routine))
    except Exception:  # noqa: BLE001 - a bad input or anything else: cli meets the same and reports it
        return None
    held = _hold_stops()
    actual = clock()
    try:
        sink.play(pcm)
    except AudioDeviceError:
        return Opening(routine, log, sink, None, held)
    return Opening(routine, log, sink, Started(pcm, actual, clock()), held)


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

"""The live player: each sound of the timeline started at its absolute deadline on a monotonic clock.

The scheduler is pure logic over what is passed in: the events (possibly still being compiled), a `clip`
callable giving each sound's PCM, a clock that also delivers key commands, and a sink that plays PCM. Tests
drive it with a fake clock and a fake sink; `play()` wires it to the speech engine, simpleaudio, the keyboard
and the screen.

Deadlines are absolute (`t0 + start / rate`), never accumulated sleeps, so the schedule does not drift.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Protocol, TextIO

from .chime import CHIME_LENGTH
from .compiler import AFTER_CHIME, LEAD_IN
from .errors import AudioDeviceError, BadInputError, OutputError
from .routine import Routine, Voice
from .timeline import CHIME, CLOSING, SAMPLE_RATE, SILENCE, SPEECH, Event

if TYPE_CHECKING:
    from .env import Environment

# Commands, from the keyboard or a test.
PAUSE = "pause"  # also resumes
NEXT = "next"
BACK = "back"
QUIT = "quit"  # jumps to the closing, which is always spoken

LATE_TOLERANCE = 0.015  # a sound later than this moves the rest of the schedule with it, so nothing overlaps
JUMP_GAP = 0.25  # after n, b or q: a breath between the cut-off sound and the new step
CLOSING_STEP = 1 << 30  # step number given to the closing, so "next" never goes past it

NO_DEVICE = "no audio output device found; export the routine instead: voice-guide export {routine} -o routine.mp3"


class Clock(Protocol):
    """Monotonic time in seconds, and a wait that ends early when a command (a key) arrives."""

    def now(self) -> float: ...

    def wait_until(self, deadline: float) -> str | None: ...


class Sink(Protocol):
    """Where PCM goes: 16-bit mono at the timeline's rate. Raises AudioDeviceError when it cannot play."""

    def play(self, pcm: bytes) -> None: ...

    def stop_all(self) -> None: ...

    def wait_done(self) -> None: ...


@dataclass(frozen=True)
class Played:
    """One sound handed to the sink: clock readings of its deadline, of the hand-over, and of its return."""

    index: int
    event: Event
    scheduled: float
    actual: float
    returned: float | None = None  # opening a device can take a while (tens of ms on some sound servers)

    @property
    def lateness(self) -> float:
        return self.actual - self.scheduled


class Listener:
    """What the scheduler tells the screen and the timing log; every method may be left as is."""

    def playing(self, played: Played) -> None:
        """A sound was just handed to the sink."""

    def paused(self) -> None:
        """Sound stopped; waiting for the resume key."""

    def resumed(self) -> None:
        """Playing again (after a short re-orientation)."""

    def jumped(self, command: str, event: Event) -> None:
        """`n`, `b` or `q` moved playback to `event`."""


@dataclass(frozen=True)
class PlayResult:
    """What a run played, in order; `quit_early` when `q` cut it short (the closing was still spoken)."""

    played: tuple[Played, ...]
    quit_early: bool = False

    @property
    def mean_lateness(self) -> float:
        return sum(p.lateness for p in self.played) / len(self.played) if self.played else 0.0

    @property
    def worst_lateness(self) -> float:
        return max((p.lateness for p in self.played), default=0.0)


class Scheduler:
    """Plays `events` on `sink` at their deadlines on `clock`, obeying commands.

    >>> from voice_guide.timeline import Event
    >>> class Sink:
    ...     def play(self, pcm): print("play", pcm)
    ...     def stop_all(self): pass
    ...     def wait_done(self): pass
    >>> class Clock:
    ...     t = 0.0
    ...     def now(self): return self.t
    ...     def wait_until(self, deadline): self.t = max(self.t, deadline)
    >>> events = [Event("speech", 0, 22050, "Hello."), Event("silence", 22050, 22050)]
    >>> result = Scheduler(events, lambda e: e.text.encode(), Clock(), Sink()).run()
    play b'Hello.'
    """

    def __init__(
        self,
        events: Iterable[Event],
        clip: Callable[[Event], bytes],
        clock: Clock,
        sink: Sink,
        listener: Listener | None = None,
        *,
        sample_rate: int = SAMPLE_RATE,
        chime: bool = True,
    ):
        self._source: Iterator[Event] = iter(events)
        self._exhausted = False
        self._known: list[Event] = []  # every event seen so far, kept so `b` can go back
        self._steps: list[int] = []  # step of each known event: 0 before the first step, CLOSING_STEP after
        self._clip = clip
        self._clock = clock
        self._sink = sink
        self.listener = listener or Listener()  # public: the screen is made after the scheduler it shows
        self._rate = sample_rate
        self._chime = chime
        self._t0 = 0.0
        self._index = 0
        self._paused_at: int | None = None  # sample position while paused
        self._played: list[Played] = []
        self._quit = False

    # --- what the screen asks --------------------------------------------------------------------------------

    def position(self) -> int:
        """The sample of the timeline being heard now (frozen while paused; may be negative in the lead-in)."""
        if self._paused_at is not None:
            return self._paused_at
        return int((self._clock.now() - self._t0) * self._rate)

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    @property
    def played(self) -> tuple[Played, ...]:
        """The sounds handed to the sink so far."""
        return tuple(self._played)

    # --- running ---------------------------------------------------------------------------------------------

    def run(self, start_step: int | None = None) -> PlayResult:
        """Play from the beginning (or from the first event of `start_step`) to the end."""
        start = 0 if start_step is None else self._first_index(lambda s: start_step <= s < CLOSING_STEP)
        if start is None:
            raise BadInputError(f"--start-at {start_step}: the routine has no step {start_step}")
        first = self._event(start)
        if first is None:
            return PlayResult(())
        # The timeline's own opening is a chime or a lead-in; a step started in the middle gets a lead-in too,
        # so Bluetooth headphones that wake up on sound do not swallow its first word.
        margin = LEAD_IN if start > 0 and first.kind == SPEECH else 0.0
        self._start_at(start, self._clock.now() + margin)
        end = first.end
        while True:
            event = self._event(self._index)
            if event is None:
                if self._obey(self._clock.wait_until(self._t0 + end / self._rate)):
                    continue
                break
            end = event.end
            if event.kind == SILENCE:
                self._index += 1
                continue
            pcm = self._clip(event)  # may block while the engine catches up: then the sound starts late
            deadline = self._t0 + event.start / self._rate
            if self._obey(self._clock.wait_until(deadline)):
                continue
            self._send(event, pcm, deadline)
            self._index += 1
        self._sink.wait_done()
        return PlayResult(tuple(self._played), self._quit)

    def _send(self, event: Event, pcm: bytes, deadline: float) -> None:
        actual = self._clock.now()
        if actual - deadline > LATE_TOLERANCE:
            self._t0 += actual - deadline
        try:
            self._sink.play(pcm)
        except AudioDeviceError as error:
            raise self._device_failed(self._index, error) from error
        played = Played(self._index, event, deadline, actual, self._clock.now())
        self._played.append(played)
        self.listener.playing(played)

    def _device_failed(self, index: int, error: AudioDeviceError) -> AudioDeviceError:
        if not self._played:
            return error  # nothing ever played: there is no device (play() words that for the user)
        step = self._step_at(index)
        if step == 0:
            where, resume = "during the introduction", "run the command again"
        elif step == CLOSING_STEP:
            where, resume = "during the closing reminders", "nothing is left but the reminders"
        else:
            where, resume = f"at step {step}", f"resume with --start-at {step}"
        return AudioDeviceError(f"the audio device stopped working {where} ({error}); {resume}")

    def _start_at(self, index: int, when: float) -> None:
        """Make event `index` start at clock time `when`."""
        self._place(index, self._known[index].start, when)

    def _place(self, index: int, sample: int, when: float) -> None:
        """Make `sample` of the timeline sound at clock time `when`; event `index` is the next to play."""
        self._index = index
        self._t0 = when - sample / self._rate

    # --- commands --------------------------------------------------------------------------------------------

    def _obey(self, command: str | None) -> bool:
        """Carry out a command; True when the schedule changed (the loop looks again at where it is)."""
        if command is None:
            return False
        if command == PAUSE:
            self._pause()
            return True
        return self._jump(command)

    def _jump(self, command: str) -> bool:
        current = self._current_index()
        step = self._step_at(current)
        if step == CLOSING_STEP:
            return False  # the closing is always spoken to the end
        if command == NEXT:
            target = self._first_index(lambda s: s > step, after=current)
        elif command == BACK:
            target = 0 if step == 0 else self._first_index(lambda s: s >= max(1, step - 1))
        elif command == QUIT:
            target = self._first_index(lambda s: s == CLOSING_STEP, after=current)
            self._quit = target is not None
        else:
            return False
        if target is None:
            return False
        self._sink.stop_all()
        self._start_at(target, self._clock.now() + JUMP_GAP)
        self.listener.jumped(command, self._known[target])
        return True

    def _pause(self) -> None:
        self._sink.stop_all()
        position = self.position()
        current = self._current_index()
        event = self._known[current]
        # Resume from the start of an interrupted sound: half a sentence means nothing.
        if event.kind != SILENCE and position < event.end:
            resume_index, resume_at = current, event.start
        else:
            resume_index, resume_at = self._index, position
        self._paused_at = resume_at
        self.listener.paused()
        while True:
            command = self._clock.wait_until(float("inf"))
            if command == PAUSE:
                break
            if command in (NEXT, BACK, QUIT):
                self._paused_at = None
                self._place(resume_index, resume_at, self._clock.now())  # so the jump starts from here
                if self._jump(command):
                    return
                self._paused_at = resume_at
        self._paused_at = None
        self._resume(resume_index, resume_at)

    def _resume(self, index: int, at_sample: int) -> None:
        """Re-orient the listener (a chime, or a short quiet), then continue from `at_sample`."""
        lead = LEAD_IN
        if self._chime:
            try:
                self._sink.play(self._clip(Event(CHIME, 0, CHIME_LENGTH)))
            except AudioDeviceError as error:
                raise self._device_failed(index, error) from error
            lead = CHIME_LENGTH / self._rate + AFTER_CHIME
        self._place(index, at_sample, self._clock.now() + lead)
        self.listener.resumed()

    # --- the events, as far as they are known ----------------------------------------------------------------

    def _event(self, index: int) -> Event | None:
        """Event `index`, pulling it from the source if not seen yet; None past the end."""
        while len(self._known) <= index and not self._exhausted:
            event = next(self._source, None)
            if event is None:
                self._exhausted = True
                break
            self._steps.append(step_of(event, self._steps[-1] if self._steps else 0))
            self._known.append(event)
        return self._known[index] if index < len(self._known) else None


    def _step_at(self, index: int) -> int:
        """The step of event `index` (or of the last event, past the end)."""
        return self._steps[min(index, len(self._steps) - 1)] if self._steps else 0

    def _first_index(self, wanted: Callable[[int], bool], after: int = -1) -> int | None:
        index = after + 1
        while self._event(index) is not None:
            if wanted(self._steps[index]):
                return index
            index += 1
        return None

    def _current_index(self) -> int:
        """The known event that contains the sample being heard now."""
        position = self.position()
        for index in range(min(self._index, len(self._known) - 1), -1, -1):
            if self._known[index].start <= position:
                return index
        return self._index


def step_of(event: Event, previous: int) -> int:
    """The step an event belongs to, given the step of the event before it (0 for the first event).

    Its own number when it has one; unnumbered events are the opening (0) or, after the steps, the closing
    and the tail (CLOSING_STEP).

    >>> step_of(Event("silence", 0, 10), 0), step_of(Event("silence", 0, 10), 3) == CLOSING_STEP
    (0, True)
    """
    if event.step is not None:
        return event.step
    return CLOSING_STEP if event.role == CLOSING or previous > 0 else 0


# --- the real clock ------------------------------------------------------------------------------------------

SWITCH_INTERVAL = 0.0005  # seconds; see play()
SPIN = 0.002  # the last stretch before a deadline is spun, not slept: sleeps overshoot by up to a millisecond


class MonotonicClock:
    """`time.perf_counter`, waiting coarse then spinning; a queue of commands (keys) can end a wait early."""

    def __init__(self, commands=None):
        self._commands = commands  # a queue.Queue of command strings, or None without a keyboard

    def now(self) -> float:
        return time.perf_counter()

    def wait_until(self, deadline: float) -> str | None:
        """Return None at `deadline`, or a command as soon as one arrives."""
        import queue

        while True:
            left = deadline - time.perf_counter()
            if left <= SPIN:
                break
            # Bounded waits keep Ctrl+C prompt whatever the platform does with blocked waits.
            coarse = min(left - SPIN, 0.5)
            if self._commands is None:
                time.sleep(coarse)
                continue
            try:
                return self._commands.get(timeout=coarse)
            except queue.Empty:
                continue
        while time.perf_counter() < deadline:
            if self._commands is not None and not self._commands.empty():
                return self._commands.get_nowait()
        return None


# --- sounds prepared ahead -----------------------------------------------------------------------------------


class Prefetcher:
    """Compiles events and prepares their PCM in a background thread, ahead of the scheduler.

    Iterating gives the events in order as soon as each one's sound is ready; `clip(event)` gives its PCM;
    `known()` is every event compiled so far (the screen looks ahead with it).
    """

    def __init__(self, events: Iterable[Event], prepare: Callable[[Event], bytes]):
        import threading

        self._source = iter(events)
        self._prepare = prepare
        self._events: list[Event] = []
        self._pcm: dict[tuple[str, str | None], bytes] = {}  # by (kind, text): a repeated line is made once
        self._done = False
        self._error: BaseException | None = None
        self._stopped = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="voice-guide-prefetch", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            for event in self._source:
                if self._stopped:
                    return
                key = (event.kind, event.text)
                if event.kind != SILENCE and key not in self._pcm:
                    pcm = self._prepare(event)
                    with self._ready:
                        self._pcm[key] = pcm
                with self._ready:
                    self._events.append(event)
                    self._ready.notify_all()
        except BaseException as error:  # handed to the scheduler's thread, which raises it
            with self._ready:
                self._error = error
        finally:
            with self._ready:
                self._done = True
                self._ready.notify_all()

    def __iter__(self) -> Iterator[Event]:
        index = 0
        while True:
            with self._ready:
                while index >= len(self._events) and not self._done:
                    self._ready.wait(0.5)
                if index < len(self._events):
                    event = self._events[index]
                elif self._error is not None and not self._stopped:
                    raise self._error
                else:
                    return
            yield event
            index += 1

    def clip(self, event: Event) -> bytes:
        """The PCM of a sound event (made now if the background has not made it)."""
        with self._ready:
            pcm = self._pcm.get((event.kind, event.text))
        if pcm is None:
            pcm = self._prepare(event)
            with self._ready:
                self._pcm[(event.kind, event.text)] = pcm
        return pcm

    def known(self) -> tuple[tuple[Event, ...], bool]:
        """The events compiled so far, and whether that is all of them."""
        with self._ready:
            return tuple(self._events), self._done and self._error is None

    def stop(self) -> None:
        """Stop preparing (the thread ends after the line it is on)."""
        with self._ready:
            self._stopped = True
            self._ready.notify_all()


# --- the timing log ------------------------------------------------------------------------------------------


class TimingLog(Listener):
    """One JSON line per sound played, times in seconds since `origin` (the command's start)."""

    def __init__(self, stream: TextIO, origin: float, sample_rate: int = SAMPLE_RATE):
        self._stream = stream
        self._origin = origin
        self._rate = sample_rate

    def playing(self, played: Played) -> None:
        event = played.event
        line = {
            "index": played.index,
            "kind": event.kind,
            "step": event.step,
            "role": event.role,
            "text": event.text,
            "sample": event.start,
            "samples": event.length,
            "scheduled": round(played.scheduled - self._origin, 6),
            "actual": round(played.actual - self._origin, 6),
            "lateness_ms": round(played.lateness * 1000, 3),
            "open_ms": round((played.returned - played.actual) * 1000, 3) if played.returned is not None else None,
        }
        self._stream.write(json.dumps(line) + "\n")
        self._stream.flush()


class Listeners(Listener):
    """Several listeners as one."""

    def __init__(self, *listeners: Listener):
        self._all = [listener for listener in listeners if listener is not None]

    def playing(self, played: Played) -> None:
        for listener in self._all:
            listener.playing(played)

    def paused(self) -> None:
        for listener in self._all:
            listener.paused()

    def resumed(self) -> None:
        for listener in self._all:
            listener.resumed()

    def jumped(self, command: str, event: Event) -> None:
        for listener in self._all:
            listener.jumped(command, event)


def process_started_at() -> float:
    """The `time.perf_counter()` reading at which this process started (Linux); now, where unknown.

    >>> 0.0 <= time.perf_counter() - process_started_at() < 3600.0
    True
    """
    now = time.perf_counter()
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as uptime:
            up = float(uptime.read().split()[0])
        age = up - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time in clock ticks
    except (OSError, ValueError, IndexError):
        return now
    return now - age if 0.0 <= age < 3600.0 else now


# --- the entry point -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlayOptions:
    """What the command line asks of `play`; voice fields that are None keep the routine's own."""

    voice: Voice = field(default_factory=Voice)
    chime: bool | None = None
    start_at: int | None = None
    timing_log: Path | None = None
    keys: bool = False  # read the keyboard (only when a terminal is attached)
    started_at: float | None = None  # perf_counter() when the command started; None: the process start


def play(routine: Routine, options: PlayOptions, env: "Environment", *, sink: Sink | None = None) -> PlayResult:
    """Play a routine live, hands-free, to the end (or until `q`, after which the reminders are still spoken).

    Raises AudioDeviceError when there is no sound device or it fails, BadInputError for a bad `start_at`,
    EngineError when speech fails. Ctrl+C stops the sound at once and propagates KeyboardInterrupt.

    >>> from voice_guide import api
    >>> play(api.load("arch"), PlayOptions(), Environment())  # doctest: +SKIP
    """
    import queue
    from contextlib import ExitStack

    from . import api, compiler
    from .display import Playhead, make_display
    from .keys import KeyReader
    from .mixer import to_pcm16

    origin = options.started_at if options.started_at is not None else process_started_at()
    use_chime = routine.chime if options.chime is None else options.chime
    titles = step_titles(routine)
    if options.start_at is not None and not 1 <= options.start_at <= len(titles):
        plural = "s" if len(titles) != 1 else ""
        raise BadInputError(f"--start-at {options.start_at}: {routine.title!r} has {len(titles)} step{plural}")
    with ExitStack() as stack:
        timing = None
        if options.timing_log is not None:  # opened first: a bad path fails before any sound
            timing = TimingLog(stack.enter_context(_open_log(options.timing_log)), origin)
        # Made as `export` makes them (api.synthesizer, api.mixer, to_pcm16), so the samples heard are the ones exported.
        synth = stack.enter_context(api.synthesizer(routine, api.Settings(voice=options.voice), env))
        # In order of first use: the opening lines are made first, the rest while they play.
        synth.prefetch(compiler.texts(routine, voice=synth.resolved, chime=options.chime))
        # The same mixer as `export` makes (same settings, same cache of final clips): a warm run takes its
        # clips from that cache, so the first sound does not wait for the levelling code to load.
        mixer = api.mixer(synth, api.Settings(voice=options.voice), env)
        stack.callback(mixer.close)
        events = compiler.iter_events(routine, synth.length, voice=synth.resolved, chime=options.chime)
        prefetcher = Prefetcher(events, lambda event: to_pcm16(mixer.clip(event)))
        stack.callback(prefetcher.stop)
        if sink is None:
            from .audio_sink import SimpleaudioSink

            sink = SimpleaudioSink()
        commands: queue.Queue | None = queue.Queue() if options.keys else None
        if commands is not None:
            stack.enter_context(KeyReader(env.stdin, commands))
        scheduler = Scheduler(prefetcher, prefetcher.clip, MonotonicClock(commands), sink, chime=use_chime)
        display = stack.enter_context(
            make_display(
                env, routine.title, titles, Playhead(scheduler.position, lambda: scheduler.paused, prefetcher.known),
                keys=commands is not None, warnings=synth.warnings,
            )
        )
        scheduler.listener = Listeners(display, timing)
        # Other threads (preparing audio, drawing the screen) hold the interpreter lock for up to the switch
        # interval (5 ms by default) at a time: a shorter one hands it back to the thread keeping time sooner.
        stack.callback(sys.setswitchinterval, sys.getswitchinterval())
        sys.setswitchinterval(SWITCH_INTERVAL)
        stack.callback(sink.stop_all)  # first out: on Ctrl+C or any error the sound stops at once
        try:
            result = scheduler.run(options.start_at)
        except AudioDeviceError as error:
            if not scheduler.played:
                raise AudioDeviceError(NO_DEVICE.format(routine=_routine_argument(routine))) from error
            raise
        display.finished(result)
        return result


def _open_log(path: Path) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as error:
        raise OutputError(f"{path}: cannot write the timing log ({error.strerror or error})") from error


def step_titles(routine: Routine) -> tuple[str, ...]:
    """Each expanded step's instruction, in order; known before any speech is made.

    >>> from voice_guide.routine import Routine, Say
    >>> step_titles(Routine("Demo", (Say("Sit."), Say("Press."))))
    ('Sit.', 'Press.')
    """
    from . import compiler
    from .timeline import INSTRUCTION

    titles: dict[int, str] = {}
    for part in compiler.script(routine):
        if isinstance(part, compiler.Sound) and part.role == INSTRUCTION and part.text and part.step:
            titles.setdefault(part.step, part.text)
    return tuple(titles[n] for n in sorted(titles))


def _routine_argument(routine: Routine) -> str:
    """How the user would name this routine on the command line (a bundled one by its name)."""
    from . import bundled

    for name in bundled.names():
        if Path(routine.source) == bundled.path(name):
            return name
    return shlex.quote(routine.source) if routine.source and not routine.source.startswith("<") else "ROUTINE"

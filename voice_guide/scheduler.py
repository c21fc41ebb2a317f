"""The live player's scheduler: each sound of the timeline started at its absolute deadline on a clock.

Pure logic over what is passed in: the events (possibly still being compiled), a `clip` callable giving each
sound's PCM, a clock that also delivers key commands, and a sink that plays PCM. Tests drive it with a fake
clock and a fake sink; `api.play` wires it to the speech engine, the sound device, the keyboard and the screen.

Deadlines are absolute (`t0 + start / rate`), never accumulated sleeps, so the schedule does not drift.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Callable, Iterable, Iterator, Protocol

from .audio_sink import Sink
from .chime import CHIME_LENGTH
from .commands import BACK, NEXT, PAUSE, PAUSE_ONLY, QUIT, REPEAT, RESUME
from .errors import AudioDeviceError, BadInputError
from .timeline import AFTER_ANNOUNCEMENT, AFTER_CHIME, CHIME, CLOSING, LEAD_IN, SAMPLE_RATE, SILENCE, SPEECH, Event

LATE_TOLERANCE = 0.015  # a sound later than this moves the rest of the schedule with it, so nothing overlaps
JUMP_GAP = 0.25  # after n, b or q: a breath between the cut-off sound and the new step
BACK_RESTARTS = 3.0  # seconds into a step after which `b` starts it again (before: the step before), as music players do
CLOSING_STEP = 1 << 30  # step number given to the closing, so "next" never goes past it


class Clock(Protocol):
    """Monotonic time in seconds, and a wait that ends early when a command (a key) arrives."""

    def now(self) -> float: ...

    def wait_until(self, deadline: float) -> str | None: ...


# The scheduler's values are named tuples (immutable): `play` imports this module before its opening chime, and a
# named tuple's class costs an eighth of a frozen dataclass's to make, without importing `dataclasses` (and
# `inspect`) at all.


class Played(namedtuple("Played", ("index", "event", "scheduled", "actual", "returned"), defaults=(None,))):
    """One sound handed to the sink (the `index`th, of the Event `event`): clock readings of its deadline
    (`scheduled`), of the hand-over (`actual`), and of its return (`returned`, None: not known; opening a device
    can take a while, tens of ms on some sound servers)."""

    __slots__ = ()

    @property
    def lateness(self) -> float:
        return self.actual - self.scheduled


class Started(namedtuple("Started", ("pcm", "actual", "returned"))):
    """A sound handed to the sink before the scheduler ran (`play`'s opening chime, see opening.py): its PCM (bytes)
    and the clock readings just before and just after the hand-over."""

    __slots__ = ()


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

    def oriented(self, event: Event) -> None:
        """Playing starts inside a block: `event` (said first, outside the timeline) says where."""


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

    def oriented(self, event: Event) -> None:
        for listener in self._all:
            listener.oriented(event)


class PlayResult(namedtuple("PlayResult", ("played", "quit_early"), defaults=(False,))):
    """What a run played, in order (a tuple of Played); `quit_early` when `q` cut it short (the closing was still
    spoken)."""

    __slots__ = ()


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
        self._floor: int | None = None  # started at a step: before its first sound, the screen shows that step
        self._played: list[Played] = []
        self._quit = False

    # --- what the screen asks --------------------------------------------------------------------------------

    def position(self) -> int:
        """The sample of the timeline being heard now (frozen while paused; may be negative in the lead-in)."""
        if self._paused_at is not None:
            return self._paused_at
        here = int((self._clock.now() - self._t0) * self._rate)
        return here if self._floor is None else max(here, self._floor)

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    @property
    def played(self) -> tuple[Played, ...]:
        """The sounds handed to the sink so far."""
        return tuple(self._played)

    # --- running ---------------------------------------------------------------------------------------------

    def run(self, start_step: int | None = None, orientation: Event | None = None,
            started: Started | None = None) -> PlayResult:
        """Play from the beginning (or from the first event of `start_step`) to the end.

        `orientation`, a line outside the timeline, is said before `start_step` begins ("Picking up with your
        right foot."). `started`: the first sound is already playing; when it is the first event's clip, the
        timeline starts when it did (else it is silenced, and the timeline starts now)."""
        start = 0 if start_step is None else self._first_index(lambda s: start_step <= s < CLOSING_STEP)
        if start is None:
            raise BadInputError(f"--start-at {start_step}: the routine has no step {start_step}")
        first = self._event(start)
        if first is None:
            return PlayResult(())
        # The timeline's own opening is a chime or a lead-in; a step started in the middle gets a lead-in too,
        # so Bluetooth headphones that wake up on sound do not swallow its first word.
        margin = LEAD_IN if start > 0 and first.kind == SPEECH else 0.0
        begin = self._clock.now() + margin
        if orientation is not None and start > 0:
            # Placed for the screen while the line is said (the step started at is where it is), and again,
            # exactly, once the line is handed to the device.
            self._start_at(start, begin + orientation.length / self._rate + AFTER_ANNOUNCEMENT)
            self._floor = first.start
            try:
                self._sink.play(self._clip(orientation))
            except AudioDeviceError as error:
                raise self._device_failed(start, error) from error
            self.listener.oriented(orientation)
            begin = self._clock.now() + orientation.length / self._rate + AFTER_ANNOUNCEMENT
        self._start_at(start, begin)
        if start > 0:
            self._floor = first.start  # kept until a jump moves the playhead (_place)
        if started is not None:
            self._take_started(start, first, started)
        end = first.end
        while True:
            event = self._event(self._index)
            if event is None:
                command = self._clock.wait_until(self._t0 + end / self._rate)
                if self._obey(command) or command is not None:  # an ignored command: wait on
                    continue
                break
            end = event.end
            if event.kind == SILENCE:
                self._index += 1
                continue
            pcm = self._clip(event)  # may block while the engine catches up: then the sound starts late
            deadline = self._t0 + event.start / self._rate
            command = self._clock.wait_until(deadline)
            if self._obey(command) or command is not None:  # an ignored command must not start the sound early
                continue
            self._send(event, pcm, deadline)
            self._index += 1
        self._sink.wait_done()
        return PlayResult(tuple(self._played), self._quit)

    def _take_started(self, index: int, first: Event, started: Started) -> None:
        if index != 0 or first.kind == SILENCE or self._clip(first) != started.pcm:
            self._sink.stop_all()  # not the sound this timeline opens with
            return
        self._start_at(index, started.actual)
        played = Played(index, first, started.actual, started.actual, started.returned)
        self._played.append(played)
        self.listener.playing(played)
        self._index = index + 1

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
        self._floor = None
        self._index = index
        self._t0 = when - sample / self._rate

    # --- commands --------------------------------------------------------------------------------------------

    def _obey(self, command: str | None) -> bool:
        """Carry out a command; True when the schedule changed (the loop looks again at where it is)."""
        if command is None:
            return False
        if command in (PAUSE, PAUSE_ONLY):
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
            here = self._first_index(lambda s: s == step) or 0
            if (self.position() - self._known[here].start) / self._rate > BACK_RESTARTS or step <= 1:
                target = here  # well into the step (or in the first one): start it again
            else:
                target = self._first_index(lambda s: s >= step - 1)
        elif command == REPEAT:
            target = self._first_index(lambda s: s == step) if step > 0 else None
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
            if command in (PAUSE, RESUME):
                break
            if command in (NEXT, BACK, QUIT, REPEAT):
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


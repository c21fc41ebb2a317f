"""Stand-ins for the player's outside world: a fake clock, a fake sink, a small routine with made-up lengths."""

from __future__ import annotations

from voice_guide import compiler
from voice_guide.errors import AudioDeviceError
from voice_guide.routine import Cues, Hold, Repeat, Routine, Say, Sides
from voice_guide.scheduler import Scheduler
from voice_guide.timeline import SAMPLE_RATE, Event

from .conftest import DATA

RATE = SAMPLE_RATE
QUICK = DATA / "play" / "quick.yaml"
START = 100.0  # the fake clock's reading when a run begins


class FakeClock:
    """Time moves only when the scheduler waits; `commands` are (time, command) pairs delivered on time."""

    def __init__(self, commands=()):
        self.t = START
        self.commands = sorted(commands)

    def now(self) -> float:
        return self.t

    def wait_until(self, deadline: float):
        if self.commands and self.commands[0][0] <= deadline:
            at, command = self.commands.pop(0)
            self.t = max(self.t, at)
            return command
        if deadline == float("inf"):
            raise AssertionError("the scheduler waits for a key that never comes")
        self.t = max(self.t, deadline)
        return None


class FakeSink:
    """Records what was played when; can be told to fail from the n-th play on."""

    def __init__(self, clock: FakeClock, fail_from: int | None = None):
        self.clock = clock
        self.plays: list[tuple[float, bytes]] = []
        self.stops: list[float] = []
        self.fail_from = fail_from

    def play(self, pcm: bytes) -> None:
        if self.fail_from is not None and len(self.plays) >= self.fail_from:
            raise AudioDeviceError("the audio device failed: Error opening PCM device. -- CODE: -19")
        self.plays.append((self.clock.t, pcm))

    def stop_all(self) -> None:
        self.stops.append(self.clock.t)

    def wait_done(self) -> None:
        pass


def clip(event: Event) -> bytes:
    return (event.text or event.kind).encode()


def seconds_of(text: str) -> int:
    """A made-up spoken length: half a second per word."""
    return len(text.split()) * RATE // 2


ROUTINE = Routine(
    "Demo",
    (
        Say("Sit down.", pause=2.0),
        Say("Press the arch.", hold=Hold(10.0, 10.0), cues=Cues(every=5.0)),
        Say("Rub the heel.", pause=3.0),
    ),
    reminders=("Stop if it hurts.",),
)


def timeline_events(routine: Routine = ROUTINE, chime: bool | None = None) -> list[Event]:
    return list(compiler.iter_events(routine, seconds_of, chime=chime))


def run(events, commands=(), *, clip=clip, fail_from=None, chime=True, start_step=None, orientation=None):
    clock = FakeClock(commands)
    sink = FakeSink(clock, fail_from)
    result = Scheduler(events, clip, clock, sink, chime=chime).run(start_step, orientation)
    return result, sink, clock


def first(events, wanted) -> Event:
    return next(e for e in events if wanted(e))


def said(sink: FakeSink) -> list[str]:
    return [pcm.decode() for _, pcm in sink.plays]


# Two feet, two rounds on each, and a hold of one to two minutes: where side, round and a range hold show.
BLOCKS = Routine(
    "Blocks",
    (
        Say("Sit down.", pause=2.0),
        Sides(("left foot", "right foot"), (
            Say("Lift this foot.", pause=2.0),
            Repeat(2, (Say("Press the arch.", hold=Hold(60.0, 120.0)), Say("Rest.", pause=2.0))),
        )),
    ),
    reminders=("Stop if it hurts.",),
)

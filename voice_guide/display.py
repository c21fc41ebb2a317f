"""What the player shows: a live view on a terminal (rich), plain log lines otherwise (piped, CI), and the speech
engine's warnings, each once."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Callable, Sequence, TextIO

from .commands import NEXT, QUIT, REPEAT
from .env import Environment
from .keys import HELP_FORMS
from .phrases import DEFAULT_LANGUAGE, Phrases, phrases_for
from .scheduler import Listener, Played, PlayResult, step_of
from .timefmt import clock
from .timeline import CLOSING, INSTRUCTION, SAMPLE_RATE, SPEECH, Event, StepOutline

Known = Callable[[], "tuple[tuple[Event, ...], bool]"]  # (events compiled so far, all of them?)


@dataclass(frozen=True)
class Playhead:
    """How the screen asks the player where it is: sample heard now, paused or not, events known so far."""

    position: Callable[[], int]
    paused: Callable[[], bool]
    known: Known
    # With --listen: the last spoken command taken ("" before the first), None when not listening.
    heard: Callable[[], "str | None"] = lambda: None


@dataclass(frozen=True)
class View:
    """Where the routine is, in words and seconds; None where not known yet (still being synthesized)."""

    step: int  # 0 in the introduction, steps_total + 1 in the closing
    steps_total: int
    text: str
    step_left: float | None
    routine_left: float | None
    next_text: str | None
    paused: bool = False
    label: str | None = None  # inside blocks: which side, which round ("Left foot, round 2 of 3")
    stop_left: float | None = None  # a range hold: seconds until "you can stop here" (0 once it is said)
    # The phrases the routine is said in: what is shown is in that language (None: English).
    shown: Phrases | None = field(default=None, compare=False, repr=False)

    @property
    def heading(self) -> str:
        say = self.shown or phrases_for(DEFAULT_LANGUAGE)
        if self.step == 0:
            return say.shown_introduction()
        if self.step > self.steps_total:
            return say.shown_closing()
        where = f" · {self.label}" if self.label else ""
        return say.step_heading(self.step, self.steps_total) + where


def describe(
    events: Sequence[Event],
    complete: bool,
    position: int,
    steps: Sequence[StepOutline],
    *,
    paused: bool = False,
    sample_rate: int = SAMPLE_RATE,
    about: str | None = None,
    reminders: bool = True,
    say: Phrases | None = None,
) -> View:
    """The view at sample `position`, from the events known so far; pure. `reminders`: the routine has closing
    reminders (`reminders: none` drops them); `say`: the phrases it is said in (default English), which the
    view's own words are shown in.

    >>> from voice_guide.timeline import Event
    >>> events = [Event("speech", 0, 22050, "Relax.", 1, "instruction"), Event("silence", 22050, 44100, None, 1)]
    >>> view = describe(events, True, 22050, [StepOutline(1, "Relax.")])
    >>> view.heading, view.text, view.step_left, view.next_text
    ('Step 1 of 1', 'Relax.', 2.0, 'the closing reminders')
    """
    total_steps = len(steps)
    say = say or phrases_for(DEFAULT_LANGUAGE)
    if not events:
        return View(0, total_steps, say.getting_ready(), None, None, _title(steps, 1, reminders, say), paused,
                    shown=say)
    starts = [event.start for event in events]
    index = max(0, bisect_right(starts, position) - 1)
    of_events = _steps(events)
    step = of_events[index]
    if step > total_steps:
        step = total_steps + 1
    later = [i for i in range(index + 1, len(events)) if of_events[i] != of_events[index]]
    if later:
        step_end: int | None = events[later[0]].start
    else:
        step_end = events[-1].end if complete else None
    here = max(position, 0)
    step_left = max(0.0, (step_end - here) / sample_rate) if step_end is not None else None
    routine_left = max(0.0, (events[-1].end - here) / sample_rate) if complete else None
    label = stop_left = None
    if step == 0:
        text = about or say.introducing()  # the routine's own description, while its title is said
    elif step > total_steps:
        text = say.shown_end(reminders)
    else:
        text, label = steps[step - 1].text, steps[step - 1].label
        stop_left = _stop_left(events, steps[step - 1], here, sample_rate)
    return View(step, total_steps, text, step_left, routine_left, _title(steps, step + 1, reminders, say), paused,
                label, stop_left, shown=say)


def _stop_left(events: Sequence[Event], step: StepOutline, here: int, sample_rate: int) -> float | None:
    """Seconds until a range hold's lower bound ("you can stop here"), counted from the end of the step's words,
    where its hold begins; None for other steps, or while those words are not compiled yet."""
    if step.hold is None or not step.hold.is_range:
        return None
    words = next((e for e in events if e.step == step.number and e.role == INSTRUCTION and e.kind == SPEECH), None)
    if words is None:
        return None
    return max(0.0, (words.end + step.hold.minimum * sample_rate - here) / sample_rate)


def _steps(events: Sequence[Event]) -> list[int]:
    """Each event's step (see scheduler.step_of)."""
    out: list[int] = []
    for event in events:
        out.append(step_of(event, out[-1] if out else 0))
    return out


def _title(steps: Sequence[StepOutline], step: int, reminders: bool, say: Phrases) -> str | None:
    if 1 <= step <= len(steps):
        return steps[step - 1].text
    if step == len(steps) + 1:
        return say.next_is_the_end(reminders)
    return None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def clock_text(seconds: float | None) -> str:
    """A time left as the view shows it (timefmt.clock), or an ellipsis when not known yet.

    >>> clock_text(75.4), clock_text(None)
    ('1:15', '…')
    """
    return "…" if seconds is None else clock(seconds)


class SpeechWarnings(Listener):
    """Writes the speech engine's warnings (a voice not found...), each once: those there when the first sound
    plays, then at the end any that arose since."""

    def __init__(self, env: Environment, warnings: Callable[[], tuple[str, ...]]):
        self._env, self._warnings, self._started = env, warnings, False
        self._shown: set[str] = set()

    def playing(self, played: object) -> None:
        if not self._started:
            self._started = True
            self.now()

    def now(self, quietly: bool = False) -> None:
        """Write the new ones; `quietly`: a failure to find them out (the engine is missing) is left to the
        error already on its way."""
        try:
            warnings = self._warnings()
        except Exception:
            if not quietly:
                raise
            return
        for warning in warnings:
            if warning not in self._shown:
                self._shown.add(warning)
                self._env.warn(warning)


class LogDisplay(Listener):
    """Plain lines, one per thing said or done, for a log or a pipe."""

    def __init__(
        self, stream: TextIO, title: str, steps: Sequence[StepOutline], sample_rate: int = SAMPLE_RATE,
        about: str | None = None, reminders: bool = True,
    ):
        self._out: TextIO | None = stream
        self._title = title
        self._about = about
        self._steps = steps
        self._reminders = reminders
        self._rate = sample_rate
        self._seen_step = 0
        self._started = False

    def _line(self, text: str) -> None:
        if self._out is None:
            return
        try:
            print(text, file=self._out, flush=True)
        except OSError:  # the reader went away (`play | head`) or the disk is full: the routine goes on unlogged
            self._out = None

    def _begin(self) -> None:
        if not self._started:
            self._started = True
            self._line(f"Playing: {self._title} ({_plural(len(self._steps), 'step')})")
            if self._about:
                self._line(f"  {self._about}")

    def playing(self, played: Played) -> None:
        self._begin()
        event = played.event
        if event.kind != SPEECH:
            return
        at = clock_text(event.start / self._rate)
        if event.step is not None:
            where = f"step {event.step}/{len(self._steps)}"
        else:
            where = "closing" if event.role == CLOSING else "intro"
        said = f"{event.label}: {event.text}" if event.label and event.role == INSTRUCTION else event.text
        self._line(f"{at}  {where:<11} {said}")

    def oriented(self, event: Event) -> None:
        self._begin()
        self._line(f"starting at {self._step_named(event.step)}: {event.text}")

    def _step_named(self, number: int | None) -> str:
        label = self._steps[number - 1].label if number and number <= len(self._steps) else None
        return f"step {number}/{len(self._steps)}" + (f" ({label})" if label else "")

    def paused(self) -> None:
        self._line("paused (space to resume)")

    def resumed(self) -> None:
        self._line("resumed")

    def jumped(self, command: str, event: Event) -> None:
        if command == QUIT:
            self._line("quitting: the closing reminders first")
        elif event.step is not None:
            word = {NEXT: "next", REPEAT: "again"}.get(command, "back")
            self._line(f"{word}: {self._step_named(event.step)}")
        else:
            self._line("back: the beginning")

    def finished(self, result: PlayResult) -> None:
        self._line("Stopped early; the reminders were said." if result.quit_early else "Done.")

    def __enter__(self) -> "LogDisplay":
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


class LiveDisplay(LogDisplay):
    """A live panel: step n of N, its words, time left in the step and in the routine, what comes next."""

    REFRESH_PER_SECOND = 4  # enough for a seconds countdown; light on the thread that keeps time

    def __init__(
        self,
        stream: TextIO,
        title: str,
        steps: Sequence[StepOutline],
        playhead: Playhead,
        *,
        keys: bool,
        sample_rate: int = SAMPLE_RATE,
        about: str | None = None,
        reminders: bool = True,
        say: Phrases | None = None,
    ):
        super().__init__(stream, title, steps, sample_rate, about, reminders)
        self._say = say
        self._playhead = playhead
        self._keys = keys
        self._live = None

    def view(self) -> View:
        events, complete = self._playhead.known()
        position, paused = self._playhead.position(), self._playhead.paused()
        return describe(events, complete, position, self._steps, paused=paused, sample_rate=self._rate,
                        about=self._about, reminders=self._reminders, say=self._say)

    def __rich_console__(self, console, options):
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        view = self.view()
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", justify="right")
        grid.add_column()
        heading = Text(view.heading, style="bold cyan")
        if view.paused:
            heading.append("   ⏸ paused", style="bold yellow")
        grid.add_row("", heading)
        grid.add_row("", Text(view.text, style="bold"))
        grid.add_row("step left", clock_text(view.step_left))
        if view.stop_left is not None:
            grid.add_row("can stop", "now" if view.stop_left <= 0 else f"in {clock_text(view.stop_left)}")
        grid.add_row("routine left", clock_text(view.routine_left))
        if view.next_text:
            grid.add_row("next", Text(view.next_text, style="italic"))
        heard = self._playhead.heard()
        if heard is not None:
            grid.add_row("listening", Text(f"heard: {heard}" if heard else "say: pause, next step, stop now …",
                                           style="green"))
        # A steady width: the panel must not jump about as the words in it change.
        width = min(options.max_width, 76)
        yield Panel(grid, title=Text(self._title, style="bold"), subtitle=footer(self._keys, width), width=width)

    def _start(self) -> None:
        if self._live is not None:
            return
        from rich.console import Console
        from rich.live import Live

        # Started with the first sound, so a missing device is one plain line, not a flash of the panel.
        self._live = Live(
            self, console=Console(file=self._out), refresh_per_second=self.REFRESH_PER_SECOND,
            redirect_stdout=False, redirect_stderr=False,
        )
        self._live.start()

    def playing(self, played: Played) -> None:
        self._start()

    def paused(self) -> None:
        self._refresh()

    def resumed(self) -> None:
        self._refresh()

    def jumped(self, command: str, event: Event) -> None:
        self._refresh()

    def oriented(self, event: Event) -> None:
        self._start()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def finished(self, result: PlayResult) -> None:
        self._stop()
        super().finished(result)

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __exit__(self, *exc_info: object) -> None:
        self._stop()


def footer(keys: bool, width: int) -> str:
    """The panel's bottom line: the longest key help that fits a panel `width` columns wide, so `q quit` shows
    however narrow the terminal.

    >>> footer(True, 76), footer(True, 40), footer(False, 40)
    ('space pause · n next · b back · q quit · Ctrl+C stop now', 'space · n · b · q quit', 'hands-free')
    """
    if not keys:
        return "hands-free"
    room = width - 6  # the corners, and a space and a rule either side of the text
    return next((text for text in HELP_FORMS if len(text) <= room), HELP_FORMS[-1])


def make_display(
    env: Environment,
    title: str,
    steps: Sequence[StepOutline],
    playhead: Playhead,
    *,
    keys: bool,
    about: str | None = None,
    reminders: bool = True,
    say: Phrases | None = None,
) -> LogDisplay:
    """A live view when stdout is a terminal, log lines otherwise; `about` (the routine's) is shown first, and
    the view's words are in the language of `say`, the phrases the routine is said in."""
    if env.stdout_isatty:
        return LiveDisplay(env.stdout, title, steps, playhead, keys=keys, about=about, reminders=reminders, say=say)
    return LogDisplay(env.stdout, title, steps, about=about, reminders=reminders)

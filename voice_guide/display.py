"""What the player shows: a live view on a terminal (rich), plain log lines otherwise (piped, CI)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Sequence, TextIO

from .env import Environment
from .keys import HELP as KEY_HELP
from .commands import NEXT, QUIT
from .scheduler import Listener, Played, PlayResult, step_of
from .timefmt import clock
from .timeline import CLOSING, SAMPLE_RATE, SPEECH, Event

Known = Callable[[], "tuple[tuple[Event, ...], bool]"]  # (events compiled so far, all of them?)


@dataclass(frozen=True)
class Playhead:
    """How the screen asks the player where it is: sample heard now, paused or not, events known so far."""

    position: Callable[[], int]
    paused: Callable[[], bool]
    known: Known


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

    @property
    def heading(self) -> str:
        if self.step == 0:
            return "Introduction"
        if self.step > self.steps_total:
            return "Closing"
        return f"Step {self.step} of {self.steps_total}"


def describe(
    events: Sequence[Event],
    complete: bool,
    position: int,
    step_titles: Sequence[str],
    *,
    paused: bool = False,
    sample_rate: int = SAMPLE_RATE,
    about: str | None = None,
) -> View:
    """The view at sample `position`, from the events known so far; pure.

    >>> from voice_guide.timeline import Event
    >>> events = [Event("speech", 0, 22050, "Relax.", 1, "instruction"), Event("silence", 22050, 44100, None, 1)]
    >>> view = describe(events, True, 22050, ["Relax."])
    >>> view.heading, view.text, view.step_left, view.next_text
    ('Step 1 of 1', 'Relax.', 2.0, 'the closing reminders')
    """
    total_steps = len(step_titles)
    if not events:
        return View(0, total_steps, "Getting ready", None, None, _title(step_titles, 1), paused)
    starts = [event.start for event in events]
    index = max(0, bisect_right(starts, position) - 1)
    steps = _steps(events)
    step = steps[index]
    if step > total_steps:
        step = total_steps + 1
    later = [i for i in range(index + 1, len(events)) if steps[i] != steps[index]]
    if later:
        step_end: int | None = events[later[0]].start
    else:
        step_end = events[-1].end if complete else None
    here = max(position, 0)
    step_left = max(0.0, (step_end - here) / sample_rate) if step_end is not None else None
    routine_left = max(0.0, (events[-1].end - here) / sample_rate) if complete else None
    if step == 0:
        text = about or "Introduction"  # the routine's own description, while its title is said
    elif step > total_steps:
        text = "The end, and a few reminders"
    else:
        text = _title(step_titles, step) or ""
    return View(step, total_steps, text, step_left, routine_left, _title(step_titles, step + 1), paused)


def _steps(events: Sequence[Event]) -> list[int]:
    """Each event's step (see scheduler.step_of)."""
    out: list[int] = []
    for event in events:
        out.append(step_of(event, out[-1] if out else 0))
    return out


def _title(step_titles: Sequence[str], step: int) -> str | None:
    if 1 <= step <= len(step_titles):
        return step_titles[step - 1]
    if step == len(step_titles) + 1:
        return "the closing reminders"
    return None


def clock_text(seconds: float | None) -> str:
    """A time left as the view shows it (timefmt.clock), or an ellipsis when not known yet.

    >>> clock_text(75.4), clock_text(None)
    ('1:15', '…')
    """
    return "…" if seconds is None else clock(seconds)


class LogDisplay(Listener):
    """Plain lines, one per thing said or done, for a log or a pipe."""

    def __init__(
        self, stream: TextIO, title: str, step_titles: Sequence[str], sample_rate: int = SAMPLE_RATE,
        about: str | None = None,
    ):
        self._out = stream
        self._title = title
        self._about = about
        self._titles = step_titles
        self._rate = sample_rate
        self._seen_step = 0
        self._started = False

    def _line(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def playing(self, played: Played) -> None:
        if not self._started:
            self._started = True
            self._line(f"Playing: {self._title} ({len(self._titles)} steps)")
            if self._about:
                self._line(f"  {self._about}")
        event = played.event
        if event.kind != SPEECH:
            return
        at = clock_text(event.start / self._rate)
        if event.step is not None:
            where = f"step {event.step}/{len(self._titles)}"
        else:
            where = "closing" if event.role == CLOSING else "intro"
        self._line(f"{at}  {where:<11} {event.text}")

    def paused(self) -> None:
        self._line("paused (space to resume)")

    def resumed(self) -> None:
        self._line("resumed")

    def jumped(self, command: str, event: Event) -> None:
        if command == QUIT:
            self._line("quitting: the closing reminders first")
        elif event.step is not None:
            self._line(f"{'next' if command == NEXT else 'back'}: step {event.step}/{len(self._titles)}")
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
        step_titles: Sequence[str],
        playhead: Playhead,
        *,
        keys: bool,
        sample_rate: int = SAMPLE_RATE,
        about: str | None = None,
    ):
        super().__init__(stream, title, step_titles, sample_rate, about)
        self._playhead = playhead
        self._keys = keys
        self._live = None

    def view(self) -> View:
        events, complete = self._playhead.known()
        position, paused = self._playhead.position(), self._playhead.paused()
        return describe(events, complete, position, self._titles, paused=paused, sample_rate=self._rate,
                        about=self._about)

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
        grid.add_row("routine left", clock_text(view.routine_left))
        if view.next_text:
            grid.add_row("next", Text(view.next_text, style="italic"))
        subtitle = KEY_HELP if self._keys else "hands-free"
        # A steady width: the panel must not jump about as the words in it change.
        yield Panel(grid, title=Text(self._title, style="bold"), subtitle=subtitle, width=min(options.max_width, 76))

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


def make_display(
    env: Environment,
    title: str,
    step_titles: Sequence[str],
    playhead: Playhead,
    *,
    keys: bool,
    about: str | None = None,
) -> LogDisplay:
    """A live view when stdout is a terminal, log lines otherwise; `about` (the routine's) is shown first."""
    if env.stdout_isatty:
        return LiveDisplay(env.stdout, title, step_titles, playhead, keys=keys, about=about)
    return LogDisplay(env.stdout, title, step_titles, about=about)

"""The compiled timeline: a flat, ordered list of events with exact sample offsets.

Every sample of the routine belongs to exactly one event; events are contiguous
(each starts where the previous one ends). Player and renderer both walk this list.
"""

from __future__ import annotations

from collections import namedtuple

from .routine import Voice

SAMPLE_RATE = 22050  # espeak-ng's native rate: no resampling of speech, ever

SPEECH = "speech"
CHIME = "chime"
SILENCE = "silence"

# Gaps, in seconds. They give the listener time to take in one line before the next.
AFTER_CHIME = 0.35
AFTER_INTRO = 1.2
AFTER_ANNOUNCEMENT = 0.5
DEFAULT_PAUSE = 1.5  # after a step's words when it has neither pause nor hold
BETWEEN_REMINDERS = 0.7
TAIL = 1.5  # after the last word, so the file does not end abruptly
LEAD_IN = 0.4  # before the first word when there is no chime (Bluetooth headphones wake up on sound)

# What a speech event is for: the player and exporter use it (quitting jumps to the closing).
INTRO = "intro"  # the title and length, at the start
INSTRUCTION = "instruction"  # a step's own words
ANNOUNCEMENT = "announcement"  # "Round two of three.", "Now your right foot."
CUE = "cue"  # during a hold: remaining time, halfway, "you can stop now"
CLOSING = "closing"  # the end and the safety reminders

# The stretches before the first step and from the closing on, as chapters and split parts name them.
INTRODUCTION_TITLE = "Introduction"
CLOSING_TITLE = "Closing"


# The timeline's values are named tuples (immutable; a changed copy is `_replace`'s): the compiler is imported before
# the first sound, and a named tuple's class is made in an eighth of a frozen dataclass's instructions.


class Event(namedtuple("Event", ("kind", "start", "length", "text", "step", "role", "label"),
                       defaults=(None, None, None, None))):
    """One stretch of the timeline: speech, a chime, or silence (`kind`), `length` samples from `start`. `step` is
    the 1-based number of the (expanded) step, None for the opening and closing; `role` one of the roles above for
    speech and chimes, None for silence; `label`, for instructions inside blocks, where they are ("Left foot, round
    2 of 3")."""

    __slots__ = ()

    @property
    def end(self) -> int:
        return self.start + self.length


class StepSpan(namedtuple("StepSpan", ("number", "title", "start", "end"))):
    """Where one expanded step lies in the timeline (samples `start` to `end`), named by its instruction (for display
    and chapters)."""

    __slots__ = ()


class StepOutline(namedtuple("StepOutline", ("number", "text", "label", "hold", "orientation"),
                             defaults=(None, None, None))):
    """An expanded step as known before any speech is made: what the screen shows and `--start-at` says. `text` is
    its instruction; `label`, inside blocks, where it is ("Left foot, round 2 of 3"); `hold` its Hold (None: none);
    `orientation` what is said first when playing starts here and the step's own lines do not say where."""

    __slots__ = ()


class Timeline(namedtuple("Timeline", ("title", "events", "voice", "sample_rate", "about", "warnings", "language",
                                       "section_titles"),
                          defaults=(SAMPLE_RATE, None, (), "en", (INTRODUCTION_TITLE, CLOSING_TITLE)))):
    """A compiled routine: its `title`, `events` (a tuple of Event) and `about`. `voice` is the resolved voice every
    speech event was measured with; `warnings` are messages for the user; `language` is the catalogue the tool's
    own phrases came from (a BCP 47 tag), and `section_titles` the introduction's and the closing's titles
    (chapters, split parts) in that language."""

    __slots__ = ()

    @property
    def total(self) -> int:
        """Length in samples."""
        return self.events[-1].end if self.events else 0

    @property
    def total_seconds(self) -> float:
        return self.total / self.sample_rate

    @property
    def closing_start(self) -> int:
        """Sample where the closing (end chime and reminders) begins; quitting early jumps here."""
        for event in self.events:
            if event.role == CLOSING:
                return event.start
        return self.total

    def steps(self) -> tuple[StepSpan, ...]:
        """Each expanded step with its span, in order."""
        spans: dict[int, list] = {}
        for event in self.events:
            if event.step is None:
                continue
            span = spans.get(event.step)
            if span is None:
                spans[event.step] = [event.start, event.end, None]
                span = spans[event.step]
            span[1] = event.end
            if span[2] is None and event.role == INSTRUCTION:
                span[2] = f"{event.label}: {event.text}" if event.label else event.text
        return tuple(
            StepSpan(number, title or f"Step {number}", start, end)
            for number, (start, end, title) in sorted(spans.items())
        )

    def sections(self) -> tuple[StepSpan, ...]:
        """The whole timeline in order, without gaps: the introduction (number 0), each step, the closing
        (the reminders; numbered after the last step). What chapters and split parts are made of.

        >>> events = (Event("speech", 0, 10, "Hi."), Event("speech", 10, 5, "Sit.", step=1, role="instruction"),
        ...           Event("speech", 15, 7, "Stop if it hurts.", role="closing"))
        >>> [(s.number, s.title, s.start, s.end) for s in Timeline("T", events, Voice()).sections()]
        [(0, 'Introduction', 0, 10), (1, 'Sit.', 10, 15), (2, 'Closing', 15, 22)]
        """
        steps = self.steps()
        bounds: list[tuple[int, str, int]] = []
        if not steps or steps[0].start > 0:
            bounds.append((0, self.section_titles[0], 0))
        bounds += [(span.number, span.title, span.start) for span in steps]
        closing = self.closing_start
        if steps and steps[-1].start < closing < self.total:
            bounds.append((steps[-1].number + 1, self.section_titles[1], closing))
        sections = []
        for index, (number, title, start) in enumerate(bounds):
            end = bounds[index + 1][2] if index + 1 < len(bounds) else self.total
            if end > start:
                sections.append(StepSpan(number, title, start, end))
        return tuple(sections)

"""The timeline compiler: Routine -> flat list of events with exact sample offsets. Pure and deterministic.

Compiling has two steps. `script()` expands the routine (repeats, sides, cues, the opening and the closing)
into a flat list of parts whose words are known but whose spoken lengths are not. `iter_events()` lays the parts
out on the sample grid, asking `length(text)` for each spoken line as it goes, so a player can start as soon as
the first lines are synthesized while the rest are still being made.
"""

from __future__ import annotations

import math
from collections import namedtuple

from .chime import CHIME_LENGTH
from .errors import BadInputError
from .phrases import Choice, Phrases, choose, phrases_for
from .routine import (
    COUNTDOWN_MIN_HOLD, CUE_MIN_REMAINING, DEFAULT_LOUDNESS, MAX_TOTAL, Hold, Repeat, Routine, Say, Sides, Step, Voice,
)
from .targets import CHIME_BLOCK_SECONDS, ClipTargets, block_seconds, clip_targets
from .timefmt import compact
from .timeline import (  # with the gaps: they are the timeline's, and the scheduler needs them without the compiler
    AFTER_ANNOUNCEMENT,
    AFTER_CHIME,
    AFTER_INTRO,
    ANNOUNCEMENT,
    BETWEEN_REMINDERS,
    CHIME,
    CLOSING,
    CUE,
    DEFAULT_PAUSE,
    INSTRUCTION,
    INTRO,
    LEAD_IN,
    SAMPLE_RATE,
    SILENCE,
    SPEECH,
    TAIL,
    Event,
    StepOutline,
    Timeline,
)

TYPE_CHECKING = False  # `typing` is not imported on the path to the first sound (see checkmemo)
if TYPE_CHECKING:
    from typing import Callable, Iterator

    Length = Callable[[str], int]

# Cues during a hold.
CUE_GAP = 0.4  # at least this much quiet between two spoken lines
COUNTDOWN_GAP = 0.1  # between the numbers of a countdown, said one a second
CUE_MAX_SHIFT = 1.5  # a cue may start this much late to avoid overlapping; later than that it is dropped
CUE_MERGE_WINDOW = 1.0  # cues this close together are said as one line
# Every different line is synthesized (and cached) before or while a routine plays; the bundled routines need
# 14-18, a four-hour hold with a cue every 15 s about 960. More is a mistake (every: 0.01s), not a routine.
MAX_SPOKEN_LINES = 1000
AFTER_HOLD_END = 0.5  # after the release cue or the end tone

# espeak-ng says about ten characters of English per second for every word per minute (measured on the bundled
# routines: 0.065 s a character at 150 wpm, 0.056 at 190); good enough for "about eight minutes".
SECONDS_PER_CHARACTER_AT_ONE_WPM = 10.0


def _english() -> Phrases:
    """For messages to the user: they are in English, whatever the routine's language."""
    return phrases_for("en")


# The parts of a script are named tuples (immutable, as the values of the routine and the timeline are):
# the opening check makes a script before the first sound, and a named tuple's class is made in an eighth of a frozen
# dataclass's instructions (no generated methods to compile).


class Sound(namedtuple("Sound", ("kind", "role", "step", "text", "gap_after", "label", "where", "hold"),
                       defaults=(None, 0.0, None, (), None))):
    """A chime or a spoken line (`kind`, `role` and `text` as in timeline.Event), followed by `gap_after` seconds of
    quiet; `step` is the expanded step's number (None: the opening and the closing). Instructions inside blocks have
    a `label` (which side, which round) and `where`, the same as said aloud ("your left foot", "round two of three"),
    outer first; an instruction's hold is `hold`."""

    __slots__ = ()


class Cue(namedtuple("Cue", ("at", "text", "countdown"), defaults=(False,))):
    """A line said `at` seconds into a hold; `countdown`: a countdown number, one a second, so the quiet after it
    may be short."""

    __slots__ = ()


class HoldWindow(namedtuple("HoldWindow", ("step", "seconds", "cues", "where", "every"), defaults=(None,))):
    """A timed stretch of `seconds`, silent but for its `cues`. `where` names the step for warnings; `every` is the
    step's 'every', to suggest one that fits when its cues collide."""

    __slots__ = ()


Part = Sound | HoldWindow


def estimated_length(text: str) -> int:
    """A line's spoken length in samples estimated from its characters, at 150 wpm (no synthesis).

    >>> estimated_length("Sit down.")
    13230
    """
    return max(1, _samples(len(text) * SECONDS_PER_CHARACTER_AT_ONE_WPM / 150))


def language(routine: Routine, voice: Voice | None = None) -> Choice:
    """The phrases a routine is compiled with: its `language:`, else its voice's language, else English;
    with the warnings about that choice.

    >>> from voice_guide.routine import Routine, Say
    >>> language(Routine("Demo", (Say("Relax."),), language="de")).phrases.language
    'de'
    """
    return choose(routine.language, voice.language if voice else None)


def script(
    routine: Routine, *, voice: Voice | None = None, chime: bool | None = None, phrases: Phrases | None = None,
    listening: bool = False,
) -> tuple[Part, ...]:
    """The routine expanded into parts, in order; pure. The tool's own words come from `phrases` (by
    default those of `language(routine, voice)`). `listening`: the player takes spoken commands, and a range
    hold's "you can stop here" says which to give.

    >>> from voice_guide.routine import Routine, Say
    >>> [p.text for p in script(Routine("Demo", (Say("Relax."),)), chime=False) if p.text][:3]
    ['Demo. This routine takes less than a minute.', 'Relax.', "That's the end of the routine."]
    >>> [p.text for p in script(Routine("Demo", (Say("Entspannen."),), language="de"), chime=False)][-3]
    'Die Übung ist zu Ende.'
    """
    say = phrases or language(routine, voice).phrases
    use_chime = routine.chime if chime is None else chime
    body: list[Part] = []
    counter = _StepCounter()
    _Expansion(say, use_chime, routine.hold_end, routine.source, counter, body, listening).steps(
        routine.steps, (), ())
    _check_lines(body, routine.source)
    closing = _closing(routine, use_chime, say)
    rate = (voice.rate if voice and voice.rate else None) or 150
    opening: list[Part] = []
    if routine.intro:
        opening.append(Sound(SPEECH, INTRO, None, routine.intro, AFTER_INTRO))
    estimate = _estimate_seconds(opening + body + closing, rate)
    intro: list[Part] = []
    if use_chime:
        intro.append(Sound(CHIME, INTRO, None, gap_after=AFTER_CHIME))
    intro.append(Sound(SPEECH, INTRO, None, say.introduction(routine.title, estimate), AFTER_INTRO))
    return tuple(intro + opening + body + closing)


def estimate_seconds(routine: Routine, *, voice: Voice | None = None, chime: bool | None = None) -> float:
    """A rough length of the routine from its words and timings, without synthesizing anything."""
    parts = script(routine, voice=voice, chime=chime)
    rate = (voice.rate if voice and voice.rate else None) or 150
    return _estimate_seconds(list(parts), rate)


def check_length(routine: Routine, *, voice: Voice | None = None, chime: bool | None = None) -> None:
    """Refuse a routine that runs longer than MAX_TOTAL with its spoken lines, as estimated (the real length is
    known only as the lines are made): a player calls this before any sound (BadInputError)."""
    estimate = estimate_seconds(routine, voice=voice, chime=chime)
    if estimate > MAX_TOTAL:
        raise BadInputError(f"{routine.source}: the routine runs about {compact(estimate)} with its spoken "
                            f"lines; a routine must be at most {compact(MAX_TOTAL)} in all: "
                            "shorten a hold or a pause")


def sounding_seconds(
    routine: Routine, *, voice: Voice | None = None, chime: bool | None = None, listening: bool = False
) -> tuple[list[float], int]:
    """Each spoken line's rough length in seconds (one entry per time it is said) and how many chimes sound:
    what the loudness of the whole file depends on, known before anything is synthesized. The script is the
    one played or exported (the phrases of `language(routine, voice)`, `listening` as the player's).

    >>> from voice_guide.routine import Routine, Say
    >>> lines, chimes = sounding_seconds(Routine("Demo", (Say("Relax."),)))
    >>> len(lines), chimes
    (5, 3)
    """
    rate = (voice.rate if voice and voice.rate else None) or 150
    spoken: list[float] = []
    chimes = 0
    for part in script(routine, voice=voice, chime=chime, listening=listening):
        if isinstance(part, HoldWindow):
            spoken += [_speaking_seconds(cue.text, rate) for cue in part.cues]
        elif part.kind == CHIME:
            chimes += 1
        else:
            spoken.append(_speaking_seconds(part.text or "", rate))
    return spoken, chimes


def routine_targets(routine: Routine, voice: Voice, *, chime: bool | None = None, listening: bool = False,
                    loudness: float | None = None) -> ClipTargets:
    """What a routine's clips are levelled to (targets.clip_targets), from its script as `voice` (rate; the voice
    as asked for, not as resolved) would say it in the routine's `language:` (English without one).

    Nothing here waits for the speech engine, so the player knows the opening chime's level before the engine
    has started; a voice of another language changes only the tool's own phrases, a small share of the spoken
    seconds (a 20 % error in them moves a file by less than 0.1 LU), and play and export share this rule.
    """
    use_chime = routine.chime if chime is None else chime
    spoken, chimes = sounding_seconds(routine, voice=voice._replace(language=None), chime=use_chime,
                                      listening=listening)
    return clip_targets(
        DEFAULT_LOUDNESS if loudness is None else loudness,
        speech_seconds=sum(block_seconds(seconds) for seconds in spoken),
        chime_seconds=chimes * CHIME_BLOCK_SECONDS,
    )


def texts(routine: Routine, *, voice: Voice | None = None, chime: bool | None = None,
          listening: bool = False) -> list[str]:
    """Every line the routine speaks, each once, in order of first use (what to synthesize first)."""
    seen: dict[str, None] = {}
    for part in script(routine, voice=voice, chime=chime, listening=listening):
        if isinstance(part, Sound) and part.text is not None:
            seen.setdefault(part.text)
        elif isinstance(part, HoldWindow):
            for cue in part.cues:
                seen.setdefault(cue.text)
    return list(seen)


def outline(routine: Routine, *, voice: Voice | None = None) -> tuple[StepOutline, ...]:
    """Each expanded step, in order, its round labels and the line said when playing starts inside a block in
    the phrases of `language(routine, voice)`: what is shown is in the language of what is said.

    >>> from voice_guide.routine import Routine, Say, Sides
    >>> steps = outline(Routine("Demo", (Sides(("left foot", "right foot"), (Say("Lift."), Say("Press."))),)))
    >>> [(s.text, s.label) for s in steps][:2]
    [('Lift.', 'Left foot'), ('Press.', 'Left foot')]
    >>> steps[0].orientation, steps[1].orientation
    (None, 'Picking up with your left foot.')
    """
    say = language(routine, voice).phrases
    parts = [part for part in script(routine, phrases=say) if isinstance(part, Sound) and part.step]
    announced: dict[int, int] = {}
    for part in parts:
        if part.role == ANNOUNCEMENT:
            announced[part.step] = announced.get(part.step, 0) + 1
    out = []
    for part in parts:
        if part.role == INSTRUCTION and part.text and part.step not in {step.number for step in out}:
            # Blocks that begin at this step announce themselves; those begun earlier are the outer ones.
            unsaid = part.where[: len(part.where) - announced.get(part.step, 0)]
            orientation = say.picking_up(unsaid) if unsaid else None
            out.append(StepOutline(part.step, part.text, part.label, part.hold, orientation))
    return tuple(out)


def iter_events(
    routine: Routine,
    length: Length,
    *,
    voice: Voice | None = None,
    chime: bool | None = None,
    warn: Callable[[str], None] | None = None,
    listening: bool = False,
) -> Iterator[Event]:
    """The timeline's events, lazily: event k asks `length` only for lines up to k.

    `length(text)` gives a spoken line's length in samples. Silence fills every gap, so events are contiguous.
    """
    choice = language(routine, voice)
    parts = script(routine, voice=voice, chime=chime, phrases=choice.phrases, listening=listening)
    if warn is not None:
        for warning in routine_warnings(routine):
            warn(warning)
        for warning in choice.warnings:
            warn(f"{routine.source}: {warning}")
    layout = _Layout()
    if not isinstance(parts[0], Sound) or parts[0].kind != CHIME:
        yield from layout.quiet(_samples(LEAD_IN), None)
    for part in parts:
        if isinstance(part, Sound):
            n = CHIME_LENGTH if part.kind == CHIME else _spoken_length(length, part.text)
            yield from layout.sound(part.kind, n, part.text, part.step, part.role, part.label)
            yield from layout.quiet(_samples(part.gap_after), part.step)
        else:
            yield from _lay_out_hold(part, layout, length, warn or (lambda message: None))
    yield from layout.quiet(_samples(TAIL), None)
    if layout.cursor > _samples(MAX_TOTAL):
        raise BadInputError(
            f"{routine.source}: the routine runs {compact(layout.cursor / SAMPLE_RATE)} with its spoken "
            f"lines, its opening and its closing; a routine must be at most {compact(MAX_TOTAL)} in all: "
            "shorten a hold or a pause"
        )
    yield from layout.flush()
    yield from layout.flush()


def compile(
    routine: Routine, length: Length, *, voice: Voice | None = None, chime: bool | None = None
) -> Timeline:
    """The whole timeline of a routine, given each line's spoken length in samples.

    >>> from voice_guide.routine import Routine, Say
    >>> timeline = compile(Routine("Demo", (Say("Relax.", pause=2),)), lambda text: 22050)
    >>> round(timeline.total_seconds, 2) > 2
    True
    """
    warnings: list[str] = []
    events = tuple(iter_events(routine, length, voice=voice, chime=chime, warn=warnings.append))
    say = language(routine, voice).phrases
    return Timeline(
        title=routine.title,
        events=events,
        voice=voice or routine.voice,
        about=routine.about,
        warnings=tuple(dict.fromkeys(warnings)),  # a step in a repeat or sides block warns once, not per round
        language=say.tag,
        section_titles=(say.shown_introduction(), say.shown_closing()),
    )


def routine_warnings(routine: Routine) -> tuple[str, ...]:
    """What the user should hear of a routine before it plays: the loader's warnings and a dropped closing."""
    if routine.reminders != ():  # None: the default reminders
        return routine.warnings
    return routine.warnings + (
        f"{routine.source}: 'reminders: none' drops the closing safety reminders (stop if it hurts, ice "
        "afterward if sore); remove it to have them said",
    )


def closing_texts(routine: Routine, *, voice: Voice | None = None) -> list[str]:
    """The lines of the closing ("That's the end", then the reminders), in the phrases of
    `language(routine, voice)`: what must be ready early in `play`.

    >>> from voice_guide.routine import Routine, Say
    >>> closing_texts(Routine("Demo", (Say("Relax."),), reminders=("Stop if it hurts.",)))
    ["That's the end of the routine.", 'Stop if it hurts.']
    """
    say = language(routine, voice).phrases
    return [part.text for part in _closing(routine, False, say) if isinstance(part, Sound) and part.text]


def closing_events(
    routine: Routine, length: Length, *, chime: bool | None = None, voice: Voice | None = None
) -> tuple[Event, ...]:
    """The closing alone, laid out from sample 0 as a short timeline of its own: what the player says when the
    routine itself cannot go on (the engine failed, a disk filled up), so the reminders are still heard."""
    use_chime = routine.chime if chime is None else chime
    layout = _Layout()
    events: list[Event] = []
    if not use_chime:
        events += layout.quiet(_samples(LEAD_IN), None)
    for part in _closing(routine, use_chime, language(routine, voice).phrases):
        n = CHIME_LENGTH if part.kind == CHIME else _spoken_length(length, part.text)
        events += layout.sound(part.kind, n, part.text, None, CLOSING)
        events += layout.quiet(_samples(part.gap_after), None)
    events += layout.quiet(_samples(TAIL), None)
    events += layout.flush()
    return tuple(events)


# --- expansion -----------------------------------------------------------------------------------------------


class _StepCounter:
    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


class _Expansion:
    """Appends the parts of steps to `out`, with the phrases the tool adds around them."""

    def __init__(self, say: Phrases, use_chime: bool, hold_end: str, source: str, counter: _StepCounter,
                 out: list[Part], listening: bool = False):
        self.say, self.use_chime, self.source, self.counter, self.out = say, use_chime, source, counter, out
        self.listening = listening
        # With chimes, the next step's chime marks the end of a hold; without them "auto" is a tone.
        if hold_end == "auto":
            hold_end = "tone"
        if hold_end == "tone" and use_chime:
            hold_end = "none"
        self.hold_end = hold_end

    def steps(self, steps: tuple[Step, ...], announcements: tuple[str, ...], context: tuple[str, ...],
              spoken: tuple[str, ...] = ()) -> None:
        """`announcements` are said before the first of `steps` (after its chime), and `context` names the
        blocks they are in (it labels their chapters; `spoken` names them as said aloud)."""
        out = self.out
        for step in steps:
            if isinstance(step, Say):
                number = self.counter.next()
                if self.use_chime:
                    out.append(Sound(CHIME, INSTRUCTION, number, gap_after=AFTER_CHIME))
                for line in announcements:
                    out.append(Sound(SPEECH, ANNOUNCEMENT, number, line, AFTER_ANNOUNCEMENT))
                announcements = ()
                label = _capitalized(", ".join(context)) if context else None
                if step.hold is None:
                    pause = DEFAULT_PAUSE if step.pause is None else step.pause
                    out.append(Sound(SPEECH, INSTRUCTION, number, step.text, pause, label, spoken))
                else:
                    out.append(Sound(SPEECH, INSTRUCTION, number, step.text, label=label, where=spoken, hold=step.hold))
                    cues = _cues(step, self.say, self.source, self.listening)
                    out.append(HoldWindow(number, step.hold.maximum, cues, _cues_place(step, self.source),
                                          step.cues.every))
                    out.extend(self._hold_end(number))
            elif isinstance(step, Repeat):
                for round_number in range(1, step.times + 1):
                    many = step.times > 1
                    said = (self.say.round(round_number, step.times),) if many else ()
                    where = (self.say.round_label(round_number, step.times),) if many else ()
                    aloud = (self.say.round_in_sentence(round_number, step.times),) if many else ()
                    self.steps(step.steps, announcements + said, context + where, spoken + aloud)
                    announcements = ()
            elif isinstance(step, Sides):
                for index, side in enumerate(step.sides):
                    said = (self.say.side(side, first=index == 0),)
                    self.steps(step.steps, announcements + said, context + (side,),
                               spoken + (self.say.side_in_sentence(side),))
                    announcements = ()
            else:  # pragma: no cover - the loader builds only the three kinds
                raise TypeError(f"unknown step {step!r}")

    def _hold_end(self, number: int) -> list[Part]:
        if self.hold_end == "words":
            return [Sound(SPEECH, CUE, number, self.say.release(), AFTER_HOLD_END)]
        if self.hold_end == "tone":
            return [Sound(CHIME, CUE, number, gap_after=AFTER_HOLD_END)]
        return []


def _check_lines(body: list[Part], source: str) -> None:
    """Raise BadInputError when the routine needs more different spoken lines than MAX_SPOKEN_LINES (each one
    is synthesized and cached), naming the hold whose cues need the most."""
    lines: set[str] = set()
    per_hold: dict[str, set[str]] = {}
    for part in body:
        if isinstance(part, Sound) and part.text is not None:
            lines.add(part.text)
        elif isinstance(part, HoldWindow):
            texts = {cue.text for cue in part.cues}
            lines |= texts
            per_hold.setdefault(part.where, set()).update(texts)
    if len(lines) <= MAX_SPOKEN_LINES:
        return
    if per_hold:
        where, most = max(per_hold.items(), key=lambda item: len(item[1]))
        if len(most) > MAX_SPOKEN_LINES // 10:
            raise BadInputError(
                f"{where}: the cues of this hold need {len(most):,} different lines, and the routine "
                f"{len(lines):,} (at most {MAX_SPOKEN_LINES:,}): use a longer 'every'"
            )
    raise BadInputError(f"{source}: the routine needs {len(lines):,} different spoken lines (at most "
                        f"{MAX_SPOKEN_LINES:,}); say fewer different things, or split it into several routines")


def _closing(routine: Routine, use_chime: bool, say: Phrases) -> list[Part]:
    parts: list[Part] = []
    if use_chime:
        parts.append(Sound(CHIME, CLOSING, None, gap_after=AFTER_CHIME))
    reminders = say.reminders() if routine.reminders is None else routine.reminders
    lines = (say.ending(),) + tuple(reminders)
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        parts.append(Sound(SPEECH, CLOSING, None, line, 0.0 if last else BETWEEN_REMINDERS))
    return parts


def _cues(step: Say, say: Phrases, source: str = "<routine>", listening: bool = False) -> tuple[Cue, ...]:
    """The lines said during a hold, merged where they fall together, in time order; the countdown last."""
    hold: Hold = step.hold  # type: ignore[assignment]
    countdown = step.cues.countdown if step.cues.countdown and hold.maximum >= COUNTDOWN_MIN_HOLD else 0
    quiet_from = hold.maximum - countdown - CUE_MERGE_WINDOW if countdown else hold.maximum  # the countdown's
    wanted: list[tuple[float, int, str]] = []  # (time, priority, text): lower priority is said first
    if hold.is_range and hold.minimum < quiet_from:
        wanted.append((hold.minimum, 1, say.may_stop(hold.maximum - hold.minimum, listening)))
    if step.cues.halfway and hold.maximum / 2 < quiet_from:
        wanted.append((hold.maximum / 2, 0, say.halfway()))
    if step.cues.every:
        count = int(hold.maximum / step.cues.every)
        if count > MAX_SPOKEN_LINES:  # said before making them: each would be a line of its own
            where = f"{source}:{step.line}" if step.line else source
            fits = math.ceil(hold.maximum / MAX_SPOKEN_LINES)
            raise BadInputError(f"{where}: 'every: {_seconds(step.cues.every)}' in a hold of "
                                f"{compact(hold.maximum)} means {count:,} remaining-time cues, each a line to "
                                f"synthesize (a routine may need at most {MAX_SPOKEN_LINES:,}): use an 'every' of "
                                f"at least {compact(fits)}")
        k = 1
        while k * step.cues.every < hold.maximum:
            at = k * step.cues.every
            remaining = hold.maximum - at
            if remaining >= CUE_MIN_REMAINING and at < quiet_from:
                wanted.append((at, 2, say.remaining(remaining)))
            k += 1
    wanted.sort()
    merged: list[Cue] = []
    group: list[tuple[float, int, str]] = []
    for item in wanted:
        if group and item[0] - group[0][0] > CUE_MERGE_WINDOW:
            merged.append(_merge(group))
            group = []
        group.append(item)
    if group:
        merged.append(_merge(group))
    merged.extend(Cue(hold.maximum - n, say.countdown(n), countdown=True) for n in range(countdown, 0, -1))
    return tuple(merged)


def _cues_place(step: Say, source: str) -> str:
    """Where warnings about a hold's cues point: its 'cues:' (else the step, for a range's own cue)."""
    if step.cues.line:
        return f"{source}:{step.cues.line}:{step.cues.column}"
    return f"{source}:{step.line}" if step.line else source


def _merge(group: list[tuple[float, int, str]]) -> Cue:
    """One line for cues that fall together. The time left is said once: "you can stop here, or keep going
    for up to one minute more" already says it, and so does a remaining-time cue at the halfway point."""
    ordered = sorted(group, key=lambda item: item[1])
    priorities = {item[1] for item in ordered}
    if 1 in priorities:
        ordered = [item for item in ordered if item[1] != 2]
    elif 2 in priorities:
        ordered = [item for item in ordered if item[1] != 0]
    return Cue(at=group[0][0], text=" ".join(text for _, _, text in ordered))


def _seconds(seconds: float) -> str:
    """A duration for a message, a fraction of a second too ("0.01s")."""
    return compact(seconds) if seconds >= 1 else f"{seconds:g}s"


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _estimate_seconds(parts: list[Part], words_per_minute: int) -> float:
    """A rough length for the introduction ("about five minutes"), from words and timings alone.

    The introduction is said before the rest is synthesized, so it cannot use measured lengths.
    """
    total = 0.0
    for part in parts:
        if isinstance(part, HoldWindow):
            total += part.seconds
        elif part.kind == CHIME:
            total += CHIME_LENGTH / SAMPLE_RATE + part.gap_after
        else:
            total += _speaking_seconds(part.text or "", words_per_minute) + part.gap_after
    return total


def _speaking_seconds(text: str, words_per_minute: int) -> float:
    return len(text) * SECONDS_PER_CHARACTER_AT_ONE_WPM / words_per_minute


# --- layout --------------------------------------------------------------------------------------------------


def _samples(seconds: float) -> int:
    return int(round(seconds * SAMPLE_RATE))


def _spoken_length(length: Length, text: str | None) -> int:
    n = length(text or "")
    if n <= 0:
        raise ValueError(f"the spoken length of {text!r} is {n} samples; expected more than zero")
    return n


class _Layout:
    """Places events one after another; runs of quiet become one silence event."""

    def __init__(self) -> None:
        self.cursor = 0
        self._quiet_start: int | None = None
        self._quiet_step: int | None = None

    def sound(
        self, kind: str, n: int, text: str | None, step: int | None, role: str, label: str | None = None
    ) -> Iterator[Event]:
        yield from self.flush()
        yield Event(kind, self.cursor, n, text, step, role, label)
        self.cursor += n

    def quiet(self, n: int, step: int | None) -> Iterator[Event]:
        if n <= 0:
            return
        if self._quiet_start is not None and self._quiet_step != step:
            yield from self.flush()
        if self._quiet_start is None:
            self._quiet_start, self._quiet_step = self.cursor, step
        self.cursor += n

    def flush(self) -> Iterator[Event]:
        if self._quiet_start is not None and self.cursor > self._quiet_start:
            yield Event(SILENCE, self._quiet_start, self.cursor - self._quiet_start, None, self._quiet_step)
        self._quiet_start = None


def _lay_out_hold(hold: HoldWindow, layout: _Layout, length: Length, warn: Callable[[str], None]) -> Iterator[Event]:
    start = layout.cursor
    end = start + _samples(hold.seconds)
    gap = _samples(CUE_GAP)
    earliest = start + gap  # the hold begins right after the instruction's words
    trouble: list[str] = []  # what went wrong with each cue, told as one warning if there are several
    moved = 0
    longest = 0
    for cue in hold.cues:
        wanted = start + _samples(cue.at)
        n = _spoken_length(length, cue.text)
        longest = max(longest, n)
        at = max(wanted, earliest)
        late = (at - wanted) / SAMPLE_RATE
        said_at = f"{hold.where}: the cue {cue.text!r} at {_english().duration(cue.at)}"
        if late > CUE_MAX_SHIFT:
            trouble.append(f"{said_at} would overlap the line before it; it is left out")
            continue
        after = _samples(COUNTDOWN_GAP) if cue.countdown else gap
        if at + n + after > end:
            trouble.append(f"{said_at} does not fit before the end of the hold; it is left out")
            continue
        if late > 0:
            moved += 1
            trouble.append(f"{said_at} starts {late:.1f} s late so it does not overlap the line before it")
        yield from layout.quiet(at - layout.cursor, hold.step)
        yield from layout.sound(SPEECH, n, cue.text, hold.step, CUE)
        earliest = layout.cursor + after
    if len(trouble) == 1:
        warn(trouble[0])
    elif trouble:
        warn(_crowded(hold, len(trouble) - moved, moved, (longest + gap) / SAMPLE_RATE))
    yield from layout.quiet(end - layout.cursor, hold.step)


def _crowded(hold: HoldWindow, dropped: int, moved: int, needed: float) -> str:
    """One warning for a hold whose cues collide, with the smallest whole-second 'every' that leaves room."""
    parts = [f"{dropped} left out" if dropped else "", f"{moved} said late" if moved else ""]
    what = ", ".join(part for part in parts if part)
    message = f"{hold.where}: this hold's cues are too close to say one after another ({what})"
    if hold.every is None or hold.every >= needed:
        return message
    fits = math.ceil(needed)
    return (f"{message}: each takes up to {needed:.1f} s to say with a pause, and 'every' is "
            f"{_english().duration(hold.every)}; use 'every: {fits}s' or more")

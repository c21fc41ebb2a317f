"""The routine model: what a routine file means, as immutable values (no I/O, no parsing).

Durations are held in seconds as floats; the compiler turns them into samples.

The values are named tuples (a changed copy is `_replace`'s), equal only to values of their own class, as the
frozen dataclasses they were: the opening check loads a routine before the first sound, and a named tuple's class
is made in an eighth of a frozen dataclass's instructions, without importing `dataclasses` (and `inspect`) at all.
"""

from __future__ import annotations

from collections import namedtuple

# The ranges a routine or the command line may set, stated once: the loader, the CLI and the JSON Schema's test
# use these.
RATE_RANGE = (80, 400)  # words per minute
DEFAULT_RATE = 150  # words per minute: a calm instruction pace (an engine may choose its own, see engine.Engine)
VOLUME_RANGE = (0.0, 1.0)  # 1.0 is full volume; 0 itself is silence, refused
DEFAULT_VOLUME = 1.0  # when neither the routine nor the command line says
REPEAT_RANGE = (1, 100)  # rounds of a repeat block
# Loudness targets (LUFS) an export can honour: louder than -17, a file of short cues cannot keep its peaks under
# the ceiling without being squashed (measured: at -16 it stops 0.7 LU short); quieter than -30 it is hard to hear
# on a phone.
LOUDNESS_RANGE = (-30.0, -17.0)
CUE_MIN_REMAINING = 5.0  # seconds: no remaining-time cue this close to a hold's end ("three seconds left")
MAX_TOTAL = 4 * 3600.0  # seconds a routine may run in all, spoken lines included; longer is a typo (5h for 5s)
# LUFS: the convention for mono speech. -16 LUFS for stereo podcasts is -19 for a mono file (played on both
# channels, which a meter of the stereo file counts twice: +3 LU).
DEFAULT_LOUDNESS = -19.0
COUNTDOWN_RANGE = (1, 10)  # seconds a hold may count down aloud
COUNTDOWN_MIN_HOLD = 20.0  # a countdown only in holds this long: a short hold is a countdown already
HOLD_ENDS = ("auto", "words", "tone", "none")  # what marks the end of a hold; auto: the chime, else a tone
ENGINE_NAMES = ("espeak-ng", "piper")  # the speech engines a routine's `voice: {engine: ...}` and --engine name
ROUTINE_SUFFIXES = (".yaml", ".yml")  # a file with one of these names is a routine (in a folder given as input)
DEFAULT_ENGINE = "espeak-ng"  # needs nothing but espeak-ng; piper is the `neural` extra (see engine.py)


class _Value:
    """Equality as a dataclass's: a value equals only a value of its own class with equal fields (not a plain
    tuple, nor another class's value with the same fields); hashed as the tuple of its fields, as a frozen
    dataclass is."""

    __slots__ = ()

    def __eq__(self, other):
        if type(other) is type(self):
            return tuple.__eq__(self, other)
        return False if isinstance(other, tuple) else NotImplemented  # not tuple's own (reflected) equality

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__


class Voice(_Value, namedtuple("Voice", ("voice", "rate", "volume", "engine", "language"),
                               defaults=(None, None, None, None, None))):
    """Voice settings; None means "the default" (`engine`: espeak-ng or piper; `rate`: words per minute;
    `volume`: 0.0-1.0; `voice`: the engine's name of a voice, str).

    `language` is the tag of the language the voice speaks, known once the engine has resolved it.
    """

    __slots__ = ()

    def overridden(self, other: Voice) -> Voice:
        """Settings of `other` where it sets them, ours elsewhere (command-line overrides). Another engine
        without a voice drops our voice: a voice belongs to its engine.

        >>> Voice(voice="en_US-joe-medium", engine="piper").overridden(Voice(engine="espeak-ng")).voice is None
        True
        """
        other_engine = other.engine is not None and other.engine != (self.engine or DEFAULT_ENGINE)
        voice = other.voice if other.voice is not None else None if other_engine else self.voice
        return Voice(
            voice=voice,
            rate=other.rate if other.rate is not None else self.rate,
            volume=other.volume if other.volume is not None else self.volume,
            engine=other.engine if other.engine is not None else self.engine,
            language=other.language if other.language is not None else self.language,
        )

    def filled_in(self, engine: str, default_rate: int) -> Voice:
        """The request as `engine` makes it: its default rate and DEFAULT_VOLUME where this leaves them open (the
        language is the engine's to tell, once it has resolved the voice).

        >>> Voice(rate=120).filled_in("espeak-ng", 150)
        Voice(voice=None, rate=120, volume=1.0, engine='espeak-ng', language=None)
        """
        return Voice(voice=self.voice, rate=self.rate if self.rate is not None else default_rate,
                     volume=self.volume if self.volume is not None else DEFAULT_VOLUME, engine=engine)


class Hold(_Value, namedtuple("Hold", ("minimum", "maximum"))):
    """A timed step: at least `minimum` seconds, at most `maximum` (equal unless a range like 2m-3m)."""

    __slots__ = ()

    @property
    def is_range(self) -> bool:
        return self.maximum > self.minimum


class Cues(_Value, namedtuple("Cues", ("every", "halfway", "countdown", "line", "column"),
                              defaults=(None, False, None, 0, 0))):
    """Spoken cues during a hold: remaining time every `every` seconds (float | None), "halfway" (bool), and a
    countdown of the last `countdown` seconds (int | None; holds of 20 s or more). `line` and `column` are where
    'cues:' is in its file, for messages (0: not known); they take no part in equality, nor in the hash."""

    __slots__ = ()

    def __eq__(self, other):
        if type(other) is Cues:
            return self[:3] == other[:3]
        return False if isinstance(other, tuple) else NotImplemented

    def __hash__(self) -> int:
        return hash(self[:3])


class Say(_Value, namedtuple("Say", ("text", "pause", "hold", "cues", "line"), defaults=(None, None, Cues(), 0))):
    """A step that speaks `text`, then either stays quiet for `pause` seconds (float; None: the default short gap)
    or runs a timed `hold` (Hold | None) with its `cues` (Cues); `line` is where the step starts in its file, for
    messages."""

    __slots__ = ()


class Repeat(_Value, namedtuple("Repeat", ("times", "steps", "line"), defaults=(0,))):
    """A block of `steps` (a tuple of Step) run `times` times ("Round two of three."); `line` as Say's."""

    __slots__ = ()


class Sides(_Value, namedtuple("Sides", ("sides", "steps", "line"), defaults=(0,))):
    """A block of `steps` (a tuple of Step) run once per side of `sides` (a tuple of str, e.g. ("left foot",
    "right foot")); `line` as Say's."""

    __slots__ = ()


Step = Say | Repeat | Sides  # a union without `typing`: it costs ~6 ms on the path to the first sound


class Routine(_Value, namedtuple("Routine", ("title", "steps", "about", "voice", "chime", "reminders", "language",
                                             "intro", "hold_end", "source", "warnings"),
                                 defaults=(None, Voice(), True, None, None, None, "auto", "<routine>", ()))):
    """A whole routine file, validated: its `title`, `steps` (a tuple of Step), `about` (str | None), `voice`
    (Voice) and `chime` (bool).

    `language` is a BCP 47 tag (None: the voice's language); `intro` is said right after the title and length;
    `reminders` (a tuple of str) None means the default reminders in the routine's language, and is empty only
    when the file opted out; `hold_end` is one of HOLD_ENDS; `source` the path it was loaded from, as the user
    wrote it; `warnings` what the loader found likely wrong, as 'file:line:col: ...' lines.
    """

    __slots__ = ()

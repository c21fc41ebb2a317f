"""The routine model: what a routine file means, as frozen values (no I/O, no parsing).

Durations are held in seconds as floats; the compiler turns them into samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Voice:
    """Voice settings; None means "the default" (engine: espeak-ng or piper; rate: words per minute;
    volume: 0.0-1.0).

    `language` is the tag of the language the voice speaks, known once the engine has resolved it.
    """

    voice: str | None = None
    rate: int | None = None
    volume: float | None = None
    engine: str | None = None
    language: str | None = None

    def overridden(self, other: "Voice") -> "Voice":
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

    def filled_in(self, engine: str, default_rate: int) -> "Voice":
        """The request as `engine` makes it: its default rate and DEFAULT_VOLUME where this leaves them open (the
        language is the engine's to tell, once it has resolved the voice).

        >>> Voice(rate=120).filled_in("espeak-ng", 150)
        Voice(voice=None, rate=120, volume=1.0, engine='espeak-ng', language=None)
        """
        return Voice(voice=self.voice, rate=self.rate if self.rate is not None else default_rate,
                     volume=self.volume if self.volume is not None else DEFAULT_VOLUME, engine=engine)


@dataclass(frozen=True)
class Hold:
    """A timed step: at least `minimum` seconds, at most `maximum` (equal unless a range like 2m-3m)."""

    minimum: float
    maximum: float

    @property
    def is_range(self) -> bool:
        return self.maximum > self.minimum


@dataclass(frozen=True)
class Cues:
    """Spoken cues during a hold: remaining time every `every` seconds, "halfway", and a countdown of the
    last `countdown` seconds (holds of 20 s or more)."""

    every: float | None = None
    halfway: bool = False
    countdown: int | None = None
    line: int = field(default=0, compare=False)  # where 'cues:' is in its file, for messages (0: not known)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Say:
    """A step that speaks `text`, then either stays quiet for `pause` seconds or runs a timed `hold`."""

    text: str
    pause: float | None = None  # None: the default short gap
    hold: Hold | None = None
    cues: Cues = field(default_factory=Cues)
    line: int = 0  # where the step starts in its file, for messages


@dataclass(frozen=True)
class Repeat:
    """A block of steps run `times` times ("Round two of three.")."""

    times: int
    steps: tuple["Step", ...]
    line: int = 0


@dataclass(frozen=True)
class Sides:
    """A block of steps run once per side, e.g. ("left foot", "right foot")."""

    sides: tuple[str, ...]
    steps: tuple["Step", ...]
    line: int = 0


Step = Say | Repeat | Sides  # a union without `typing`: it costs ~6 ms on the path to the first sound


@dataclass(frozen=True)
class Routine:
    """A whole routine file, validated.

    `language` is a BCP 47 tag (None: the voice's language); `intro` is said right after the title and length;
    `reminders` None means the default reminders in the routine's language, and is empty only when the file
    opted out; `hold_end` is one of HOLD_ENDS.
    """

    title: str
    steps: tuple[Step, ...]
    about: str | None = None
    voice: Voice = field(default_factory=Voice)
    chime: bool = True
    reminders: tuple[str, ...] | None = None
    language: str | None = None
    intro: str | None = None
    hold_end: str = "auto"
    source: str = "<routine>"  # the path it was loaded from, as the user wrote it
    warnings: tuple[str, ...] = ()  # what the loader found likely wrong, as 'file:line:col: ...' lines

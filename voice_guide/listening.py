"""Spoken commands: the phrases, how a stretch of speech is cut out of the stream, and which become commands.

    microphone (16 kHz) --> voice activity, 30 ms frames --Endpoints--> an utterance
        --> recogniser: the commands' grammar and a free phone loop decode it --> Utterance --judge--> Heard

Pure logic; pocketsphinx is `recogniser`'s. An utterance becomes a command when all of these hold (each
measured with scripts/bench_listen.py on voices not used to choose the numbers):
- the grammar's best path is one whole command phrase (the grammar knows nothing else);
- its confidence clears the threshold: how much worse that path scores than a free phone loop over the same
  audio, per 10 ms frame (0: the phrase explains the sound as well as any sequence of phones could; speech
  that is not a command scores far lower, because the grammar must force it into a command);
- it lasts between MIN_LENGTH and MAX_LENGTH (a cough, or a long sentence, is not a command);
- the player itself was silent: no sound of its own, nor the TAIL after one, overlaps it (`clear_of`), so the
  routine's own voice, fed back into the microphone, never commands anything.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Sequence

# What each command does in the player (the same path as the keys).
PAUSE = "pause"  # pauses (never resumes: that is "continue")
RESUME = "resume"
NEXT = "next"
BACK = "back"
REPEAT = "repeat"  # says the current step's instruction again
QUIT = "quit"  # to the closing reminders, as q does
TIME_LEFT = "time left"  # says the time left in this step


@dataclass(frozen=True)
class Phrase:
    """A command phrase as the user says it, its command, and extra pronunciations (word, ARPAbet phones)."""

    text: str
    command: str
    pronunciations: tuple[tuple[str, str], ...] = ()


# Two-word phrases where possible: single words occur in the routines' own lines. The extra pronunciations are
# the common American ones pocketsphinx's dictionary lacks ("pause" and "long" with the vowel of "father").
PHRASES = (
    Phrase("pause", PAUSE, (("pause", "P AA Z"),)),
    Phrase("continue", RESUME),
    Phrase("next step", NEXT),
    Phrase("previous step", BACK, (("previous", "P R IY V Y AH S"),)),
    Phrase("say again", REPEAT),
    Phrase("stop now", QUIT),
    Phrase("how long", TIME_LEFT, (("long", "L AA NG"),)),
)

# Confidence (see the module's text) at the default sensitivity; chosen on the tuning voices as the highest
# at which nearly all their commands are still taken, in quiet and in moderate noise.
THRESHOLD = -16.0
SENSITIVITY_STEP = 10.0  # confidence units of threshold per unit of sensitivity away from the default
DEFAULT_SENSITIVITY = 0.5  # 0 (strict) .. 1 (eager)
MIN_LENGTH = 0.25  # seconds of speech, at least: shorter sounds are clicks and coughs
MAX_LENGTH = 2.5  # seconds, at most: a command is said in well under that; a sentence is longer
TAIL = 0.5  # seconds after each of the player's own sounds during which nothing heard is taken

# Cutting utterances out of the stream, in voice-activity frames (30 ms, pocketsphinx's Vad):
VAD_FRAME = 0.03
VAD_MODE = 2  # pocketsphinx.Vad's aggressiveness, 0..3: 2 took the most commands in loud noise, and soonest
START_FRAMES = (3, 5)  # speech starts when 3 of the last 5 frames are speech
END_FRAMES = 12  # ... and ends after 12 frames (0.36 s) of no speech (a stop consonant inside a phrase is shorter)
EARLY_FRAMES = 6  # after 6 such frames (0.18 s) it may end early: when the phrase is already clear
EARLY_MARGIN = 2.0  # "clear": its confidence clears the threshold by this much
PRE_ROLL = 0.3  # seconds before the start that are decoded too (the quiet first consonant: "s" of "say")
LONGEST = 3.0  # seconds: an utterance is cut (and refused) once it is this long


def grammar(phrases: Sequence[Phrase] = PHRASES) -> str:
    """The JSGF grammar of the command phrases (one phrase per utterance).

    >>> print(grammar(PHRASES[:2]))
    #JSGF V1.0;
    grammar commands;
    public <command> = pause | continue;
    <BLANKLINE>
    """
    return "#JSGF V1.0;\ngrammar commands;\npublic <command> = " + " | ".join(p.text for p in phrases) + ";\n"


def pronunciations(phrases: Sequence[Phrase] = PHRASES) -> dict[str, str]:
    """Extra dictionary entries, as pocketsphinx names alternatives: word(2) -> phones.

    >>> pronunciations()["pause(2)"]
    'P AA Z'
    """
    entries: dict[str, str] = {}
    for phrase in phrases:
        for word, phones in phrase.pronunciations:
            n = 2
            while f"{word}({n})" in entries:
                n += 1
            entries[f"{word}({n})"] = phones
    return entries


def threshold_for(sensitivity: float) -> float:
    """The confidence a phrase needs at `sensitivity` (higher: stricter).

    >>> threshold_for(DEFAULT_SENSITIVITY) == THRESHOLD, threshold_for(1.0) < threshold_for(0.0)
    (True, True)
    """
    return THRESHOLD - (sensitivity - DEFAULT_SENSITIVITY) * SENSITIVITY_STEP


def phrase_in(text: str, phrases: Sequence[Phrase] = PHRASES) -> str | None:
    """The first command phrase that `text` contains as whole words (for `check --listen`), or None.

    >>> phrase_in("Press, then pause. Next step: the heel."), phrase_in("Pauses are fine.")
    ('pause', None)
    """
    words = " " + " ".join("".join(c if c.isalnum() or c == "'" else " " for c in text.lower()).split()) + " "
    for phrase in phrases:
        if f" {phrase.text} " in words:
            return phrase.text
    return None


def phrase_warnings(texts: Iterable[str], phrases: Sequence[Phrase] = PHRASES) -> tuple[str, ...]:
    """`check --listen`: one warning per spoken line that contains a command phrase.

    >>> phrase_warnings(["Now say again how it feels.", "Relax."])
    ("the line 'Now say again how it feels.' contains the spoken command 'say again': with --listen, someone repeating it would give that command (the player's own voice never does); reword it",)
    """
    found = []
    for text in dict.fromkeys(texts):
        phrase = phrase_in(text, phrases)
        if phrase is not None:
            found.append(f"the line {text!r} contains the spoken command {phrase!r}: with --listen, someone "
                         "repeating it would give that command (the player's own voice never does); reword it")
    return tuple(found)


def clear_of(start: float, end: float, sounds: Iterable[tuple[float, float]], tail: float = TAIL) -> bool:
    """Whether `start`..`end` (clock seconds) overlaps none of the player's `sounds` (each with its tail).

    >>> clear_of(5.0, 5.8, [(0.0, 4.0)]), clear_of(4.2, 5.0, [(0.0, 4.0)]), clear_of(1.0, 2.0, [(1.5, 9.0)])
    (True, False, False)
    """
    return all(end <= sound_start or start >= sound_end + tail for sound_start, sound_end in sounds)


@dataclass(frozen=True)
class Utterance:
    """What the recogniser made of one stretch of speech: the grammar's phrase (None when its path did not end
    on a whole phrase), the start and end of the speech (seconds of the stream) and the confidence."""

    text: str | None
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Heard:
    """A command taken: the phrase said, its command, when it was said (stream seconds) and its margin."""

    phrase: str
    command: str
    start: float
    end: float
    score: float  # how far its confidence cleared the threshold


def judge(utterance: Utterance, threshold: float = THRESHOLD, phrases: Sequence[Phrase] = PHRASES) -> Heard | None:
    """The command `utterance` gives, or None: a whole phrase, of a command's length, confident enough.

    >>> judge(Utterance("next step", 4.0, 4.7, -3.0)).command, judge(Utterance("next step", 4.0, 4.7, -30.0))
    ('next', None)
    """
    by_text = {phrase.text: phrase for phrase in phrases}
    phrase = by_text.get(utterance.text or "")
    length = utterance.end - utterance.start
    if phrase is None or not MIN_LENGTH <= length <= MAX_LENGTH or not utterance.confidence >= threshold:
        return None
    margin = round(utterance.confidence - threshold, 2)
    return Heard(phrase.text, phrase.command, utterance.start, utterance.end, margin)


# What Endpoints.push says about the frame just pushed.
START = "start"  # speech began; decode from `start_frame` (pre-roll included)
SPEECH = "speech"  # inside an utterance: decode this frame too
CHECK = "check"  # inside, and quiet long enough that the utterance may end now if it is already clear
END = "end"  # the utterance is over (this frame is after it)
CUT = "cut"  # the utterance ran past LONGEST: over, and not a command


class Endpoints:
    """Where utterances start and end, from one voice-activity verdict per frame. Pure; frames count from 0.

    >>> ends = Endpoints()
    >>> [ends.push(v) for v in [False] * 4 + [True] * 3][-1], ends.start_frame, ends.speech_frame
    ('start', 0, 4)
    >>> [ends.push(False) for _ in range(END_FRAMES)][-1], ends.end_frame
    ('end', 7)
    """

    def __init__(self) -> None:
        self._recent: deque[bool] = deque(maxlen=START_FRAMES[1])
        self._pre_roll = round(PRE_ROLL / VAD_FRAME)
        self._longest = round(LONGEST / VAD_FRAME)
        self.frames = 0  # frames pushed
        self.inside = False
        self.start_frame = 0  # the first frame to decode of the current (or last) utterance (pre-roll included)
        self.speech_frame = 0  # its first frame of speech
        self.end_frame = 0  # one past the last frame of speech in it
        self._quiet = 0

    def push(self, speech: bool) -> str | None:
        frame = self.frames
        self.frames += 1
        if not self.inside:
            self._recent.append(speech)
            if sum(self._recent) < START_FRAMES[0]:
                return None
            self.inside, self._quiet = True, 0
            self.speech_frame = frame + 1 - len(self._recent) + list(self._recent).index(True)
            self.start_frame = max(0, self.speech_frame - self._pre_roll)
            self.end_frame = frame + 1
            self._recent.clear()
            return START
        if speech:
            self._quiet, self.end_frame = 0, frame + 1
        else:
            self._quiet += 1
        if frame + 1 - self.start_frame >= self._longest:
            self.inside = False
            return CUT
        if self._quiet >= END_FRAMES:
            self.inside = False
            return END
        return CHECK if self._quiet == EARLY_FRAMES else SPEECH

    def end_early(self) -> None:
        """The utterance ended at the last CHECK (it was already clear)."""
        self.inside = False

    def seconds(self, frame: int) -> float:
        return frame * VAD_FRAME


HEADROOM = 3.0  # confidence units kept between a listen test's weakest phrase and the threshold


def margin_at_default(score: float, sensitivity: float) -> float:
    """A margin heard at `sensitivity`, as it would be at the default sensitivity.

    >>> margin_at_default(7.0, 1.0)
    2.0
    """
    return score - (sensitivity - DEFAULT_SENSITIVITY) * SENSITIVITY_STEP


def suggested_sensitivity(best_margins: Sequence[float], noise_margins: Sequence[float]) -> float:
    """A sensitivity from a listen test: low enough to reject what was heard in silence, high enough to take
    the phrases the user said (their margins at the default sensitivity), rounded to a tenth, 0.1..0.9.

    >>> suggested_sensitivity([12.0, 8.0], []), suggested_sensitivity([-3.0], []), suggested_sensitivity([5.0], [-2.0])
    (0.1, 0.9, 0.3)
    """
    shift = 0.0  # confidence units added to the threshold
    if best_margins:
        shift = min(best_margins) - HEADROOM  # keep some headroom under the weakest phrase said
    if noise_margins:
        shift = max(shift, max(noise_margins) + HEADROOM)
    sensitivity = DEFAULT_SENSITIVITY - shift / SENSITIVITY_STEP
    return round(min(0.9, max(0.1, sensitivity)), 1) if math.isfinite(sensitivity) else DEFAULT_SENSITIVITY

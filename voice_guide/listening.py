"""Spoken commands: the phrases, and which of pocketsphinx's candidates become commands. Pure logic.

    microphone (16 kHz) --> recogniser.Spotter --candidates--> Decider --Heard--> the player's command queue

A candidate becomes a command when all of these hold (each measured, see scripts/listen_tune.py):
- its score clears its phrase's threshold (shifted by the user's sensitivity);
- it lasts at most MAX_LENGTH (in digital silence pocketsphinx reports "phrases" many seconds long), and at
  least SHORTEST_PHONE per phone (noise makes very short ones);
- it was said on its own: the audio just before it and just after it is near the noise floor (a command is a
  phrase said alone; the same words inside a sentence are not one);
- no better-scoring candidate overlaps it within WAIT_FOR_BETTER after its end ("pause" inside "stop now");
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
    """A command phrase as the user says it, how pocketsphinx spots it, and its threshold (log10)."""

    text: str
    command: str
    threshold: float
    # Extra spellings for the spotter: word -> phones (ARPAbet), for how the phrase is often said run together.
    variants: tuple[tuple[str, str], ...] = ()


# Two-word phrases where possible: single words occur in the routines' own lines. Thresholds: chosen on the
# tuning voices (scripts/listen_tune.py) as the lowest at which each phrase fired at most twice on 320 other
# utterances and the silences between them; "pause" and "how long" are short, so they need more.
PHRASES = (
    Phrase("pause", PAUSE, -16.0),
    Phrase("continue", RESUME, -30.0),
    Phrase("next step", NEXT, -30.0, (("nexstep", "N EH K S T EH P"), ("nexste", "N EH K S T EH"))),
    Phrase("previous step", BACK, -30.0,
           (("previousstep", "P R IY V IY AH S T EH P"), ("previouste", "P R IY V IY AH S T EH"))),
    Phrase("say again", REPEAT, -30.0, (("saygain", "S EY G EH N"),)),
    Phrase("stop now", QUIT, -30.0),
    Phrase("how long", TIME_LEFT, -12.0),
)

MAX_LENGTH = 1.5  # seconds; longer "detections" are pocketsphinx lost in silence
# Seconds per phone, at least: shorter "phrases" are noise (in the long quiet of a hold, faint pink noise
# gave "pause" detections of 0.12 s; said, it lasts 0.3 s or more).
SHORTEST_PHONE = 0.05
WAIT_FOR_BETTER = 0.35  # seconds after a candidate's end during which a better-scoring one may replace it
TAIL = 0.5  # seconds after each of the player's own sounds during which nothing heard is taken
SENSITIVITY_STEP = 10.0  # log10 units of threshold per unit of sensitivity away from the default
DEFAULT_SENSITIVITY = 0.5  # 0 (strict) .. 1 (eager)
FRAME = 0.01  # seconds per energy frame (pocketsphinx's frame rate)


def spotter_entries(phrases: Sequence[Phrase] = PHRASES, sensitivity: float = DEFAULT_SENSITIVITY
                    ) -> tuple[dict[str, float], dict[str, str], dict[str, Phrase]]:
    """What the spotter is given: (keyphrase -> threshold, extra word -> phones, keyphrase -> its Phrase).

    >>> thresholds, words, by_key = spotter_entries()
    >>> thresholds["nexstep"] == thresholds["next step"], words["saygain"], by_key["saygain"].command
    (True, 'S EY G EH N', 'repeat')
    """
    shift = (sensitivity - DEFAULT_SENSITIVITY) * SENSITIVITY_STEP
    thresholds, words, by_key = {}, {}, {}
    for phrase in phrases:
        for key in (phrase.text, *(word for word, _ in phrase.variants)):
            thresholds[key] = phrase.threshold - shift
            by_key[key] = phrase
        words.update(phrase.variants)
    return thresholds, words, by_key


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
class Candidate:
    """A phrase the spotter reported: its keyphrase, start and end (seconds of the stream) and score."""

    key: str
    start: float
    end: float
    score: float


@dataclass(frozen=True)
class Heard:
    """A command taken: the phrase said, its command, when it was said (stream seconds) and its margin."""

    phrase: str
    command: str
    start: float
    end: float
    score: float  # how far it cleared its threshold (log10)


class Levels:
    """The loudness of recent audio, 10 ms frames in dBFS, for judging whether a phrase was said alone."""

    KEEP = 6.0  # seconds remembered

    def __init__(self) -> None:
        self._db: deque[float] = deque(maxlen=int(self.KEEP / FRAME))
        self._frames = 0  # frames ever added (the index of the next one)
        self._partial: list[float] = []

    @property
    def time(self) -> float:
        """Seconds of audio measured so far."""
        return self._frames * FRAME

    def add(self, samples: Sequence[float] | "object", rate: int = 16000) -> None:
        """Add samples (floats in -1..1, or int16 in a numpy array)."""
        import numpy as np

        values = np.asarray(samples, dtype=np.float64)
        if values.dtype != np.float64 or (len(values) and np.abs(values).max() > 1.0):
            values = values / 32768.0
        values = np.concatenate([np.asarray(self._partial), values])
        size = int(rate * FRAME)
        whole = len(values) // size * size
        if whole:
            power = np.mean(values[:whole].reshape(-1, size) ** 2, axis=1)
            self._db.extend((10 * np.log10(power + 1e-12)).tolist())
            self._frames += whole // size
        self._partial = values[whole:].tolist()

    def span(self, start: float, end: float) -> list[float]:
        """The frames between two stream times (those still remembered)."""
        first = self._frames - len(self._db)
        lo, hi = max(int(round(start / FRAME)), first), min(int(round(end / FRAME)), self._frames)
        return [self._db[i - first] for i in range(lo, hi)] if hi > lo else []

    def alone(self, start: float, end: float) -> bool:
        """Whether just before `start` and just after `end` the audio is near the noise floor."""
        history = sorted(self.span(start - 3.0, start - 0.2))
        inside = sorted(self.span(start, end))
        if len(history) < 20 or not inside:
            return True  # too early to know the floor: do not refuse the first words
        floor = history[len(history) // 10]
        peak = inside[min(len(inside) - 1, int(len(inside) * 0.9))]
        limit = floor + max(6.0, 0.35 * (peak - floor))
        before, after = self.span(start - 0.35, start - 0.05), self.span(end + 0.15, end + 0.35)
        return all(not part or sum(part) / len(part) < limit for part in (before, after))


class Decider:
    """Turns the spotter's candidates into commands: threshold, length, said alone, best of those overlapping.

    `decide(now)` is called as audio time advances; it returns the commands whose waiting time is over.
    The player's own sounds are checked afterwards (`clear_of`), in clock time, by whoever knows them.

    >>> decider = Decider({"next step": -30.0, "pause": -16.0}, {"next step": PHRASES[2], "pause": PHRASES[0]})
    >>> decider.add(Candidate("pause", 1.0, 1.4, -10.0)); decider.add(Candidate("next step", 1.0, 1.6, 5.0))
    >>> decider.decide(1.6), [h.phrase for h in decider.decide(2.0)]
    ([], ['next step'])
    """

    def __init__(self, thresholds: dict[str, float], by_key: dict[str, Phrase], levels: Levels | None = None,
                 *, shortest: dict[str, float] | None = None):
        self._thresholds = thresholds
        self._shortest = shortest or {}
        self._by_key = by_key
        self._levels = levels
        self._pending: dict[tuple[str, float], Candidate] = {}
        self._decided_until = -math.inf  # the end of the last phrase taken: what overlaps it is the same phrase

    def add(self, candidate: Candidate) -> None:
        """A candidate from the spotter (a repeated one with a better score replaces the earlier one)."""
        if candidate.key not in self._thresholds:
            return
        length = candidate.end - candidate.start
        if length > MAX_LENGTH or length < self._shortest.get(candidate.key, 0.0):
            return
        if candidate.score < self._thresholds[candidate.key]:
            return
        if candidate.start < self._decided_until:
            return
        key = (candidate.key, round(candidate.start, 2))
        known = self._pending.get(key)
        if known is None or known.score < candidate.score:
            self._pending[key] = candidate

    def margin(self, candidate: Candidate) -> float:
        return candidate.score - self._thresholds[candidate.key]

    def decide(self, now: float) -> list[Heard]:
        """The commands decided by stream time `now`; the candidates they beat are dropped."""
        decided = []
        while self._pending:
            first = min(self._pending.values(), key=lambda c: c.end)
            if first.end + WAIT_FOR_BETTER > now:
                break
            rivals = [c for c in self._pending.values() if c.end <= first.end + WAIT_FOR_BETTER]
            best = max(rivals, key=self.margin)
            for key, candidate in list(self._pending.items()):
                if candidate in rivals or candidate.start < best.end:
                    del self._pending[key]
            if self._levels is not None and not self._levels.alone(best.start, best.end):
                continue
            self._decided_until = best.end
            phrase = self._by_key[best.key]
            decided.append(Heard(phrase.text, phrase.command, best.start, best.end, round(self.margin(best), 2)))
        return decided

    @property
    def waiting(self) -> bool:
        """Whether some candidate is still waiting for its decision."""
        return bool(self._pending)


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
    (0.2, 0.9, 0.2)
    """
    shift = 0.0  # log10 units added to every threshold
    if best_margins:
        shift = min(best_margins) - 5.0  # keep 5 units of headroom under the weakest phrase said
    if noise_margins:
        shift = max(shift, max(noise_margins) + 5.0)
    sensitivity = DEFAULT_SENSITIVITY - shift / SENSITIVITY_STEP
    return round(min(0.9, max(0.1, sensitivity)), 1) if math.isfinite(sensitivity) else DEFAULT_SENSITIVITY

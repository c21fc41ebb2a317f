"""English stays word for word what voice-guide said before its phrases came from catalogues.

english_phrases.json was made by the hand-written English code (commit 8907cae) from english_phrases.yaml;
nothing here regenerates it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from voice_guide import compiler
from voice_guide.phrases import phrases_for
from voice_guide.loader import loads
from voice_guide.timeline import SAMPLE_RATE

DATA = Path(__file__).parent / "data"
GOLDEN = json.loads((DATA / "english_phrases.json").read_text(encoding="utf-8"))
ENGLISH = phrases_for("en")
ROUTINE = "tests/data/english_phrases.yaml"  # the name its warnings were made with


def spoken_length(text: str) -> int:
    return int(SAMPLE_RATE * (0.3 + len(text) / 14)) + hashlib.sha256(text.encode()).digest()[0]


@pytest.mark.parametrize("chime", [True, False])
def test_the_phrase_routine_compiles_to_the_same_english_timeline(chime):
    # hold_end none: without chimes a hold now ends with a tone (issue #10, item 14), which moves what follows.
    timeline = compiler.compile(_routine()._replace(hold_end="none"), spoken_length, chime=chime)
    key = str(chime).lower()
    events = [[e.kind, e.start, e.length, e.text, e.step, e.role, e.label] for e in timeline.events]
    assert events == _one_cue_at_halfway(GOLDEN[f"events_chime_{key}"])
    assert list(timeline.warnings) == GOLDEN[f"warnings_chime_{key}"]


def test_durations_are_said_as_before_across_four_hours():
    for seconds, words in GOLDEN["durations"].items():
        assert ENGLISH.duration(int(seconds)) == words


def test_the_routine_length_is_said_as_before_across_four_hours():
    changes = GOLDEN["about_length_changes"]
    for (start, words), (end, _) in zip(changes, changes[1:] + [[4 * 3600.0 + 0.1, None]]):
        for seconds in {start, (start + end) / 2, round(end - 0.1, 1)}:
            assert ENGLISH.about_length(seconds) == words, seconds


def test_rounds_are_counted_as_before():
    for key, words in GOLDEN["rounds"].items():
        n, of = map(int, key.split("/"))
        assert ENGLISH.round(n, of) == f"Round {words}."


def _one_cue_at_halfway(events: list[list]) -> list[list]:
    """The one change made on purpose (issue #10, item 22): where "Halfway." fell together with a remaining-time
    cue ("Halfway. One minute thirty seconds left."), only the time left is said. A cue's place in its hold is
    fixed, so only the quiet after it changes; everything else stays as it was."""
    out, delta = [], 0
    for kind, start, length, text, step, role, label in events:
        if delta and kind == "silence":
            start, length, delta = start + delta, length - delta, 0
        if text and text.startswith("Halfway. ") and text.endswith(" left."):
            text = text[len("Halfway. "):]
            delta = spoken_length(text) - length
            length += delta
        out.append([kind, start, length, text, step, role, label])
    return out


def _routine():
    return loads((DATA / "english_phrases.yaml").read_text(encoding="utf-8"), path=ROUTINE)

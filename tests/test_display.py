"""What the player shows: the live view computed from the events known so far, the plain log, the panel."""

from __future__ import annotations

import io

from voice_guide import compiler
from voice_guide.compiler import step_titles
from voice_guide.display import LogDisplay, View, clock_text, describe
from voice_guide.commands import QUIT
from voice_guide.scheduler import Played
from voice_guide.timeline import CLOSING, SILENCE

from .fakes import RATE, ROUTINE, first, timeline_events


def test_the_view_shows_the_step_its_time_left_and_what_comes_next():
    events = timeline_events()
    titles = step_titles(ROUTINE)
    line = first(events, lambda e: e.text == "Press the arch.")
    step_end = first(events, lambda e: e.step == 3).start
    view = describe(events, True, line.start + RATE, titles)
    assert view == View(2, 3, "Press the arch.", (step_end - line.start - RATE) / RATE,
                        (events[-1].end - line.start - RATE) / RATE, "Rub the heel.")
    assert view.heading == "Step 2 of 3"


def test_the_view_does_not_guess_times_it_cannot_know_yet():
    events = timeline_events()
    line = first(events, lambda e: e.text == "Press the arch.")
    known = [e for e in events if e.start <= line.start]
    view = describe(known, False, line.start, step_titles(ROUTINE))
    assert view.step_left is None and view.routine_left is None
    assert clock_text(view.step_left) == "…"


def test_the_view_names_the_introduction_and_the_closing():
    events = timeline_events()
    titles = step_titles(ROUTINE)
    assert describe(events, True, -100, titles).heading == "Introduction"
    closing = first(events, lambda e: e.text == compiler.ENDING)
    view = describe(events, True, closing.start, titles)
    assert view.heading == "Closing" and view.next_text is None


def test_the_plain_log_says_each_line_with_its_time_and_step():
    stream = io.StringIO()
    display = LogDisplay(stream, "Demo", step_titles(ROUTINE))
    events = timeline_events()
    for event in events:
        if event.kind != SILENCE:
            display.playing(Played(0, event, 0.0, 0.0))
    display.jumped(QUIT, first(events, lambda e: e.role == CLOSING))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Playing: Demo (3 steps)"
    assert lines[1].startswith("0:01  intro       Demo. This routine takes")
    assert any(line.endswith("step 2/3    Press the arch.") for line in lines)
    assert lines[-2].endswith("closing     Stop if it hurts.")
    assert lines[-1] == "quitting: the closing reminders first"



def test_the_live_panel_shows_step_words_times_next_and_pause():
    from rich.console import Console

    from voice_guide.display import LiveDisplay, Playhead

    events = timeline_events()
    line = first(events, lambda e: e.text == "Press the arch.")
    playhead = Playhead(lambda: line.start, lambda: True, lambda: (tuple(events), True))
    panel = LiveDisplay(io.StringIO(), "Demo", step_titles(ROUTINE), playhead, keys=True)
    console = Console(file=io.StringIO(), width=80, record=True)
    console.print(panel)
    text = console.export_text()
    assert "Step 2 of 3" in text and "paused" in text and "Press the arch." in text
    step_end = first(events, lambda e: e.step == 3).start
    assert f"step left  {clock_text((step_end - line.start) / RATE)}" in text
    assert "next  Rub the heel." in text
    assert "q quit" in text


def test_the_first_panel_and_the_plain_log_show_what_the_routine_is_about():
    events = timeline_events()
    assert describe(events, True, 0, step_titles(ROUTINE), about="Thumb pressure.").text == "Thumb pressure."
    assert describe(events, True, 0, step_titles(ROUTINE)).text == "Introduction"
    stream = io.StringIO()
    display = LogDisplay(stream, "Demo", step_titles(ROUTINE), about="Thumb pressure.")
    display.playing(Played(0, events[0], 0.0, 0.0))
    assert stream.getvalue().splitlines()[:2] == ["Playing: Demo (3 steps)", "  Thumb pressure."]

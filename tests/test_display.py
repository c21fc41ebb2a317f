"""What the player shows: the live view computed from the events known so far, the plain log, the panel."""

from __future__ import annotations

import io

from voice_guide import compiler
from voice_guide.compiler import outline
from voice_guide.display import LogDisplay, View, clock_text, describe
from voice_guide.commands import QUIT
from voice_guide.phrases import phrases_for
from voice_guide.routine import Routine, Say
from voice_guide.scheduler import Played
from voice_guide.timeline import SPEECH, Event
from voice_guide.timeline import CLOSING, SILENCE

from .fakes import BLOCKS, RATE, ROUTINE, first, timeline_events

ENDING = phrases_for("en").ending()



def test_the_view_shows_the_step_its_time_left_and_what_comes_next():
    events = timeline_events()
    titles = outline(ROUTINE)
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
    view = describe(known, False, line.start, outline(ROUTINE))
    assert view.step_left is None and view.routine_left is None
    assert clock_text(view.step_left) == "…"


def test_the_view_names_the_introduction_and_the_closing():
    events = timeline_events()
    titles = outline(ROUTINE)
    assert describe(events, True, -100, titles).heading == "Introduction"
    closing = first(events, lambda e: e.text == ENDING)
    view = describe(events, True, closing.start, titles)
    assert view.heading == "Closing" and view.next_text is None


def test_the_plain_log_says_each_line_with_its_time_and_step():
    stream = io.StringIO()
    display = LogDisplay(stream, "Demo", outline(ROUTINE))
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
    panel = LiveDisplay(io.StringIO(), "Demo", outline(ROUTINE), playhead, keys=True)
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
    assert describe(events, True, 0, outline(ROUTINE), about="Thumb pressure.").text == "Thumb pressure."
    assert describe(events, True, 0, outline(ROUTINE)).text == "Listen: the first step comes next"
    stream = io.StringIO()
    display = LogDisplay(stream, "Demo", outline(ROUTINE), about="Thumb pressure.")
    display.playing(Played(0, events[0], 0.0, 0.0))
    assert stream.getvalue().splitlines()[:2] == ["Playing: Demo (3 steps)", "  Thumb pressure."]


def panel_text(events, position, steps, *, width=80, title="Blocks", keys=True, reminders=True) -> str:
    from rich.console import Console

    from voice_guide.display import LiveDisplay, Playhead

    playhead = Playhead(lambda: position, lambda: False, lambda: (tuple(events), True))
    panel = LiveDisplay(io.StringIO(), title, steps, playhead, keys=keys, reminders=reminders)
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(panel)
    return console.export_text()


# --- #10 item 10: which side and which round --------------------------------------------------------------


def test_the_view_and_the_plain_log_say_which_side_and_round_a_step_is_on():
    events = timeline_events(BLOCKS)
    steps = outline(BLOCKS)
    line = [e for e in events if e.text == "Press the arch."][3]  # the right foot's second round
    view = describe(events, True, line.start, steps)
    assert view.heading == f"Step {line.step} of {len(steps)} · Right foot, round 2 of 2"
    assert "Right foot, round 2 of 2" in panel_text(events, line.start, steps)
    stream = io.StringIO()
    LogDisplay(stream, "Blocks", steps).playing(Played(0, line, 0.0, 0.0))
    where = f"step {line.step}/{len(steps)}"
    assert stream.getvalue().splitlines()[-1].endswith(f"{where:<11} Right foot, round 2 of 2: Press the arch.")


def test_starting_inside_a_block_is_announced_in_the_plain_log():
    steps = outline(BLOCKS)
    stream = io.StringIO()
    later = steps[4]  # the left foot's second round begins: the round announces itself, the foot does not
    LogDisplay(stream, "Blocks", steps).oriented(Event(SPEECH, 0, 100, later.orientation, later.number))
    assert stream.getvalue().splitlines() == [
        f"Playing: Blocks ({len(steps)} steps)",
        f"starting at step 5/{len(steps)} (Left foot, round 2 of 2): Picking up with your left foot.",
    ]


# --- #10 item 11: a range hold's lower bound ----------------------------------------------------------------


def test_a_range_hold_shows_when_you_can_stop_and_then_that_you_can():
    events = timeline_events(BLOCKS)
    steps = outline(BLOCKS)
    words = first(events, lambda e: e.text == "Press the arch.")
    before = describe(events, True, words.end + 20 * RATE, steps)
    assert before.stop_left == 40.0
    assert "can stop  in 0:40" in panel_text(events, words.end + 20 * RATE, steps)
    assert describe(events, True, words.end + 61 * RATE, steps).stop_left == 0.0
    assert "can stop  now" in panel_text(events, words.end + 61 * RATE, steps)
    assert describe(events, True, first(events, lambda e: e.text == "Rest.").start, steps).stop_left is None


# --- #10 item 13: reminders: none -------------------------------------------------------------------------


def test_without_reminders_the_view_promises_none():
    routine = Routine("Bare", (Say("Press.", pause=1.0),), reminders=())
    events = timeline_events(routine)
    steps = outline(routine)
    view = describe(events, True, first(events, lambda e: e.text == "Press.").start, steps, reminders=False)
    assert view.next_text == "the end"
    closing = describe(events, True, events[-1].start, steps, reminders=False)
    assert closing.text == "The end" and "reminders" not in panel_text(events, 0, steps, reminders=False)


# --- #10 item 17: plurals, long times, the introduction, narrow terminals ----------------------------------


def test_one_step_is_one_step_and_a_time_past_an_hour_reads_in_hours():
    stream = io.StringIO()
    routine = Routine("One", (Say("Press."),))
    display = LogDisplay(stream, "One", outline(routine))
    display.playing(Played(0, Event(SPEECH, 5408 * RATE + RATE // 10, RATE, "Press.", 1, "instruction"), 0.0, 0.0))
    assert stream.getvalue().splitlines() == ["Playing: One (1 step)", "1:30:08  step 1/1    Press."]
    assert clock_text(5408.77) == "1:30:09"


def test_the_introduction_is_named_once_not_as_heading_and_text():
    events = timeline_events(BLOCKS)
    view = describe(events, True, 0, outline(BLOCKS))
    assert view.heading == "Introduction" and view.text != "Introduction"
    assert panel_text(events, 0, outline(BLOCKS)).count("Introduction") == 1


def test_the_footer_keeps_the_quit_key_on_narrow_terminals():
    events = timeline_events(BLOCKS)
    steps = outline(BLOCKS)
    assert "space pause · n next · b back · q quit · Ctrl+C stop now" in panel_text(events, 0, steps, width=80)
    at_60 = panel_text(events, 0, steps, width=60)
    assert "space pause · n next · b back · q quit" in at_60 and "…" not in at_60
    at_40 = panel_text(events, 0, steps, width=40)
    assert "q quit" in at_40 and "…" not in at_40.splitlines()[-2]


def test_the_plain_log_stops_quietly_when_its_reader_goes_away():
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    events = timeline_events()
    display = LogDisplay(ClosedPipe(), "Demo", outline(ROUTINE))
    for index, event in enumerate(events):
        display.playing(Played(index, event, 0.0, 0.0))  # raises nothing: the routine goes on
    display.paused()


def test_what_the_view_shows_is_in_the_language_the_routine_is_said_in():
    german = phrases_for("de")
    titles = outline(ROUTINE)
    events = timeline_events()
    assert describe(events, True, -100, titles, say=german).heading == "Einleitung"
    assert describe(events, True, -100, titles, say=german).text == "Zuhören: gleich kommt der erste Schritt"
    step = next(e for e in events if e.step == 2 and e.role == "instruction")
    assert describe(events, True, step.start, titles, say=german).heading == "Schritt 2 von 3"
    last = next(e for e in events if e.step == 3 and e.role == "instruction")
    assert describe(events, True, last.start, titles, say=german).next_text == "die Hinweise zum Schluss"
    closing = next(e for e in events if e.role == "closing")
    view = describe(events, True, closing.start, titles, say=german)
    assert (view.heading, view.text) == ("Abschluss", "Das Ende und ein paar Hinweise")

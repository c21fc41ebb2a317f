"""The live player's scheduler, driven by a fake clock and a fake sink: deadlines, lateness, and every key."""

from __future__ import annotations


import pytest

from voice_guide import compiler
from voice_guide.chime import CHIME_LENGTH
from voice_guide.errors import AudioDeviceError, BadInputError
from voice_guide.commands import BACK, NEXT, PAUSE, QUIT
from voice_guide.compiler import AFTER_ANNOUNCEMENT, LEAD_IN
from voice_guide.phrases import phrases_for
from voice_guide.scheduler import (
    BACK_RESTARTS, JUMP_GAP, LATE_TOLERANCE, Listener, Played, PlayResult, Scheduler, Started,
)
from voice_guide.timeline import ANNOUNCEMENT, CHIME, CLOSING, SILENCE, SPEECH, Event

from .fakes import RATE, ROUTINE, START, FakeClock, FakeSink, clip, first, run, said, timeline_events

ENDING = phrases_for("en").ending()



# --- on time -------------------------------------------------------------------------------------------------


def test_every_sound_starts_at_its_absolute_deadline_and_silence_sends_nothing():
    events = timeline_events()
    result, sink, _ = run(events)
    sounds = [e for e in events if e.kind != SILENCE]
    assert [t for t, _ in sink.plays] == [START + e.start / RATE for e in sounds]
    assert said(sink) == [e.text or e.kind for e in sounds]
    assert all(p.lateness == 0 for p in result.played)


def test_a_run_lasts_exactly_as_long_as_its_timeline():
    events = timeline_events()
    _, _, clock = run(events)
    assert clock.t == pytest.approx(START + events[-1].end / RATE)


def run_with_late_audio(events, late_event: Event, by: float):
    """Run with the audio of `late_event` ready only `by` seconds after its deadline."""
    clock = FakeClock()

    def late_clip(event):
        if event == late_event:
            clock.t = START + late_event.start / RATE + by
        return clip(event)

    return Scheduler(events, late_clip, clock, FakeSink(clock)).run()


def test_a_sound_whose_audio_is_late_plays_late_and_moves_the_rest_of_the_schedule():
    events = timeline_events()
    slow = first(events, lambda e: e.text == "Press the arch.")
    result = run_with_late_audio(events, slow, 0.5)
    late = next(p for p in result.played if p.event == slow)
    assert late.lateness == pytest.approx(0.5)
    after = [p for p in result.played if p.event.start > slow.start]
    assert after and all(p.actual == pytest.approx(START + p.event.start / RATE + 0.5) for p in after)
    assert all(p.lateness == pytest.approx(0) for p in after)


def test_lateness_within_the_tolerance_does_not_move_the_schedule():
    events = timeline_events()
    target = first(events, lambda e: e.text == "Sit down.")
    result = run_with_late_audio(events, target, LATE_TOLERANCE / 2)
    later = [p for p in result.played if p.event.start > target.start]
    assert later and all(p.actual == pytest.approx(START + p.event.start / RATE) for p in later)


# --- starting somewhere else ---------------------------------------------------------------------------------


def test_start_at_a_step_begins_with_that_steps_chime_at_once():
    events = timeline_events()
    result, sink, _ = run(events, start_step=2)
    assert result.played[0].event.kind == CHIME and result.played[0].event.step == 2
    assert sink.plays[0][0] == START
    assert "Sit down." not in said(sink)
    assert said(sink)[-1] == "Stop if it hurts."


def test_start_at_a_step_without_chimes_leaves_a_lead_in_before_the_first_word():
    events = timeline_events(chime=False)
    _, sink, _ = run(events, start_step=2, chime=False)
    assert said(sink)[0] == "Press the arch."
    assert sink.plays[0][0] == pytest.approx(START + LEAD_IN)


def test_start_at_a_step_that_does_not_exist_is_bad_input_naming_it():
    with pytest.raises(BadInputError, match="--start-at 9: the routine has no step 9"):
        run(timeline_events(), start_step=9)


def test_the_beginning_of_a_timeline_without_chimes_is_its_own_lead_in():
    events = timeline_events(chime=False)
    _, sink, _ = run(events, chime=False)
    assert sink.plays[0][0] == pytest.approx(START + LEAD_IN, abs=1e-4)


# --- keys ----------------------------------------------------------------------------------------------------


def test_pause_stops_the_sound_at_once_and_resume_says_the_interrupted_line_again_after_a_chime():
    events = timeline_events()
    line = first(events, lambda e: e.text == "Press the arch.")
    pause_at = START + line.start / RATE + 0.3  # in the middle of the line
    resume_at = pause_at + 20.0
    result, sink, _ = run(events, [(pause_at, PAUSE), (resume_at, PAUSE)])
    assert sink.stops[0] == pause_at
    after = [(t, text) for t, text in zip((t for t, _ in sink.plays), said(sink)) if t >= resume_at]
    assert after[0] == (resume_at, CHIME)
    replay_at = resume_at + CHIME_LENGTH / RATE + compiler.AFTER_CHIME
    assert after[1] == (pytest.approx(replay_at), "Press the arch.")
    assert said(sink).count("Press the arch.") == 2
    assert said(sink)[-1] == "Stop if it hurts."


def test_pause_in_a_quiet_stretch_resumes_from_the_same_point():
    events = timeline_events()
    cue = first(events, lambda e: e.text == "Five seconds left.")
    pause_at = START + cue.start / RATE - 2.0  # two seconds before the cue, inside the hold
    resume_at = pause_at + 60.0
    _, sink, _ = run(events, [(pause_at, PAUSE), (resume_at, PAUSE)])
    cue_times = [t for t, text in zip((t for t, _ in sink.plays), said(sink)) if text == "Five seconds left."]
    assert cue_times == [pytest.approx(resume_at + CHIME_LENGTH / RATE + compiler.AFTER_CHIME + 2.0)]


def test_resume_without_chimes_is_a_short_quiet_instead_of_a_chime():
    events = timeline_events(ROUTINE._replace(hold_end="none"), chime=False)  # no end-of-hold tone either
    line = first(events, lambda e: e.text == "Rub the heel.")
    pause_at = START + line.start / RATE + 0.2
    _, sink, _ = run(events, [(pause_at, PAUSE), (pause_at + 5, PAUSE)], chime=False)
    assert CHIME not in said(sink)
    replay = [t for t, text in zip((t for t, _ in sink.plays), said(sink)) if text == "Rub the heel."]
    assert replay[-1] == pytest.approx(pause_at + 5 + LEAD_IN)


def test_pause_in_the_last_quiet_seconds_resumes_and_ends_there():
    events = timeline_events()
    at = START + events[-1].start / RATE + 0.5  # in the tail after the last reminder
    result, sink, clock = run(events, [(at, PAUSE), (at + 10, PAUSE)])
    assert said(sink)[-1] == CHIME  # the re-orientation, then only quiet is left
    assert clock.t == pytest.approx(at + 10 + CHIME_LENGTH / RATE + compiler.AFTER_CHIME + events[-1].end / RATE
                                    - (at - START))


def test_next_while_paused_in_a_hold_goes_to_the_step_after_the_hold():
    events = timeline_events()
    step3 = first(events, lambda e: e.kind == CHIME and e.step == 3)
    at = START + step3.start / RATE - 0.5  # the last half second of step 2's hold
    result, sink, _ = run(events, [(at, PAUSE), (at + 2, NEXT)])
    assert "Rub the heel." in said(sink)
    assert said(sink).count(CHIME) == sum(e.kind == CHIME for e in events)  # nothing skipped, nothing doubled


def test_next_cuts_the_step_short_and_starts_the_next_one_with_its_chime():
    events = timeline_events()
    hold_line = first(events, lambda e: e.text == "Press the arch.")
    press_at = START + hold_line.end / RATE + 1.0  # one second into the hold
    result, sink, _ = run(events, [(press_at, NEXT)])
    assert sink.stops == [press_at]
    step3_chime = first(events, lambda e: e.kind == CHIME and e.step == 3)
    jumped = next(p for p in result.played if p.actual > press_at)
    assert jumped.event == step3_chime
    assert jumped.actual == pytest.approx(press_at + JUMP_GAP)
    assert "Ten seconds left." not in said(sink) and "Five seconds left." not in said(sink)


def test_back_near_the_start_of_a_step_goes_to_the_start_of_the_step_before():
    events = timeline_events()
    step_start = first(events, lambda e: e.step == 3).start
    press_at = START + step_start / RATE + BACK_RESTARTS - 0.5
    _, sink, _ = run(events, [(press_at, BACK)])
    assert said(sink).count("Press the arch.") == 2
    assert said(sink).count("Rub the heel.") == 2
    assert said(sink).count("Sit down.") == 1


def test_back_well_into_a_step_starts_that_step_again_as_a_music_player_does():
    events = timeline_events()
    hold_start = first(events, lambda e: e.text == "Press the arch.")
    step_start = first(events, lambda e: e.step == 2).start
    press_at = START + step_start / RATE + BACK_RESTARTS + 0.5
    assert press_at < START + hold_start.end / RATE + 10  # inside the step's hold
    result, sink, clock = run(events, [(press_at, BACK)])
    assert said(sink).count("Press the arch.") == 2
    assert said(sink).count("Sit down.") == 1
    again = [at for at, pcm in sink.plays if pcm == b"Press the arch."][1]
    assert again == pytest.approx(press_at + JUMP_GAP + (hold_start.start - step_start) / RATE)


def test_back_in_the_first_step_starts_that_step_again():
    events = timeline_events()
    line = first(events, lambda e: e.text == "Sit down.")
    _, sink, _ = run(events, [(START + line.end / RATE + 0.1, BACK)])
    assert said(sink).count("Sit down.") == 2
    assert said(sink)[0] == CHIME and said(sink)[1].startswith("Demo.")
    assert sum(text.startswith("Demo.") for text in said(sink)) == 1


def test_back_during_the_introduction_starts_it_again():
    events = timeline_events()
    intro = first(events, lambda e: e.kind == SPEECH)
    _, sink, _ = run(events, [(START + intro.start / RATE + 0.2, BACK)])
    assert sum(text.startswith("Demo.") for text in said(sink)) == 2


def test_quit_jumps_to_the_closing_and_still_says_every_reminder():
    events = timeline_events()
    line = first(events, lambda e: e.text == "Press the arch.")
    press_at = START + line.end / RATE + 2.0
    result, sink, clock = run(events, [(press_at, QUIT)])
    assert result.quit_early
    assert "Rub the heel." not in said(sink)
    closing = [e.text or e.kind for e in events if e.kind != SILENCE and e.role == CLOSING]
    assert said(sink)[-len(closing):] == closing
    assert said(sink)[-2:] == [ENDING, "Stop if it hurts."]


def test_keys_during_the_closing_do_not_cut_the_reminders_short():
    events = timeline_events()
    ending = first(events, lambda e: e.text == ENDING)
    at = START + ending.start / RATE + 0.1
    result, sink, _ = run(events, [(at, QUIT), (at + 0.1, NEXT), (at + 0.2, BACK)])
    assert sink.stops == []
    assert not result.quit_early
    assert said(sink)[-2:] == [ENDING, "Stop if it hurts."]


def test_next_at_the_last_step_goes_to_the_closing():
    events = timeline_events()
    line = first(events, lambda e: e.text == "Rub the heel.")
    _, sink, _ = run(events, [(START + line.end / RATE + 0.5, NEXT)])
    assert said(sink)[-2:] == [ENDING, "Stop if it hurts."]


def test_quit_while_paused_goes_to_the_closing_without_waiting_for_resume():
    events = timeline_events()
    line = first(events, lambda e: e.text == "Sit down.")
    at = START + line.start / RATE + 0.2
    result, sink, _ = run(events, [(at, PAUSE), (at + 3, QUIT)])
    assert result.quit_early
    assert said(sink)[-2:] == [ENDING, "Stop if it hurts."]
    assert "Press the arch." not in said(sink)


def test_the_listener_hears_every_sound_pause_resume_and_jump():
    events = timeline_events()
    heard: list[str] = []

    class Recorder(Listener):
        def playing(self, played):
            heard.append(f"play {played.event.text or played.event.kind}")

        def paused(self):
            heard.append("paused")

        def resumed(self):
            heard.append("resumed")

        def jumped(self, command, event):
            heard.append(f"{command} to step {event.step}")

    line = first(events, lambda e: e.text == "Sit down.")
    at = START + line.start / RATE + 0.1
    clock = FakeClock([(at, PAUSE), (at + 1, PAUSE), (at + 5, NEXT)])
    Scheduler(events, clip, clock, FakeSink(clock), Recorder()).run()
    assert heard[heard.index("paused"):][:2] == ["paused", "resumed"]
    assert "next to step 2" in heard


# --- the device failing --------------------------------------------------------------------------------------


def test_a_device_that_fails_mid_routine_says_where_it_stopped_and_how_to_resume():
    events = timeline_events()
    sounds = [e for e in events if e.kind != SILENCE]
    failing = next(i for i, e in enumerate(sounds) if e.step == 2)
    with pytest.raises(AudioDeviceError) as caught:
        run(events, fail_from=failing)
    message = str(caught.value)
    assert "the audio device stopped working at step 2" in message
    assert "resume with --start-at 2" in message
    assert "CODE: -19" in message


def test_a_device_that_never_played_passes_its_own_error_up_unchanged():
    with pytest.raises(AudioDeviceError, match="Error opening PCM device"):
        run(timeline_events(), fail_from=0)


def test_a_start_inside_a_block_says_where_first_then_plays_the_step_as_timed():
    events = timeline_events()
    where = Event(SPEECH, 0, RATE, "Picking up with your left foot.", 3, ANNOUNCEMENT)
    _, sink, _ = run(events, start_step=3, orientation=where)
    assert said(sink)[:3] == ["Picking up with your left foot.", "chime", "Rub the heel."]
    spoken_at, chime_at = sink.plays[0][0], sink.plays[1][0]
    assert spoken_at == pytest.approx(START)
    assert chime_at == pytest.approx(START + 1.0 + AFTER_ANNOUNCEMENT)


def test_while_a_start_inside_a_block_says_where_the_screen_is_already_on_that_step():
    from voice_guide.display import describe

    events = timeline_events()
    where = Event(SPEECH, 0, RATE, "Picking up with your left foot.", 3, ANNOUNCEMENT)
    clock = FakeClock()
    scheduler = Scheduler(events, clip, clock, FakeSink(clock), chime=True)
    seen: list[int] = []

    class Watch(Listener):
        def oriented(self, event):
            seen.append(describe(events, True, scheduler.position(), compiler.outline(ROUTINE)).step)

    scheduler.listener = Watch()
    scheduler.run(3, where)
    assert seen == [3]  # not step 2, whose events come before step 3's first sound


def test_what_the_scheduler_reports_is_immutable_values_with_their_defaults():
    event = Event(SPEECH, 0, 10, "Hi.")
    played = Played(0, event, 1.0, 1.25)
    assert played.returned is None and played.lateness == 0.25 and played == Played(0, event, 1.0, 1.25, None)
    assert PlayResult((played,)).quit_early is False and PlayResult(()).played == ()
    assert repr(Started(b"x", 1.0, 1.5)) == "Started(pcm=b'x', actual=1.0, returned=1.5)"
    for value, name in ((played, "actual"), (PlayResult(()), "quit_early"), (Started(b"x", 1.0, 1.5), "pcm")):
        with pytest.raises(AttributeError):
            setattr(value, name, None)
        with pytest.raises(AttributeError):
            value.__dict__  # noqa: B018 - no instance dictionary: nothing can be added either

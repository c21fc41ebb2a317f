"""The live player's scheduler, driven by a fake clock and a fake sink: deadlines, lateness, and every key."""

from __future__ import annotations

import io
import json
import threading

import pytest

from voice_guide import compiler
from voice_guide.chime import CHIME_LENGTH
from voice_guide.display import LogDisplay, View, clock_text, describe
from voice_guide.env import Environment
from voice_guide.errors import AudioDeviceError, BadInputError, EngineError, OutputError
from voice_guide.keys import command_for
from voice_guide.loader import load
from voice_guide.player import (
    BACK,
    JUMP_GAP,
    LATE_TOLERANCE,
    LEAD_IN,
    NEXT,
    PAUSE,
    QUIT,
    Listener,
    Played,
    PlayOptions,
    Prefetcher,
    Scheduler,
    TimingLog,
    play,
    process_started_at,
    step_titles,
)
from voice_guide.routine import Cues, Hold, Routine, Say
from voice_guide.timeline import CHIME, CLOSING, SAMPLE_RATE, SILENCE, SPEECH, Event

from .conftest import DATA

RATE = SAMPLE_RATE
QUICK = DATA / "play" / "quick.yaml"
START = 100.0  # the fake clock's reading when a run begins


class FakeClock:
    """Time moves only when the scheduler waits; `commands` are (time, command) pairs delivered on time."""

    def __init__(self, commands=()):
        self.t = START
        self.commands = sorted(commands)

    def now(self) -> float:
        return self.t

    def wait_until(self, deadline: float):
        if self.commands and self.commands[0][0] <= deadline:
            at, command = self.commands.pop(0)
            self.t = max(self.t, at)
            return command
        if deadline == float("inf"):
            raise AssertionError("the scheduler waits for a key that never comes")
        self.t = max(self.t, deadline)
        return None


class FakeSink:
    """Records what was played when; can be told to fail from the n-th play on."""

    def __init__(self, clock: FakeClock, fail_from: int | None = None):
        self.clock = clock
        self.plays: list[tuple[float, bytes]] = []
        self.stops: list[float] = []
        self.fail_from = fail_from

    def play(self, pcm: bytes) -> None:
        if self.fail_from is not None and len(self.plays) >= self.fail_from:
            raise AudioDeviceError("the audio device failed: Error opening PCM device. -- CODE: -19")
        self.plays.append((self.clock.t, pcm))

    def stop_all(self) -> None:
        self.stops.append(self.clock.t)

    def wait_done(self) -> None:
        pass


def clip(event: Event) -> bytes:
    return (event.text or event.kind).encode()


def seconds_of(text: str) -> int:
    """A made-up spoken length: half a second per word."""
    return len(text.split()) * RATE // 2


ROUTINE = Routine(
    "Demo",
    (
        Say("Sit down.", pause=2.0),
        Say("Press the arch.", hold=Hold(10.0, 10.0), cues=Cues(every=5.0)),
        Say("Rub the heel.", pause=3.0),
    ),
    reminders=("Stop if it hurts.",),
)


def timeline_events(routine: Routine = ROUTINE, chime: bool | None = None) -> list[Event]:
    return list(compiler.iter_events(routine, seconds_of, chime=chime))


def run(events, commands=(), *, clip=clip, fail_from=None, chime=True, start_step=None):
    clock = FakeClock(commands)
    sink = FakeSink(clock, fail_from)
    result = Scheduler(events, clip, clock, sink, chime=chime).run(start_step)
    return result, sink, clock


def first(events, wanted) -> Event:
    return next(e for e in events if wanted(e))


def said(sink: FakeSink) -> list[str]:
    return [pcm.decode() for _, pcm in sink.plays]


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
    events = timeline_events(chime=False)
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


def test_back_goes_to_the_start_of_the_step_before():
    events = timeline_events()
    line = first(events, lambda e: e.text == "Rub the heel.")
    press_at = START + line.end / RATE + 0.5
    _, sink, _ = run(events, [(press_at, BACK)])
    assert said(sink).count("Press the arch.") == 2
    assert said(sink).count("Rub the heel.") == 2
    assert said(sink).count("Sit down.") == 1


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
    assert said(sink)[-2:] == [compiler.ENDING, "Stop if it hurts."]


def test_keys_during_the_closing_do_not_cut_the_reminders_short():
    events = timeline_events()
    ending = first(events, lambda e: e.text == compiler.ENDING)
    at = START + ending.start / RATE + 0.1
    result, sink, _ = run(events, [(at, QUIT), (at + 0.1, NEXT), (at + 0.2, BACK)])
    assert sink.stops == []
    assert not result.quit_early
    assert said(sink)[-2:] == [compiler.ENDING, "Stop if it hurts."]


def test_next_at_the_last_step_goes_to_the_closing():
    events = timeline_events()
    line = first(events, lambda e: e.text == "Rub the heel.")
    _, sink, _ = run(events, [(START + line.end / RATE + 0.5, NEXT)])
    assert said(sink)[-2:] == [compiler.ENDING, "Stop if it hurts."]


def test_quit_while_paused_goes_to_the_closing_without_waiting_for_resume():
    events = timeline_events()
    line = first(events, lambda e: e.text == "Sit down.")
    at = START + line.start / RATE + 0.2
    result, sink, _ = run(events, [(at, PAUSE), (at + 3, QUIT)])
    assert result.quit_early
    assert said(sink)[-2:] == [compiler.ENDING, "Stop if it hurts."]
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


# --- timing log, screen, keys --------------------------------------------------------------------------------


def test_the_timing_log_writes_one_json_line_per_sound_in_seconds_since_the_command_started():
    stream = io.StringIO()
    log = TimingLog(stream, origin=10.0)
    event = Event(SPEECH, 22050, 11025, "Sit down.", 1, "instruction")
    log.playing(Played(3, event, scheduled=11.0, actual=11.0042, returned=11.0052))
    line = json.loads(stream.getvalue())
    assert line["index"] == 3 and line["kind"] == "speech" and line["step"] == 1
    assert line["scheduled"] == 1.0 and line["actual"] == pytest.approx(1.0042)
    assert line["lateness_ms"] == pytest.approx(4.2)
    assert line["sample"] == 22050 and line["samples"] == 11025
    assert line["open_ms"] == pytest.approx(1.0)


def test_the_process_start_is_a_moment_in_the_recent_past():
    import time

    started = process_started_at()
    assert 0 <= time.perf_counter() - started < 600


def test_step_titles_are_the_instructions_of_the_expanded_steps():
    assert step_titles(ROUTINE) == ("Sit down.", "Press the arch.", "Rub the heel.")


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


@pytest.mark.parametrize(("key", "command"), [(" ", PAUSE), ("n", NEXT), ("B", BACK), ("q", QUIT), ("x", None)])
def test_each_key_means_its_command(key, command):
    assert command_for(key) == command


# --- play(): the wiring, with the real speech engine and a sink that cannot play ---------------------------


class NoDevice:
    def play(self, pcm):
        raise AudioDeviceError("the audio device failed: Error opening PCM device. -- CODE: -2")

    def stop_all(self):
        pass

    def wait_done(self):
        pass


def quiet_env(cache_root) -> Environment:
    return Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                       cache_dir=cache_root / "voice-guide")


def test_play_with_no_device_says_so_and_suggests_exporting_that_routine(cache_root):
    routine = load(str(QUICK))
    with pytest.raises(AudioDeviceError) as caught:
        play(routine, PlayOptions(), quiet_env(cache_root), sink=NoDevice())
    assert str(caught.value) == (
        f"no audio output device found; export the routine instead: voice-guide export {QUICK} -o routine.mp3"
    )
    assert "CODE: -2" in str(caught.value.__cause__)


def test_play_with_a_timing_log_it_cannot_write_says_so_before_any_sound(cache_root, tmp_path):
    log = tmp_path / "no-such-folder" / "timing.jsonl"
    with pytest.raises(OutputError, match=r"timing.jsonl: cannot write the timing log \(No such file or directory\)$"):
        play(load(str(QUICK)), PlayOptions(timing_log=log), quiet_env(cache_root), sink=NoDevice())


def test_play_rejects_a_start_step_past_the_end_before_making_any_sound(cache_root):
    with pytest.raises(BadInputError, match=r"^--start-at 4: 'Quick play test' has 3 steps$"):
        play(load(str(QUICK)), PlayOptions(start_at=4), quiet_env(cache_root), sink=NoDevice())



# --- the simpleaudio sink, with simpleaudio replaced by a stand-in -------------------------------------------


class FakeHandle:
    def __init__(self, playing: bool = True):
        self.playing = playing
        self.stopped = False

    def is_playing(self) -> bool:
        return self.playing

    def wait_done(self) -> None:
        self.playing = False

    def stop(self) -> None:
        self.stopped = True
        self.playing = False


class FakeSimpleaudio:
    """Refuses with each error in `errors` in turn, then plays."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.handles: list[FakeHandle] = []

    def play_buffer(self, pcm, channels, width, rate):
        assert (channels, width, rate) == (1, 2, 22050)
        if self.errors:
            raise self.errors.pop(0)
        self.handles.append(FakeHandle())
        return self.handles[-1]


def fake_sink(*errors: Exception):
    from voice_guide.audio_sink import SimpleaudioSink

    backend = FakeSimpleaudio(*errors)
    return SimpleaudioSink(backend=backend), backend


def test_the_sink_turns_a_device_failure_into_an_audio_device_error_with_alsas_words():
    sink, _ = fake_sink(RuntimeError("Error opening PCM device. -- CODE: -2 -- MSG: No such file or directory"))
    with pytest.raises(AudioDeviceError, match=r"^the audio device failed: Error opening PCM device\. -- CODE: -2"):
        sink.play(b"\0\0")


def test_a_busy_device_is_retried_once_the_sound_before_has_finished():
    sink, backend = fake_sink()
    sink.play(b"\0\0")
    backend.errors.append(RuntimeError("Error opening PCM device. -- MSG: Device or resource busy"))
    sink.play(b"\0\0")
    assert not backend.handles[0].playing and len(backend.handles) == 2


def test_stop_all_stops_every_sound_still_playing():
    sink, backend = fake_sink()
    sink.play(b"\0\0")
    sink.play(b"\0\0")
    sink.stop_all()
    assert all(handle.stopped for handle in backend.handles)


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

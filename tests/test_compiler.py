"""The timeline compiler, with a stand-in for speech lengths (the real engine is tested in test_export)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice_guide import compiler
from voice_guide.errors import BadInputError
from voice_guide.phrases import phrases_for
from voice_guide.routine import Cues, Hold, Repeat, Routine, Say, Sides
from voice_guide.timeline import ANNOUNCEMENT, CHIME, CLOSING, CUE, INSTRUCTION, INTRO, SAMPLE_RATE, SILENCE, SPEECH

SR = SAMPLE_RATE
ENDING = phrases_for("en").ending()


def spoken_length(text: str) -> int:
    """A deterministic stand-in: about 14 characters a second, varied a little by the text's hash."""
    jitter = hashlib.sha256(text.encode()).digest()[0]
    return int(SR * (0.3 + len(text) / 14)) + jitter


def timeline_of(*steps, **kw):
    return compiler.compile(Routine("Test routine", tuple(steps), **kw), spoken_length)


def speech(timeline, role=None):
    return [e for e in timeline.events if e.kind == SPEECH and (role is None or e.role == role)]


# --- properties over generated routines ----------------------------------------------------------------------

durations = st.floats(min_value=1, max_value=400, allow_nan=False).map(lambda s: round(s, 2))
texts = st.text(alphabet="abcdefghij .,", min_size=1, max_size=60).filter(lambda s: s.strip())


@st.composite
def holds(draw):
    low = draw(durations)
    high = draw(st.one_of(st.just(low), durations.map(lambda d: round(low + d, 2))))
    return Hold(low, high)


says = st.builds(
    Say,
    text=texts,
    pause=st.one_of(st.none(), durations),
    hold=st.none(),
) | st.builds(
    Say,
    text=texts,
    hold=holds(),
    cues=st.builds(Cues, every=st.one_of(st.none(), durations), halfway=st.booleans()),
)
steps = st.recursive(
    says,
    lambda inner: st.builds(Repeat, times=st.integers(1, 3), steps=st.lists(inner, min_size=1, max_size=3).map(tuple))
    | st.builds(Sides, sides=st.lists(texts, min_size=2, max_size=3).map(tuple),
                steps=st.lists(inner, min_size=1, max_size=3).map(tuple)),
    max_leaves=6,
)
def _within_limits(routine: Routine) -> bool:
    """What the loader lets through: at most four hours in all (spoken lines included)."""
    try:
        compiler.compile(routine, spoken_length)
    except BadInputError:
        return False
    return True


routines = st.builds(
    Routine,
    title=texts,
    steps=st.lists(steps, min_size=1, max_size=4).map(tuple),
    chime=st.booleans(),
    reminders=st.one_of(st.just(()), st.lists(texts, min_size=1, max_size=3).map(tuple)),
).filter(_within_limits)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(routines)
def test_events_are_ordered_contiguous_and_sum_to_the_total(routine):
    timeline = compiler.compile(routine, spoken_length)
    assert timeline.events[0].start == 0
    for before, after in zip(timeline.events, timeline.events[1:]):
        assert after.start == before.end
        assert not (before.kind == SILENCE and after.kind == SILENCE and before.step == after.step)
    assert all(e.length > 0 for e in timeline.events)
    assert timeline.total == sum(e.length for e in timeline.events)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(routines)
def test_compiling_is_deterministic_and_lazy_iteration_gives_the_same_events(routine):
    first = compiler.compile(routine, spoken_length)
    assert compiler.compile(routine, spoken_length) == first
    assert tuple(compiler.iter_events(routine, spoken_length)) == first.events


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(routines)
def test_every_spoken_line_is_in_the_synthesis_list_and_reminders_close(routine):
    timeline = compiler.compile(routine, spoken_length)
    wanted = set(compiler.texts(routine))
    assert {e.text for e in speech(timeline)} <= wanted
    closing = [e.text for e in speech(timeline, CLOSING)]
    assert closing == [ENDING, *routine.reminders]
    assert speech(timeline)[-len(closing):] == speech(timeline, CLOSING)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(routines)
def test_cue_lines_never_contain_digits(routine):
    timeline = compiler.compile(routine, spoken_length)
    for event in speech(timeline, CUE):
        assert not any(ch.isdigit() for ch in event.text)


# --- specific behaviour --------------------------------------------------------------------------------------


def test_the_introduction_says_the_title_and_the_length_in_words():
    timeline = timeline_of(Say("Press.", hold=Hold(300, 300)))
    intro = speech(timeline, INTRO)[0].text
    assert intro == "Test routine. This routine takes about five minutes."


def test_a_hold_lasts_exactly_its_length_after_the_words():
    timeline = timeline_of(Say("Press.", hold=Hold(90, 90)), Say("Next."))
    press = next(e for e in speech(timeline) if e.text == "Press.")
    next_chime = next(e for e in timeline.events if e.kind == CHIME and e.step == 2)
    assert next_chime.start - press.end == 90 * SR


def test_remaining_time_cues_come_every_interval_counting_down_in_words():
    timeline = timeline_of(Say("Press.", hold=Hold(120, 120), cues=Cues(every=30)))
    press = next(e for e in speech(timeline) if e.text == "Press.")
    cues = [(round((e.start - press.end) / SR, 3), e.text) for e in speech(timeline, CUE)]
    assert cues == [
        (30, "One minute thirty seconds left."),
        (60, "One minute left."),
        (90, "Thirty seconds left."),
    ]


def test_halfway_falling_on_a_remaining_time_cue_says_that_moment_once():
    timeline = timeline_of(Say("Press.", hold=Hold(180, 180), cues=Cues(every=30, halfway=True)))
    assert [e.text for e in speech(timeline, CUE)] == [
        "Two minutes thirty seconds left.", "Two minutes left.", "One minute thirty seconds left.",
        "One minute left.", "Thirty seconds left."]


def test_halfway_is_said_where_no_other_cue_falls():
    timeline = timeline_of(Say("Press.", hold=Hold(100, 100), cues=Cues(every=30, halfway=True)))
    assert [e.text for e in speech(timeline, CUE)] == [
        "One minute ten seconds left.", "Halfway.", "Forty seconds left.", "Ten seconds left."]


def test_hold_range_speaks_a_cue_at_the_lower_bound_and_ends_at_the_upper():
    timeline = timeline_of(Say("Press.", hold=Hold(120, 180)), Say("Next."))
    press = next(e for e in speech(timeline) if e.text == "Press.")
    (cue,) = speech(timeline, CUE)
    assert cue.start - press.end == 120 * SR
    assert cue.text == "You can stop here, or keep going for up to one minute more."
    next_chime = next(e for e in timeline.events if e.kind == CHIME and e.step == 2)
    assert next_chime.start - press.end == 180 * SR


def test_repeats_announce_each_round_and_number_each_step():
    timeline = timeline_of(Repeat(2, (Say("Squeeze.", pause=2), Say("Release.", pause=2))))
    assert [e.text for e in speech(timeline, ANNOUNCEMENT)] == ["Round one of two.", "Round two of two."]
    assert [(e.step, e.text) for e in speech(timeline, INSTRUCTION)] == [
        (1, "Squeeze."), (2, "Release."), (3, "Squeeze."), (4, "Release."),
    ]


def test_sides_announce_each_side_after_its_chime():
    timeline = timeline_of(Sides(("left foot", "the right side"), (Say("Press.", pause=2),)))
    announced = [(e.step, e.text) for e in speech(timeline, ANNOUNCEMENT)]
    assert announced == [(1, "Start with your left foot."), (2, "Now the right side.")]
    first = [e for e in timeline.events if e.step == 2 and e.kind != SILENCE]
    assert [e.kind for e in first] == [CHIME, SPEECH, SPEECH]


def test_reminders_can_be_reworded_or_left_out():
    reworded = timeline_of(Say("Press."), reminders=("Stop if it hurts.",))
    assert [e.text for e in speech(reworded, CLOSING)] == [ENDING, "Stop if it hurts."]
    silent = timeline_of(Say("Press."), reminders=(), source="quiet.yaml")
    assert [e.text for e in speech(silent, CLOSING)] == [ENDING]
    assert silent.warnings[0].startswith("quiet.yaml: 'reminders: none' drops the closing safety reminders")
    assert not reworded.warnings


def test_no_chime_means_no_chime_events_and_a_short_lead_in():
    timeline = timeline_of(Say("Press."), chime=False)
    assert not [e for e in timeline.events if e.kind == CHIME]
    assert timeline.events[0].kind == SILENCE
    assert timeline.events[0].length == round(compiler.LEAD_IN * SR)


def test_a_cue_that_would_overlap_the_line_before_moves_a_little_or_is_left_out_with_a_warning():
    routine = Routine(
        "T",
        (Say("Press.", hold=Hold(40, 40), cues=Cues(every=6), line=7),),
        source="mine.yaml",
    )

    def lengths(text):  # "Thirty seconds left." lasts ten seconds: the cues after it must give way
        return 10 * SR if text.startswith("Thirty") else spoken_length(text)

    timeline = compiler.compile(routine, lengths)
    cues = speech(timeline, CUE)
    for before, after in zip(cues, cues[1:]):
        assert after.start >= before.end
    assert timeline.warnings
    assert all(w.startswith("mine.yaml:7: the cue") for w in timeline.warnings)
    assert any("left out" in w for w in timeline.warnings)


def test_step_spans_are_named_by_their_instruction_and_cover_the_step():
    timeline = timeline_of(Say("Sit.", pause=3), Say("Press.", hold=Hold(30, 30)))
    spans = timeline.steps()
    assert [(s.number, s.title) for s in spans] == [(1, "Sit."), (2, "Press.")]
    assert spans[0].end == spans[1].start
    assert timeline.closing_start == spans[1].end


def test_cues_as_long_as_the_hold_are_not_said():
    routine = Routine("T", (Say("Press.", hold=Hold(30, 30), cues=Cues(every=30), line=3),), source="r.yaml")
    timeline = compiler.compile(routine, spoken_length)
    assert not speech(timeline, CUE)  # the loader warns about it (tests/test_loader.py)


def test_the_loaders_warnings_come_first_in_the_timelines():
    routine = Routine("T", (Say("Press."),), source="r.yaml", warnings=("r.yaml:3:5: look here",))
    assert compiler.compile(routine, spoken_length).warnings[0] == "r.yaml:3:5: look here"


def test_the_outline_gives_the_instructions_of_the_expanded_steps():
    routine = Routine("Demo", (Say("Sit down.", pause=2.0), Say("Press the arch."), Say("Rub the heel.")))
    assert [step.text for step in compiler.outline(routine)] == ["Sit down.", "Press the arch.", "Rub the heel."]


def test_cues_too_close_together_give_one_warning_with_the_smallest_every_that_fits():
    def lengths(text):  # every cue line takes 1.8 s to say
        return round(1.8 * SR) if text.endswith("left.") else spoken_length(text)

    step = Say("Press.", hold=Hold(60, 60), cues=Cues(every=2), line=3)
    routine = Routine("T", (Repeat(2, (step,)),), source="r.yaml")
    timeline = compiler.compile(routine, lengths)
    assert len(timeline.warnings) == 1  # not one per cue, nor one per round
    assert timeline.warnings[0].startswith("r.yaml:3: this hold's cues are too close to say one after another (")
    assert timeline.warnings[0].endswith("each takes up to 2.2 s to say with a pause, and 'every' is two seconds; "
                                         "use 'every: 3s' or more")
    fixed = Routine("T", (Say("Press.", hold=Hold(60, 60), cues=Cues(every=3), line=3),), source="r.yaml")
    assert compiler.compile(fixed, lengths).warnings == ()


def test_a_start_inside_a_block_is_oriented_by_the_blocks_its_own_lines_do_not_announce():
    routine = Routine("Blocks", (
        Say("Sit."),
        Sides(("left foot", "right foot"), (Say("Lift."), Repeat(2, (Say("Press."), Say("Rest."))))),
    ))
    steps = compiler.outline(routine)
    assert [(s.number, s.label, s.orientation) for s in steps[:6]] == [
        (1, None, None),
        (2, "Left foot", None),  # "Start with your left foot." is said at this step
        (3, "Left foot, round 1 of 2", "Picking up with your left foot."),  # "Round one of two." is said
        (4, "Left foot, round 1 of 2", "Picking up with your left foot, round one of two."),
        (5, "Left foot, round 2 of 2", "Picking up with your left foot."),
        (6, "Left foot, round 2 of 2", "Picking up with your left foot, round two of two."),
    ]
    assert steps[6].orientation is None  # "Now your right foot." starts step 7


def test_the_steps_shown_are_in_the_language_spoken_a_german_voice_on_a_routine_without_language():
    from voice_guide.routine import Voice

    routine = Routine("Toes", (Repeat(2, (Say("Spread."), Say("Curl."))),))
    german = Voice(voice="de", language="de")
    steps = compiler.outline(routine, voice=german)
    said = [part for part in compiler.script(routine, voice=german) if getattr(part, "label", None)]
    assert {s.label for s in steps} == {part.label for part in said} == {"Runde 1 von 2", "Runde 2 von 2"}
    assert steps[3].orientation == "Weiter: Runde zwei von zwei."
    assert compiler.outline(routine)[3].orientation == "Picking up with round two of two."  # no voice: English


def test_a_cue_every_hundredth_of_a_second_is_refused_before_anything_is_laid_out():
    from voice_guide.compiler import MAX_SPOKEN_LINES
    from voice_guide.errors import BadInputError
    from voice_guide.routine import Cues, Hold, Routine, Say

    step = Say("Press.", hold=Hold(4 * 3600.0, 4 * 3600.0), cues=Cues(every=0.01), line=5)
    with pytest.raises(BadInputError) as caught:
        compiler.script(Routine("Too many", (Say("Sit.", pause=1.0), step), source="big.yaml"))
    assert str(caught.value) == (
        "big.yaml:5: 'every: 0.01s' in a hold of 4h means 1,440,000 remaining-time cues, each a line to synthesize "
        f"(a routine may need at most {MAX_SPOKEN_LINES:,}): use an 'every' of at least 15s"
    )


def test_a_routine_of_too_many_different_lines_is_refused_naming_the_limit():
    from voice_guide.compiler import MAX_SPOKEN_LINES
    from voice_guide.errors import BadInputError
    from voice_guide.routine import Routine, Say

    steps = tuple(Say(f"Line number {n}.", pause=1.0) for n in range(MAX_SPOKEN_LINES + 1))
    with pytest.raises(BadInputError, match=f"many.yaml: the routine needs {MAX_SPOKEN_LINES + 1:,} different "
                                            f"spoken lines \\(at most {MAX_SPOKEN_LINES:,}\\)"):
        compiler.script(Routine("Many", steps, source="many.yaml"))
    assert len(compiler.texts(Routine("Fine", steps[:-10], source="fine.yaml"))) < MAX_SPOKEN_LINES


def test_the_four_hour_limit_counts_the_spoken_lines_the_opening_and_the_closing():
    from voice_guide.errors import BadInputError

    def routine(seconds: float) -> Routine:
        return Routine("Long", (Say("Press.", hold=Hold(seconds, seconds)),), source="long.yaml")

    one_second = lambda text: SAMPLE_RATE  # noqa: E731 - every line takes a second
    fits = compiler.compile(routine(4 * 3600.0 - 60), one_second)
    assert fits.total_seconds <= compiler.MAX_TOTAL
    with pytest.raises(BadInputError, match=r"^long.yaml: the routine runs 4h.* with its spoken lines, its opening "
                                            r"and its closing; a routine must be at most 4h in all"):
        compiler.compile(routine(4 * 3600.0 - 2), one_second)


def test_the_seconds_the_loudness_is_worked_out_from_are_those_of_the_script_said():
    # The phrases of the voice's language and the listening player's words count, as they are what is spoken.
    from voice_guide.routine import Voice

    routine = Routine("Demo", (Say("Press.", hold=Hold(20.0, 40.0), cues=Cues(halfway=True)),))
    english, chimes = compiler.sounding_seconds(routine)
    german, _ = compiler.sounding_seconds(routine, voice=Voice(language="de"))
    heard, _ = compiler.sounding_seconds(routine, listening=True)
    said = compiler.texts
    assert said(routine, voice=Voice(language="de")) != said(routine) != said(routine, listening=True)
    assert len(english) == len(german) == len(heard) and chimes == 3
    assert english != german and english != heard
    assert sum(compiler.sounding_seconds(routine, voice=Voice(rate=300))[0]) < sum(english) / 1.8  # per engine


def test_warnings_about_crowded_cues_point_at_the_every_that_crowds_them():
    from voice_guide.loader import loads

    routine = loads("title: T\nsteps:\n  - say: Press.\n    hold: 1m\n    cues:\n      halfway: true\n"
                    "      every: 2s\n", path="r.yaml")
    warnings = compiler.compile(routine, lambda text: 2 * SAMPLE_RATE).warnings
    assert len(warnings) == 1 and warnings[0].startswith("r.yaml:7:7: this hold's cues are too close")


def test_the_introduction_and_the_closing_are_titled_in_the_language_spoken():
    from voice_guide.routine import Voice

    routine = Routine("T", (Say("Sit."),))
    for voice, titles in ((None, ("Introduction", "Closing")), (Voice(voice="de", language="de"),
                                                                ("Einleitung", "Abschluss"))):
        sections = compiler.compile(routine, lambda text: SAMPLE_RATE, voice=voice).sections()
        assert (sections[0].title, sections[-1].title) == titles


def test_a_scripts_parts_and_the_clip_targets_are_immutable_values_with_their_defaults():
    from voice_guide.phrases import choose
    from voice_guide.targets import TRANSPARENT_DB, ClipTargets

    sound = compiler.Sound(CHIME, INTRO, None)
    assert sound == compiler.Sound(kind=CHIME, role=INTRO, step=None, text=None, gap_after=0.0, label=None, where=(),
                                   hold=None)
    assert repr(compiler.Cue(1.5, "Halfway.")) == "Cue(at=1.5, text='Halfway.', countdown=False)"
    assert compiler.HoldWindow(1, 30.0, (), "r.yaml:3").every is None
    assert ClipTargets(-19.0, -18.0, -26.0).limit_db == TRANSPARENT_DB and choose("en").warnings == ()
    values = ((sound, "text"), (compiler.Cue(1.0, "x"), "at"), (ClipTargets(-19.0, -18.0, -26.0), "file_lufs"),
              (choose("en"), "warnings"))
    for value, name in values:
        with pytest.raises(AttributeError):
            setattr(value, name, None)
        with pytest.raises(AttributeError):
            value.__dict__  # noqa: B018 - no instance dictionary: nothing can be added either


def test_the_routine_models_values_are_immutable_and_equal_only_to_their_own_kind():
    from voice_guide.routine import Voice

    say = Say("Relax.")
    assert say == Say(text="Relax.", pause=None, hold=None, cues=Cues(), line=0) and say.cues == Cues()
    assert repr(Hold(2.0, 3.0)) == "Hold(minimum=2.0, maximum=3.0)" and Hold(2.0, 3.0).is_range
    assert Routine("T", (say,)) == Routine(title="T", steps=(say,), about=None, voice=Voice(), chime=True,
                                           reminders=None, language=None, intro=None, hold_end="auto",
                                           source="<routine>", warnings=())
    # As the frozen dataclasses they were: a plain tuple or another class's value with the same fields is not equal
    assert Hold(2.0, 2.0) != (2.0, 2.0) != Hold(2.0, 2.0) and not (2.0, 2.0) == Hold(2.0, 2.0)
    assert Repeat(2, (say,)) != Sides(2, (say,)) and Voice() != (None,) * 5
    # where 'cues:' is in its file takes no part in equality nor in the hash
    assert Cues(15.0, True, line=3, column=7) == Cues(15.0, True) != Cues(15.0, False)
    assert hash(Cues(15.0, line=3)) == hash(Cues(15.0)) and Say("x", cues=Cues(line=9)) == Say("x")
    assert len({Voice(rate=120), Voice(rate=120), Voice()}) == 2
    routine = Routine("T", (say,))
    assert routine._replace(warnings=("w",)).warnings == ("w",) and routine.warnings == ()
    values = ((routine, "title"), (say, "text"), (Hold(1.0, 1.0), "minimum"), (Cues(), "every"),
              (Repeat(2, (say,)), "times"), (Sides(("left",), (say,)), "sides"), (Voice(), "rate"))
    for value, name in values:
        with pytest.raises(AttributeError):
            setattr(value, name, None)
        with pytest.raises(AttributeError):
            value.__dict__  # noqa: B018 - no instance dictionary: nothing can be added either


def test_timelines_events_step_spans_outlines_problems_and_user_settings_are_immutable_values_with_their_defaults():
    from voice_guide.errors import Problem
    from voice_guide.routine import Voice
    from voice_guide.timeline import Event, StepOutline, StepSpan, Timeline
    from voice_guide.user_settings import UserSettings

    outline = StepOutline(1, "Relax.")
    assert (outline.label, outline.hold, outline.orientation) == (None, None, None)
    assert repr(StepSpan(1, "Relax.", 0, 10)) == "StepSpan(number=1, title='Relax.', start=0, end=10)"
    assert Problem(3, 5, "bad").located("r.yaml") == "r.yaml:3:5: bad" and Problem(0, 0, "x").located("r") == "r: x"
    assert UserSettings() == UserSettings(listen=None, sensitivity=None) != UserSettings(True, 0.4)
    event = Event(SPEECH, 100, 10, "Hi.")
    assert (event.end, event.step, event.role, event.label) == (110, None, None, None)
    moved = Event(kind=SPEECH, start=0, length=10, text="Hi.", step=None, role=None, label=None)
    assert event._replace(start=0) == moved
    timeline = Timeline("T", (event,), Voice())
    assert (timeline.sample_rate, timeline.about, timeline.warnings, timeline.language) == (SAMPLE_RATE, None, (), "en")
    assert timeline.section_titles == ("Introduction", "Closing") and timeline.total == 110
    assert timeline._replace(warnings=("w",)).warnings == ("w",) and timeline.warnings == ()
    values = ((timeline, "warnings"), (event, "start"), (outline, "text"), (StepSpan(1, "Relax.", 0, 10), "end"),
              (Problem(3, 5, "bad"), "line"), (UserSettings(True), "listen"))
    for value, name in values:
        with pytest.raises(AttributeError):
            setattr(value, name, None)

"""The loader: what a good routine becomes, and where and how each kind of problem is reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from voice_guide import bundled
from voice_guide.errors import BadInputError, RoutineError
from voice_guide.loader import load, loads
from voice_guide.routine import Cues, Hold, Repeat, Routine, Say, Sides, Voice

GOOD = Path(__file__).resolve().parent / "data" / "good"


@pytest.fixture(params=["str", "Path", "bytes", "text"])
def read_good(request):
    """Loads a file from tests/data/good/ as a str path, a Path, its bytes or its text (like open_variants)."""

    def read(name: str) -> Routine:
        path = GOOD / name
        if request.param == "str":
            return load(str(path))
        if request.param == "Path":
            return load(path)
        if request.param == "bytes":
            return loads(path.read_bytes(), path=str(path))
        return loads(path.read_bytes().decode("utf-8"), path=str(path))

    return read


def problems_of(text: str | bytes) -> list[str]:
    """Each problem of a routine text as 'line:col: message'."""
    with pytest.raises(RoutineError) as caught:
        loads(text, path="r.yaml")
    return [f"{p.line}:{p.column}: {p.message}" for p in caught.value.problems]


# ---- good routines ----


def test_a_full_routine_becomes_the_routine_it_describes(read_good):
    routine = read_good("full.yaml")
    assert routine.title == "Arch self-massage"
    assert routine.about == "Thumb pressure along the arch."
    assert routine.voice == Voice(voice="en-us", rate=150, volume=0.9)
    assert routine.chime is True
    assert routine.reminders == ("If anything hurts, stop.", "Ice afterward if you need to.")
    sit, press, rounds, sides = routine.steps
    assert sit == Say("Sit with your foot resting on your opposite thigh.", pause=5.0, line=9)
    assert press.hold == Hold(120.0, 180.0) and press.cues == Cues(every=30.0, halfway=True) and press.line == 11
    assert isinstance(rounds, Repeat) and rounds.times == 2 and rounds.line == 16
    assert rounds.steps == (Say("Stroke from the heel to the toes.", hold=Hold(90.0, 90.0), line=18),)
    assert isinstance(sides, Sides) and sides.sides == ("left foot", "right foot") and sides.line == 20
    assert sides.steps[0].hold == Hold(45.0, 45.0)


def test_a_minimal_routine_gets_the_defaults(read_good):
    routine = read_good("minimal.yaml")
    assert routine == Routine(
        title="Quick", steps=(Say("Breathe.", line=3),), source=str(GOOD / "minimal.yaml")
    )
    assert routine.reminders is None and routine.voice == Voice() and routine.chime is True


def test_plain_text_is_spoken_as_written_even_where_yaml_would_see_a_number_date_or_boolean(read_good):
    routine = read_good("literal-text.yaml")
    assert routine.title == "2024"
    assert [step.text for step in routine.steps] == [
        "yes", "1:30", "3.14", "off", "2024-01-01", "quoted: with a colon", "A literal block,\nover two lines."
    ]


def test_reminders_none_opts_out_of_the_closing_reminders(read_good):
    assert read_good("literal-text.yaml").reminders == ()


def test_aliases_reuse_steps_and_nested_blocks_keep_their_order(read_good):
    routine = read_good("nested-with-aliases.yaml")
    press, sides = routine.steps
    assert routine.chime is False and routine.voice.rate == 180
    assert press.hold == Hold(120.0, 180.0) and press.cues.every == 60.0
    (rounds,) = sides.steps
    assert rounds.times == 3 and rounds.steps == (press, Say("Rest.", pause=10.0, line=14))


def test_a_bom_and_crlf_line_ends_are_accepted(read_good):
    routine = read_good("bom-crlf.yaml")
    assert routine.title == "Windows file" and routine.steps[0].hold == Hold(90.0, 90.0)


def test_a_clock_duration_is_read_as_written_not_as_yaml_sexagesimal():
    routine = loads("title: t\nsteps:\n  - say: Press.\n    hold: 1:30\n  - say: Rest.\n    pause: 1:02:03\n")
    assert routine.steps[0].hold == Hold(90.0, 90.0)
    assert routine.steps[1].pause == 3723.0


def test_the_source_is_the_path_as_given():
    assert loads("title: t\nsteps: [{say: a}]\n", path="mine.yaml").source == "mine.yaml"


@pytest.mark.parametrize("name", bundled.names())
def test_every_bundled_routine_loads(name):
    assert load(bundled.path(name)).steps


# ---- problems and their positions ----


def test_all_problems_of_a_file_are_reported_together_in_file_order():
    text = "title: t\nvoice:\n  rate: 10\nsteps:\n  - say: a\n    puase: 5s\n  - say: b\n    hold: 3m-2m\n"
    assert problems_of(text) == [
        "3:9: 'rate' is 10 words per minute; use 80 to 400",
        "6:5: unknown key 'puase' (did you mean 'pause'?)",
        "8:11: 'hold': '3m-2m' is not a range: the shorter end comes first, like 2m-3m",
    ]


def test_the_error_message_names_file_line_and_column():
    with pytest.raises(RoutineError) as caught:
        loads("title: t\nsteps:\n  - say: a\n    puase: 5s\n", path="routine.yaml")
    assert str(caught.value) == "routine.yaml:4:5: unknown key 'puase' (did you mean 'pause'?)"


def test_a_duplicate_key_names_the_line_of_the_first():
    assert problems_of("title: t\nsteps: [{say: a}]\ntitle: u\n") == [
        "3:1: duplicate key 'title' (first at line 1); keep one"
    ]


def test_a_misspelt_required_key_is_suggested_not_also_reported_missing():
    assert problems_of("title: t\nstpes:\n  - say: a\n") == ["2:1: unknown key 'stpes' (did you mean 'steps'?)"]


def test_a_missing_required_key_is_reported_at_the_top_mapping():
    assert problems_of("about: a\ntitle: t\n") == [
        "1:1: missing 'steps': a routine needs at least one step, like '- say: ...'"
    ]


def test_a_say_step_with_block_keys_says_which_keys_it_takes():
    assert problems_of("title: t\nsteps:\n  - say: a\n    steps: []\n") == [
        "4:5: 'steps' does not belong in a 'say' step; it takes 'say', 'pause', 'hold' or 'cues'"
    ]


def test_text_at_the_length_limit_is_fine_and_one_more_character_is_not():
    ok = loads("title: t\nsteps:\n  - say: " + "a" * 600 + "\n")
    assert len(ok.steps[0].text) == 600
    assert problems_of("title: t\nsteps:\n  - say: " + "a" * 601 + "\n") == [
        "3:10: 'say' is 601 characters long; keep it under 600 by splitting it into steps"
    ]


def test_a_routine_of_exactly_four_hours_is_allowed_and_a_second_more_is_not():
    four_hours = "title: t\nsteps:\n  - repeat: 4\n    steps:\n      - say: a\n        hold: 1h\n"
    assert loads(four_hours).steps[0].times == 4
    assert problems_of(four_hours + "  - say: b\n    pause: 1s\n") == [
        "7:5: the routine runs at least 4h1s, over 4h by this step; shorten it"
    ]


def test_the_length_check_counts_sides_and_names_the_innermost_block_over_the_limit():
    text = (
        "title: t\nsteps:\n  - sides: [left, right]\n    steps:\n      - repeat: 3\n        steps:\n"
        "          - say: a\n            hold: 50m-90m\n"
    )
    assert problems_of(text) == [
        "5:9: this block runs at least 4h30m (3 rounds of 1h30m); a routine must be at most 4h"
    ]


def test_the_length_check_uses_the_longest_end_of_a_hold_and_adds_pauses():
    text = "title: t\nsteps:\n  - sides: [left, right]\n    steps:\n      - say: a\n        hold: 1m-2h1s\n"
    assert problems_of(text) == [
        "3:5: this block runs at least 4h2s (2 sides of 2h1s); a routine must be at most 4h"
    ]


def test_six_levels_of_blocks_are_fine_but_nine_are_not():
    def nested(levels: int) -> str:
        text = "title: t\nsteps:\n"
        for level in range(levels):
            text += "  " * level + "  - repeat: 1\n" + "  " * level + "    steps:\n"
        return text + "  " * levels + "  - say: deep\n"

    assert loads(nested(6)).steps
    assert problems_of(nested(9)) == ["19:21: blocks are nested over 8 deep here; flatten the routine"]


def test_an_empty_about_is_treated_as_absent():
    assert loads("title: t\nabout:\nsteps: [{say: a}]\n").about is None


def test_a_null_voice_or_cues_means_the_defaults():
    routine = loads("title: t\nvoice:\nsteps:\n  - say: a\n    hold: 1m\n    cues:\n")
    assert routine.voice == Voice() and routine.steps[0].cues == Cues()


@pytest.mark.parametrize(
    "value, message",
    [
        ("yes", None),
        ("off", None),
        ('"true"', "2:8: 'chime' must be true or false; found the quoted text 'true' (remove the quotes)"),
        ("[]", "2:8: 'chime' must be true or false, not a list"),
        ("", "2:7: 'chime' is empty; it must be true or false"),
    ],
)
def test_chime_takes_yaml_booleans_only(value, message):
    text = f"title: t\nchime: {value}\nsteps: [{{say: a}}]\n"
    if message is None:
        assert isinstance(loads(text).chime, bool)
    else:
        assert problems_of(text) == [message]


@pytest.mark.parametrize(
    "value, volume",
    [("0.01", 0.01), ("1", 1.0), ("0.5", 0.5), (".5", 0.5)],
)
def test_volume_takes_a_number_above_zero_up_to_one(value, volume):
    assert loads(f"title: t\nvoice: {{volume: {value}}}\nsteps: [{{say: a}}]\n").voice.volume == volume


@pytest.mark.parametrize(
    "value, message",
    [
        ("-0.1", "2:17: 'volume' is -0.1; it must be a number from 0.0 to 1.0, like 0.8"),
        ("0", "2:17: 'volume' is 0, which is silence; use more than 0, up to 1.0 (full volume)"),
        ("0.0", "2:17: 'volume' is 0, which is silence; use more than 0, up to 1.0 (full volume)"),
        (".nan", "2:17: 'volume' must be a number from 0.0 to 1.0, like 0.8; found '.nan'"),
        ("loud", "2:17: 'volume' must be a number from 0.0 to 1.0, like 0.8; found 'loud'"),
    ],
)
def test_a_bad_volume_says_the_valid_range(value, message):
    assert problems_of(f"title: t\nvoice: {{volume: {value}}}\nsteps: [{{say: a}}]\n") == [message]


def test_a_bad_byte_is_located_in_characters_after_earlier_multibyte_ones():
    data = "title: Café\nsteps:\n  - say: Crème brûlée \u2014 ".encode("utf-8") + b"\xff\n"
    assert problems_of(data) == ["3:25: the file is not UTF-8 text (byte 0xff here); save it as UTF-8"]


def test_a_bad_byte_after_a_lone_carriage_return_is_on_the_next_line_as_yaml_counts_lines():
    assert problems_of(b"title: t\rsteps: \xc3") == ["2:8: the file is not UTF-8 text (byte 0xc3 here); save it as UTF-8"]


@pytest.mark.parametrize("escape", ["\\U00110000", "\\UFFFFFFFF"])
def test_an_escape_beyond_unicode_is_a_positioned_problem_not_a_crash(escape):
    assert problems_of(f'title: "a {escape}"\nsteps: [{{say: b}}]\n') == [
        "1:13: an escape in quoted text here names no character (the largest is \\U0010FFFF)"
    ]


def test_a_number_too_long_for_int_is_out_of_range_not_a_crash():
    assert problems_of("title: t\nvoice: {rate: " + "9" * 5000 + "}\nsteps: [{say: a}]\n") == [
        "2:15: 'rate' is 9999999999999999999999999999999999999... words per minute; use 80 to 400"
    ]


# ---- reading files ----


def test_a_missing_file_is_a_one_line_bad_input_error_naming_it(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(BadInputError) as caught:
        load(missing)
    assert str(caught.value) == f"{missing}: no such file"
    assert not isinstance(caught.value, RoutineError)


def test_a_directory_is_refused_by_name(tmp_path):
    with pytest.raises(BadInputError) as caught:
        load(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a directory, not a routine file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_an_unreadable_file_is_refused_by_name(tmp_path):
    locked = tmp_path / "locked.yaml"
    locked.write_text("title: t\n")
    locked.chmod(0)
    with pytest.raises(BadInputError) as caught:
        load(locked)
    assert str(caught.value) == f"{locked}: permission denied; cannot read it"


def test_a_path_through_a_file_is_refused_with_the_reason(tmp_path):
    afile = tmp_path / "file.yaml"
    afile.write_text("title: t\n")
    with pytest.raises(BadInputError) as caught:
        load(afile / "inner.yaml")
    assert str(caught.value) == f"{afile / 'inner.yaml'}: cannot read it (Not a directory)"


def test_a_file_name_with_a_nul_byte_is_bad_input():
    with pytest.raises(BadInputError) as caught:
        load("bad\0name.yaml")
    assert str(caught.value).startswith("'bad\\x00name.yaml': not a usable file name")


def test_a_device_is_refused_as_not_a_regular_file():
    with pytest.raises(BadInputError) as caught:
        load("/dev/zero")
    assert str(caught.value) == "/dev/zero: is a device, not a routine file; give a regular file"


def test_a_named_pipe_without_a_writer_is_refused_at_once_instead_of_waiting(tmp_path):
    import os
    import threading

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    outcome: list = []
    reader = threading.Thread(target=lambda: outcome.append(pytest.raises(BadInputError, load, fifo)), daemon=True)
    reader.start()
    reader.join(timeout=5)
    if reader.is_alive():  # the test must not hang either: let the reader go by opening the other end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert outcome, "load() blocked on a named pipe"
    assert str(outcome[0].value) == f"{fifo}: is a named pipe (FIFO), not a routine file; give a regular file"


def test_loads_refuses_other_types_as_a_programming_error():
    with pytest.raises(TypeError):
        loads(42)  # type: ignore[arg-type]


# ---- warnings: valid, but probably not what was meant ----


def warnings_of(text: str) -> list[str]:
    return list(loads(text, path="r.yaml").warnings)


def test_a_comment_after_unquoted_spoken_text_is_a_warning_quoting_what_is_cut():
    text = "title: A\nsteps:\n  - say: Press point #3 on the chart.\nreminders:\n  - Stop #now\n"
    assert warnings_of(text) == [
        "r.yaml:3:22: only 'Press point' is said: the '#' after it starts a comment, so '#3 on the chart.' is left "
        "out; to say it, put the whole text in double quotes",
        "r.yaml:5:10: only 'Stop' is said: the '#' after it starts a comment, so '#now' is left out; to say it, "
        "put the whole text in double quotes",
    ]


def test_a_number_sign_cut_from_a_title_an_intro_or_about_is_a_warning_but_a_comment_there_is_not():
    text = ("title: Routine #2 for feet\nabout: Arch #2   # shown\nintro: Get ball #1 ready.\n"
            "steps:\n  - sides:\n      - left foot  # the sore one\n      - right foot\n    steps:\n      - say: Press.\n")
    assert warnings_of(text) == [
        "r.yaml:1:16: only 'Routine' is said: the '#' after it starts a comment, so '#2 for feet' is left out; to "
        "say it, put the whole text in double quotes",
        "r.yaml:2:13: only 'Arch' is shown: the '#' after it starts a comment, so '#2 # shown' is left out; to "
        "show it, put the whole text in double quotes",
        "r.yaml:3:17: only 'Get ball' is said: the '#' after it starts a comment, so '#1 ready.' is left out; to "
        "say it, put the whole text in double quotes",
    ]


def test_a_countdown_in_a_hold_under_twenty_seconds_is_a_warning_at_the_countdown():
    text = "title: A\nsteps:\n  - say: Press.\n    hold: 15s\n    cues:\n      halfway: true\n      countdown: 3\n"
    assert warnings_of(text) == [
        "r.yaml:7:7: 'countdown: 3' needs a hold of at least 20s, and this one is 15s, so nothing is counted down; "
        "hold 20s or more, or remove 'countdown'"
    ]


def test_quoted_text_and_comments_on_their_own_line_give_no_warning():
    text = 'title: A\n# a note\nsteps:\n  - say: "Press point #3."  # the chart\n    pause: 5s  # quiet\n'
    assert warnings_of(text) == []


def test_an_empty_range_is_a_warning():
    assert warnings_of("title: A\nsteps:\n  - say: Press.\n    hold: 2m-2m\n") == [
        "r.yaml:4:11: 'hold: 2m-2m' is a range from 2m to 2m, so it is just 2m; write 'hold: 2m', or widen the "
        "range, like 2m-3m"
    ]


def test_a_bare_number_hold_too_short_for_its_cues_is_said_to_look_like_minutes():
    text = "title: A\nsteps:\n  - say: Press.\n    hold: 3\n    cues: {every: 1}\n"
    assert warnings_of(text) == [
        "r.yaml:4:11: 'hold: 3' is 3 seconds (a bare number counts seconds), too short for its cues; for minutes "
        "write 'hold: 3m'"
    ]


@pytest.mark.parametrize(
    "hold, every, message",
    [
        ("30s", "30s", "5:11: 'every: 30s' in a hold of 30s: no remaining-time cue fits (none is said in the last "
         "5s); use an 'every' of at most 25s"),
        ("6s", "2s", "5:11: a hold of 6s is too short for remaining-time cues (none is said in the last 5s); "
         "remove 'every'"),
    ],
)
def test_cues_that_cannot_be_said_are_a_warning_with_a_fix_that_can_work(hold, every, message):
    text = f"title: A\nsteps:\n  - say: Press.\n    hold: {hold}\n    cues: {{every: {every}}}\n"
    assert warnings_of(text) == [f"r.yaml:{message}"]


def test_explicit_tags_that_fit_their_value_are_accepted():
    routine = loads("title: !!str 12\nchime: !!bool yes\nvoice: {volume: !!float 1, rate: !!int 150}\n"
                    "about: !!null\nsteps: [{say: Press.}]\n")
    assert (routine.title, routine.chime, routine.voice.volume, routine.about) == ("12", True, 1.0, None)


@pytest.mark.parametrize("text", ["Sit.", "Sit down, 2 minutes.", "½", "中文", "Été"])
def test_spoken_text_with_a_letter_or_digit_is_accepted(text):
    assert loads(f'title: A\nsteps:\n  - say: "{text}"\n').steps[0].text == text


def test_the_readme_example_loads_without_warnings_though_it_has_comments_after_values():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("A complete example:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    routine = loads(example, path="README.md")
    assert routine.title == "Arch self-massage" and routine.warnings == ()


@pytest.mark.parametrize("text", ["Sit down.", "tab\there", "new\nline", "esc\x1b[2J", "del\x7f", "caf\u00e9",
                                  "c1\x9b", "half \ud800 char", "nbsp\u00a0and\u2028", ""])
def test_printable_escapes_exactly_what_its_pattern_names_in_plain_and_other_text(text):
    import re

    from voice_guide import printable

    expected = re.sub("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]", lambda m: repr(m.group())[1:-1], text)
    assert printable.printable(text) == expected


def test_odd_spaces_and_lookalike_marks_are_found_in_a_file_that_is_otherwise_ascii():
    with pytest.raises(RoutineError) as odd:
        loads("title: T\nsteps:\n  -\u00a0say: Relax.\n")
    with pytest.raises(RoutineError) as dash:
        loads("title: T\nsteps:\n  \u2013 say: Relax.\n")
    assert "U+00A0" in str(odd.value) and "U+2013" in str(dash.value)

"""Durations as people write them: what is accepted, what each refusal says, and the compact form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voice_guide.durations import parse_duration, parse_span

FORMS = "use 45s, 2m, 1m30s, 1:30 or a number of seconds"
SPAN_FORMS = "use 45s, 2m, 1m30s, 1:30, a number of seconds, or a range like 2m-3m"


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("45s", 45),
        ("2m", 120),
        ("1m30s", 90),
        ("1m 30s", 90),
        ("1:30", 90),
        ("0:45", 45),
        ("1:02:03", 3723),
        ("90", 90),
        ("2.5", 2.5),
        ("1.5m", 90),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1h 2m 3s", 3723),
        ("30 sec", 30),
        ("30 secs", 30),
        ("2 min", 120),
        ("1 minute", 60),
        ("2 minutes", 120),
        ("1 hour", 3600),
        ("10 seconds", 10),
        ("2 Minutes", 120),
        ("  45s  ", 45),
    ],
)
def test_a_single_duration_is_read_in_every_documented_form(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text, span",
    [
        ("2m-3m", (120, 180)),
        ("2m - 3m", (120, 180)),
        ("2-3m", (120, 180)),
        ("2 - 3 min", (120, 180)),
        ("30-45s", (30, 45)),
        ("45s-1m", (45, 60)),
        ("1:30-2:00", (90, 120)),
        ("90-120", (90, 120)),
        ("2m", (120, 120)),
        ("2m-2m", (120, 120)),
        ("1m30s-2m", (90, 120)),
    ],
)
def test_a_hold_span_is_a_single_duration_or_a_range_whose_bare_end_takes_the_other_unit(text, span):
    assert parse_span(text) == span


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (parse_duration, "1:75", f"'1:75' is not a duration: seconds must be below 60; {FORMS}"),
        (parse_duration, "1:60:00", f"'1:60:00' is not a duration: minutes must be below 60; {FORMS}"),
        (parse_duration, "0", f"'0' is not a duration: it must be longer than zero; {FORMS}"),
        (parse_duration, "0s", f"'0s' is not a duration: it must be longer than zero; {FORMS}"),
        (parse_duration, "0:00", f"'0:00' is not a duration: it must be longer than zero; {FORMS}"),
        (parse_duration, "-5s", f"'-5s' is not a duration: it must not be negative; {FORMS}"),
        (parse_duration, "soon", f"'soon' is not a duration; {FORMS}"),
        (parse_duration, "", f"an empty value is not a duration; {FORMS}"),
        (parse_duration, "5 parsecs", f"'5 parsecs' is not a duration: unknown unit 'parsecs'; {FORMS}"),
        (parse_duration, "30s1m", "'30s1m' is not a duration: units must go from hours to seconds, each once, like 1m30s"),
        (parse_duration, "1m1m", "'1m1m' is not a duration: units must go from hours to seconds, each once, like 1m30s"),
        (parse_duration, "2m-3m", "'2m-3m' is a range; a single duration is needed here, like 2m"),
        (parse_duration, "1e3", f"'1e3' is not a duration; {FORMS}"),
        (parse_duration, "１５s", f"'１５s' is not a duration; {FORMS}"),
        (parse_duration, "9" * 70, f"'{'9' * 20}...' is not a duration; {FORMS}"),
        (parse_span, "3m-2m", "'3m-2m' is not a range: the shorter end comes first, like 2m-3m"),
        (parse_span, "3-2m", "'3-2m' is not a range: the shorter end comes first, like 2m-3m"),
        (parse_span, "2m-0s", f"'2m-0s' is not a duration: it must be longer than zero; {SPAN_FORMS}"),
        (parse_span, "-2m-3m", f"'-2m-3m' is not a duration: it must not be negative; {SPAN_FORMS}"),
        (parse_span, "2m--3m", f"'2m--3m' is not a duration; {SPAN_FORMS}"),
        (parse_span, "2m-3m-4m", f"'2m-3m-4m' is not a duration; {SPAN_FORMS}"),
        (parse_span, "2m-", f"'2m-' is not a duration; {SPAN_FORMS}"),
        (parse_span, "2m-1:75", f"'2m-1:75' is not a duration: seconds must be below 60; {SPAN_FORMS}"),
    ],
)
def test_a_bad_duration_or_span_says_what_is_wrong_and_the_valid_forms(parse, text, message):
    with pytest.raises(ValueError) as caught:
        parse(text)
    assert str(caught.value) == message


@given(st.text(max_size=30))
def test_any_text_either_parses_to_a_positive_span_or_raises_value_error(text):
    try:
        low, high = parse_span(text)
    except ValueError as error:
        assert str(error)
    else:
        assert 0 < low <= high

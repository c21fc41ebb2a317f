"""Times as text: one rounding rule, hours where a time passes one, the routine format's units in messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voice_guide.durations import parse_duration
from voice_guide.timefmt import clock, compact, milliseconds, rounded, samples_to_ms, timestamp

RATE = 22050


def test_milliseconds_of_samples_are_rounded_to_nearest_without_float_drift():
    assert [samples_to_ms(n, RATE) for n in (0, 11, 12, 22050, 22050 * 3600 * 3 + 1)] == [0, 0, 1, 1000, 10_800_000]


@given(st.integers(min_value=0, max_value=RATE * 4 * 3600))
def test_samples_and_seconds_round_to_the_same_millisecond(samples):
    assert samples_to_ms(samples, RATE) == milliseconds(samples / RATE)


@pytest.mark.parametrize("seconds, text", [
    (0, "0:00"), (74.4, "1:14"), (74.6, "1:15"), (59.5, "1:00"), (3599.4, "59:59"), (3600, "1:00:00"),
    (5408.77, "1:30:09"), (36000, "10:00:00"),
])
def test_a_clock_is_minutes_and_seconds_with_hours_from_an_hour_on(seconds, text):
    assert clock(seconds) == text


def test_a_clock_with_hundredths_rounds_once_so_it_never_shows_sixty_seconds():
    assert clock(59.996, decimals=2) == "1:00.00"
    assert clock(5408.77, decimals=2) == "1:30:08.77"


def test_halves_round_up_everywhere():
    assert rounded(0.5, 1) == 1 and rounded(2.5, 1) == 3 and clock(1.5) == "0:02" and compact(0.25) == "0.3s"


def test_a_timestamp_has_hours_minutes_seconds_and_milliseconds():
    assert timestamp(3_725_042) == "01:02:05.042" and timestamp(61_500, ",") == "00:01:01,500"


@pytest.mark.parametrize(
    "seconds, text",
    [(90, "1m30s"), (45, "45s"), (120, "2m"), (3600, "1h"), (3723, "1h2m3s"), (2.5, "2.5s"), (0, "0s"), (59.96, "1m")],
)
def test_a_compact_duration_uses_the_routine_formats_units(seconds, text):
    assert compact(seconds) == text


@given(st.integers(min_value=1, max_value=10 * 3600))
def test_a_formatted_whole_number_of_seconds_reads_back_as_the_same_duration(seconds):
    assert parse_duration(compact(seconds)) == seconds

"""When the process started, read from /proc text: parsed from samples, and the real reading."""

from __future__ import annotations

import time

import pytest

from voice_guide.procinfo import MAX_AGE, age_from_proc, process_started_at

# /proc/PID/stat of a process named "my (odd) name", started 1234 ticks after boot (field 22).
STAT = "812 (my (odd) name) S 1 812 812 34816 812 4194304 120 0 0 0 3 1 0 0 20 0 1 0 1234 9469952 893 " + "0 " * 30
UPTIME = "25.50 40.10\n"


def test_the_age_is_the_uptime_less_the_start_time_in_clock_ticks():
    assert age_from_proc(STAT, UPTIME, 100) == pytest.approx(25.50 - 12.34)


def test_a_name_holding_brackets_and_spaces_does_not_shift_the_fields():
    assert age_from_proc(STAT.replace("my (odd) name", "a) b ) c"), UPTIME, 100) == pytest.approx(13.16)


@pytest.mark.parametrize("stat, uptime", [
    (STAT, ""),  # no uptime
    (STAT, "soon"),  # not a number
    ("812 (short) S 1 2 3", UPTIME),  # too few fields
    ("no brackets at all", UPTIME),
    (STAT.replace(" 1234 ", " 12.5 "), UPTIME),  # the start time is not whole
], ids=["empty-uptime", "bad-uptime", "short-stat", "no-name", "fractional-start"])
def test_text_that_is_not_what_linux_writes_is_a_value_error(stat, uptime):
    with pytest.raises(ValueError):
        age_from_proc(stat, uptime, 100)


def test_the_process_start_is_a_moment_in_the_past_no_older_than_the_reading_trusts():
    started = process_started_at()
    assert 0 <= time.perf_counter() - started < MAX_AGE  # this test session may itself be many minutes old

import pytest

from voice_guide.spoken import about_length_words, duration_words, number_words


@pytest.mark.parametrize(
    "n, words",
    [(0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (45, "forty-five"), (100, "one hundred"),
     (115, "one hundred fifteen"), (2024, "two thousand twenty-four")],
)
def test_numbers_are_said_in_words(n, words):
    assert number_words(n) == words


@pytest.mark.parametrize(
    "seconds, words",
    [(90, "one minute thirty seconds"), (60, "one minute"), (120, "two minutes"), (1, "one second"),
     (45, "forty-five seconds"), (3725, "one hour two minutes five seconds"), (29.6, "thirty seconds")],
)
def test_durations_are_said_in_words_never_digits(seconds, words):
    assert duration_words(seconds) == words
    assert not any(ch.isdigit() for ch in duration_words(seconds))


@pytest.mark.parametrize(
    "seconds, words",
    [(30, "less than a minute"), (65, "about a minute"), (400, "about seven minutes"),
     (5400, "about one and a half hours"), (3600, "about one hour")],
)
def test_routine_length_is_rounded_for_the_introduction(seconds, words):
    assert about_length_words(seconds) == words


def test_numbers_out_of_range_are_refused():
    with pytest.raises(ValueError, match="cannot say -1"):
        number_words(-1)

"""How numbers and lengths of time are said aloud: always in words, never "1:30"."""

from __future__ import annotations

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_LIMIT = 1000


def number_words(n: int) -> str:
    """A whole number from 0 to 999,999 in words.

    >>> number_words(42)
    'forty-two'
    """
    if n < 0 or n >= 1_000_000:
        raise ValueError(f"cannot say {n} in words")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_words(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    return f"{number_words(thousands)} thousand" + (f" {number_words(rest)}" if rest else "")


def _unit(n: int, singular: str) -> str:
    return f"{number_words(n)} {singular}{'' if n == 1 else 's'}"


def duration_words(seconds: float) -> str:
    """A length of time in words, to the second.

    >>> duration_words(90)
    'one minute thirty seconds'
    """
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(_unit(hours, "hour"))
    if minutes:
        parts.append(_unit(minutes, "minute"))
    if secs or not parts:
        parts.append(_unit(secs, "second"))
    return " ".join(parts)


def about_length_words(seconds: float) -> str:
    """A routine's rough length, as said in its introduction.

    >>> about_length_words(400)
    'about seven minutes'
    """
    if seconds < 50:
        return "less than a minute"
    minutes = int(seconds / 60 + 0.5)
    if minutes <= 1:
        return "about a minute"
    if minutes < 60:
        return f"about {number_words(minutes)} minutes"
    hours, rest = divmod(minutes, 60)
    quarter = int(rest / 15 + 0.5) * 15
    if quarter == 60:
        hours, quarter = hours + 1, 0
    tail = {0: "", 15: " and a quarter", 30: " and a half", 45: " and three quarters"}[quarter]
    return f"about {number_words(hours)}{tail} hour{'' if hours == 1 and not tail else 's'}"


def ordinal_count(n: int, of: int) -> str:
    """'round two of three' style counting."""
    return f"{number_words(n)} of {number_words(of)}"


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def time_left_line(seconds: float) -> str:
    """What the player says to "how long": the time left in the step, to the second.

    >>> time_left_line(75.4)
    'One minute fifteen seconds left in this step.'
    """
    return f"{capitalized(duration_words(max(1, round(seconds))))} left in this step."

"""Lengths of time as people write them in routines: 45s, 2m, 1m30s, 1:30, 90, 2 minutes, and ranges 2m-3m.

Pure functions on strings; errors are ValueError with a message that quotes the text and shows the valid forms.
The loader adds the file position.
"""

from __future__ import annotations

import math
import re

from .timefmt import compact

FORMS = "use 45s, 2m, 1m30s, 1:30 or a number of seconds"
SPAN_FORMS = "use 45s, 2m, 1m30s, 1:30, a number of seconds, or a range like 2m-3m"

# Longer text is never a duration; refusing it early keeps messages short and the work bounded.
_MAX_TEXT = 64

_UNIT_SECONDS = {
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
}
_NUMBER = r"\d+(?:\.\d+)?"
_PLAIN = re.compile(_NUMBER, re.ASCII)
_CLOCK = re.compile(r"\d+(?::\d{1,2}){1,2}", re.ASCII)
_UNIT_FORM = re.compile(rf"(?:{_NUMBER}\s*[a-z]+\s*)+", re.ASCII)
_UNIT_PART = re.compile(rf"({_NUMBER})\s*([a-z]+)", re.ASCII)
_RANGE = re.compile(r"([^-]+?)\s*-\s*([^-]+)", re.ASCII)


def parse_duration(text: str) -> float:
    """Seconds in a single duration; raises ValueError naming the text and the valid forms.

    >>> parse_duration("1m30s"), parse_duration("1:30"), parse_duration("2 minutes"), parse_duration("2.5")
    (90.0, 90.0, 120.0, 2.5)
    """
    clean = _normalized(text, FORMS)
    if is_range(clean):
        raise ValueError(f"{text!r} is a range; a single duration is needed here, like 2m")
    return _parse_one(clean, text, FORMS)


def is_range(text: str) -> bool:
    """Whether `text` is written as a range of two durations (`2m-3m`; `1e-9s` is no range).

    >>> is_range("2m-3m"), is_range("2m"), is_range("1e-9s")
    (True, False, False)
    """
    try:
        return _range_ends(_normalized(text, SPAN_FORMS), text) is not None
    except ValueError:
        return False


def parse_span(text: str) -> tuple[float, float]:
    """(shortest, longest) seconds of a `hold`: a single duration gives (d, d), a range `2m-3m` gives (120, 180).

    A bare number at one end takes the unit of the other end, so `2-3m` means 2m-3m.

    >>> parse_span("2m-3m"), parse_span("2-3 min"), parse_span("45s")
    ((120.0, 180.0), (120.0, 180.0), (45.0, 45.0))
    """
    clean = _normalized(text, SPAN_FORMS)
    ends = _range_ends(clean, text)
    if ends is None:
        seconds = _parse_one(clean, text, SPAN_FORMS)
        return seconds, seconds
    low, high = ends
    if low > high:
        raise ValueError(
            f"{text!r} is not a range: the shorter end comes first, like "
            f"{compact(high)}-{compact(low)}"
        )
    return low, high


def _range_ends(clean: str, text: str) -> tuple[float, float] | None:
    """The two ends of a range in normalized text, in the order written; None when it is not written as one.
    Raises ValueError when it is a range with a malformed end."""
    match = _RANGE.fullmatch(clean)
    if not match:
        return None
    left, right = match.group(1), match.group(2)
    left_unit, right_unit = _single_unit(left), _single_unit(right)
    if _PLAIN.fullmatch(left) and right_unit:
        left += right_unit
    elif _PLAIN.fullmatch(right) and left_unit:
        right += left_unit
    if not all(_looks_like_duration(end) for end in (left, right)):
        return None  # '1e-9s' has a minus sign, but no two durations around it
    return _parse_one(left, text, SPAN_FORMS), _parse_one(right, text, SPAN_FORMS)


def _looks_like_duration(part: str) -> bool:
    return bool(_PLAIN.fullmatch(part) or _CLOCK.fullmatch(part) or _UNIT_FORM.fullmatch(part))


def _normalized(text: str, forms: str) -> str:
    """Stripped, lower-case text, or ValueError for what can never be a duration (empty, negative, too long)."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration; {forms}")
    clean = text.strip().lower()
    if not clean:
        raise ValueError(f"an empty value is not a duration; {forms}")
    if len(clean) > _MAX_TEXT:
        raise ValueError(f"{_shortened(text)!r} is not a duration; {forms}")
    if clean.startswith("-"):
        raise ValueError(f"{text!r} is not a duration: it must not be negative; {forms}")
    return clean


def _parse_one(part: str, whole: str, forms: str) -> float:
    """Seconds in one duration or one end of a range (already normalized); `whole` is quoted in errors."""
    if _PLAIN.fullmatch(part):
        return _positive(float(part), whole, forms)
    if _CLOCK.fullmatch(part):
        return _positive(_clock_seconds(part, whole, forms), whole, forms)
    if _UNIT_FORM.fullmatch(part):
        return _positive(_unit_seconds(part, whole, forms), whole, forms)
    raise ValueError(f"{whole!r} is not a duration; {forms}")


def _clock_seconds(part: str, whole: str, forms: str) -> float:
    """Seconds in `m:ss` or `h:mm:ss`; every field after the first must be below 60."""
    fields = [int(field) for field in part.split(":")]
    names = ("minutes", "seconds")[-(len(fields) - 1):]
    for name, value in zip(names, fields[1:]):
        if value >= 60:
            raise ValueError(f"{whole!r} is not a duration: {name} must be below 60; {forms}")
    total = 0.0
    for value in fields:
        total = total * 60 + value
    return total


def _unit_seconds(part: str, whole: str, forms: str) -> float:
    """Seconds in `1h2m3s`-style text; units go from largest to smallest, each once."""
    total = 0.0
    previous = math.inf
    for number, unit in _UNIT_PART.findall(part):
        size = _UNIT_SECONDS.get(unit)
        if size is None:
            raise ValueError(f"{whole!r} is not a duration: unknown unit {unit!r}; {forms}")
        if size >= previous:
            raise ValueError(
                f"{whole!r} is not a duration: units must go from hours to seconds, each once, like 1m30s"
            )
        previous = size
        total += float(number) * size
    return total


def _single_unit(part: str) -> str | None:
    """The unit word of a one-unit duration like `3m` or `3 min` (for the bare end of a range), else None."""
    parts = _UNIT_PART.findall(part)
    if len(parts) == 1 and _UNIT_FORM.fullmatch(part) and parts[0][1] in _UNIT_SECONDS:
        return parts[0][1]
    return None


def _positive(seconds: float, whole: str, forms: str) -> float:
    if seconds <= 0:
        raise ValueError(f"{whole!r} is not a duration: it must be longer than zero; {forms}")
    return seconds


def _shortened(text: str) -> str:
    return text if len(text) <= 24 else text[:20] + "..."

"""Times as text, for every place that shows one (check, the live view, transcripts, chapters, messages).

One rounding rule: a time is rounded once, to the nearest unit shown, halves up; then split into fields.
"""

from __future__ import annotations

import math


def rounded(seconds: float, per_second: int) -> int:
    """`seconds` in units of 1/`per_second` s, to the nearest, halves up: the one rounding rule.

    >>> rounded(74.6, 1), rounded(74.5, 1), rounded(1.2345, 1000)
    (75, 75, 1235)
    """
    return math.floor(seconds * per_second + 0.5)


def milliseconds(seconds: float) -> int:
    """Seconds as whole milliseconds, by the one rule.

    >>> milliseconds(3725.0004), milliseconds(1.5)
    (3725000, 1500)
    """
    return rounded(seconds, 1000)


def samples_to_ms(samples: int, sample_rate: int) -> int:
    """A sample offset in milliseconds, by the same rule in exact integer maths (no float drift).

    >>> samples_to_ms(22050 * 90 + 11, 22050), samples_to_ms(12, 22050)
    (90000, 1)
    """
    return (2 * samples * 1000 + sample_rate) // (2 * sample_rate)


def clock(seconds: float, decimals: int = 0) -> str:
    """m:ss, or h:mm:ss from an hour on; with `decimals`, that many digits of the second after a point.

    >>> clock(74.6), clock(5408.4), clock(7.254, decimals=2), clock(59.999, decimals=2)
    ('1:15', '1:30:08', '0:07.25', '1:00.00')
    """
    scale = 10**decimals
    whole, fraction = divmod(rounded(seconds, scale), scale)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    tail = f".{fraction:0{decimals}d}" if decimals else ""
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}{tail}"
    return f"{minutes}:{secs:02d}{tail}"


def timestamp(ms: int, separator: str = ".") -> str:
    """HH:MM:SS.mmm, as WebVTT and Vorbis chapters write a time (SRT wants a comma before the milliseconds).

    >>> timestamp(3_725_042), timestamp(61_500, ",")
    ('01:02:05.042', '00:01:01,500')
    """
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def lrc_stamp(ms: int) -> str:
    """[mm:ss.mmm], minutes unbounded: LRC has no hours field.

    >>> lrc_stamp(3_725_042)
    '[62:05.042]'
    """
    minutes, rest = divmod(ms, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"[{minutes:02d}:{secs:02d}.{millis:03d}]"


def compact(seconds: float) -> str:
    """A compact duration for messages, to a tenth of a second, in the routine format's own units.

    >>> compact(90), compact(3600), compact(2.5), compact(0)
    ('1m30s', '1h', '2.5s', '0s')
    """
    tenths = rounded(seconds, 10)
    hours, tenths = divmod(tenths, 36000)
    minutes, tenths = divmod(tenths, 600)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if tenths or not parts:
        whole, tenth = divmod(tenths, 10)
        parts.append(f"{whole}.{tenth}s" if tenth else f"{whole}s")
    return "".join(parts)

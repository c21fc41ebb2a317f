"""Transcripts of a compiled timeline: every spoken line with its start and end, as WebVTT, SRT or LRC.

Times come straight from the timeline's sample offsets, rounded to the millisecond, so a transcript agrees
with `check --json`, the chapters and the audio to the millisecond.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .atomicfile import write_text_atomic
from .errors import OutputError
from .formats import TRANSCRIPT, format_for
from .timefmt import lrc_stamp, samples_to_ms, timestamp
from .timeline import SPEECH, Timeline

if TYPE_CHECKING:
    from contextlib import ExitStack

@dataclass(frozen=True)
class Line:
    """One spoken line, in whole milliseconds from the start of the file."""

    start_ms: int
    end_ms: int
    text: str


def spoken_lines(timeline: Timeline) -> tuple[Line, ...]:
    """Every speech event of the timeline, in order, with its times in milliseconds.

    >>> from voice_guide.routine import Voice
    >>> from voice_guide.timeline import Event
    >>> spoken_lines(Timeline("T", (Event("speech", 0, 22050, "Hello."),), Voice()))
    (Line(start_ms=0, end_ms=1000, text='Hello.'),)
    """
    rate = timeline.sample_rate
    return tuple(
        Line(samples_to_ms(event.start, rate), samples_to_ms(event.end, rate), " ".join((event.text or "").split()))
        for event in timeline.events
        if event.kind == SPEECH
    )


def _vtt_text(text: str) -> str:
    """WebVTT cue text treats &, < and > as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _render_vtt(timeline: Timeline, lines: tuple[Line, ...]) -> str:
    cues = [f"{timestamp(line.start_ms)} --> {timestamp(line.end_ms)}\n{_vtt_text(line.text)}\n" for line in lines]
    return "\n".join(["WEBVTT\n", *cues])


def _render_srt(timeline: Timeline, lines: tuple[Line, ...]) -> str:
    cues = [
        f"{number}\n{timestamp(line.start_ms, ',')} --> {timestamp(line.end_ms, ',')}\n{line.text}\n"
        for number, line in enumerate(lines, start=1)
    ]
    return "\n".join(cues)


def _render_lrc(timeline: Timeline, lines: tuple[Line, ...]) -> str:
    """LRC lines have only a start; an empty timed line marks where speech ends before a silence."""
    title = " ".join(timeline.title.split())
    total_ms = samples_to_ms(timeline.total, timeline.sample_rate)
    out = [f"[ti:{title}]", "[ar:voice-guide]", "[al:voice-guide]", f"[length:{lrc_stamp(total_ms)[1:-1]}]"]
    for index, line in enumerate(lines):
        out.append(f"{lrc_stamp(line.start_ms)}{line.text}")
        following = lines[index + 1].start_ms if index + 1 < len(lines) else None
        if following != line.end_ms:
            out.append(lrc_stamp(line.end_ms))
    return "\n".join(out) + "\n"


_RENDERERS = {"vtt": _render_vtt, "srt": _render_srt, "lrc": _render_lrc}


def render_transcript(timeline: Timeline, fmt: str) -> str:
    """The transcript of `timeline` as text in `fmt` ("vtt", "srt" or "lrc").

    >>> from voice_guide.routine import Voice
    >>> from voice_guide.timeline import Event
    >>> timeline = Timeline("T", (Event("speech", 0, 33075, "Sit down."), Event("silence", 33075, 22050)), Voice())
    >>> print(render_transcript(timeline, "srt"))
    1
    00:00:00,000 --> 00:00:01,500
    Sit down.
    <BLANKLINE>
    """
    if fmt not in _RENDERERS:
        raise OutputError(f"unknown transcript format {fmt!r}; use one of {', '.join(TRANSCRIPT.names)}")
    return _RENDERERS[fmt](timeline, spoken_lines(timeline))


def write_transcript(
    timeline: Timeline,
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    force: bool = False,
    group: "ExitStack | None" = None,
) -> None:
    """Write the transcript atomically; an existing file is kept unless `force` (OutputError says so).

    With `group` (a contextlib.ExitStack) it is published together with the audio file, when the group closes
    without an error, or not at all.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from voice_guide.routine import Voice
    >>> from voice_guide.timeline import Event
    >>> target = Path(tempfile.mkdtemp()) / "t.vtt"
    >>> write_transcript(Timeline("T", (Event("speech", 0, 22050, "Hi."),), Voice()), target)
    >>> target.read_text().splitlines()[2]
    '00:00:00.000 --> 00:00:01.000'
    """
    text = render_transcript(timeline, fmt or format_for(path, TRANSCRIPT))
    write_text_atomic(path, text, force=force, group=group)

"""The hand-made baseline the benchmark races: what a user would script with espeak-ng and sox.

For each spoken line of a routine (taken from `voice-guide check --json`, so both sides say the same thing at the
same times): `espeak-ng -w` writes it to a WAV, `sox` pads it with the quiet that follows it up to the next
spoken line, and one last `sox` joins the pieces. One line after another, as a shell loop would do it.
Optionally `ffmpeg` turns the result into an MP3. Pure: this module only writes the script's text.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """One spoken line of the routine: its text, where it starts and ends, and where the next one starts."""

    text: str
    start: int  # samples
    end: int
    next_start: int  # the next spoken line's start, or the routine's end


def spoken_lines(timeline: dict) -> list[Line]:
    """The speech events of a `check --json` timeline, with the quiet after each (in samples).

    >>> t = {"sample_rate": 10, "total_seconds": 5.0, "events": [
    ...     {"kind": "chime", "start": 0.0, "end": 1.0, "text": None},
    ...     {"kind": "speech", "start": 1.0, "end": 2.0, "text": "Sit."},
    ...     {"kind": "speech", "start": 3.0, "end": 4.0, "text": "Stand."}]}
    >>> [(line.text, line.start, line.end, line.next_start) for line in spoken_lines(t)]
    [('Sit.', 10, 20, 30), ('Stand.', 30, 40, 50)]
    """
    rate = timeline["sample_rate"]
    speech = [e for e in timeline["events"] if e["kind"] == "speech"]
    total = round(timeline["total_seconds"] * rate)
    starts = [round(e["start"] * rate) for e in speech] + [total]
    return [
        Line(e["text"], starts[i], round(e["end"] * rate), starts[i + 1]) for i, e in enumerate(speech)
    ]


def script(timeline: dict, *, voice: str, rate_wpm: int, output: str, mp3: str | None = None) -> str:
    """A bash script that builds the routine the hand-made way, in the current folder.

    The quiet before the first line leads the first piece; each piece is padded with the quiet that
    follows its line in the timeline (the baseline has no chimes; their time is quiet here).

    >>> t = {"sample_rate": 10, "total_seconds": 4.0, "events": [
    ...     {"kind": "speech", "start": 1.0, "end": 2.0, "text": "Don't move."}]}
    >>> print(script(t, voice="en", rate_wpm=150, output="out.wav"))
    set -e
    espeak-ng -v en -s 150 -w line0000.wav -- 'Don'"'"'t move.'
    sox line0000.wav piece0000.wav pad 10s 20s
    sox piece0000.wav out.wav
    """
    lines = spoken_lines(timeline)
    if not lines:
        raise ValueError("the routine has no spoken line")
    commands = ["set -e"]
    pieces = []
    for index, line in enumerate(lines):
        raw, piece = f"line{index:04d}.wav", f"piece{index:04d}.wav"
        lead = line.start if index == 0 else 0
        quiet = max(0, line.next_start - line.end)
        commands.append(f"espeak-ng -v {shlex.quote(voice)} -s {int(rate_wpm)} -w {raw} -- {shlex.quote(line.text)}")
        commands.append(f"sox {raw} {piece} pad {lead}s {quiet}s")
        pieces.append(piece)
    commands.append(f"sox {' '.join(pieces)} {shlex.quote(output)}")
    if mp3 is not None:
        commands.append(f"ffmpeg -nostdin -loglevel error -y -i {shlex.quote(output)} {shlex.quote(mp3)}")
    return "\n".join(commands)

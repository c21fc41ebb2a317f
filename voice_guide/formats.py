"""The file formats voice-guide writes, in one table: audio and transcripts, each named like its extension.

The table feeds the command line's choices and help, and `format_for` finds a path's format the same way for
both kinds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError


@dataclass(frozen=True)
class Kind:
    """One kind of output file: its formats (each one's extension is `.` + its name) and how to force one."""

    label: str
    names: tuple[str, ...]
    flag: str | None = None  # the command-line option that forces a format, if there is one

    @property
    def extensions(self) -> tuple[str, ...]:
        return tuple(f".{name}" for name in self.names)


AUDIO = Kind("audio", ("wav", "flac", "ogg", "mp3"), "--format")
TRANSCRIPT = Kind("transcript", ("vtt", "srt", "lrc"))


def format_for(path: str | os.PathLike[str], kind: Kind, forced: str | None = None) -> str:
    """The format of `kind` for a path, from its extension unless `forced`.

    >>> format_for(Path("routine.MP3"), AUDIO), format_for("routine.audio", AUDIO, "ogg")
    ('mp3', 'ogg')
    >>> format_for(Path("routine.mp3"), AUDIO, "wav")
    Traceback (most recent call last):
    ...
    voice_guide.errors.OutputError: routine.mp3 ends in .mp3 but --format is wav; the file would hold wav data under a .mp3 name: change the extension or drop --format
    >>> format_for("arch.txt", TRANSCRIPT)
    Traceback (most recent call last):
    ...
    voice_guide.errors.OutputError: arch.txt: unknown transcript format '.txt'; use one of .vtt, .srt, .lrc
    """
    suffix = Path(path).suffix.lower()
    if forced is not None:
        name = forced.lower().lstrip(".")
        if name not in kind.names:
            raise OutputError(f"unknown {kind.label} format {forced!r}; use one of {', '.join(kind.names)}")
        if suffix in kind.extensions and suffix[1:] != name:
            flag = kind.flag or "the format"
            raise OutputError(f"{path} ends in {suffix} but {flag} is {name}; the file would hold {name} data "
                              f"under a {suffix} name: change the extension or drop {flag}")
        return name
    if suffix not in kind.extensions:
        shown = repr(suffix) if suffix else "(no extension)"
        forcing = f" (or {kind.flag})" if kind.flag else ""
        raise OutputError(f"{path}: unknown {kind.label} format {shown}; use one of {', '.join(kind.extensions)}{forcing}")
    return suffix[1:]

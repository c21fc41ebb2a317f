"""Split export: one audio file per step plus an .m3u playlist, for players that ignore chapters.

The parts cover the timeline without gaps or overlaps (an introduction before the first step, then one part
per step, then the closing), so playing the playlist in order plays exactly the whole routine. Every file is
written under a temporary name and only published once all of them are complete.
"""

from __future__ import annotations

import os
import re
import unicodedata
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from .atomicfile import AtomicDestination, check_destinations
from .audiofile import AudioFileWriter
from .errors import OutputError
from .printable import printable
from .tags import Metadata
from .timeline import Event, Timeline

if TYPE_CHECKING:
    import numpy

_TITLE_WORDS = 8  # a file name shows the start of the step's words, not all of them
_NAME_CHARS = 60


@dataclass(frozen=True)
class Part:
    """One file of a split export: samples [start, end) of the timeline."""

    number: int
    title: str
    start: int
    end: int
    filename: str


def slug(text: str, limit: int = _NAME_CHARS) -> str:
    """Words safe in a file name on every system (no path separators, no reserved characters).

    >>> slug("Now press slowly: heel -> ankle / back?")
    'Now press slowly heel ankle back'
    """
    plain = unicodedata.normalize("NFKC", text)
    plain = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", plain)
    plain = re.sub(r"[^\w\s,.'()-]+", " ", plain)
    plain = " ".join(word for word in plain.split() if word.strip("-."))
    return plain[:limit].rstrip(" .,") or "part"


def _short_title(text: str) -> str:
    """The step's words, cut after a few with an ellipsis."""
    words = text.split()
    if len(words) <= _TITLE_WORDS:
        return " ".join(words)
    return " ".join(words[:_TITLE_WORDS]).rstrip(".,;:") + "…"


def plan_parts(timeline: Timeline, extension: str) -> tuple[Part, ...]:
    """The files a split export writes, in order, covering every sample exactly once.

    >>> from voice_guide.routine import Voice
    >>> events = (Event("speech", 0, 10, "Hello."), Event("speech", 10, 20, "Sit down.", step=1, role="instruction"))
    >>> [(p.filename, p.start, p.end) for p in plan_parts(Timeline("T", events, Voice()), ".mp3")]
    [('00 Introduction.mp3', 0, 10), ('01 Sit down.mp3', 10, 30)]
    """
    parts = []
    for section in timeline.sections():
        number = 0 if section.number == 0 else len([p for p in parts if p.number > 0]) + 1  # 0: the introduction
        label = _short_title(section.title)
        parts.append(Part(number, label, section.start, section.end, f"{number:02d} {slug(label)}{extension}"))
    return tuple(parts)


def events_between(events: Iterable[Event], start: int, end: int) -> Iterator[Event]:
    """The events overlapping [start, end), cut to it (a silence may straddle a boundary; sounds never do).

    >>> [(e.start, e.length) for e in events_between([Event("silence", 0, 100)], 30, 60)]
    [(30, 30)]
    """
    for event in events:
        lo, hi = max(event.start, start), min(event.end, end)
        if lo >= hi:
            continue
        if (lo, hi) != (event.start, event.end):
            if event.kind != "silence":
                raise ValueError(f"a part boundary cuts through a {event.kind} event at sample {lo}")
            event = event._replace(start=lo, length=hi - lo)
        yield event


def m3u(timeline: Timeline, parts: tuple[Part, ...]) -> str:
    """An extended M3U playlist of the parts, with their lengths (whole seconds) and titles.

    >>> from voice_guide.routine import Voice
    >>> print(m3u(Timeline("Arch", (), Voice()), (Part(1, "Sit.", 0, 44100, "01 Sit.mp3"),)), end="")
    #EXTM3U
    #PLAYLIST:Arch
    #EXTINF:2,Sit.
    01 Sit.mp3
    """
    rate = timeline.sample_rate
    lines = ["#EXTM3U", f"#PLAYLIST:{' '.join(timeline.title.split())}"]
    for part in parts:
        lines += [f"#EXTINF:{round((part.end - part.start) / rate)},{part.title}", part.filename]
    return "\n".join(lines) + "\n"


BlockSource = Callable[[Iterable[Event]], Iterable["numpy.ndarray"]]


def planned_files(timeline: Timeline, folder: str | os.PathLike[str], format: str = "mp3") -> dict[str, Path]:
    """Every file a split export of `timeline` into `folder` writes, named for messages: the parts, then the
    playlist. Only the structure of the timeline counts (steps, introduction, closing), not its exact lengths,
    so a timeline laid out with estimated lengths gives the same names before anything is synthesized.

    >>> from voice_guide.routine import Voice
    >>> events = (Event("speech", 0, 10, "Hello."), Event("speech", 10, 20, "Sit down.", step=1, role="instruction"))
    >>> list(planned_files(Timeline("T", events, Voice()), "sp", "wav").values())
    [PosixPath('sp/00 Introduction.wav'), PosixPath('sp/01 Sit down.wav'), PosixPath('sp/T.m3u')]
    """
    folder = Path(folder)
    files = {f"--split part {part.filename!r}": folder / part.filename for part in plan_parts(timeline, f".{format}")}
    files["--split playlist"] = folder / f"{slug(timeline.title)}.m3u"
    return files


def check_folder(folder: str | os.PathLike[str]) -> None:
    """Raise OutputError unless `folder` is a folder, or can be made as one (its parent is a folder).

    >>> check_folder("/no/such/place/parts")
    Traceback (most recent call last):
    ...
    voice_guide.errors.OutputError: folder /no/such/place does not exist; create it or choose another --split folder
    """
    folder = Path(folder)
    if folder.is_dir() and not folder.is_symlink():
        return
    if folder.exists() or folder.is_symlink():
        raise OutputError(f"{printable(str(folder))} is not a folder; --split needs a folder to write the parts into")
    if not folder.parent.is_dir():
        raise OutputError(f"folder {printable(str(folder.parent))} does not exist; "
                          "create it or choose another --split folder")


def export_split(
    timeline: Timeline,
    blocks: BlockSource,
    folder: str | os.PathLike[str],
    *,
    format: str = "mp3",
    force: bool = False,
    metadata: "Metadata | None" = None,
    progress: Callable[[int, int], None] | None = None,
    group: ExitStack | None = None,
) -> tuple[Path, ...]:
    """Write one file per part and `<title>.m3u` into `folder` (created if its parent exists); return the paths.

    `blocks(events)` gives the samples of those events (e.g. `lambda ev: render.iter_blocks(ev, mixer)`).
    Nothing is published until every file is complete; without `force` no existing file is replaced, and
    that is checked for all of them before any work. With `group`, the files are published when that group
    closes (with the other files of the same export) instead. A folder made here is removed again when the
    export fails.
    """
    folder = Path(folder)
    check_folder(folder)
    parts = plan_parts(timeline, f".{format}")
    files = planned_files(timeline, folder, format)
    check_destinations(files, force=force, new_folders=[folder])
    playlist = files["--split playlist"]
    rate = timeline.sample_rate
    done = 0
    with ExitStack() as own:
        group = own if group is None else group
        if not folder.is_dir():
            folder.mkdir()
            group.push(lambda failed, *_: _remove_if_empty(folder) if failed else None)
        # Everything is finished into temporary files first; all are published when the group closes without
        # an error (the playlist last: the stack unwinds in reverse), or all discarded.
        listing = AtomicDestination(playlist, force=force)
        listing.publish_later(group)
        with listing, listing.open("w", encoding="utf-8", newline="\n") as handle:
            handle.write(m3u(timeline, parts))
        for index, part in enumerate(parts, start=1):
            part_metadata = None
            if metadata is not None:
                # The routine becomes the album, each part a numbered track: how players group and order files.
                part_metadata = replace(
                    metadata, title=part.title, album=metadata.title, chapters=(), track=(index, len(parts))
                )
            writer = AudioFileWriter(
                folder / part.filename, sample_rate=rate, format=format, force=force, metadata=part_metadata
            )
            writer.publish_later(group)
            with writer:
                for block in blocks(events_between(timeline.events, part.start, part.end)):
                    writer.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, timeline.total)
    return tuple(files.values())


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # something else is in it now: not ours to remove

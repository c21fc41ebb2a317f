"""The renderer: a timeline's samples as a stream of blocks, and that stream into an audio file.

Silence costs almost nothing: it is handed out as views of one shared block of zeros, and the file writer
streams, so memory does not grow with a routine's length. A writer of 16-bit samples is handed each clip as
16-bit PCM (the mixer's `pcm`, which a warm cache answers without numpy), any other the float samples.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable, Iterator, Protocol

from .audiofile import AudioFileWriter
from .tags import Chapter, Metadata
from .timeline import SILENCE, Event, Timeline

if TYPE_CHECKING:
    import numpy

SILENCE_BLOCK = 1 << 16  # samples of zeros handed out at a time (about 3 s)

Progress = Callable[[int, int], None]  # (samples done, samples in all)


class ClipSource(Protocol):
    def clip(self, event: Event) -> "numpy.ndarray": ...

    def pcm(self, event: Event) -> bytes: ...  # pcm.to_pcm16(clip(event))


class BlockWriter(Protocol):
    takes_pcm16: bool  # stores 16-bit samples: give it write_pcm16(clips.pcm(event)), the same as write(clip)

    def write(self, block: "numpy.ndarray") -> None: ...

    def write_pcm16(self, pcm: bytes) -> None: ...

    def silence(self, frames: int) -> None: ...  # as write() of that many zeros, without making them


def iter_blocks(events: Iterable[Event], clips: ClipSource) -> Iterator["numpy.ndarray"]:
    """Every sample of the events, in order, as float32 blocks (read-only views; do not modify them)."""
    import numpy as np

    zeros = np.zeros(SILENCE_BLOCK, dtype=np.float32)
    zeros.setflags(write=False)
    for event in events:
        if event.kind == SILENCE:
            left = event.length
            while left > 0:
                n = min(left, SILENCE_BLOCK)
                yield zeros[:n]
                left -= n
        else:
            yield clips.clip(event)


def render(timeline: Timeline, clips: ClipSource, writer: BlockWriter, progress: Progress | None = None) -> None:
    """Write the whole timeline into `writer`, reporting progress in samples; silence costs no work per sample."""
    done = 0
    for event in timeline.events:
        left = event.length if event.kind == SILENCE else 0
        while left > 0:  # in pieces, so the progress bar moves through long holds too
            n = min(left, SILENCE_BLOCK)
            writer.silence(n)
            left -= n
            done += n
            if progress is not None:
                progress(done, timeline.total)
        if event.kind != SILENCE:
            if writer.takes_pcm16:
                writer.write_pcm16(clips.pcm(event))
            else:
                writer.write(clips.clip(event))
            done += event.length
            if progress is not None:
                progress(done, timeline.total)


def render_file(
    timeline: Timeline,
    clips: ClipSource,
    path: Path,
    *,
    format: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    group: ExitStack | None = None,
    stream: BinaryIO | None = None,
    tag_cache_dir: Path | None = None,
) -> None:
    """Render into an audio file at `path`, atomically, with the routine's tags and chapters (introduction, each step, closing).

    With `group`, the finished file is published when the group closes without an error (with the other files
    of the same export), not at once. With `stream`, the finished file goes there (`path` only names it).
    `tag_cache_dir`: where the ID3 tags of WAV and MP3 files are kept (tags.id3_tag).
    """
    rate = timeline.sample_rate
    # From 0 to the end: the introduction and the closing reminders are chapters too.
    chapters = tuple(Chapter(span.start / rate, span.end / rate, span.title) for span in timeline.sections())
    metadata = Metadata(title=timeline.title, comment=timeline.about, chapters=chapters)
    writer = AudioFileWriter(path, sample_rate=rate, format=format, force=force, metadata=metadata, stream=stream,
                             tag_cache_dir=tag_cache_dir)
    if group is not None:
        writer.publish_later(group)
    with writer:
        render(timeline, clips, writer, progress)

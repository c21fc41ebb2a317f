"""The library API, one function per job; the pipeline reads top to bottom:

    load -> compile -> synthesize -> play | render

Each function is a thin layer over the module that does the work, so the CLI stays thin too.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from . import bundled
from .errors import BadInputError
from .routine import Routine, Voice

if TYPE_CHECKING:
    from .env import Environment
    from .mixer import Mixer
    from .speech import Synthesizer
    from .timeline import Timeline


@dataclass(frozen=True)
class Settings:
    """What the command line may change for one run; None keeps the routine's own choice."""

    voice: Voice = Voice()
    chime: bool | None = None
    loudness: float | None = None  # LUFS; None: the default target


def resolve(routine: str | os.PathLike | None) -> Path:
    """A routine argument as a file: a path, or the name of a bundled routine (None: the default one).

    >>> resolve("arch").name
    'arch.yaml'
    """
    if routine is None:
        return bundled.path(bundled.DEFAULT)
    candidate = Path(routine)
    if candidate.exists() or os.sep in str(routine) or candidate.suffix in {".yaml", ".yml"}:
        return candidate
    if str(routine) in bundled.names():
        return bundled.path(str(routine))
    raise BadInputError(
        f"{routine}: no such file, and no bundled routine of that name (bundled: {', '.join(bundled.names())})"
    )


def load(routine: str | os.PathLike | None = None) -> Routine:
    """Read and validate a routine file (or a bundled routine by name).

    >>> load("arch").title
    'Arch self-massage'
    """
    from .loader import load as load_file

    path = resolve(routine)
    return load_file(path)


def synthesizer(routine: Routine, settings: Settings, env: "Environment") -> "Synthesizer":
    """The speech engine for this routine, with its voice settings and the user's cache."""
    from .speech import Synthesizer

    return Synthesizer(routine.voice.overridden(settings.voice), cache_dir=env.speech_cache_dir)


def mixer(synth: "Synthesizer", settings: Settings, env: "Environment") -> "Mixer":
    """The mixer for a routine's clips: the one place that decides their final samples, for play and export."""
    from .mixer import Mixer

    volume = synth.resolved.volume
    return Mixer(synth, volume=1.0 if volume is None else volume, loudness=settings.loudness,
                 cache_dir=env.cache_dir / "mixed")


def compile(routine: Routine, synth: "Synthesizer", settings: Settings = Settings()) -> "Timeline":
    """The routine's timeline, measured with `synth`'s real spoken lengths."""
    from . import compiler

    synth.prefetch(compiler.texts(routine, voice=synth.resolved, chime=settings.chime))
    return compiler.compile(routine, synth.length, voice=synth.resolved, chime=settings.chime)


def check(routine: Routine, settings: Settings = Settings(), env: "Environment | None" = None) -> "Timeline":
    """Compile a routine to see its timeline (synthesizing, or reading the cache, to know the lengths)."""
    env = env or _default_env()
    with synthesizer(routine, settings, env) as synth:
        timeline = compile(routine, synth, settings)
        return _with_warnings(timeline, synth.warnings)


def export(
    routine: Routine,
    output: str | os.PathLike | None,
    *,
    settings: Settings = Settings(),
    format: str | None = None,
    force: bool = False,
    transcript: str | os.PathLike | None = None,
    split: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
    env: "Environment | None" = None,
) -> "Timeline":
    """Write a routine to an audio file (format from the extension), atomically; return its timeline.

    `transcript` also writes the spoken lines with their times; `split` also writes one file per step and a
    playlist into that folder. Everything asked for is published together when all of it is complete, or
    nothing is.

    >>> export(load("arch"), "arch.mp3")  # doctest: +SKIP
    """
    from contextlib import ExitStack

    from .atomicfile import check_destination
    from .audiofile import Metadata, format_for
    from .render import iter_blocks, render_file

    env = env or _default_env()
    # Every destination is checked before any work, so a long synthesis is never wasted on a bad path;
    # the writers check again when they publish.
    if output is not None:
        output = Path(output)
        format = format_for(output, format)
        check_destination(output, force=force)
    if transcript is not None:
        from .transcript import transcript_format_for, write_transcript

        transcript_format_for(transcript)
        check_destination(Path(transcript), force=force)
    with ExitStack() as published, _mixing(routine, settings, env) as (synth, mixer):
        timeline = _with_warnings(compile(routine, synth, settings), synth.warnings)
        if transcript is not None:
            write_transcript(timeline, Path(transcript), force=force, group=published)
        if output is not None:
            render_file(timeline, mixer, output, format=format, force=force, progress=progress, group=published)
        if split is not None:
            from .split import export_split

            export_split(
                timeline, lambda events: iter_blocks(events, mixer), split, format=format or "mp3", force=force,
                metadata=Metadata(timeline.title, comment=timeline.about), progress=progress, group=published,
            )
    return timeline


@contextmanager
def _mixing(routine: Routine, settings: Settings, env: "Environment") -> Iterator[tuple["Synthesizer", "Mixer"]]:
    """The speech engine and the mixer for one export, both started early: levelling a clip begins as soon as
    the engine has made it (or the disk cache has it), not after the last one is made."""
    from . import compiler

    with synthesizer(routine, settings, env) as synth:
        texts = compiler.texts(routine, voice=synth.resolved, chime=settings.chime)
        synth.prefetch(texts)
        mixing = mixer(synth, settings, env)
        mixing.prefetch(texts, chime=routine.chime if settings.chime is None else settings.chime)
        try:
            yield synth, mixing
        finally:
            mixing.close()


def _with_warnings(timeline: "Timeline", extra: tuple[str, ...]) -> "Timeline":
    from dataclasses import replace

    return replace(timeline, warnings=tuple(extra) + timeline.warnings) if extra else timeline


def _default_env() -> "Environment":
    from .env import Environment

    return Environment()

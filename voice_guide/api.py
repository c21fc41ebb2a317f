"""The library API, one function per job; the pipeline reads top to bottom:

    load -> compile -> synthesize -> play | render

This module and the CLI are the only ones that wire the stages together; each function is a thin layer over the
modules that do the work, so the CLI stays thin too. Playing is layered as python-sounddevice is: `play()` here,
over the scheduler (`scheduler`), over the device adapters (`clock`, `audio_sink`, `keys`) and the screen
(`display`), each using only the ones below.
"""

from __future__ import annotations

import os
import queue
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

from . import bundled, compiler, listening
from .atomicfile import check_destination
from .formats import AUDIO, TRANSCRIPT, format_for
from .chime import tick_pcm
from .clock import MonotonicClock, quick_thread_switches
from .display import Playhead, describe, make_display
from .env import Environment
from .errors import AudioDeviceError, BadInputError, NoAudioDeviceError, VoiceGuideError
from .hearing import Hearing, ReportingSink
from .keys import KeyReader
from .loader import load as load_file
from .mixer import Mixer
from .pcm import to_pcm16
from .prefetch import Prefetcher
from .printable import printable
from .procinfo import process_started_at
from .render import iter_blocks, render_file
from .routine import Routine, Voice
from .scheduler import Listeners, PlayResult, Scheduler
from .speech import Synthesizer
from .split import export_split
from .tags import Metadata
from .spoken import time_left_line
from .timeline import ANNOUNCEMENT, SAMPLE_RATE, SPEECH, Event, Timeline
from .timing_log import TimingLog, open_log
from .transcript import write_transcript


@dataclass(frozen=True)
class Settings:
    """What the command line may change for one run, for every command; None keeps the routine's own choice."""

    voice: Voice = Voice()
    chime: bool | None = None
    loudness: float | None = None  # LUFS; None: the default target
    start_at: int | None = None  # play: the step to start at
    timing_log: Path | None = None  # play: one JSON line per sound played goes here
    keys: bool = True  # play: read the keyboard when stdin is a terminal
    listen: bool = False  # play: take spoken commands from the microphone (hearing.py)
    sensitivity: float = 0.5  # play --listen: 0 strict .. 1 eager (listening.DEFAULT_SENSITIVITY)


def resolve(routine: str | os.PathLike | None) -> Path:
    """A routine argument as a file: a path, or the name of a bundled routine (None: the default one).

    >>> resolve("arch").name
    'arch.yaml'
    """
    if routine is None:
        return bundled.path(bundled.DEFAULT)
    if _is_bundled_name(routine):  # a plain name means the bundled routine, even where a file has that name
        return bundled.path(str(routine))
    candidate = Path(routine)
    if candidate.exists() or os.sep in str(routine) or candidate.suffix in {".yaml", ".yml"}:
        return candidate
    raise BadInputError(
        f"{routine}: no such file, and no bundled routine of that name (bundled: {', '.join(bundled.names())})"
    )


def _is_bundled_name(routine: str | os.PathLike) -> bool:
    return isinstance(routine, str) and routine in bundled.names()


def routine_files(routines: Sequence["str | os.PathLike | None"]) -> list:
    """The routines named on a command line, with each folder replaced by the routine files in it (sorted);
    no names at all means the default routine.

    >>> [Path(p).name for p in routine_files(["voice_guide/routines"])][:2]
    ['arch.yaml', 'ball.yaml']
    """
    found: list = []
    for routine in routines or [None]:
        if routine is None or _is_bundled_name(routine) or not Path(routine).is_dir():
            found.append(routine)
            continue
        files = sorted(p for p in Path(routine).iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise BadInputError(f"{printable(os.fspath(routine))}: the folder holds no routine files (.yaml, .yml)")
        found.extend(files)
    return found


def load(routine: str | os.PathLike | None = None) -> Routine:
    """Read and validate a routine file (or a bundled routine by name).

    >>> load("arch").title
    'Arch self-massage'
    """
    loaded = load_file(resolve(routine))
    if routine is not None and _is_bundled_name(routine) and os.path.lexists(routine):
        note = (f"{routine!r} is the bundled routine; the file {routine!r} in this folder is not used "
                f"(to use it, write ./{routine})")
        loaded = replace(loaded, warnings=(note,) + loaded.warnings)
    return loaded


def synthesizer(routine: Routine, settings: Settings, env: Environment) -> Synthesizer:
    """The speech engine for this routine, with its voice settings, the user's cache and time limit."""
    return Synthesizer(
        routine.voice.overridden(settings.voice), cache_dir=env.speech_cache_dir, timeout=env.speech_timeout
    )


def mixer(synth: Synthesizer, settings: Settings, env: Environment) -> Mixer:
    """The mixer for a routine's clips: the one place that decides their final samples, for play and export."""
    volume = synth.resolved.volume
    return Mixer(synth, volume=1.0 if volume is None else volume, loudness=settings.loudness,
                 cache_dir=env.mixed_cache_dir)


def compile(routine: Routine, synth: Synthesizer, settings: Settings = Settings()) -> Timeline:
    """The routine's timeline, measured with `synth`'s real spoken lengths."""
    synth.prefetch(compiler.texts(routine, voice=synth.resolved, chime=settings.chime))
    return compiler.compile(routine, synth.length, voice=synth.resolved, chime=settings.chime)


def check(routine: Routine, settings: Settings = Settings(), env: Environment | None = None) -> Timeline:
    """Compile a routine to see its timeline (synthesizing, or reading the cache, to know the lengths)."""
    env = env or Environment()
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
    env: Environment | None = None,
) -> Timeline:
    """Write a routine to an audio file (format from the extension), atomically; return its timeline.

    `transcript` also writes the spoken lines with their times; `split` also writes one file per step and a
    playlist into that folder. Everything asked for is published together when all of it is complete, or
    nothing is.

    >>> export(load("arch"), "arch.mp3")  # doctest: +SKIP
    """
    env = env or Environment()
    # Every destination is checked before any work, so a long synthesis is never wasted on a bad path;
    # the writers check again when they publish.
    if output is not None:
        output = Path(output)
        format = format_for(output, AUDIO, format)
        check_destination(output, force=force)
    if transcript is not None:
        format_for(transcript, TRANSCRIPT)
        check_destination(Path(transcript), force=force)
    with ExitStack() as published, _mixing(routine, settings, env) as (synth, mixer):
        timeline = _with_warnings(compile(routine, synth, settings), synth.warnings)
        if transcript is not None:
            write_transcript(timeline, Path(transcript), force=force, group=published)
        if output is not None:
            render_file(timeline, mixer, output, format=format, force=force, progress=progress, group=published)
        if split is not None:
            export_split(
                timeline, lambda events: iter_blocks(events, mixer), split, format=format or "mp3", force=force,
                metadata=Metadata(timeline.title, comment=timeline.about), progress=progress, group=published,
            )
    return timeline


@contextmanager
def _mixing(routine: Routine, settings: Settings, env: Environment) -> Iterator[tuple[Synthesizer, Mixer]]:
    """The speech engine and the mixer for one export, both started early: levelling a clip begins as soon as
    the engine has made it (or the disk cache has it), not after the last one is made."""
    with synthesizer(routine, settings, env) as synth:
        texts = compiler.texts(routine, voice=synth.resolved, chime=settings.chime)
        synth.prefetch(texts)
        mixing = mixer(synth, settings, env)
        mixing.prefetch(texts, chime=routine.chime if settings.chime is None else settings.chime)
        try:
            yield synth, mixing
        finally:
            mixing.close()


def play(routine: Routine, settings: Settings = Settings(), env: Environment | None = None) -> PlayResult:
    """Play a routine live, hands-free, to the end (or until `q`, after which the reminders are still spoken).

    Raises NoAudioDeviceError when there is no sound device, AudioDeviceError when it fails, BadInputError for a
    bad `start_at`, EngineError when speech fails. Ctrl+C stops the sound at once and propagates
    KeyboardInterrupt.

    >>> play(load("arch"))  # doctest: +SKIP
    """
    env = env or Environment()
    origin = process_started_at()
    steps = compiler.outline(routine)
    if settings.start_at is not None and not 1 <= settings.start_at <= len(steps):
        plural = "s" if len(steps) != 1 else ""
        raise BadInputError(f"--start-at {settings.start_at}: {routine.title!r} has {len(steps)} step{plural}")
    orientation = steps[settings.start_at - 1].orientation if settings.start_at is not None else None
    with ExitStack() as stack:
        timing = None
        if settings.timing_log is not None:  # opened first: a bad path fails before any sound
            timing = TimingLog(stack.enter_context(open_log(settings.timing_log)), origin)
        # Made as `export` makes them (synthesizer, mixer, to_pcm16), so the samples heard are the ones exported.
        synth = stack.enter_context(synthesizer(routine, settings, env))
        # In order of first use: the opening lines are made first, the rest while they play.
        synth.prefetch(([orientation] if orientation else []) + compiler.texts(routine, voice=synth.resolved,
                                                                                 chime=settings.chime,
                                                                                 listening=settings.listen))
        # The same mixer as `export` makes (same settings, same cache of final clips): a warm run takes its
        # clips from that cache, so the first sound does not wait for the levelling code to load.
        mixing = mixer(synth, settings, env)
        stack.callback(mixing.close)
        events = compiler.iter_events(routine, synth.length, voice=synth.resolved, chime=settings.chime,
                                      listening=settings.listen)
        prefetcher = Prefetcher(events, lambda event: to_pcm16(mixing.clip(event)))
        time_left = _time_left_answer(prefetcher, steps, mixing, synth)
        stack.callback(prefetcher.stop)
        sink = env.open_sink()
        keys = settings.keys and env.stdin_isatty
        commands: queue.Queue | None = queue.Queue() if keys or settings.listen else None
        if keys:
            stack.enter_context(KeyReader(env.stdin, commands))
        if settings.listen:
            sink = _listen(stack, commands, sink, settings, env, timing, lambda: time_left(scheduler))
        use_chime = routine.chime if settings.chime is None else settings.chime
        scheduler = Scheduler(prefetcher, prefetcher.clip, MonotonicClock(commands), sink, chime=use_chime)
        for warning in compiler.routine_warnings(routine) + synth.warnings:
            env.warn(warning)
        playhead = Playhead(scheduler.position, lambda: scheduler.paused, prefetcher.known,
                            heard=getattr(sink, "last_heard", lambda: None))
        display = stack.enter_context(make_display(env, routine.title, steps, playhead, keys=keys,
                                                   about=routine.about, reminders=bool(routine.reminders)))
        scheduler.listener = Listeners(display, timing)
        stack.enter_context(quick_thread_switches())
        stack.callback(sink.stop_all)  # first out: on Ctrl+C or any error the sound stops at once
        try:
            said_first = None
            if orientation is not None:  # starting inside a block: say where first
                said_first = Event(SPEECH, 0, synth.length(orientation), orientation, settings.start_at, ANNOUNCEMENT)
            result = scheduler.run(settings.start_at, said_first)
        except AudioDeviceError as error:
            if not scheduler.played:
                raise NoAudioDeviceError("no audio output device found") from error
            raise
        display.finished(result)
        return result


def _listen(stack: ExitStack, commands: queue.Queue, sink, settings: Settings, env: Environment,
            timing: TimingLog | None, answer: Callable[[], bytes | None]):
    """Start listening for spoken commands; the sink that tells the listener what the player plays.

    `answer()` is the PCM of the line that answers "how long" (None when there is no step to time)."""
    reporting: list[ReportingSink] = []

    def heard(message: dict) -> None:
        if "heard" not in message:
            return
        now = time.perf_counter()
        if timing is not None:
            timing.heard(message["heard"], message["command"], now, message["start"], message["end"], message["score"])
        try:
            reporting[0].play(tick_pcm())  # the soft acknowledgement
            if message["command"] == listening.TIME_LEFT:
                line = answer()  # said from this thread: making it never holds up the schedule
                if line is not None:
                    reporting[0].play(line)
        except VoiceGuideError:
            pass  # a device or engine failure: the scheduler finds out about the device itself

    hearing = stack.enter_context(
        Hearing(commands, sensitivity=settings.sensitivity, on_heard=heard, on_problem=env.warn)
    )
    reporting.append(ReportingSink(sink, hearing, SAMPLE_RATE))
    return reporting[0]


def _time_left_answer(prefetcher: Prefetcher, steps, mixing: Mixer, synth: Synthesizer):
    """The PCM of "N seconds left in this step" for where `scheduler` is now (None outside the steps)."""

    def answer(scheduler: Scheduler) -> bytes | None:
        events, complete = prefetcher.known()
        view = describe(events, complete, scheduler.position(), steps)
        if view.step_left is None or not 1 <= view.step <= view.steps_total:
            return None
        text = time_left_line(view.step_left)
        return to_pcm16(mixing.clip(Event(SPEECH, 0, synth.length(text), text)))

    return answer


def _with_warnings(timeline: Timeline, extra: tuple[str, ...]) -> Timeline:
    return replace(timeline, warnings=tuple(extra) + timeline.warnings) if extra else timeline

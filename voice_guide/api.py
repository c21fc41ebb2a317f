"""The library API, one function per job; the pipeline reads top to bottom:

    load -> compile -> synthesize -> play | render

This module and the CLI are the only ones that wire the stages together; each function is a thin layer over the
modules that do the work, so the CLI stays thin too. Playing is layered as python-sounddevice is: `play()` here,
over the scheduler (`scheduler`), over the device adapters (`clock`, `audio_sink`, `keys`) and the screen
(`display`), each using only the ones below.
"""

from __future__ import annotations

import importlib
import os
import queue
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable, Iterator, Sequence

from . import compiler, loader
from .atomicfile import check_destinations
from .formats import AUDIO, TRANSCRIPT, format_for
from .env import Environment
from .errors import AudioDeviceError, BadInputError, NoAudioDeviceError, VoiceGuideError
from .mixer import Mixer
from .phrases import Phrases
from .printable import printable
from .render import iter_blocks, render_file
from .routine import DEFAULT_ENGINE, ROUTINE_SUFFIXES, Routine, Voice
from .speech import Synthesizer
from .tags import Metadata, mutagen_module
from .timeline import ANNOUNCEMENT, SAMPLE_RATE, SILENCE, SPEECH, Event, Timeline

# split and transcript are imported where their files are written (export --split, --transcript): a plain export
# never loads them.

if TYPE_CHECKING:
    import numpy

    from .opening import Opening
    from .prefetch import Prefetcher, ReadyClosing
    from .scheduler import PlayResult, Scheduler
    from .timing_log import TimingLog


@dataclass(frozen=True)
class Settings:
    """What the command line may change for one run, for every command; None keeps the routine's own choice."""

    voice: Voice = Voice()
    chime: bool | None = None
    loudness: float | None = None  # LUFS; None: the default target
    start_at: int | None = None  # play: the step to start at
    timing_log: Path | None = None  # play: one JSON line per sound played goes here
    timing_log_force: bool = False  # play: the timing log may replace an existing (regular) file
    keys: bool = True  # play: read the keyboard when stdin is a terminal
    listen: bool = False  # play: take spoken commands from the microphone (hearing.py)
    sensitivity: float = 0.5  # play --listen: 0 strict .. 1 eager (listening.DEFAULT_SENSITIVITY)


def resolve(routine: str | os.PathLike | None) -> Path:
    """A routine argument as a file: a path, or the name of a bundled routine (None: the default one).

    >>> resolve("arch").name
    'arch.yaml'
    """
    return loader.resolve(routine)


def routine_files(routines: Sequence["str | os.PathLike | None"]) -> list:
    """The routines named on a command line, with each folder replaced by the routine files in it (sorted);
    no names at all means the default routine.

    >>> [Path(p).name for p in routine_files(["voice_guide/routines"])][:2]
    ['arch-de.yaml', 'arch.yaml']
    """
    found: list = []
    for routine in routines or [None]:
        if routine is None or loader.is_bundled_name(routine) or not Path(routine).is_dir():
            found.append(routine)
            continue
        files = sorted(p for p in Path(routine).iterdir() if p.suffix in ROUTINE_SUFFIXES and p.is_file())
        if not files:
            raise BadInputError(f"{printable(os.fspath(routine))}: the folder holds no routine files (.yaml, .yml)")
        found.extend(files)
    return found


def load(routine: str | os.PathLike | None = None, *, text: bytes | None = None) -> Routine:
    """Read and validate a routine file (or a bundled routine by name); `text`: the file's bytes, already read.

    >>> load("arch").title
    'Arch self-massage'
    """
    return loader.load_argument(routine, text=text)


def synthesizer(routine: Routine, settings: Settings, env: Environment, *, playing: bool = False,
                levelling: bool = False) -> Synthesizer:
    """The speech engine for this routine, with its voice settings, the user's cache, voices and time limit. A
    routine that names its language but no voice is read by a voice of that language. `playing`: the first
    line is wanted before the others (export and check want them all, on every core at once). `levelling`: this
    process levels the clips meanwhile (an export; see Synthesizer)."""
    voice = routine.voice.overridden(settings.voice)
    if voice.voice is None and routine.language and voice.engine in (None, DEFAULT_ENGINE):
        voice = voice._replace(voice=routine.language)
    return Synthesizer(voice, cache_dir=env.speech_cache_dir, timeout=env.speech_timeout, voices_dir=env.voices_dir,
                       first_line_first=playing, levelling=levelling)


def mixer(routine: Routine, synth: Synthesizer, settings: Settings, env: Environment, *,
          listening: bool = False) -> Mixer:
    """The mixer for a routine's clips: the one place that decides their final samples, for play and export.

    The clips are levelled so the whole file meets the loudness target, whatever the routine's volume (that is
    the live player's level); how much the chimes pull the file down is known from the script alone, before the
    engine is asked anything (see compiler.routine_targets; `listening` as the player's).
    """
    targets = compiler.routine_targets(routine, synth.requested, chime=settings.chime, listening=listening,
                                       loudness=settings.loudness)
    return Mixer(synth, targets=targets, cache_dir=env.mixed_cache_dir)


def _phrases_voice(routine: Routine, synth: Synthesizer) -> Voice:
    """The voice a live run's script is made for. A routine that names its `language:` has its phrases known
    from the request, so nothing waits for the engine (on a cold cache, resolving the voice starts a worker to
    list the voices: the chime sounds meanwhile); without one, the phrases are the resolved voice's language,
    which is waited for (a record on disk after the first run: milliseconds)."""
    return synth.requested if routine.language else synth.resolved


def compile(routine: Routine, synth: Synthesizer, settings: Settings = Settings()) -> Timeline:
    """The routine's timeline, measured with `synth`'s real spoken lengths."""
    synth.prefetch(compiler.texts(routine, voice=synth.resolved, chime=settings.chime))
    return compiler.compile(routine, synth.length, voice=synth.resolved, chime=settings.chime)


def check(routine: Routine, settings: Settings = Settings(), env: Environment | None = None) -> Timeline:
    """Compile a routine to see its timeline (synthesizing, or reading the cache, to know the lengths)."""
    env = env or Environment()
    with synthesizer(routine, settings, env) as synth:
        timeline = compile(routine, synth, settings)
        env.repeatable = env.repeatable and not synth.cache_is_private
        return _with_warnings(timeline, synth.warnings)


def export(
    routine: Routine,
    output: str | os.PathLike | BinaryIO | None,
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

    `output` may also be a binary stream (standard output): the finished file is copied there when complete
    (then `format` is needed). `transcript` also writes the spoken lines with their times; `split` also writes
    one file per step and a playlist into that folder. Everything asked for is published together when all of
    it is complete, or nothing is.

    >>> export(load("arch"), "arch.mp3")  # doctest: +SKIP
    """
    env = env or Environment()
    stream = None if output is None or isinstance(output, (str, os.PathLike)) else output
    if stream is not None:
        if format is None:
            raise BadInputError("writing to standard output needs --format (wav, flac, ogg or mp3)")
        output = "standard output"
    elif output is not None:
        output = Path(output)
    if output is not None:
        format = format_for(output, AUDIO, format)
    # Every destination is checked before any work, so a long synthesis is never wasted on a bad path;
    # the writers check again when they publish.
    check_outputs(routine, settings, output=None if stream is not None else output, transcript=transcript,
                  split=split, format=format, force=force)
    tagging = mutagen_module(format) if output is not None and format is not None else None
    with ExitStack() as published, _mixing(routine, settings, env, tagging=tagging) as (synth, mixer):
        timeline = _with_warnings(compile(routine, synth, settings), synth.warnings)
        if transcript is not None:
            from .transcript import write_transcript

            write_transcript(timeline, Path(transcript), force=force, group=published)
        if output is not None:
            render_file(timeline, mixer, output, format=format, force=force, progress=progress, group=published,
                        stream=stream, tag_cache_dir=env.tags_cache_dir)
        if split is not None:
            from .split import export_split

            export_split(
                timeline, lambda events: _part_blocks(mixer, events), split, format=format or "mp3", force=force,
                metadata=Metadata(timeline.title, comment=timeline.about), progress=progress, group=published,
            )
    return timeline


def _part_blocks(mixer: Mixer, events: Iterable[Event]) -> Iterator["numpy.ndarray"]:
    """A split part's samples, at the part's own loudness (Mixer.part)."""
    events = list(events)
    return iter_blocks(events, mixer.part(events))


def check_outputs(
    routine: Routine,
    settings: Settings = Settings(),
    *,
    output: Path | None = None,
    transcript: str | os.PathLike | None = None,
    split: str | os.PathLike | None = None,
    format: str | None = None,
    force: bool = False,
) -> None:
    """Raise OutputError unless every file an export would write can be written: each is checked, no two are the
    same file, none is the routine itself, and the --split folder is usable. Nothing is synthesized: the split
    parts are named from a timeline laid out with estimated lengths (their names do not depend on lengths)."""
    destinations: dict[str, Path] = {}
    if output is not None:
        destinations["-o"] = Path(output)
    if transcript is not None:
        format_for(transcript, TRANSCRIPT)
        destinations["--transcript"] = Path(transcript)
    if split is not None:
        from .split import check_folder, planned_files

        check_folder(split)
        sketch = compiler.compile(routine, compiler.estimated_length, voice=routine.voice.overridden(settings.voice),
                                  chime=settings.chime)
        destinations.update(planned_files(sketch, split, format or "mp3"))
    check_destinations(destinations, force=force, inputs=loader.inputs(routine), new_folders=[Path(split)] if split else [])


@contextmanager
def _mixing(routine: Routine, settings: Settings, env: Environment, *,
            tagging: str | None = None) -> Iterator[tuple[Synthesizer, Mixer]]:
    """The speech engine and the mixer for one export, both started early: levelling a clip begins as soon as
    the engine has made it (or the disk cache has it), not after the last one is made. `tagging`: the module the
    file's tag is made with, imported meanwhile when clips are to be levelled (see below)."""
    with synthesizer(routine, settings, env, levelling=True) as synth:
        # A cold cache: resolving the voice waits for the engine's worker to start and list its voices. numpy, which
        # every clip waits for to be levelled (a tenth of a second of this process's CPU), is imported meanwhile.
        numpy_imported = _imported_meanwhile("numpy") if synth.engine_starting else None
        texts = compiler.texts(routine, voice=synth.resolved, chime=settings.chime)
        mixing = mixer(routine, synth, settings, env)
        # Asked before the engine is: a warm cache then answers every length on the way, and the engine starts no
        # thread to read the same headers again. The first line not spoken yet ends the question.
        ready = mixing.ready(texts)
        synth.prefetch(texts)
        if not ready:
            # Some clip is still to be levelled. numpy is imported here, while the engine starts, and before the
            # threads that use it: an import that fails (a memory limit) then fails once, in this thread,
            # instead of leaving a half-made module to the others. (A warm export to WAV or MP3 needs none.)
            if numpy_imported is not None:
                numpy_imported()  # begun while the voice was resolved: its failure is raised here
            import numpy  # noqa: F401

            mixing.prefetch(texts, chime=routine.chime if settings.chime is None else settings.chime)
            if tagging is not None:
                # The tag is made last, once every sample is written; a cold export's process waits for the speech
                # between clips meanwhile, so mutagen (a few tens of ms) is imported then. Not waited for: an
                # import that fails fails again where the tag is made.
                _imported_meanwhile(tagging)
        try:
            yield synth, mixing
        except BaseException:
            mixing.close(wait=False)  # a stop or a failure: the export ends now, not when the clips being made are
            raise
        mixing.close()


def _imported_meanwhile(name: str) -> Callable[[], None]:
    """Start importing module `name` in a background thread; the function returned waits for it to finish and
    raises what the import raised, in the caller's thread (a thread that cannot start leaves it to the caller)."""
    failed: list[BaseException] = []

    def load() -> None:
        try:
            importlib.import_module(name)
        except BaseException as error:  # noqa: BLE001 - handed to the thread that needs the module
            failed.append(error)

    thread = threading.Thread(target=load, name=f"import-{name}", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # no memory for a thread: the caller imports it itself
        return lambda: None

    def finished() -> None:
        thread.join()
        if failed:
            raise failed[0]

    return finished


def play(routine: Routine, settings: Settings = Settings(), env: Environment | None = None,
         opening: Opening | None = None) -> PlayResult:
    """Play a routine live, hands-free, to the end (or until `q`, after which the reminders are still spoken).

    Raises NoAudioDeviceError when there is no sound device, AudioDeviceError when it fails, BadInputError for a
    bad `start_at`, EngineError when speech fails. Ctrl+C stops the sound at once and propagates
    KeyboardInterrupt. `opening`: the timing log, sink and chime that opening.start already opened and started
    for this routine and these settings (the console command's light start).

    >>> play(load("arch"))  # doctest: +SKIP
    """
    # The player's own modules are imported here, not at the top: an export or a check never loads the screen,
    # the keyboard, the scheduler or the timing log (tests/test_export_imports.py).
    from .clock import MonotonicClock, quick_thread_switches
    from .display import Playhead, SpeechWarnings, make_display
    from .keys import KeyReader
    from .prefetch import Prefetcher, ReadyClosing
    from .procinfo import process_started_at
    from .scheduler import Listeners, Scheduler
    from .timing_log import TimingLog, open_log

    env = env or Environment()
    origin = process_started_at()
    compiler.check_length(routine, voice=routine.voice.overridden(settings.voice), chime=settings.chime)
    count = len(compiler.outline(routine))  # the same in every language: checked before anything starts
    if settings.start_at is not None and not 1 <= settings.start_at <= count:
        plural = "s" if count != 1 else ""
        raise BadInputError(f"--start-at {settings.start_at}: {routine.title!r} has {count} step{plural}")
    with ExitStack() as stack:
        timing = None
        if settings.timing_log is not None:  # opened first: a bad path fails before any sound
            log = opening.log if opening is not None and opening.log is not None else open_log(
                settings.timing_log, force=settings.timing_log_force, inputs=loader.inputs(routine))
            timing = TimingLog(log, origin)
            stack.callback(timing.close)
        # Made as `export` makes them (synthesizer, mixer), so the samples heard are the ones exported.
        synth = stack.enter_context(synthesizer(routine, settings, env, playing=True))
        # In order of first use: the opening line is made first, the rest while it plays; the closing lines come
        # second, so that whatever fails later, the reminders are ready to be said.
        voice = _phrases_voice(routine, synth)
        # Shown and said in one language: the step titles come from the phrases the script is made with.
        steps = compiler.outline(routine, voice=voice)
        say = compiler.language(routine, voice).phrases
        orientation = steps[settings.start_at - 1].orientation if settings.start_at is not None else None
        texts = ([orientation] if orientation else []) + compiler.texts(routine, voice=voice, chime=settings.chime,
                                                                         listening=settings.listen)
        synth.prefetch(texts[:1] + compiler.closing_texts(routine, voice=voice) + texts[1:])
        # The same mixer as `export` makes (same settings, same cache of final clips): a warm run takes its
        # clips from that cache, so the first sound does not wait for the levelling code to load.
        mixing = mixer(routine, synth, settings, env, listening=settings.listen)
        stack.push(lambda failed, *_: mixing.close(wait=failed is None))  # Ctrl+C stops at once
        closing = ReadyClosing(lambda: _closing_sounds(routine, synth, mixing, settings.chime, voice))
        events = compiler.iter_events(routine, synth.length, voice=voice, chime=settings.chime,
                                      listening=settings.listen)
        # The player's own level: the clips are the export's, scaled.
        prefetcher = Prefetcher(closing.first(events), lambda event: mixing.pcm(event, voice.volume))
        time_left = _time_left_answer(prefetcher, steps, mixing, synth, say, voice.volume)
        stack.callback(prefetcher.stop)
        sink = opening.sink if opening is not None else env.open_sink()
        keys = settings.keys and env.stdin_isatty
        commands: queue.Queue | None = queue.Queue() if keys or settings.listen else None
        if keys:
            stack.enter_context(KeyReader(env.stdin, commands))
        if settings.listen:
            sink = _listen(stack, commands, sink, settings, env, timing, lambda: time_left(scheduler))
        use_chime = routine.chime if settings.chime is None else settings.chime
        scheduler = Scheduler(prefetcher, prefetcher.clip, MonotonicClock(commands), sink, chime=use_chime)
        for warning in compiler.routine_warnings(routine):
            env.warn(warning)
        # The engine's warnings and those about the language may need the voice resolved: they are given when the
        # first sound plays, and those that arise while playing (the cache disk filled up) when the run ends.
        speech_warnings = SpeechWarnings(env, lambda: synth.warnings + compiler.language(routine, synth.resolved).warnings)
        stack.callback(speech_warnings.now, quietly=True)
        playhead = Playhead(scheduler.position, lambda: scheduler.paused, prefetcher.known,
                            heard=getattr(sink, "last_heard", lambda: None))
        display = stack.enter_context(make_display(env, routine.title, steps, playhead, keys=keys,
                                                   about=routine.about, reminders=routine.reminders != (),
                                                   say=say))
        scheduler.listener = Listeners(speech_warnings, display, timing)
        stack.enter_context(quick_thread_switches())
        stack.callback(sink.stop_all)  # first out: on Ctrl+C or any error the sound stops at once
        try:
            said_first = None
            if orientation is not None:  # starting inside a block: say where first
                said_first = Event(SPEECH, 0, synth.length(orientation), orientation, settings.start_at, ANNOUNCEMENT)
            result = scheduler.run(settings.start_at, said_first, opening.started if opening is not None else None)
        except AudioDeviceError as error:
            speech_warnings.now()
            if not scheduler.played:
                raise NoAudioDeviceError("no audio output device found") from error
            raise
        except Exception:  # the routine cannot go on (the engine, a disk, a bug): the reminders are still said
            sink.stop_all()
            _say_closing(closing, sink, Listeners(display, timing), use_chime)
            raise
        display.finished(result)
        if timing is not None and timing.failure is not None:
            raise VoiceGuideError(f"{settings.timing_log}: the timing log could not be written to the end "
                                  f"({timing.failure.strerror or timing.failure}); the routine was played in full")
        return result


def _listen(stack: ExitStack, commands: queue.Queue, sink, settings: Settings, env: Environment,
            timing: TimingLog | None, answer: Callable[[], bytes | None]):
    """Start listening for spoken commands; the sink that tells the listener what the player plays.

    `answer()` is the PCM of the line that answers "how long" (None when there is no step to time)."""
    from . import listening
    from .chime import tick_pcm
    from .hearing import Hearing, ReportingSink

    reporting: list = []

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


def _time_left_answer(prefetcher: Prefetcher, steps, mixing: Mixer, synth: Synthesizer, say: Phrases,
                      volume: float):
    """The PCM of "N seconds left in this step", in the routine's language at the player's volume, for where
    `scheduler` is now (None outside the steps)."""
    from .display import describe

    def answer(scheduler: Scheduler) -> bytes | None:
        events, complete = prefetcher.known()
        view = describe(events, complete, scheduler.position(), steps)
        if view.step_left is None or not 1 <= view.step <= view.steps_total:
            return None
        text = say.time_left_in_step(view.step_left)
        return mixing.pcm(Event(SPEECH, 0, synth.length(text), text), volume)

    return answer


def _closing_sounds(routine: Routine, synth: Synthesizer, mixing: Mixer, chime: bool | None, voice: Voice) -> tuple:
    """The closing laid out on its own, in the phrases of `voice`, with the PCM of each of its sounds at the
    player's volume."""
    events = compiler.closing_events(routine, synth.length, chime=chime, voice=voice)
    return events, {(e.kind, e.text): mixing.pcm(e, voice.volume) for e in events if e.kind != SILENCE}


def _say_closing(closing: ReadyClosing, sink, listener, chime: bool) -> None:
    """Play the closing alone, if its sound was made and the device plays; the failure that led here stands."""
    from .clock import MonotonicClock
    from .scheduler import Scheduler

    ready = closing.sounds()
    if ready is None:
        return
    events, pcm = ready
    try:
        Scheduler(events, lambda event: pcm[(event.kind, event.text)], MonotonicClock(), sink, listener,
                  chime=chime).run()
    except AudioDeviceError:
        pass


def _with_warnings(timeline: Timeline, extra: tuple[str, ...]) -> Timeline:
    return timeline._replace(warnings=tuple(extra) + timeline.warnings) if extra else timeline
